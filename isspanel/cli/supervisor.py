"""The children of `isspanel up` (producer, Flink run, dashboard), kept running.

A child that dies is restarted after a backoff that starts at 1 s and doubles to 60 s; a child
that ran for a minute is healthy again (its count of failures in a row starts over). After
MAX_FAILURES failures in a row of one child, the supervisor gives up: `up` stops everything
and names the child and its log. Each start, death and restart is one line in the log, and
the dashboard shows them from ISS_HOME/up/state.json (pipeline_state.py).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from isspanel import lifeline, pipeline_state
from isspanel.processes import end_group

log = logging.getLogger("isspanel.cli.up")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long starts its count of failures over
MAX_FAILURES = 5  # in a row, of one child: then `up` stops


def backoff_s(failures: int) -> float:
    """The wait before the restart that follows ``failures`` failures in a row (1, 2, 4, ...)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, failures - 1))


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class Child:
    name: str
    cmd: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # in a row
    restart_at: float | None = None  # when a restart is due
    state: dict = field(default_factory=dict)  # what the dashboard is told


class Supervisor:
    """Start, watch and restart ``children``; `poll` often, `stop` once."""

    def __init__(
        self,
        home: Path,
        commands: dict[str, list[str]],
        logs: Path,
        cwd: Path,
        start: Callable[..., subprocess.Popen] = lifeline.popen,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.home, self.cwd, self._popen, self.clock = Path(home), cwd, start, clock
        self.children = {
            name: Child(name, cmd, logs / f"{name}.log") for name, cmd in commands.items()
        }
        self.gave_up: Child | None = None

    def start_all(self, stopping: Callable[[], bool] = lambda: False) -> None:
        for child in self.children.values():
            if stopping():
                break
            self._start(child)

    def _start(self, child: Child) -> None:
        out = open(child.log_path, "ab")  # noqa: SIM115 - the child owns it
        try:
            # A session of its own (lifeline.popen): a leftover of the child (a panel worker,
            # a JVM) dies with its group; a terminal's Ctrl-C reaches `up` alone, which stops
            # them in order; and the group is tied to `up`, so a kill -9 of `up` ends it too.
            child.proc = self._popen(
                child.cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
            )
        finally:
            out.close()
        child.started_at, child.restart_at = self.clock(), None
        child.state = {"state": "running", "detail": f"pid {child.proc.pid}"}
        log.info("started %s (pid %s), log %s", child.name, child.proc.pid, child.log_path)
        self._tell()

    def poll(self) -> bool:
        """Restart what died and is due; False once a child failed MAX_FAILURES in a row."""
        now = self.clock()
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._died(child, now)
                if self.gave_up is not None:
                    return False
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self._start(child)
        return True

    def _died(self, child: Child, now: float) -> None:
        code, pid = child.proc.returncode, child.proc.pid
        end_group(pid, grace_s=5.0)  # what the child left behind (workers, a JVM)
        lifeline.untie(pid)  # its group id may be reused now
        child.proc = None
        if now - child.started_at >= HEALTHY_AFTER_S:
            child.failures = 0
        child.failures += 1
        how = describe_exit(code)
        if child.failures >= MAX_FAILURES:
            self.gave_up = child
            child.state = {"state": "failed", "detail": f"{how}, {child.failures} times in a row"}
            log.error(
                "%s (pid %s) %s, its %d failure in a row: giving up and stopping the pipeline;"
                " see %s",
                child.name,
                pid,
                how,
                child.failures,
                child.log_path,
            )
            self._tell()
            return
        wait = backoff_s(child.failures)
        child.restart_at = now + wait
        child.state = {
            "state": "restarting",
            "detail": f"{how}; restart {child.failures} of {MAX_FAILURES - 1} in {wait:g} s",
        }
        log.warning(
            "%s (pid %s) %s; restarting it in %g s (failure %d in a row, %d stop everything);"
            " see %s",
            child.name,
            pid,
            how,
            wait,
            child.failures,
            MAX_FAILURES,
            child.log_path,
        )
        self._tell()

    def _tell(self) -> None:
        try:
            pipeline_state.write(
                self.home, {name: c.state for name, c in self.children.items() if c.state}
            )
        except OSError as exc:  # the dashboard's line is a nicety: never a reason to stop
            log.debug("could not write the pipeline state: %s", exc)

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM every child (the producer flushes, Flink takes a savepoint), then empty its
        group: SIGKILL what outlives ``grace_s``.

        The child alone, not its group: a SIGTERM to the Flink run's group would stop its
        gateway JVM too, before the run could take the savepoint through it.
        """
        running = [c for c in self.children.values() if c.proc is not None]
        for child in running:
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in running:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s: killing it", child.name, grace_s)
            end_group(child.proc.pid, grace_s=5.0)
            lifeline.untie(child.proc.pid)
            child.proc = None
        pipeline_state.remove(self.home)
