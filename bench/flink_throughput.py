"""Flink SQL jobs over a replayed backlog: sustained throughput and time to first result.

One day of 1-Hz SGP4 positions (86,400 records) is published first, in accelerated mode; then
all three jobs (speed, stats, crossings: one Flink job on the local mini-cluster) read it from
the earliest offset. Flink writes in Kafka transactions committed with each checkpoint
(flink/10_speed.sql), so rows are counted as a read_committed reader sees them, never by offsets
(commit markers take offsets too): "first speed row" is when the first committed row could be
read. Throughput comes from the Kafka timestamps of the speed rows (when Flink sent them).

Baseline, in the same run: a plain kafka-python loop that consumes the same topic, validates,
computes the same haversine speed and produces one JSON speed row per position.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import print_table, private_broker, row
from isspanel.analytics import jobs
from isspanel.analytics.environment import create_table_env
from isspanel.broker.topics import ensure_topics, fresh_topics
from isspanel.geo.orbit import great_circle_km
from isspanel.produce.producer import IssProducer
from isspanel.settings import Settings
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import free_port

log = logging.getLogger(__name__)

RECORDS = 86_400  # one day at 1 Hz
WINDOW_S = 600
TIMEOUT_S = 600


class Committed:
    """The committed rows of one topic, as a read_committed reader sees them, as they come."""

    def __init__(self, settings: Settings, topic: str):
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_poll_records=10_000,
        )
        partitions = self.consumer.partitions_for_topic(topic) or {0}
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning(*self.partitions)
        self.messages: list = []
        self.first_seen: float | None = None  # wall time, s
        self.last_seen: float | None = None

    def wait_for(self, expected: int, timeout_s: float) -> int:
        """Read until ``expected`` rows are committed or ``timeout_s`` passes; the count."""
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < expected and time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.messages += batch
                self.last_seen = time.time()
                self.first_seen = self.first_seen or self.last_seen
        return len(self.messages)

    def close(self) -> None:
        self.consumer.close()


def flink_run(settings: Settings) -> dict:
    started = time.monotonic()
    t_env = create_table_env(settings, **jobs.RUN_CONFIG)  # as `flink run`
    jvm_s = time.monotonic() - started
    submitted_ms = time.time() * 1000
    result = jobs.submit(settings, t_env=t_env)
    submit_s = time.time() - submitted_ms / 1000
    speeds = Committed(settings, settings.topics.speed)
    windows = Committed(settings, settings.topics.stats)
    try:
        speeds.wait_for(RECORDS - 1, TIMEOUT_S)
        windows.wait_for(RECORDS // WINDOW_S, 30)
    finally:
        result.get_job_client().cancel().result()
        speeds.close()
        windows.close()
    messages = speeds.messages
    if not messages:
        raise RuntimeError(f"no committed speed row within {TIMEOUT_S} s")
    stamps = sorted(m.timestamp for m in messages)
    values = [json.loads(m.value)["speed_kmh"] for m in messages]
    # Steady state: from the first speed row out to the last one (start-up excluded).
    steady_s = (stamps[-1] - stamps[0]) / 1000
    return {
        "jvm_s": jvm_s,
        "submit_s": submit_s,
        "first_result_s": speeds.first_seen - submitted_ms / 1000,
        "rate": (len(stamps) - 1) / steady_s if steady_s > 0 else math.inf,
        "total_s": speeds.last_seen - submitted_ms / 1000,
        "speeds": len(messages),
        "windows": len(windows.messages),
        "min_kmh": min(values),
        "max_kmh": max(values),
    }


def baseline_run(settings: Settings, topic: str) -> dict:
    """kafka-python: consume, validate, haversine, produce; no windows, no crossings."""
    started = time.monotonic()
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        consumer_timeout_ms=5_000,
        max_poll_records=10_000,
    )
    partitions = [
        TopicPartition(settings.topics.location, p)
        for p in consumer.partitions_for_topic(settings.topics.location)
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=50, batch_size=1 << 20
    )
    previous = None
    first = None
    produced = 0
    for message in consumer:
        if first is None:
            first = time.monotonic()
        try:
            r = json.loads(message.value)
            ts, lat, lon = int(r["timestamp"]), float(r["latitude"]), float(r["longitude"])
        except (ValueError, KeyError, TypeError):
            continue
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            continue
        if previous is not None and 0 < ts - previous[0] <= 600:
            km = great_circle_km(previous[1], previous[2], lat, lon)
            dt = ts - previous[0]
            out = {"timestamp": ts, "distance_km": km, "dt_s": dt, "speed_kmh": km / dt * 3600}
            producer.send(topic, value=json.dumps(out).encode())
            produced += 1
        previous = (ts, lat, lon)
        if produced == RECORDS - 1:
            break
    producer.flush()
    done = time.monotonic()
    producer.close()
    consumer.close()
    return {
        "rate": produced / (done - first),
        "first_result_s": first - started,
        "produced": produced,
    }


def run(settings: Settings) -> list[dict]:
    """Publish the backlog to fresh topics on ``settings``' cluster, then measure."""
    tag = uuid.uuid4().hex[:8]
    settings = fresh_topics(
        settings, prefix="bench", flink={"group": f"bench-flink-{tag}", "rest_port": free_port()}
    )
    ensure_topics(settings, [f"bench-baseline-{tag}"])
    end = int(time.time()) // WINDOW_S * WINDOW_S
    source = Sgp4Source(settings)
    records = list(source.history(RECORDS, step_s=1, end_ts=end))
    started = time.monotonic()
    IssProducer(settings, source, accelerated=True).publish_all(records)
    publish_rate = RECORDS / (time.monotonic() - started)

    flink = flink_run(settings)
    log.info("flink: %s", flink)
    base = baseline_run(settings, f"bench-baseline-{tag}")
    log.info("baseline: %s", base)
    assert flink["speeds"] == RECORDS - 1, flink
    assert flink["min_kmh"] >= 24_000 and flink["max_kmh"] <= 26_500, flink
    return [
        row(
            "Flink throughput after start-up, 86,400-record backlog",
            flink["rate"],
            "rec/s",
            "≥ 10,000",
            base["rate"],
        ),
        row(
            "Flink submit → first committed speed row",
            flink["first_result_s"],
            "s",
            "",
            base["first_result_s"],
        ),
        row("Flink submit → whole backlog committed", flink["total_s"], "s"),
        row("JVM + TableEnvironment start (before submit)", flink["jvm_s"], "s"),
        row("submit() call (DDL, planning, job start)", flink["submit_s"], "s"),
        row("windows closed and committed (expected 143-144)", flink["windows"], ""),
        row("backlog publish (accelerated producer)", publish_rate, "rec/s"),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    given = Settings.from_env()
    if given.kafka.external:
        print_table("Flink SQL jobs", run(given))
    else:
        with private_broker() as (broker_settings, _broker, _cold):
            print_table("Flink SQL jobs", run(broker_settings))
