"""The local broker launcher: start, status, stop, topics; and the external-cluster switch."""

import psutil
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from isspanel.broker.local import LocalBroker
from isspanel.broker.topics import ensure_topics
from isspanel.cli import main
from tests.conftest import broker_settings


def java_children_of(pid):
    return [p for p in psutil.process_iter(["pid", "cmdline"]) if p.info["pid"] == pid]


def test_start_status_stop_leaves_no_process(tmp_path):
    settings = broker_settings(tmp_path, retention_ms=3_600_000)
    broker = LocalBroker(settings)
    broker.start()
    pid = broker.pid()
    assert pid and psutil.pid_exists(pid)
    status = broker.status()
    assert status["running"] and status["answers"]
    cluster_id = (tmp_path / "kafka" / "cluster.id").read_text()

    created = ensure_topics(settings)
    assert settings.topic in created
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)
    try:
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, settings.topic)])
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
    monkeypatch.setenv("ISS_KAFKA_BOOTSTRAP", kafka_settings.bootstrap)
    monkeypatch.setenv("ISS_HOME", str(tmp_path))
    caplog.set_level("INFO")
    assert main(["kafka", "start"]) == 0
    assert "nothing to start" in caplog.text
    assert not (tmp_path / "kafka").exists()
