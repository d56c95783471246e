"""The supervisor of `isspanel up`'s children, with real child processes and a clock it is
given (so a backoff of a minute takes no minute)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from isspanel import pipeline_state
from isspanel.cli.supervisor import (
    BACKOFF_MAX_S,
    HEALTHY_AFTER_S,
    MAX_FAILURES,
    Supervisor,
    backoff_s,
)
from isspanel.dashboard.health import Health
from isspanel.dashboard.status import status_html
from isspanel.pipeline_state import ChildState
from isspanel.processes import group_members
from tests.browser import wait_until

DIES = [sys.executable, "-c", "import sys; sys.exit(3)"]
LIVES = [sys.executable, "-c", "import time; time.sleep(600)"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervisor(tmp_path, commands, clock) -> Supervisor:
    (tmp_path / "logs").mkdir(exist_ok=True)
    return Supervisor(tmp_path, commands, tmp_path / "logs", tmp_path, clock=clock)


def dead(sup: Supervisor, name: str) -> bool:
    proc = sup.children[name].proc
    return proc is not None and proc.poll() is not None


def test_the_backoff_doubles_from_1_s_to_60_s():
    assert [backoff_s(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert BACKOFF_MAX_S == 60 and HEALTHY_AFTER_S == 60 and MAX_FAILURES == 5


def test_a_dying_child_is_restarted_after_its_backoff_then_given_up(tmp_path, caplog):
    clock = Clock()
    sup = supervisor(tmp_path, {"producer": DIES, "dashboard": LIVES}, clock)
    caplog.set_level(logging.INFO, logger="isspanel.cli.up")
    try:
        sup.start_all()
        pids = set()
        for failure in range(1, MAX_FAILURES):
            pids.add(sup.children["producer"].proc.pid)
            wait_until(lambda: dead(sup, "producer"), 20, "the producer to exit")
            assert sup.poll()
            child = sup.children["producer"]
            assert child.proc is None and child.restart_at == clock.now + backoff_s(failure)
            state = {c.name: c for c in pipeline_state.read(tmp_path)}
            assert state["producer"].state == "restarting"
            assert f"exited with status 3; restart {failure} of 4" in state["producer"].detail
            assert state["dashboard"].state == "running"
            clock.now += backoff_s(failure) - 0.01
            assert sup.poll() and sup.children["producer"].proc is None  # not yet due
            clock.now += 0.01
            assert sup.poll() and sup.children["producer"].proc is not None
        assert len(pids) == MAX_FAILURES - 1
        wait_until(lambda: dead(sup, "producer"), 20, "the producer's fifth exit")
        assert not sup.poll()
        assert sup.gave_up.name == "producer"
        # The supervisor's own lines: a Kafka client another test of this worker left
        # behind may log its lost broker here too (fresh-6).
        said = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.ERROR and r.name == "isspanel.cli.up"
        ]
        assert len(said) == 1 and "producer" in said[0] and "producer.log" in said[0]
        # The other child was never touched.
        assert sup.children["dashboard"].proc.poll() is None
        lines = [r.getMessage() for r in caplog.records if "restarting it in" in r.getMessage()]
        assert [line.split("restarting it in ")[1][:4] for line in lines] == [
            "1 s ",
            "2 s ",
            "4 s ",
            "8 s ",
        ]
    finally:
        sup.stop(grace_s=5)
    assert not pipeline_state.state_path(tmp_path).exists()


def test_a_child_that_ran_a_minute_starts_its_failures_over(tmp_path):
    clock = Clock()
    sup = supervisor(tmp_path, {"flink": LIVES}, clock)
    try:
        sup.start_all()
        for _ in range(3):  # three quick deaths: 1, 2, 4 s
            sup.children["flink"].proc.kill()
            wait_until(lambda: dead(sup, "flink"), 20, "flink to die")
            sup.poll()
            clock.now = sup.children["flink"].restart_at
            sup.poll()
        assert sup.children["flink"].failures == 3
        clock.now += HEALTHY_AFTER_S  # then a minute of health
        sup.children["flink"].proc.kill()
        wait_until(lambda: dead(sup, "flink"), 20, "flink to die")
        sup.poll()
        assert sup.children["flink"].failures == 1
        assert sup.children["flink"].restart_at == clock.now + 1
        state = pipeline_state.read(tmp_path)
        assert state[0].detail == "was killed by SIGKILL; restart 1 of 4 in 1 s"
    finally:
        sup.stop(grace_s=5)


def test_stop_ends_each_childs_whole_group(tmp_path):
    """A child's own children (panel's workers, a JVM) go with it."""
    grandchild = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([{sys.executable!r}, '-c', 'import time; time.sleep(600)']);"
        "time.sleep(600)"
    )
    sup = supervisor(tmp_path, {"dashboard": [sys.executable, "-c", grandchild]}, Clock())
    sup.start_all()
    pgid = sup.children["dashboard"].proc.pid
    wait_until(lambda: len(group_members(pgid)) == 2, 20, "the child and its child")
    sup.stop(grace_s=5)
    assert group_members(pgid) == []


def test_a_stale_state_file_says_nothing(tmp_path):
    pipeline_state.write(tmp_path, {"producer": {"state": "restarting", "detail": "x"}})
    assert pipeline_state.read(tmp_path)[0].state == "restarting"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    path = pipeline_state.state_path(tmp_path)
    path.write_text(path.read_text().replace(str(os.getpid()), gone.stdout.strip()))
    assert pipeline_state.read(tmp_path) == ()
    for junk in (b"", b"[" * 100_000, b'{"pid": 0, "children": {}}', b'{"pid": true}', b"\xff"):
        path.write_bytes(junk)
        assert pipeline_state.read(tmp_path) == ()


def test_the_status_says_which_child_is_restarting():
    down = ChildState("producer", "restarting", "was killed by SIGKILL; restart 1 of 4 in 1 s")
    html = status_html(Health(pipeline=(ChildState("flink", "running", "pid 1"), down)), "k:1")
    assert "isspanel up: producer restarting (was killed by SIGKILL; restart 1 of 4" in html
    assert "flink" not in html
    assert "isspanel up" not in status_html(Health(), "k:1")
