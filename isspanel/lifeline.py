"""Tie process groups to the life of this process: they end when it ends, however it ends.

A watchdog process reads a pipe whose write end only this process holds (close-on-exec, and
closed in forked children). When this process exits, SIGKILL included, the kernel closes that
end: the watchdog reads EOF at once, SIGTERMs every group still tied, and SIGKILLs what is left
after a grace period. Why not PR_SET_PDEATHSIG: it fires when the forking *thread* exits (a
broker started from a worker thread would die with the thread), it reaches one process, not a
group, and it cannot be set on a daemon that a script such as Flink's jobmanager.sh forks off.

The watchdog runs this file as a script, standard library only (`python -I -S`: it finds its own
package through the folder it lives in), in a session of its own, so that a terminal's Ctrl-C or
hangup, meant for its starter, spares it.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

if __name__ == "__main__":  # the watchdog: isolated, so its package is not on its path yet
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from isspanel.processes import group_alive, signal_group

log = logging.getLogger("isspanel.lifeline")

GRACE_S = 10.0  # SIGTERM, then SIGKILL: a broker's clean shutdown takes a few seconds
SWEEP_S = 5.0  # the watchdog forgets emptied groups this often: their ids may be reused

_lock = threading.Lock()
_write_end: int | None = None
_watchdog: subprocess.Popen | None = None
_tied: dict[int, float] = {}  # process group id -> grace in seconds


def popen(cmd, grace_s: float = GRACE_S, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session (its own process group), tied to this process."""
    with _lock:
        _ensure_watchdog()  # before the child: unguarded only from its fork to the tie below
    proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
    tie(proc.pid, grace_s)
    return proc


def tie(pgid: int, grace_s: float = GRACE_S) -> None:
    """End process group ``pgid`` when this process ends, unless it is untied first."""
    with _lock:
        _tied[pgid] = grace_s
        _send(f"+{pgid} {grace_s}\n")


def untie(pgid: int) -> None:
    """Leave process group ``pgid`` alone from now on: it has ended, or must outlive us."""
    with _lock:
        if _tied.pop(pgid, None) is not None:
            _send(f"-{pgid}\n")


def _ensure_watchdog() -> None:
    global _write_end, _watchdog
    if _write_end is not None:
        return
    read_end, write_end = os.pipe()  # both close-on-exec: no other child inherits them
    try:
        _watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid())],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    _write_end = write_end


def _send(line: str) -> None:
    _ensure_watchdog()
    try:
        os.write(_write_end, line.encode())
    except BrokenPipeError:
        # The watchdog is gone (killed by hand?): a new one, told every group still tied.
        log.warning("the lifeline watchdog (pid %s) has died: starting another", _watchdog.pid)
        _close_write_end()
        _ensure_watchdog()
        os.write(_write_end, "".join(f"+{g} {s}\n" for g, s in _tied.items()).encode())


def _close_write_end() -> None:
    global _write_end
    if _write_end is not None:
        try:
            os.close(_write_end)
        except OSError:
            pass
    _write_end = None


def _after_fork_in_child() -> None:
    """A forked child must not hold our write end open: EOF would wait for it too. Its groups
    are the parent's to end; the child ties its own, with a watchdog of its own."""
    global _lock
    # Only the descriptor: this also runs between fork and exec for a Popen with preexec_fn,
    # where dropping the watchdog's Popen object would run its finalizer.
    _close_write_end()
    _tied.clear()
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- the watchdog ------------------------------------------------------------------------------


def watch(starter: int) -> None:
    """Read tie and untie lines from stdin until EOF, then end the groups still tied."""
    groups: dict[int, float] = {}
    pending = b""
    while True:
        ready, _, _ = select.select([0], [], [], SWEEP_S)
        if not ready:
            groups = {g: s for g, s in groups.items() if group_alive(g)}
            continue
        data = os.read(0, 4096)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            op, _, rest = line.decode().partition(" ")
            if op.startswith("+"):
                groups[int(op[1:])] = float(rest)
            elif op.startswith("-"):
                groups.pop(int(op[1:]), None)
    groups = {g: s for g, s in groups.items() if group_alive(g)}
    if not groups:
        return
    log.warning(
        "pid %d has ended: SIGTERM to the process group(s) it left, %s",
        starter,
        ", ".join(map(str, groups)),
    )
    started = time.monotonic()
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    while groups:
        time.sleep(0.1)
        elapsed = time.monotonic() - started
        for pgid, grace_s in list(groups.items()):
            if not group_alive(pgid):
                del groups[pgid]
            elif elapsed > grace_s:
                log.warning(
                    "process group %d outlived %.0f s after SIGTERM: SIGKILL", pgid, grace_s
                )
                signal_group(pgid, signal.SIGKILL)
                del groups[pgid]


def main() -> None:
    """The watchdog: `python -I -S lifeline.py <starter's pid>`."""
    # Its own session spares it a terminal's signals; these two are ignored all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging.raiseExceptions = False  # a stderr whose reader is gone must not stop the work
    logging.basicConfig(format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    watch(int(sys.argv[1]))


if __name__ == "__main__":
    main()
