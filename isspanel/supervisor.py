"""`isspanel up`: broker, producer, Flink jobs and dashboard, started and stopped together."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from isspanel.cli import serve_command
from isspanel.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)


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
    from isspanel.producer import IssProducer
    from isspanel.sources.sgp4_model import Sgp4Source

    source = Sgp4Source(settings)
    IssProducer(settings, source).publish_all(source.history(count, step_s=60))
    log.info("seeded %s with %d SGP4 positions (source: sgp4)", settings.topic, count)


def run_pipeline(settings: Settings, args: argparse.Namespace) -> int:
    from isspanel.kafka_broker import LocalBroker
    from isspanel.topics import ensure_topics

    broker = None
    if settings.external_kafka:
        log.info("using the Kafka cluster at %s", settings.bootstrap)
    else:
        broker = LocalBroker(settings)
        broker.start()
    ensure_topics(settings)
    if topic_is_empty(settings):
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

    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        log.info("%s: stopping the pipeline", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name, cmd in commands.items():
            out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
            children[name] = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
            )
            log.info("started %s (pid %s), log %s", name, children[name].pid, logs / f"{name}.log")
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
