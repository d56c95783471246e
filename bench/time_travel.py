"""Time travel: the time to answer a ``?at=`` page at the data level (reader opened → snapshot
built), with 7 days of history at one record a minute (10,080) and 1 day at one a second
(86,400), at an early, a middle and a late moment.

Positions are published by the producer itself (accelerated, SGP4), so their Kafka timestamps
are their event times. The Flink topics are filled with the rows the jobs would write for them
(a speed per position, 10-minute windows, equator and antimeridian crossings), stamped as a live
job writes them (20 s after their time) or, in the last data set, as a job catching up writes
them (all at once, stamped now), which the reader must find by the rows' own times.

Baseline, in the same run: read each topic from the beginning to its end and filter (the same
validation and the same snapshot code). Both answers are checked to be the same.
"""

from __future__ import annotations

import itertools
import json
import logging
import statistics
import time
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import private_broker, row
from isspanel.broker.history import History, moment
from isspanel.broker.topics import ensure_topics, fresh_topics
from isspanel.dashboard.history import Moment, build_moment, moment_at
from isspanel.dashboard.streams import STREAMS
from isspanel.geo.orbit import great_circle_km
from isspanel.produce.producer import ACCELERATED_CONFIG, IssProducer
from isspanel.record import IssRecord, iso_utc
from isspanel.sources.sgp4_model import Sgp4Source

log = logging.getLogger(__name__)

DAY = 86_400
RETENTION_MS = 8 * DAY * 1000  # the 7-day set must not age out while it is read
MOMENTS = (("early", 0.05), ("middle", 0.5), ("late", 0.995))
REPEATS = 5  # ours, per moment (median); the baseline runs once per moment


def flink_rows(records: list[IssRecord], window_s: int = 600) -> dict[str, list[tuple]]:
    """(row time, row) the jobs would write for ``records``: speeds, windows, crossings."""
    speeds, windows, events = [], {}, []
    for a, b in itertools.pairwise(records):
        dt = b.timestamp - a.timestamp
        km = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
        speed = {"timestamp": b.timestamp, "eventTime": b.event_time, "dt_s": dt,
                 "distance_km": km, "speed_kmh": km / dt * 3600, "source": b.source}  # fmt: skip
        speeds.append((b.timestamp, speed))
        w = windows.setdefault(b.timestamp // window_s * window_s, [])
        w.append(km / dt * 3600)
        if (a.latitude < 0 <= b.latitude) or (a.latitude >= 0 > b.latitude):
            up = a.latitude < 0
            events.append((b.timestamp, {"event": "equator", "timestamp": b.timestamp,
                           "eventTime": b.event_time, "direction": "ascending" if up else
                           "descending", "latitude": 0.0, "longitude": b.longitude}))  # fmt: skip
        if abs(b.longitude - a.longitude) > 180:
            events.append((b.timestamp, {"event": "antimeridian", "timestamp": b.timestamp,
                           "eventTime": b.event_time, "direction": "eastward",
                           "latitude": b.latitude, "longitude": 180.0}))  # fmt: skip
    stats = [
        (start + window_s, {"window_start": iso_utc(start), "window_end": iso_utc(start + window_s),
                            "count": len(v), "mean_speed_kmh": statistics.fmean(v)})
        for start, v in sorted(windows.items())[:-1]  # the newest window is still open
    ]  # fmt: skip
    return {"speeds": speeds, "stats": stats, "events": events}


def fill_flink(settings, rows: dict[str, list[tuple]], delay_s: float | None) -> None:
    """Write the rows, stamped ``delay_s`` after their time (None: now, a job catching up)."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", **ACCELERATED_CONFIG
    )
    topics = {s.name: s.topic(settings) for s in STREAMS}
    for name, items in rows.items():
        for ts, value in items:
            stamp = None if delay_s is None else int((ts + delay_s) * 1000)
            producer.send(topics[name], value=json.dumps(value).encode(), timestamp_ms=stamp)
    producer.flush()
    producer.close()


def naive_moment(settings, at: datetime) -> Moment:
    """The baseline: every topic read from its beginning to its end, filtered by time."""
    started = time.monotonic()
    at, live = moment(at)
    at_ms = at.timestamp() * 1000
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        isolation_level="read_committed",
        group_id=None,
    )
    reads, fetched = {}, 0
    for stream in STREAMS:
        topic, kind = stream.topic(settings), stream.kind
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        seen: dict = {}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for messages in consumer.poll(timeout_ms=500).values():
                fetched += len(messages)
                for message in messages:
                    try:
                        value = kind.parse(message.value, settings.dashboard.max_message_bytes)
                    except ValueError:
                        continue
                    t_ms = kind.time_ms(value)
                    if t_ms <= at_ms:
                        seen.setdefault(kind.key(value), (t_ms, value))
        newest = sorted(seen.values(), key=lambda x: x[0])[-stream.keep(settings) :]
        reads[stream.name] = History(topic, at, tuple(v for _, v in newest))
    consumer.close()
    return build_moment(settings, at, live, reads, fetched, started)


def same(a: Moment, b: Moment) -> bool:
    return all(a.snapshot.rows(s.name).rows == b.snapshot.rows(s.name).rows for s in STREAMS)


def measure(name: str, settings, first: int, last: int) -> list[dict]:
    out = []
    for label, fraction in MOMENTS:
        at = datetime.fromtimestamp(first + (last - first) * fraction, UTC)
        ours = [moment_at(settings, at) for _ in range(REPEATS)]
        base = naive_moment(settings, at)
        assert same(ours[-1], base), f"{name}, {label}: time travel and the baseline differ"
        out.append({"data": name, "moment": label, "at": at,
                    "ms": statistics.median(m.seconds for m in ours) * 1000,
                    "fetched": ours[-1].fetched, "base_ms": base.seconds * 1000,
                    "base_fetched": base.fetched})  # fmt: skip
        log.info(
            "%s, %s: %.0f ms (baseline %.0f ms)", name, label, out[-1]["ms"], base.seconds * 1000
        )
    return out


def fill(settings, count: int, step_s: int, delay_s: float | None) -> tuple[int, int, float]:
    t0 = time.monotonic()
    end = int(time.time()) - 60
    records = list(Sgp4Source(settings).history(count, step_s=step_s, end_ts=end))
    stats = IssProducer(settings, Sgp4Source(settings), accelerated=True).publish_all(records)
    assert stats.delivered == count, stats
    fill_flink(settings, flink_rows(records), delay_s)
    return records[0].timestamp, records[-1].timestamp, time.monotonic() - t0


def run() -> tuple[list[dict], list[dict]]:
    results = []
    with private_broker() as (broker, _broker, _cold):
        week = fresh_topics(broker, "tt-week", topics={"retention_ms": RETENTION_MS})
        first, last, took = fill(week, 7 * 24 * 60, 60, 20)
        log.info("7 days at 1/min filled in %.0f s", took)
        results += measure("7 d at 1/min (10,080)", week, first, last)
        day = fresh_topics(broker, "tt-day", topics={"retention_ms": RETENTION_MS})
        first, last, took = fill(day, DAY, 1, 20)
        log.info("1 day at 1/s filled in %.0f s", took)
        results += measure("1 d at 1/s (86,400)", day, first, last)
        # The same positions; Flink's rows written by a job catching up (stamped now).
        tag = day.topics.location.rsplit("-", 1)[1]
        caught = day.replace(
            topics={f: f"tt-caught-{f}-{tag}" for f in ("speed", "stats", "events")}
        )
        ensure_topics(caught, [caught.topics.speed, caught.topics.stats, caught.topics.events])
        records = list(Sgp4Source(day).history(DAY, step_s=1, end_ts=last))
        fill_flink(caught, flink_rows(records), None)
        results += measure("1 d at 1/s, Flink rows written catching up", caught, first, last)
    rows = [row(f"{r['data']}, {r['moment']}", r["ms"], "ms", "", r["base_ms"]) for r in results]
    return rows, results


def wide_table(results: list[dict]) -> str:
    lines = [
        "### Time travel: `?at=` answered (reader opened → snapshot built) beside reading all",
        "",
        "| data | moment | time travel | messages read | read all, filter | messages read "
        "| ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['data']} | {r['moment']} ({r['at']:%Y-%m-%d %H:%M} UTC) | {r['ms']:,.0f} ms "
            f"| {r['fetched']:,} | {r['base_ms']:,.0f} ms | {r['base_fetched']:,} "
            f"| {r['base_ms'] / r['ms']:,.0f}× |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    return text


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("isspanel").setLevel(logging.WARNING)
    _rows, _results = run()
    wide_table(_results)
