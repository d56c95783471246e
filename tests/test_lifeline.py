"""Nothing a test run starts outlives it, even a `kill -9` of the run (isspanel.lifeline).

Each test here kills a starter process with SIGKILL, so no clean-up of its own runs, and waits
for what it had started to go: a Kafka broker from the session fixture, or small stand-ins for
a daemon that a script leaves behind, a process that ignores SIGTERM, a forked child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from isspanel import lifeline
from isspanel.broker.local import LocalBroker
from isspanel.settings import PROJECT_ROOT

PROBE = "ISS_TEST_LIFELINE_PROBE"  # set only for the inner run below


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.05)
    return value


def read_when_written(path: Path, run: subprocess.Popen, timeout_s: float) -> str:
    """The content of ``path`` once ``run`` has written it (a line), failing if ``run`` exits."""

    def written() -> str:
        if run.poll() is not None:
            pytest.fail(f"the starter exited ({run.returncode}) before writing {path}")
        text = path.read_text() if path.exists() else ""
        return text if text.endswith("\n") else ""

    return wait_until(written, timeout_s, f"{path.name} from pid {run.pid}")


def kill_9(run: subprocess.Popen) -> None:
    run.kill()
    run.wait(10)
    lifeline.untie(run.pid)


@pytest.mark.skipif(PROBE not in os.environ, reason="the inner run of the test below")
def test_probe_holds_the_session_broker(kafka_settings):
    pid = LocalBroker(kafka_settings).pid()
    Path(os.environ[PROBE]).write_text(f"{pid}\n")
    time.sleep(300)


def test_a_killed_test_run_leaves_no_broker(tmp_path):
    """The session fixture's broker: `kill -9` of the pytest run that started it stops it too.
    The run is on an xdist worker, as `make test` runs (one worker: the probe is one test)."""
    mark = tmp_path / "broker.pid"
    env = {k: v for k, v in os.environ.items() if k != "ISS_KAFKA_BOOTSTRAP"}
    env[PROBE] = str(mark)
    log_path = tmp_path / "inner.log"
    with open(log_path, "wb") as out:
        run = lifeline.popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1",
             f"{__file__}::test_probe_holds_the_session_broker"],
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    broker = None
    try:
        try:
            pid = int(read_when_written(mark, run, 180))
        except pytest.fail.Exception as exc:
            pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')}")
        broker = psutil.Process(pid)
        assert "kafka.Kafka" in broker.cmdline()
        kill_9(run)
        wait_until(lambda: gone(broker), 30, f"the broker (pid {pid}) to stop")
    finally:
        if run.poll() is None:
            kill_9(run)
        if broker is not None and not gone(broker):
            os.killpg(broker.pid, signal.SIGKILL)  # what this test found left behind


# -- the mechanism, with small stand-ins ------------------------------------------------------

STARTER = """\
import os, sys, time
from isspanel import lifeline

def out(line):
    with open(sys.argv[1], "a") as f:
        f.write(line + "\\n")
"""


def start(tmp_path: Path, body: str) -> tuple[subprocess.Popen, Path]:
    """A Python program that runs ``body`` (after STARTER), writes lines to a file, then
    waits to be killed."""
    script, lines = tmp_path / "starter.py", tmp_path / "lines"
    script.write_text(STARTER + textwrap.dedent(body) + "\ntime.sleep(300)\n")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    run = lifeline.popen([sys.executable, str(script), str(lines)], env=env)
    return run, lines


def test_a_daemon_left_by_a_script_ends_with_the_starter(tmp_path):
    """As jobmanager.sh does: the script exits at once, its background JVM stays in the group."""
    run, lines = start(
        tmp_path,
        """
        script = lifeline.popen(["sh", "-c", "sleep 300 & echo $!"], stdout=-1, text=True)
        out(script.stdout.readline().strip())
        script.wait()
        """,
    )
    try:
        daemon = psutil.Process(int(read_when_written(lines, run, 30)))
        # `$!` is said as soon as sh has forked the child, which may not have run `sleep` yet.
        wait_until(lambda: daemon.name() == "sleep", 10, "the background child to run sleep")
        kill_9(run)
        wait_until(lambda: gone(daemon), 10, "the daemon to end")
    finally:
        kill_9(run)


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    run, lines = start(
        tmp_path,
        """
        stubborn = lifeline.popen(["sh", "-c", "trap '' TERM; sleep 300"], grace_s=1.0)
        out(str(stubborn.pid))
        """,
    )
    try:
        stubborn = psutil.Process(int(read_when_written(lines, run, 30)))
        kill_9(run)
        wait_until(lambda: gone(stubborn), 15, "SIGKILL after the grace")
    finally:
        kill_9(run)


def test_an_untied_group_outlives_its_starter(tmp_path):
    """Untied (`isspanel kafka start`'s broker must outlive the command): left alone."""
    run, lines = start(
        tmp_path,
        """
        free = lifeline.popen(["sleep", "300"])
        tied = lifeline.popen(["sleep", "300"])
        lifeline.untie(free.pid)
        out(f"{free.pid} {tied.pid}")
        """,
    )
    free = None
    try:
        free_pid, tied_pid = map(int, read_when_written(lines, run, 30).split())
        free, tied = psutil.Process(free_pid), psutil.Process(tied_pid)
        kill_9(run)
        wait_until(lambda: gone(tied), 10, "the tied group to end")
        assert not gone(free)
    finally:
        kill_9(run)
        if free is not None and not gone(free):
            free.kill()


def test_a_forked_child_does_not_keep_the_lifeline_open(tmp_path):
    """A fork inherits every descriptor: without the at-fork hook the watchdog would wait
    for the forked child to exit as well before it sees EOF."""
    run, lines = start(
        tmp_path,
        """
        tied = lifeline.popen(["sleep", "300"])
        forked = os.fork()
        if forked == 0:
            time.sleep(300)
            os._exit(0)
        out(f"{tied.pid} {forked}")
        """,
    )
    forked = None
    try:
        tied_pid, forked_pid = map(int, read_when_written(lines, run, 30).split())
        tied, forked = psutil.Process(tied_pid), psutil.Process(forked_pid)
        kill_9(run)
        assert not gone(forked)
        wait_until(lambda: gone(tied), 10, "the tied group to end")
    finally:
        kill_9(run)
        if forked is not None and not gone(forked):
            forked.kill()


def test_a_watchdog_killed_by_hand_is_replaced_at_the_next_tie(tmp_path):
    """The next tie finds the pipe broken, starts a new watchdog and tells it every group."""
    run, lines = start(
        tmp_path,
        """
        import signal
        first = lifeline.popen(["sleep", "300"])
        watchdog = lifeline._watchdog.pid
        os.kill(watchdog, signal.SIGKILL)
        os.waitpid(watchdog, 0)
        second = lifeline.popen(["sleep", "300"])
        assert lifeline._watchdog.pid != watchdog
        out(f"{first.pid} {second.pid}")
        """,
    )
    try:
        first, second = map(psutil.Process, map(int, read_when_written(lines, run, 30).split()))
        kill_9(run)
        wait_until(lambda: gone(first) and gone(second), 10, "both groups to end")
    finally:
        kill_9(run)
