"""The one layer of process helpers (isspanel.processes), with real processes and real signals."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from isspanel import processes
from isspanel.processes import StopSignals
from tests.browser import wait_until

log = logging.getLogger("isspanel.test")


def started(cmd: list[str], **kwargs) -> subprocess.Popen:
    """``cmd`` in a process group of its own, as the supervisor and the broker start theirs."""
    return subprocess.Popen(cmd, start_new_session=True, **kwargs)


def test_alive_knows_a_live_process_a_zombie_and_no_process():
    assert processes.alive(os.getpid())
    for not_one in (0, -1, 2**70):  # a group, every process, no pid at all
        assert not processes.alive(not_one)
    child = started([sys.executable, "-c", "pass"])
    # Ended but not reaped: a zombie, which has ended all the same.
    wait_until(lambda: processes.proc_stat(child.pid).state == "Z", 20, "a zombie")
    assert not processes.alive(child.pid)
    child.wait()
    assert not processes.alive(child.pid) and processes.proc_stat(child.pid) is None


def test_a_name_with_spaces_and_parentheses_is_read_whole(tmp_path):
    odd = tmp_path / "x) (y z"
    odd.symlink_to("/bin/sleep")
    child = started([str(odd), "30"])
    try:
        stat = processes.proc_stat(child.pid)
        assert (stat.comm, stat.ppid, stat.pgrp) == ("x) (y z", os.getpid(), child.pid)
        assert processes.children(os.getpid(), "x) (y z") == [child.pid]
        assert processes.command_line(child.pid)[:2] == [str(odd).encode(), b"30"]
    finally:
        child.kill()
        child.wait()
    assert processes.command_line(child.pid) is None


LEADER = """
import signal, subprocess, time
subprocess.Popen(["sleep", "300"])  # before the next line: it ends on SIGTERM
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(300)
"""


def test_a_group_is_emptied_sigterm_first_then_sigkill_after_the_grace():
    group = started([sys.executable, "-c", LEADER])
    pgid = group.pid
    try:
        wait_until(lambda: len(processes.group_members(pgid)) == 2, 20, "the leader, its child")
        assert processes.group_alive(pgid)
        started_at = time.monotonic()
        processes.end_group(pgid, grace_s=1.0)
        assert processes.group_members(pgid) == []
        assert time.monotonic() - started_at >= 1.0  # the leader outlived the SIGTERM
        assert group.wait(10) == -signal.SIGKILL
    finally:
        processes.signal_group(pgid, signal.SIGKILL)
        group.wait(10)


def test_a_group_that_is_gone_is_not_signalled():
    child = started([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its group, of it alone, is gone
    assert not processes.group_alive(child.pid)
    assert processes.group_members(child.pid) == []
    assert not processes.signal_group(child.pid, signal.SIGTERM)
    processes.end_group(child.pid)  # nothing to do


def test_stop_signals_set_the_event_say_so_and_run_then(caplog):
    caplog.set_level(logging.INFO, logger="isspanel.test")
    before = signal.getsignal(signal.SIGTERM)
    forwarded = []
    with StopSignals(log, "%s: stopping the test", then=lambda: forwarded.append(1)) as stop:
        assert not stop.is_set() and stop.first_at is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.event.wait(10)
        os.kill(os.getpid(), signal.SIGINT)  # again: said and forwarded again, no quitting
        wait_until(lambda: len(forwarded) == 2, 10, "the second signal")
    assert signal.getsignal(signal.SIGTERM) is before  # put back
    assert [r.getMessage() for r in caplog.records] == [
        "SIGTERM: stopping the test",
        "SIGINT: stopping the test",
    ]
    assert stop.first_at is not None


def test_a_second_stop_signal_quits_at_once_when_asked_to(caplog):
    caplog.set_level(logging.INFO, logger="isspanel.test")
    with StopSignals(log, "%s: stopping", again="%s again: quitting") as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.event.wait(10)
        with pytest.raises(KeyboardInterrupt):  # raised by the handler, in this thread
            os.kill(os.getpid(), signal.SIGTERM)
    assert caplog.records[-1].levelname == "WARNING"
    assert caplog.records[-1].getMessage() == "SIGTERM again: quitting"


def test_stop_signals_off_the_main_thread_install_nothing():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def install() -> None:
        seen.append(StopSignals(log, "%s").install())
        seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert seen[1] is before
    seen[0].restore()  # nothing to put back
    assert signal.getsignal(signal.SIGTERM) is before
