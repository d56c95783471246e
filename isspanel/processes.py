"""Processes from the outside: alive or not, their groups signalled and emptied, read from /proc;
and this process's own stop signals.

Standard library only: the lifeline's watchdog (isspanel.lifeline) runs on it with `python -I -S`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ProcStat(NamedTuple):
    pid: int
    comm: str  # the executable's name, as the kernel keeps it (15 characters at most)
    state: str  # R, S, D, Z (zombie), ...
    ppid: int
    pgrp: int


def proc_stat(pid: int) -> ProcStat | None:
    """What /proc/<pid>/stat says; None once the process is gone (or without /proc)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    state, ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
    return ProcStat(pid, text[text.index("(") + 1 : text.rindex(")")], state, int(ppid), int(pgrp))


def live_processes() -> Iterator[ProcStat]:
    """Every live (not zombie) process in /proc; nothing without /proc."""
    try:
        entries = [e.name for e in PROC.iterdir() if e.name.isdigit()]
    except OSError:
        return
    for name in entries:
        stat = proc_stat(int(name))
        if stat is not None and stat.state != "Z":
            yield stat


def command_line(pid: int) -> list[bytes] | None:
    """The arguments process ``pid`` was started with; None once it is gone."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs: a zombie has ended, and 0 or -1 name no one process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass  # someone else's process, but one
    except (ProcessLookupError, OverflowError):
        return False
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z"


def children(pid: int, comm: str) -> list[int] | None:
    """Live processes named ``comm`` whose parent is ``pid``; None without /proc to tell."""
    if not PROC.is_dir():
        return None
    return [p.pid for p in live_processes() if p.ppid == pid and p.comm == comm]


def group_alive(pgid: int) -> bool:
    """Whether any process (a zombie too) is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except PermissionError:
        return True
    except ProcessLookupError:
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    return [p.pid for p in live_processes() if p.pgrp == pgid]


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; False when none of it is left to ours."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_group(pgid: int, grace_s: float = 10.0) -> None:
    """SIGTERM what is left of process group ``pgid``; SIGKILL what outlives ``grace_s``."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not group_members(pgid):
            return
        signal_group(pgid, signum)
        deadline = time.monotonic() + grace_s
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


class StopSignals:
    """SIGINT and SIGTERM, caught: each is said in one line (``said``, with the signal's name)
    and sets ``event``; ``then`` runs after it. With ``again``, a second signal is said so and
    raises KeyboardInterrupt: quit at once.

    Handlers run in the main thread between two bytecodes, so they only set, say and signal.
    Installed from another thread, they are not installed (Python allows only the main one).
    """

    def __init__(
        self,
        log: logging.Logger,
        said: str,
        again: str | None = None,
        then: Callable[[], None] | None = None,
    ):
        self.log, self.said, self.again, self.then = log, said, again, then
        self.event = threading.Event()
        self.first_at: float | None = None  # monotonic time of the first signal
        self._previous: dict[int, object] = {}

    def install(self) -> StopSignals:
        """Catch the signals from now on (until `restore`)."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous.setdefault(signum, signal.signal(signum, self._handle))
        return self

    def restore(self) -> None:
        """Put back the handlers there were before `install`."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *_exc) -> None:
        self.restore()

    def is_set(self) -> bool:
        return self.event.is_set()

    def _handle(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if self.again is not None and self.event.is_set():
            self.log.warning(self.again, name)
            raise KeyboardInterrupt
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.event.set()
        self.log.info(self.said, name)
        if self.then is not None:
            self.then()
