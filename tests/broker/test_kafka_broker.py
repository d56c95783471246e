"""The local broker launcher: start, status, stop, topics; and the external-cluster switch."""

import os
import subprocess
import sys

import psutil
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from isspanel import lifeline
from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import ensure_topics
from isspanel.cli import main
from isspanel.settings import PROJECT_ROOT
from tests.conftest import broker_settings


def java_children_of(pid):
    return [p for p in psutil.process_iter(["pid", "cmdline"]) if p.info["pid"] == pid]


def test_start_status_stop_leaves_no_process(tmp_path):
    settings = broker_settings(tmp_path, topics={"retention_ms": 3_600_000})
    broker = LocalBroker(settings, tied=True)
    broker.start()
    pid = broker.pid()
    assert pid and psutil.pid_exists(pid)
    status = broker.status()
    assert status["running"] and status["answers"]
    cluster_id = (tmp_path / "kafka" / "cluster.id").read_text()

    created = ensure_topics(settings)
    assert settings.topics.location in created
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topics.location)]
        )
        text = repr(configs)
        assert "retention.ms" in text and "3600000" in text
    finally:
        admin.close()

    assert broker.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not any(
        "kafka.Kafka" in " ".join(p.info["cmdline"] or [])
        and str(tmp_path) in " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["pid", "cmdline"])
    )
    assert broker.status() == {**status, "pid": None, "running": False, "answers": False}

    # A second start reuses the formatted storage and its cluster id.
    broker.start()
    assert (tmp_path / "kafka" / "cluster.id").read_text() == cluster_id
    broker.stop()


def test_an_external_cluster_is_used_as_it_is(kafka_settings, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("ISS_KAFKA_BOOTSTRAP", kafka_settings.kafka.bootstrap_servers)
    monkeypatch.setenv("ISS_HOME", str(tmp_path))
    caplog.set_level("INFO")
    assert main(["kafka", "start"]) == 0
    assert "nothing to start" in caplog.text
    assert not (tmp_path / "kafka").exists()


def test_kafka_start_leaves_its_broker_running_after_the_command(tmp_path):
    """`isspanel kafka start` does not tie its broker to itself (tests and `isspanel up` do)."""
    settings = broker_settings(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "ISS_KAFKA_BOOTSTRAP"}
    env.update(
        ISS_HOME=str(tmp_path),
        ISS_JARS_DIR=str(settings.jars_dir),
        ISS_KAFKA_PORT=str(settings.kafka.port),
        ISS_KAFKA_CONTROLLER_PORT=str(settings.kafka.controller_port),
    )

    def isspanel(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "isspanel", *args]
        return subprocess.run(
            command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180
        )

    started = isspanel("kafka", "start")
    broker = LocalBroker(settings)
    pid = broker.pid()
    if pid is not None:
        lifeline.tie(pid)  # this test's own: a killed test run must not leave the broker
    try:
        assert started.returncode == 0, started.stderr
        # Had the command tied it, its watchdog (holding the command's stderr, which run()
        # reads to the end) would have ended the broker before run() returned.
        assert pid is not None and broker.answers(), started.stderr
    finally:
        stopped = isspanel("kafka", "stop")
        if pid is not None:
            lifeline.untie(pid)
    assert stopped.returncode == 0, stopped.stderr
    assert broker.pid() is None
