"""The rules of flink/*.sql in Python: what the jobs must write for a list of positions, and a
read_committed reader of what they wrote (tests/analytics/test_flink.py)."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from isspanel.geo.orbit import great_circle_km
from isspanel.record import IssRecord, iso_utc
from isspanel.settings import Settings


@dataclass(frozen=True)
class Leg:
    prev: IssRecord
    rec: IssRecord
    dt_s: int
    distance_km: float
    speed_kmh: float
    anomalous: bool


def legs(records: list[IssRecord], settings: Settings) -> list[Leg]:
    """05_legs.sql: consecutive positions, 0 < dt <= 10 min; judged when 30 s <= dt."""
    found = []
    for a, b in itertools.pairwise(sorted(records, key=lambda r: r.timestamp)):
        dt = b.timestamp - a.timestamp
        if not 0 < dt <= 600:
            continue
        km = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
        kmh = km / dt * 3600
        off = not settings.flink.min_speed_kmh <= kmh <= settings.flink.max_speed_kmh
        found.append(Leg(a, b, dt, km, kmh, dt >= 30 and off))
    return found


def speeds(records, settings) -> list[Leg]:
    """10_speed.sql: every leg that is not an anomaly."""
    return [leg for leg in legs(records, settings) if not leg.anomalous]


def windows(records, settings) -> list[dict]:
    """20_stats.sql: the closed windows (end <= the newest position), by start."""
    size = settings.flink.window_minutes * 60
    newest = max(r.timestamp for r in records)
    grouped: dict[int, list[Leg]] = {}
    for leg in legs(records, settings):
        grouped.setdefault(leg.rec.timestamp // size * size, []).append(leg)
    rows = []
    for start, members in sorted(grouped.items()):
        if start + size > newest:
            continue  # still open
        good = [leg for leg in members if not leg.anomalous]
        rows.append(
            {
                "window_start": iso_utc(start),
                "count": len(good),
                "anomalies": len(members) - len(good),
                "distance_km": sum(leg.distance_km for leg in good) if good else None,
                "first_timestamp": min(leg.rec.timestamp for leg in good) if good else None,
            }
        )
    return rows


def events(records, settings) -> list[tuple]:
    """30_crossings.sql: (event, direction or reason, timestamp), crossings on good legs only."""
    found = []
    for leg in legs(records, settings):
        a, b, dt = leg.prev, leg.rec, leg.dt_s
        if leg.anomalous:
            reason = (
                f"speed {round(leg.speed_kmh)} km/h over {dt} s, outside "
                f"{int(settings.flink.min_speed_kmh)}-{int(settings.flink.max_speed_kmh)} km/h"
            )
            found.append(("anomaly", reason, b.timestamp))
            continue
        if (a.latitude < 0 <= b.latitude) or (a.latitude >= 0 > b.latitude):
            f = a.latitude / (a.latitude - b.latitude)
            direction = "ascending" if b.latitude >= 0 else "descending"
            found.append(("equator", direction, round(a.timestamp + f * dt)))
        if abs(b.longitude - a.longitude) > 180:
            dlon = b.longitude - a.longitude
            dlon += -360 if dlon > 180 else 360
            f = ((180 if dlon > 0 else -180) - a.longitude) / dlon
            direction = "eastward" if dlon > 0 else "westward"
            found.append(("antimeridian", direction, round(a.timestamp + f * dt)))
    return sorted(found, key=lambda e: (e[2], e[0]))


def event_key(row: dict) -> tuple:
    return (row["event"], row.get("direction") or row.get("reason"), row["timestamp"])


def read_committed(
    settings: Settings, topic: str, expected: int, timeout_s: float = 60.0
) -> list[dict]:
    """Every committed value of ``topic`` (isolation_level read_committed), read to the end,
    once there are at least ``expected`` (or time runs out)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                values += [json.loads(m.value) for m in batch]
            if len(values) >= expected:
                ends = consumer.end_offsets(tps)  # the last stable offsets
                if all(consumer.position(tp) >= ends[tp] for tp in tps):
                    break
    finally:
        consumer.close()
    return values


def repeated(keys) -> dict:
    """Keys seen more than once, with their counts."""
    return {k: n for k, n in Counter(keys).items() if n > 1}
