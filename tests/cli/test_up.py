"""`isspanel up` (what `make up` runs): everything starts, works together and stops cleanly."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from isspanel import lifeline
from isspanel.broker import read_topic as read_topic_df
from isspanel.broker.local import LocalBroker
from isspanel.settings import PROJECT_ROOT, Settings
from tests.browser import server_env, table_keys, wait_until
from tests.conftest import broker_settings, free_port, read_topic
from tests.dashboard.test_dashboard_cli import LOOPBACK, accepts, alive, listening, tree


def test_up_runs_producer_and_dashboard_and_stops_them_all(topic_factory, tmp_path):
    settings = topic_factory()
    port = free_port()
    env = {
        **server_env(settings),
        "ISS_PRODUCER_SOURCE": "sgp4",
        "ISS_PRODUCER_INTERVAL_S": "1",
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
        values = read_topic(settings, settings.topics.location, expected=103, timeout_s=60)
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
    # Its lifeline watchdog leaves once it has seen up go (a moment after up itself).
    wait_until(lambda: not alive(children), 20, "every child of isspanel up to exit")
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
        ISS_PRODUCER_SOURCE="sgp4",
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


@pytest.mark.flink
def test_up_with_flink_stops_every_process_on_sigterm(topic_factory, tmp_path):
    """SIGTERM to `isspanel up` alone: the Flink job is cancelled, its JVM and all else exit."""
    settings = topic_factory()
    port, rest_port = free_port(), free_port()
    env = {
        **server_env(settings),
        "ISS_PRODUCER_SOURCE": "sgp4",
        "ISS_PRODUCER_INTERVAL_S": "5",
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
        # kill -9 of the Flink run, once its rows flow: `up` restarts it (its JVM went with its
        # group), the restart resumes from the last checkpoint, and a read_committed reader sees
        # each leg once.
        wait_until(lambda: read_topic_df(settings, settings.topics.speed, last=1).shape[0], 120,
                   "the first speed rows")  # fmt: skip
        flink = next(p for p in processes if "flink" in p.cmdline() and "run" in p.cmdline())
        flink.kill()
        wait_until(lambda: flink_log.read_text().count("submitted Flink job") == 2, 240,
                   "the restarted Flink job")  # fmt: skip
        before = len(read_topic_df(settings, settings.topics.speed))
        wait_until(lambda: len(read_topic_df(settings, settings.topics.speed)) > before, 120,
                   "new speed rows from the restarted job")  # fmt: skip
        assert read_topic_df(settings, settings.topics.speed).attrs["duplicates"] == 0
        processes = tree(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    wait_until(lambda: not alive(processes[1:]), 30, "every child of isspanel up to exit")
    assert not accepts(port) and not accepts(rest_port)
    # Stopped with a savepoint (FINISHED), or cancelled if it was still starting.
    assert re.search(r"the Flink job ended: (FINISHED|CANCELED)", flink_log.read_text())


def up_env(home, bootstrap: str | None = None, **extra: str) -> dict[str, str]:
    """`isspanel up` on its own ISS_HOME: the local broker there, or the cluster named."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISS_")}
    env.update(ISS_HOME=str(home), ISS_JARS_DIR=str(Settings.from_env().jars_dir), **extra)
    if bootstrap:
        env["ISS_KAFKA_BOOTSTRAP"] = bootstrap
    return env


def start_up(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, list[str]]:
    """`isspanel up` with its output collected line by line (by a thread) into the list."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "isspanel", "up", *args],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return proc, lines


def child_pid(lines: list[str], name: str, nth: int = 1) -> int:
    """The pid of the ``nth`` start of child ``name``, from up's log."""
    found = [int(m.group(1)) for m in map(re.compile(rf"started {name} \(pid (\d+)\)").search,
             list(lines)) if m]  # fmt: skip
    return found[nth - 1] if len(found) >= nth else 0


def stop_up(proc: subprocess.Popen, lines: list[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    time.sleep(0)  # the reader thread ends with the pipe
    return "".join(lines)


def test_up_restarts_each_killed_child_and_leaves_the_broker_it_found(tmp_path, open_page):
    """kill -9 the producer, then the dashboard: each is back after its backoff (1 s), records
    reach the page again, no moment twice on the topic; the broker `up` found stays up."""
    settings = broker_settings(tmp_path)
    broker = LocalBroker(settings)
    broker.start()
    port = free_port()
    env = up_env(
        tmp_path,
        ISS_KAFKA_PORT=str(settings.kafka.port),
        ISS_KAFKA_CONTROLLER_PORT=str(settings.kafka.controller_port),
        ISS_PRODUCER_SOURCE="sgp4",
        ISS_PRODUCER_INTERVAL_S="1",
    )
    proc, lines = start_up(env, "--no-flink", "--port", str(port))
    try:
        url = f"http://127.0.0.1:{port}/isspanel"
        wait_until(lambda: urllib.request.urlopen(url, timeout=2).status == 200, 90, url)
        assert any("Kafka broker already running" in line for line in lines)
        page = open_page(url)
        newest = "() => window.isspanelNewest ? window.isspanelNewest.n : 0"
        wait_until(lambda: page.evaluate(newest) > 100, 30, "the producer's records on the page")

        os.kill(child_pid(lines, "producer"), signal.SIGKILL)
        wait_until(lambda: child_pid(lines, "producer", 2), 20, "the producer's restart")
        assert any("producer" in x and "SIGKILL; restarting it in 1 s" in x for x in lines)
        shown = page.evaluate(newest)
        wait_until(lambda: page.evaluate(newest) > shown + 2, 30, "records after the restart")

        before = table_keys(page)[0]
        os.kill(child_pid(lines, "dashboard"), signal.SIGKILL)
        wait_until(lambda: child_pid(lines, "dashboard", 2), 20, "the dashboard's restart")
        wait_until(lambda: urllib.request.urlopen(url, timeout=2).status == 200, 60, url)
        # The open tab comes back by itself (link.js reloads it) and shows newer records; it
        # is closed only then: a context closed while its page was reloading once hung
        # Playwright's close for the rest of the test's time.
        wait_until(lambda: table_keys(page)[0] > before, 60, "the open page back with records")
        open_page.close(page)
        page = open_page(url)
        shown = page.evaluate(newest)
        wait_until(lambda: page.evaluate(newest) > shown + 2, 30, "records on a new page")
        keys = table_keys(page)
        assert len(keys) == len(set(keys)) == 100, keys
        assert open_page.close(page) == []  # before up stops: its server going is no error
        assert proc.poll() is None, "".join(lines)
    finally:
        out = stop_up(proc, lines)
    try:
        assert proc.returncode == 0, out
        assert f"left the Kafka broker it found running (pid {broker.pid()})" in out, out
        assert "stopping Kafka broker" not in out
        assert broker.answers()
        # A producer killed between the broker's ack and its spool's tidying sends that record
        # again at its next start (allowed: the timestamp is every reader's key); readers show
        # each moment once.
        df = read_topic_df(settings, settings.topics.location)
        assert len(df) > 100 and df["timestamp"].is_unique
        assert df.attrs["duplicates"] <= 1, df.attrs
    finally:
        broker.stop()


def test_up_stops_the_broker_it_started_and_stops_all_when_it_dies(tmp_path):
    """Ctrl-C stops a broker `up` started; the broker's death stops everything, clearly."""
    ports = {"ISS_KAFKA_PORT": str(free_port()), "ISS_KAFKA_CONTROLLER_PORT": str(free_port())}
    env = up_env(tmp_path, ISS_PRODUCER_SOURCE="sgp4", **ports)
    proc, lines = start_up(env, "--no-flink", "--port", str(free_port()))
    try:
        wait_until(lambda: child_pid(lines, "dashboard"), 120, "the children's start")
        broker_pid = int(re.search(r"starting Kafka broker \(pid (\d+)\)", "".join(lines))[1])
        os.killpg(broker_pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        out = stop_up(proc, lines)
    assert proc.returncode == 1, out
    assert f"the Kafka broker (pid {broker_pid}) died: stopping the pipeline" in out
    assert "restarting it in" not in out  # its children were stopped, not restarted

    proc, lines = start_up(env, "--no-flink", "--port", str(free_port()))
    try:
        wait_until(lambda: child_pid(lines, "dashboard"), 120, "the children's start")
        broker_pid = int(re.search(r"starting Kafka broker \(pid (\d+)\)", "".join(lines))[1])
    finally:
        out = stop_up(proc, lines)
    assert proc.returncode == 0, out
    assert f"stopping Kafka broker (pid {broker_pid})" in out
    assert not psutil.pid_exists(broker_pid) or psutil.Process(broker_pid).status() == "zombie"
