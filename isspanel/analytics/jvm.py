"""The client process around PyFlink's gateway JVM: stop signals, py4j's noise, JVM liveness."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger("isspanel.analytics.run")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT/SIGTERM set ``event`` (the first) or raise KeyboardInterrupt (the second)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if self.event.is_set():
            log.warning("%s again: quitting without waiting for the Flink job", name)
            raise KeyboardInterrupt
        self.event.set()
        log.info("%s: stopping the Flink job (a second signal quits at once)", name)


class Py4JNoise(logging.Filter):
    """py4j's own records (connection errors once the JVM is gone, a KeyboardInterrupt inside a
    call) go to DEBUG: they repeat per Java object and say nothing the runner does not say."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.name.startswith("py4j") or "py4j" in Path(record.pathname).parts):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_PY4J_FILTER = Py4JNoise()


def quiet_py4j() -> None:
    """Install the filter for the rest of the process: py4j logs at exit too (object GC).

    Filters of a logger see only records made by that logger, so each py4j logger gets it,
    and the root logger for py4j's `logging.exception(...)` calls.
    """
    for name in ("", "py4j", "py4j.java_gateway", "py4j.clientserver"):
        logger = logging.getLogger(name)
        if _PY4J_FILTER not in logger.filters:
            logger.addFilter(_PY4J_FILTER)


def java_children() -> list[int] | None:
    """Live java processes started by this one (PyFlink's gateway JVM); None without /proc."""
    me, found = os.getpid(), []
    try:
        entries = [e for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == me and comm == "java" and state != "Z":
            found.append(int(entry.name))
    return found


def gateway_alive(settle_s: float = 0.0) -> bool:
    """Whether the gateway JVM still runs; waits up to ``settle_s`` for one that is going."""
    deadline = time.monotonic() + settle_s
    while java_children() != []:  # None: no /proc to tell, so take it as alive
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)
    return False


def root_cause(exc: Exception) -> str:
    """The innermost `Caused by` of a Java exception's text, else its first line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    causes = [ln.removeprefix("Caused by: ") for ln in lines if ln.startswith("Caused by")]
    if causes:
        return causes[-1][:300]
    return lines[0][:300] if lines else type(exc).__name__
