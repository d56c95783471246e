"""The local `isspanel flink run` on a REST port, for an `isspanel flink cancel` while it starts.

A local mini-cluster lives inside its `isspanel flink run` process. Until its REST API answers
and lists the job (about 25 s, up to two minutes on a loaded machine), `flink cancel` cannot
reach the job through REST, and "nothing runs" would be wrong: the job starts a moment later.
So a run leaves a marker while it lives, ISS_HOME/flink/run-<REST port>.pid, and `flink cancel`
sends that run SIGTERM, as Ctrl-C would: it stops at its next step (before submitting, or its
job with a savepoint) and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from isspanel.settings import Settings

log = logging.getLogger(__name__)

# A run finishes the step under way first (the JVM start or the submission: up to ~2 min
# under load), then stops its job with a savepoint (up to a minute).
STOP_WAIT_S = 240.0


def marker_path(settings: Settings) -> Path:
    return settings.home / "flink" / f"run-{settings.flink_rest_port}.pid"


@contextmanager
def run_marker(settings: Settings) -> Iterator[None]:
    """Mark this process as the local run on the settings' REST port while it runs (unless
    another one lives: this one will fail to bind the port)."""
    if local_run(settings) is not None:
        yield
        return
    path = marker_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        try:
            if path.read_text() == str(os.getpid()):
                path.unlink()
        except OSError:
            pass


def _is_run(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) `isspanel flink run`: a pid may be reused."""
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        words = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2 :].split()[0]
    return state != "Z" and b"flink" in words and b"run" in words


def local_run(settings: Settings) -> int | None:
    """The pid of the local run on the settings' REST port, if one lives."""
    try:
        pid = int(marker_path(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and _is_run(pid) else None


def stop_local_run(settings: Settings, pid: int, timeout_s: float = STOP_WAIT_S) -> int:
    """SIGTERM to the local run ``pid`` whose job is not listed yet; wait for it to exit."""
    log.info(
        "`isspanel flink run` (pid %d) is still starting its job on port %d: stopping it with "
        "SIGTERM, as Ctrl-C there would (waiting up to %.0f s)",
        pid,
        settings.flink_rest_port,
        timeout_s,
    )
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + timeout_s
    while _is_run(pid):
        if time.monotonic() >= deadline:
            log.error("`isspanel flink run` (pid %d) still runs after %.0f s", pid, timeout_s)
            return 1
        time.sleep(0.2)
    log.info("`isspanel flink run` (pid %d) has stopped", pid)
    return 0
