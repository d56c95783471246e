"""`isspanel up`: broker, producer, Flink jobs and dashboard, started and stopped together."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from isspanel import lifeline
from isspanel.cli.serve import serve_command
from isspanel.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(entry.name))
    return pids


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def end_group(pgid: int, grace_s: float = 10.0) -> None:
    """SIGTERM what is left of process group ``pgid``; SIGKILL what outlives ``grace_s``."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not group_members(pgid):
            return
        signal_group(pgid, signum)
        deadline = time.monotonic() + grace_s
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def run_group(cmd: list[str], name: str, grace_s: float = 30.0) -> int:
    """Run ``cmd`` in a process group of its own; SIGINT and SIGTERM stop the whole group.

    `panel serve --num-procs N` forks N workers that outlive their parent when only the
    parent is signalled, so a stop signal goes to the group, and the group is emptied after.
    The group is tied to this process (isspanel.lifeline): it ends even if this one is killed.
    Returns 0 after a requested stop, else the child's exit status.
    """
    child: subprocess.Popen | None = None
    stop_at: list[float] = []

    def forward(signum, _frame):
        log.info("%s: stopping the %s", signal.Signals(signum).name, name)
        stop_at.append(time.monotonic())
        if child is not None:
            # SIGTERM for either: the group may ignore SIGINT (started in the background by a
            # shell), and panel serve shuts down cleanly on SIGTERM.
            signal_group(child.pid, signal.SIGTERM)

    # Handlers first, so that no signal falls between the start and the handlers.
    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        child = lifeline.popen(cmd)
        if stop_at:
            signal_group(child.pid, signal.SIGTERM)
        while True:
            try:
                code = child.wait(0.5)
                break
            except subprocess.TimeoutExpired:
                if stop_at and time.monotonic() - stop_at[0] > grace_s:
                    log.warning("the %s did not stop in %.0f s: killing it", name, grace_s)
                    signal_group(child.pid, signal.SIGKILL)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if child is not None:
            end_group(child.pid)
            lifeline.untie(child.pid)
    return 0 if stop_at else code


def topic_is_empty(settings: Settings) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap)
    try:
        tps = [
            TopicPartition(settings.topic, p)
            for p in consumer.partitions_for_topic(settings.topic) or {0}
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
    log.info("seeded %s with %d SGP4 positions (source: sgp4)", settings.topic, count)


def run_pipeline(settings: Settings, args: argparse.Namespace) -> int:
    from isspanel.broker.local import LocalBroker
    from isspanel.broker.topics import ensure_topics

    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        log.info("%s: stopping the pipeline", signal.Signals(signum).name)

    # Before the broker starts: a signal during start-up must still stop what was started.
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    broker = None
    try:
        if settings.external_kafka:
            log.info("using the Kafka cluster at %s", settings.bootstrap)
        else:
            # Tied: it stops with `isspanel up` even if that is killed (-9) or crashes.
            broker = LocalBroker(settings, tied=True)
            broker.start()
        if not stopping:
            ensure_topics(settings)
        if not stopping and topic_is_empty(settings):
            seed_history(settings)

        logs = Path(settings.home) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        isspanel = [sys.executable, "-m", "isspanel"]
        port = args.port or settings.dashboard_port
        commands = {
            "producer": [*isspanel, "produce", *(["--source", args.source] if args.source else [])],
            "dashboard": serve_command(port),
        }
        if not args.no_flink:
            commands["flink"] = [*isspanel, "flink", "run"]
        for name, cmd in commands.items():
            if stopping:
                break
            out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
            children[name] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
            )
            log.info("started %s (pid %s), log %s", name, children[name].pid, logs / f"{name}.log")
        if not stopping:
            log.info("dashboard: http://localhost:%s/isspanel", port)
            log.info(
                "Kafka: %s, topics %s, %s, %s, %s",
                settings.bootstrap,
                settings.topic,
                settings.speed_topic,
                settings.stats_topic,
                settings.events_topic,
            )
            log.info("Ctrl-C stops everything")
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    log.error(
                        "%s exited with %s; see %s", name, child.returncode, logs / f"{name}.log"
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()  # the producer flushes on SIGTERM
        for name, child in children.items():
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in 30 s: killing it", name)
                child.kill()
        if broker is not None:
            broker.stop()
    return 0
