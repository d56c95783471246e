"""`isspanel flink run` hardened, for real: quiet stops while it starts, refusals in one line.

A terminal's Ctrl-C reaches the whole foreground process group (the runner and PyFlink's gateway
JVM): the tests send SIGINT to the group, as a terminal does, and SIGTERM to the group, as
systemd or `isspanel up` do (to a running job: test_flink.py's, before its restart; a running
job's Ctrl-C, its topics and its loopback sockets are test_flink.py's too). The last test runs
the jobs on a real standalone Flink cluster.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from isspanel import lifeline
from isspanel.analytics import cluster
from isspanel.cli.flink import flink_command
from isspanel.produce.producer import IssProducer
from isspanel.settings import PROJECT_ROOT, Settings
from isspanel.sources.sgp4_model import Sgp4Source
from tests.analytics.test_flink import (
    LOOPBACK,
    assert_quiet_stop,
    end_group,
    listening,
    running_jobs,
    settings_env,
    start_run,
    wait_until,
)
from tests.conftest import free_port, read_topic

START_TIMEOUT_S = 180  # a job runs ~25 s after start here, ~110 s with 4 test runs on 2 cores


def new_settings(kafka_settings: Settings, home: Path) -> Settings:
    """Four topic names that do not exist yet, a free REST port, a home of its own."""
    tag = uuid.uuid4().hex[:8]
    return kafka_settings.replace(
        topics={
            "location": f"new-location-{tag}",
            "speed": f"new-speed-{tag}",
            "stats": f"new-stats-{tag}",
            "events": f"new-events-{tag}",
        },
        home=home,
        flink={"rest_port": free_port(), "group": f"isspanel-flink-{tag}"},
    )


def publish_positions(settings: Settings, count: int = 11) -> None:
    source = Sgp4Source(settings)
    end = int(time.time()) // 60 * 60 - 3600
    IssProducer(settings, source).publish_all(list(source.history(count, step_s=60, end_ts=end)))


# A run on topics that do not exist yet, all on loopback, stopped by Ctrl-C with a savepoint:
# test_flink.py's shared run (its topics are made by the run) and its restarts (one Flink run
# less): test_run_creates_the_topics_it_reads_and_writes,
# test_the_local_cluster_listens_on_loopback_only,
# test_ctrl_c_stops_the_running_job_with_a_savepoint_quietly.


# -- stops at other moments -------------------------------------------------------------------


def gateway_called(proc: subprocess.Popen) -> bool:
    """PyFlink's gateway JVM is up and the runner is connected to its py4j port: its calls
    have begun, and it goes from one to the next for seconds (the table environment, the
    job's statements)."""
    try:
        runner = psutil.Process(proc.pid)
        ports = {
            s.laddr.port
            for c in runner.children(recursive=True)
            if c.name() == "java"
            for s in c.net_connections(kind="tcp")
            if s.status == psutil.CONN_LISTEN
        }
        return any(
            s.status == psutil.CONN_ESTABLISHED and s.raddr and s.raddr.port in ports
            for s in runner.net_connections(kind="tcp")
        )
    except psutil.Error:
        return False


@pytest.mark.flink
def test_ctrl_c_during_start_up_stops_quietly(kafka_settings, tmp_path):
    """A Ctrl-C that lands inside a py4j call made py4j log a KeyboardInterrupt traceback."""
    settings = new_settings(kafka_settings, tmp_path)
    log_path = tmp_path / "flink-run.log"
    proc = start_run(settings, log_path)
    try:
        wait_until(lambda: gateway_called(proc), START_TIMEOUT_S, "py4j calls", proc, log_path)
        os.killpg(proc.pid, signal.SIGINT)
        assert_quiet_stop(proc, log_path, "SIGINT")
    finally:
        end_group(proc)


@pytest.mark.flink(certain=False)  # cancelled early, the run may stop before its JVM starts
def test_flink_cancel_while_the_run_starts_stops_it(kafka_settings, tmp_path):
    """Before the run's REST API answers and lists its job, `flink cancel` said that nothing
    ran (exit 0), and the job started a moment later."""
    settings = new_settings(kafka_settings, tmp_path)
    log_path = tmp_path / "flink-run.log"
    proc = start_run(settings, log_path)
    try:
        wait_until(lambda: cluster.local_run(settings), 60, "the run's marker", proc, log_path)
        assert running_jobs(settings) == []  # not listed yet: its JVM is still starting
        assert flink_command(Namespace(action="cancel", jobs=[]), settings) == 0
        assert_quiet_stop(proc, log_path, "SIGTERM")
        assert proc.returncode == 0 and running_jobs(settings) == []
        assert not cluster.marker_path(settings).exists()
    finally:
        end_group(proc)


# SIGTERM to the group of a running job, stopped quietly: test_flink.py's
# test_sigterm_to_the_group_then_a_restart_shows_each_row_once (one Flink run less).


# -- refusals ---------------------------------------------------------------------------------


def test_an_unreachable_broker_is_refused_in_one_line(tmp_path):
    """Refused before PyFlink starts its JVM: not a `flink` test."""
    settings = Settings.from_env(
        environ={},
        kafka={"bootstrap": f"127.0.0.1:{free_port()}"},
        home=tmp_path,
        flink={"rest_port": free_port()},
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "isspanel", "flink", "run"],
            cwd=PROJECT_ROOT,
            env=settings_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`isspanel flink run` still waiting after 120 s: {exc.stderr!r}"[-3000:])
    errors = [ln for ln in done.stderr.splitlines() if " ERROR " in ln]
    assert done.returncode == 1, done.stderr[-3000:]
    assert len(errors) == 1 and "does not answer" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_a_taken_rest_port_is_refused_in_one_line(kafka_settings, tmp_path):
    """A second `flink run` on the same port: one line naming the cause, not a Java trace;
    refused before PyFlink starts its JVM (not a `flink` test: PyFlink cannot start one here)."""
    settings = new_settings(kafka_settings, tmp_path)
    port = settings.flink.rest_port
    with held_port(port):
        try:
            done = subprocess.run(
                [sys.executable, "-m", "isspanel", "flink", "run"],
                cwd=PROJECT_ROOT,
                env=settings_env(settings),
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"still running: {exc.stderr!r}"[-3000:])
    errors = [ln for ln in done.stderr.splitlines() if " ERROR " in ln]
    assert done.returncode == 1, done.stderr[-3000:]
    assert len(errors) == 1, done.stderr[-3000:]
    assert f"REST port is taken (127.0.0.1:{port}: Address already in use)" in errors[0]
    assert "Traceback" not in done.stderr and "\tat " not in done.stderr
    assert not (tmp_path / "flink" / "tmp").exists()  # no gateway JVM was set up


@contextmanager
def held_port(port: int) -> Iterator[None]:
    """Something else listens on ``port`` (127.0.0.1) meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


# -- a real standalone cluster ----------------------------------------------------------------

CLUSTER_START_BUDGET_S = 150  # 26-46 s measured here, with other test runs on the 2 cores


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).parent


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """jobmanager.sh and taskmanager.sh from PyFlink's distribution, on loopback, own dirs."""
    root = tmp_path_factory.mktemp("standalone-flink")
    conf = root / "conf"
    conf.mkdir()
    shipped = flink_home() / "conf"
    for name in ("log4j.properties", "log4j-console.properties", "logback.xml"):
        (conf / name).write_bytes((shipped / name).read_bytes())
    config = yaml.safe_load((shipped / "config.yaml").read_text())
    rest_port, rpc_port = free_port(), free_port()
    config["jobmanager"].update(
        {"bind-host": "127.0.0.1", "rpc": {"address": "127.0.0.1", "port": rpc_port}}
    )
    config["jobmanager"]["memory"] = {"process": {"size": "1024m"}}
    config["taskmanager"].update({"bind-host": "127.0.0.1", "host": "127.0.0.1"})
    config["taskmanager"]["memory"] = {"process": {"size": "1280m"}}
    config["rest"] = {"address": "127.0.0.1", "bind-address": "127.0.0.1", "port": rest_port}
    (conf / "config.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "FLINK_CONF_DIR": str(conf),
        "FLINK_LOG_DIR": str(root / "log"),
        "FLINK_PID_DIR": str(root / "pid"),
    }
    for folder in ("log", "pid"):
        (root / folder).mkdir()  # flink-daemon.sh writes there without creating them
    bin_dir = flink_home() / "bin"

    def daemons() -> list[int]:
        return [int(x) for f in (root / "pid").glob("*.pid") for x in f.read_text().split()]

    groups: list[int] = []

    def start(script: str) -> None:
        # The script leaves its daemon JVM in its process group and exits: a session of its
        # own makes that group the daemon's, tied to the test run (a killed run ends it too).
        run = lifeline.popen([bin_dir / script, "start"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        groups.append(run.pid)
        out, _ = run.communicate(timeout=120)
        assert run.returncode == 0, out

    def stop() -> None:
        # What `taskmanager.sh stop` and `jobmanager.sh stop` do (flink-daemon.sh: SIGTERM, and
        # SIGKILL if still there after 10 s), without the scripts: each of them starts two JVMs
        # of its own first (BashJavaUtils reads the configuration; `java -XshowSettings`).
        daemon_processes = [psutil.Process(p) for p in daemons() if psutil.pid_exists(p)]
        for process in daemon_processes:
            process.terminate()
        _gone, alive = psutil.wait_procs(daemon_processes, 10)
        for process in alive:
            process.kill()
        psutil.wait_procs(alive, 10)
        for pgid in groups:
            lifeline.untie(pgid)

    url = f"http://127.0.0.1:{rest_port}"
    started = time.monotonic()
    try:
        for script in ("jobmanager.sh", "taskmanager.sh"):
            start(script)
        while time.monotonic() - started < CLUSTER_START_BUDGET_S:
            try:
                if requests.get(f"{url}/taskmanagers", timeout=2).json()["taskmanagers"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.5)
        else:
            # A slow machine may skip it; CI must not: a cluster that never starts is a failure
            # a skip would hide there.
            slow = f"the standalone cluster did not start in {CLUSTER_START_BUDGET_S} s"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{slow} (CI=true: a failure, not a skip)")
            pytest.skip(slow)
        yield Namespace(address=f"127.0.0.1:{rest_port}", url=url, pids=daemons(),
                        started_s=time.monotonic() - started)  # fmt: skip
    finally:
        stop()
        assert not [p for p in daemons() if psutil.pid_exists(p)]


@pytest.mark.flink
def test_flink_run_on_a_standalone_cluster(standalone_cluster, kafka_settings, tmp_path):
    """--jobmanager: submitted, rows written to new topics, listed, cancelled; all on loopback."""
    cluster = standalone_cluster
    for pid in cluster.pids:
        wide = [s for s in listening(pid) if not s[1].startswith(LOOPBACK)]
        assert not wide, wide
    # The cluster runs on this host, so it can write the state folder (a shared one elsewhere).
    settings = new_settings(kafka_settings, tmp_path).replace(
        flink={"state_dir": str(tmp_path / "st")}
    )
    env = settings_env(settings)
    isspanel = [sys.executable, "-m", "isspanel", "flink"]
    where = ["--jobmanager", cluster.address]
    done = subprocess.run([*isspanel, "run", "--detach", *where], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"to {cluster.address}" in done.stderr
    # Submitted again (say `docker compose up` once more): it would fence the first one.
    again = subprocess.run([*isspanel, "run", "--detach", *where], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0 and "already runs on" in again.stderr, again.stderr[-3000:]
    publish_positions(settings, 11)
    rows = read_topic(settings, settings.topics.speed, expected=10, timeout_s=90)
    assert len(rows) == 10
    listed = subprocess.run([*isspanel, "list", *where], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "RUNNING" in listed.stderr and "isspanel: speed+stats+crossings" in listed.stderr
    cancelled = subprocess.run([*isspanel, "cancel", *where], cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert cancelled.returncode == 0, cancelled.stderr
    assert "with a savepoint: file:" in cancelled.stderr, cancelled.stderr  # for the next run

    def states() -> list[str]:
        return [
            j["state"]
            for j in requests.get(f"{cluster.url}/jobs/overview", timeout=5).json()["jobs"]
        ]

    wait_until(lambda: states() == ["FINISHED"], 60, "the job FINISHED (stopped)")
