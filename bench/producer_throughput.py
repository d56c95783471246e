"""Producer → broker: accelerated throughput, send→ack latency, broker cold start.

Baseline, in the same run: a bare kafka-python KafkaProducer sending the same bytes with
the same batching (no validation, outbox or delivery reports).
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaProducer

from bench.common import percentile, print_table, private_broker, row
from isspanel.broker.topics import ensure_topics
from isspanel.produce.producer import ACCELERATED_CONFIG, IssProducer
from isspanel.produce.publisher import Publisher
from isspanel.sources.sgp4_model import Sgp4Source

log = logging.getLogger(__name__)

RECORDS = 86_400  # one day of 1-s positions
LATENCY_SAMPLES = 2_000


def throughput(settings, records) -> float:
    started = time.monotonic()
    stats = IssProducer(settings, Sgp4Source(settings), accelerated=True).publish_all(records)
    assert stats.delivered == len(records), stats
    return len(records) / (time.monotonic() - started)


def baseline_throughput(settings, payloads) -> float:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", **ACCELERATED_CONFIG
    )
    started = time.monotonic()
    for payload in payloads:
        producer.send(settings.topics.location, key=b"25544", value=payload)
    producer.flush()
    elapsed = time.monotonic() - started
    producer.close()
    return len(payloads) / elapsed


def ack_latencies(settings, records) -> list[float]:
    publisher = Publisher(settings, linger_ms=0)
    publisher.drain()
    out = []
    for record in records:
        delivered = publisher.stats.delivered
        t0 = time.perf_counter()
        publisher.accept(record)
        while publisher.stats.delivered == delivered:
            time.sleep(0)
        out.append((time.perf_counter() - t0) * 1000)
    publisher.close()
    return out


def baseline_ack_latencies(settings, payloads) -> list[float]:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=0
    )
    out = []
    for payload in payloads:
        t0 = time.perf_counter()
        producer.send(settings.topics.location, value=payload).get(timeout=10)
        out.append((time.perf_counter() - t0) * 1000)
    producer.close()
    return out


def run() -> list[dict]:
    with private_broker() as (settings, broker, cold):
        ensure_topics(settings)
        source = Sgp4Source(settings)
        t0 = time.monotonic()
        records = list(source.history(RECORDS, step_s=1))
        sgp4_rate = RECORDS / (time.monotonic() - t0)
        payloads = [r.to_json() for r in records]
        ours = throughput(settings, records)
        base = baseline_throughput(
            settings.replace(topics={"location": settings.topics.speed}), payloads
        )
        lat = ack_latencies(settings, records[:LATENCY_SAMPLES])
        base_lat = baseline_ack_latencies(settings, payloads[:LATENCY_SAMPLES])
        broker.stop()
        t0 = time.monotonic()
        broker.start()
        warm = time.monotonic() - t0
    return [
        row("accelerated publish, 86,400 records", ours, "rec/s", "≥ 20,000", base),
        row("SGP4 positions computed", sgp4_rate, "rec/s"),
        row(
            "send→ack p50 (linger 0, acks=all)",
            percentile(lat, 50),
            "ms",
            "",
            percentile(base_lat, 50),
        ),
        row(
            "send→ack p99 (linger 0, acks=all)",
            percentile(lat, 99),
            "ms",
            "≤ 10",
            percentile(base_lat, 99),
        ),
        row("broker cold start (format + start)", cold, "s"),
        row("broker restart (formatted storage)", warm, "s"),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    print_table("Producer → broker", run())
