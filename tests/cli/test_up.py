"""`isspanel up` (what `make up` runs): everything starts, works together and stops cleanly."""

import os
import re
import signal
import subprocess
import sys
import urllib.request

import psutil

from isspanel import lifeline
from isspanel.settings import PROJECT_ROOT, Settings
from tests.browser import server_env, wait_until
from tests.conftest import free_port, read_topic
from tests.dashboard.test_dashboard_cli import LOOPBACK, accepts, alive, listening, tree


def test_up_runs_producer_and_dashboard_and_stops_them_all(topic_factory, tmp_path):
    settings = topic_factory()
    port = free_port()
    env = {
        **server_env(settings),
        "ISS_SOURCE": "sgp4",
        "ISS_INTERVAL": "1",
        "ISS_HOME": str(tmp_path),
    }
    proc = lifeline.popen(  # ends with the test run, even a killed one
        [sys.executable, "-m", "isspanel", "up", "--no-flink", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/isspanel"
        wait_until(lambda: urllib.request.urlopen(url, timeout=2).status == 200, 90, url)
        # 100 seeded SGP4 positions, then the producer's own, a second apart.
        values = read_topic(settings, settings.topic, expected=103, timeout_s=60)
        assert len(values) >= 103
        assert {v["source"] for v in values} == {"sgp4"}
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        sockets = listening(tree(proc.pid))
        assert port in {p for _ip, p in sockets}
        assert {ip for ip, _port in sockets} <= LOOPBACK, sockets
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "dashboard: http://localhost:" in out
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert (tmp_path / "logs" / "producer.log").exists()
    assert os.path.getsize(tmp_path / "logs" / "dashboard.log") > 0


def start_up_with_its_broker(tmp_path, until: str) -> tuple[subprocess.Popen, list[str]]:
    """`isspanel up` that starts a broker of its own; returns once it logs ``until``."""
    env = {k: v for k, v in os.environ.items() if k != "ISS_KAFKA_BOOTSTRAP"}
    env.update(
        ISS_HOME=str(tmp_path),
        ISS_JARS_DIR=str(Settings.from_env().jars_dir),
        ISS_KAFKA_PORT=str(free_port()),
        ISS_KAFKA_CONTROLLER_PORT=str(free_port()),
        ISS_SOURCE="sgp4",
    )
    proc = lifeline.popen(  # ends with the test run, even a killed one
        [sys.executable, "-m", "isspanel", "up", "--no-flink", "--port", str(free_port())],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if until in line:
            break
    return proc, lines


def broker_of(lines: list[str]) -> psutil.Process | None:
    for line in lines:
        found = re.search(r"starting Kafka broker \(pid (\d+)\)", line)
        if found:
            return psutil.Process(int(found.group(1)))
    return None


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_sigterm_while_the_broker_starts_stops_the_broker(tmp_path):
    """A stop signal during start-up (broker, topics, seeding) still stops what was started."""
    proc, lines = start_up_with_its_broker(tmp_path, "starting Kafka broker")
    broker = broker_of(lines)
    try:
        assert broker is not None, "".join(lines)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=180)
        out = "".join(lines) + out
        assert proc.returncode == 0, out
        assert "stopping Kafka broker" in out
        assert "started producer" not in out
        assert gone(broker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if broker is not None and not gone(broker):
            os.killpg(broker.pid, signal.SIGKILL)


def test_a_killed_up_leaves_no_broker(tmp_path):
    """`kill -9` of `isspanel up` (and of all in its process group): no clean-up of its own
    runs, and the broker, in a session of its own, goes all the same (isspanel.lifeline)."""
    proc, lines = start_up_with_its_broker(tmp_path, "Kafka broker listening on")
    broker = broker_of(lines)
    try:
        assert broker is not None and "listening on" in lines[-1], "".join(lines)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        wait_until(lambda: gone(broker), 30, f"the broker (pid {broker.pid}) to stop")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if broker is not None and not gone(broker):
            os.killpg(broker.pid, signal.SIGKILL)  # what this test found left behind


def test_up_with_flink_stops_every_process_on_sigterm(topic_factory, tmp_path):
    """SIGTERM to `isspanel up` alone: the Flink job is cancelled, its JVM and all else exit."""
    settings = topic_factory()
    port, rest_port = free_port(), free_port()
    env = {
        **server_env(settings),
        "ISS_SOURCE": "sgp4",
        "ISS_INTERVAL": "5",
        "ISS_HOME": str(tmp_path),
        "ISS_JARS_DIR": str(Settings.from_env().jars_dir),
        "ISS_FLINK_REST_PORT": str(rest_port),
    }
    proc = lifeline.popen(  # ends with the test run, even a killed one
        [sys.executable, "-m", "isspanel", "up", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    flink_log = tmp_path / "logs" / "flink.log"
    processes = []
    try:
        wait_until(lambda: "submitted Flink job" in flink_log.read_text(), 240, "the Flink job")
        wait_until(lambda: accepts(port) and accepts(rest_port), 60, "dashboard and Flink REST")
        processes = tree(proc.pid)
        assert any(p.name() == "java" for p in processes), [p.cmdline() for p in processes]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    wait_until(lambda: not alive(processes[1:]), 30, "every child of isspanel up to exit")
    assert not accepts(port) and not accepts(rest_port)
    # Stopped with a savepoint (FINISHED), or cancelled if it was still starting.
    assert re.search(r"the Flink job ended: (FINISHED|CANCELED)", flink_log.read_text())
