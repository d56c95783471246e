"""`isspanel up`: broker, producer, Flink jobs and dashboard, started and stopped together."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from kafka import TopicPartition

from isspanel import lifeline
from isspanel.broker import clients
from isspanel.cli.serve import serve_command
from isspanel.cli.supervisor import Supervisor
from isspanel.processes import StopSignals, end_group, signal_group
from isspanel.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)


def run_group(cmd: list[str], name: str, grace_s: float = 30.0) -> int:
    """Run ``cmd`` in a process group of its own; SIGINT and SIGTERM stop the whole group.

    `panel serve --num-procs N` forks N workers that outlive their parent when only the
    parent is signalled, so a stop signal goes to the group, and the group is emptied after.
    The group is tied to this process (isspanel.lifeline): it ends even if this one is killed.
    Returns 0 after a requested stop, else the child's exit status.
    """
    child: subprocess.Popen | None = None

    def forward() -> None:
        if child is not None:
            # SIGTERM for either: the group may ignore SIGINT (started in the background by a
            # shell), and panel serve shuts down cleanly on SIGTERM.
            signal_group(child.pid, signal.SIGTERM)

    # Handlers first, so that no signal falls between the start and the handlers.
    with StopSignals(log, f"%s: stopping the {name}", then=forward) as stop:
        try:
            child = lifeline.popen(cmd)
            if stop.is_set():
                signal_group(child.pid, signal.SIGTERM)
            while True:
                try:
                    code = child.wait(0.5)
                    break
                except subprocess.TimeoutExpired:
                    if stop.is_set() and time.monotonic() - stop.first_at > grace_s:
                        log.warning("the %s did not stop in %.0f s: killing it", name, grace_s)
                        signal_group(child.pid, signal.SIGKILL)
        finally:
            if child is not None:
                end_group(child.pid)
                lifeline.untie(child.pid)
    return 0 if stop.is_set() else code


def topic_is_empty(settings: Settings) -> bool:
    consumer = clients.consumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        tps = [
            TopicPartition(settings.topics.location, p)
            for p in consumer.partitions_for_topic(settings.topics.location) or {0}
        ]
        return sum(consumer.end_offsets(tps).values()) == 0
    finally:
        consumer.close()


def seed_history(settings: Settings, count: int = 100) -> None:
    """Give a first dashboard something to show: the last ``count`` minutes from SGP4."""
    from isspanel.produce.producer import IssProducer
    from isspanel.sources.sgp4_model import Sgp4Source

    source = Sgp4Source(settings)
    IssProducer(settings, source).publish_all(source.history(count, step_s=60))
    log.info("seeded %s with %d SGP4 positions (source: sgp4)", settings.topics.location, count)


def run_pipeline(settings: Settings, args: argparse.Namespace) -> int:
    """Broker, then the children under a Supervisor, until a stop signal (0), a child that
    keeps failing or the broker's death (1). Stops only what it started."""
    from isspanel.broker.local import LocalBroker
    from isspanel.broker.topics import ensure_topics

    # Before the broker starts: a signal during start-up must still stop what was started.
    stop = StopSignals(log, "%s: stopping the pipeline").install()
    broker: LocalBroker | None = None
    found_pid: int | None = None  # a broker that was running before us: never ours to stop
    supervisor: Supervisor | None = None
    code = 0
    try:
        if settings.kafka.external:
            log.info("using the Kafka cluster at %s", settings.kafka.bootstrap_servers)
        else:
            # Tied: a broker it starts stops with `isspanel up` even if that is killed (-9).
            broker = LocalBroker(settings, tied=True)
            running = broker.pid()
            if running is not None and broker.answers():
                found_pid = running
            broker.start()
        if not stop.is_set():
            ensure_topics(settings)
        if not stop.is_set() and topic_is_empty(settings):
            seed_history(settings)

        logs = Path(settings.home) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        isspanel = [sys.executable, "-m", "isspanel"]
        port = args.port or settings.dashboard.port
        commands = {
            "producer": [*isspanel, "produce", *(["--source", args.source] if args.source else [])],
            "dashboard": serve_command(port),
        }
        if not args.no_flink:
            commands["flink"] = [*isspanel, "flink", "run"]
        supervisor = Supervisor(settings.home, commands, logs, PROJECT_ROOT)
        supervisor.start_all(stopping=stop.is_set)
        if not stop.is_set():
            log.info("dashboard: http://localhost:%s/isspanel", port)
            log.info(
                "Kafka: %s, topics %s, %s, %s, %s",
                settings.kafka.bootstrap_servers,
                settings.topics.location,
                settings.topics.speed,
                settings.topics.stats,
                settings.topics.events,
            )
            log.info("Ctrl-C stops everything")
        broker_pid = broker.pid() if broker is not None else None
        while not stop.is_set():
            if not supervisor.poll():
                code = 1
                break
            if broker_pid is not None and broker.pid() is None:
                log.error(
                    "the Kafka broker (pid %s) died: stopping the pipeline; see %s",
                    broker_pid,
                    broker.paths.logs,
                )
                code = 1
                break
            stop.event.wait(0.5)
    finally:
        if supervisor is not None:
            supervisor.stop()
        if broker is not None:
            if found_pid is not None:
                log.info("left the Kafka broker it found running (pid %s)", found_pid)
            else:
                broker.stop()
    return code
