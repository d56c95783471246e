"""Time travel against the real broker: records with known event times (Kafka timestamps set
as the producer sets them), poison and repeats among them, read back at a moment."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import psutil
import pytest
from kafka import KafkaAdminClient, KafkaProducer

from isspanel.broker import HistoryError, HistoryReader, read_at, retained_range
from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.history import moment_at, snapshot_at
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.streams import POSITION_COLUMNS
from isspanel.produce.feed_events import kafka_timestamp_ms
from isspanel.produce.publisher import RECORD_KEY, Publisher
from isspanel.record import IssRecord, iso_utc

# Three days back, on a whole minute: well inside the 7-day retention.
BASE = (int(time.time()) - 3 * 86_400) // 60 * 60
POISON = [b"\xff\xfe", b'{"timestamp": "soon", "latitude": 1}', b"[" * 5_000 + b"]" * 5_000]


def record(i: int, start: int = BASE, step: int = 60) -> IssRecord:
    return IssRecord(start + i * step, round(-50 + (i % 100), 4), round(-179 + i % 358, 4), "sgp4")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def send(settings, topic: str, items: list[tuple[float, bytes]], partitions: int = 0) -> None:
    """(event time, value) pairs, stamped as the producer stamps them (kafka_timestamp_ms); with
    ``partitions``, spread round robin over that many partitions."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5
    )
    try:
        for n, (ts, value) in enumerate(items):
            producer.send(
                topic,
                key=RECORD_KEY,
                value=value,
                timestamp_ms=kafka_timestamp_ms(ts),
                partition=n % partitions if partitions else None,
            )
        producer.flush(30)
    finally:
        producer.close()


def timestamps(history) -> list[int]:
    return [r.timestamp for r in history.rows]


def test_a_middle_moment_shows_exactly_the_100_newest_up_to_it(iss_settings):
    settings = iss_settings
    items = []
    for i in range(300):
        items.append((BASE + i * 60, record(i).to_json()))
        if i in (150, 170, 190):  # poison among the 100 shown, stamped with their time
            items.append((BASE + i * 60, POISON[(i // 10) % 3]))
        if i in (160, 180):  # a repeat (a replayed spool)
            items.append((BASE + i * 60, record(i).to_json()))
    send(settings, settings.topics.location, items)
    at = utc(BASE + 200 * 60 + 30)  # between record 200 and record 201

    history = read_at(settings, settings.topics.location, at)

    assert timestamps(history) == [BASE + i * 60 for i in range(101, 201)]
    assert history.rows[-1] == record(200)  # the top row: the newest at or before the moment
    assert (history.skipped, history.duplicates) == (3, 2)
    assert not history.live and not history.note
    # Bounded: the reader fetched one chunk of offsets up to the moment (the 100 and a margin),
    # the oldest row (to know it) and the first after the moment (to check the seek), not the
    # topic (305 messages).
    assert history.fetched <= (100 + 100 // 4 + 16) + 2


def test_the_count_is_the_records_up_to_the_moment_when_fewer_than_100(iss_settings):
    settings = iss_settings
    send(
        settings,
        settings.topics.location,
        [(BASE + i * 60, record(i).to_json()) for i in range(300)],
    )
    history = read_at(settings, settings.topics.location, utc(BASE + 41 * 60))
    assert timestamps(history) == [BASE + i * 60 for i in range(42)]


def test_the_reader_stays_bounded_on_a_big_topic(iss_settings):
    settings = iss_settings
    items = [(BASE + i * 5, record(i, step=5).to_json()) for i in range(5_000)]
    send(settings, settings.topics.location, items)
    history = read_at(settings, settings.topics.location, utc(BASE + 2_500 * 5))
    assert timestamps(history) == [BASE + i * 5 for i in range(2_401, 2_501)]
    assert history.fetched <= 2 * 100, "the reader read far more than it shows"


def test_the_producer_stamps_event_time_so_seeking_by_time_finds_records(iss_settings):
    settings = iss_settings
    publisher = Publisher(settings, spool=False)
    publisher.accept_many([record(i) for i in range(150)])
    assert publisher.flush(30)
    publisher.close()
    history = read_at(settings, settings.topics.location, utc(BASE + 120 * 60))
    assert timestamps(history) == [BASE + i * 60 for i in range(21, 121)]


def test_a_moment_before_the_earliest_record_retained_is_empty_and_says_so(iss_settings):
    settings = iss_settings
    send(
        settings,
        settings.topics.location,
        [(BASE + i * 60, record(i).to_json()) for i in range(10)],
    )
    history = read_at(settings, settings.topics.location, utc(BASE - 3_600))
    assert history.rows == ()
    assert history.earliest == utc(BASE)
    assert "retains nothing before" in history.note and iso_utc(BASE)[:10] in history.note
    assert history.fetched == 1  # the oldest row, to know it


def test_a_moment_in_the_future_is_now(iss_settings):
    settings = iss_settings
    send(
        settings,
        settings.topics.location,
        [(BASE + i * 60, record(i).to_json()) for i in range(120)],
    )
    history = read_at(settings, settings.topics.location, datetime.now(UTC) + timedelta(days=2))
    assert history.live and history.at <= datetime.now(UTC)
    assert timestamps(history) == [BASE + i * 60 for i in range(20, 120)]


def test_a_moment_without_a_time_zone_is_refused(iss_settings):
    with pytest.raises(ValueError, match="no time zone"):
        read_at(iss_settings, iss_settings.topics.location, datetime(2026, 11, 27, 1, 0))


def test_a_missing_topic_says_so_and_is_not_created(iss_settings):
    settings = iss_settings
    name = f"iss-missing-{uuid.uuid4().hex[:8]}"
    history = read_at(settings, name, utc(BASE))
    assert history.rows == () and f"topic {name} does not exist" in history.note
    with pytest.raises(HistoryError, match="does not exist"):
        retained_range(settings, name)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        assert name not in admin.list_topics()
    finally:
        admin.close()


def test_with_many_partitions_the_newest_100_of_all_of_them(topic_factory):
    settings = topic_factory(topics={"partitions": 4})
    items = [(BASE + i * 60, record(i).to_json()) for i in range(400)]
    # In time order, as a producer writes: poison, and a repeat on another partition.
    items[252:252] = [(BASE + 250 * 60, POISON[0]), (BASE + 251 * 60, record(251).to_json())]
    send(settings, settings.topics.location, items, partitions=4)
    history = read_at(settings, settings.topics.location, utc(BASE + 300 * 60))
    assert timestamps(history) == [BASE + i * 60 for i in range(201, 301)]
    assert (history.skipped, history.duplicates) == (1, 1)
    assert history.fetched <= 4 * (100 + 100 // 4 + 16)


def test_retained_range_gives_the_first_and_last_event_time(iss_settings):
    settings = iss_settings
    assert retained_range(settings, settings.topics.location) is None  # created, empty
    send(
        settings,
        settings.topics.location,
        [(BASE + i * 60, record(i).to_json()) for i in range(50)],
    )
    assert retained_range(settings, settings.topics.location) == (utc(BASE), utc(BASE + 49 * 60))


def broker_connections(settings) -> int:
    port = int(settings.kafka.bootstrap_servers.rsplit(":", 1)[1])
    return sum(
        1
        for c in psutil.Process().net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_the_reader_closes_its_consumer_even_when_a_read_fails(iss_settings):
    settings = iss_settings
    send(
        settings,
        settings.topics.location,
        [(BASE + i * 60, record(i).to_json()) for i in range(10)],
    )
    before = broker_connections(settings)
    read_at(settings, settings.topics.location, utc(BASE + 300))
    with HistoryReader(settings) as reader:
        reader.read(settings.topics.location, utc(BASE + 300))
        assert broker_connections(settings) > before
        with pytest.raises(ValueError):
            reader.read(settings.topics.location, datetime(2026, 1, 1))
    assert reader.closed
    deadline = time.monotonic() + 10
    while broker_connections(settings) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert broker_connections(settings) == before


def flink_rows(settings) -> dict[str, list]:
    """Rows as the jobs write them, stamped with their write time: 20 s after the event."""
    speeds = [
        {"timestamp": BASE + i * 60, "eventTime": iso_utc(BASE + i * 60), "speed_kmh": 27_000.0 + i}
        for i in range(1, 300)
    ]
    stats = [
        {
            "window_start": iso_utc(BASE + w * 600),
            "window_end": iso_utc(BASE + (w + 1) * 600),
            "count": 10,
            "mean_speed_kmh": 27_500.0,
        }
        for w in range(30)
    ]
    events = [
        {"event": "equator", "direction": "ascending", "timestamp": BASE + i * 2_700,
         "eventTime": iso_utc(BASE + i * 2_700), "latitude": 0.0, "longitude": 10.0 * i}
        for i in range(8)
    ]  # fmt: skip
    return {
        settings.topics.speed: [(r["timestamp"], r) for r in speeds],
        settings.topics.stats: [(BASE + (w + 1) * 600, r) for w, r in enumerate(stats)],
        settings.topics.events: [(r["timestamp"], r) for r in events],
    }


def send_flink(settings, rows: dict[str, list], delay_s: float | None = 20) -> None:
    """Stamped ``delay_s`` after their time (None: now, as a job catching up writes them),
    with poison among them and the third row written twice (a job restarted, at least once)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    try:
        for topic, items in rows.items():
            for n, (ts, row) in enumerate(items):
                written = None if delay_s is None else int((ts + delay_s) * 1000)
                for _ in range(2 if n == 2 else 1):
                    producer.send(topic, value=json.dumps(row).encode(), timestamp_ms=written)
                if ts == BASE + 3_600:
                    producer.send(topic, value=b'{"eventTime": "noon"}', timestamp_ms=written)
        producer.flush(30)
    finally:
        producer.close()


@pytest.mark.parametrize("delay_s", [20, None], ids=["written-live", "written-catching-up"])
def test_the_flink_rows_of_the_moment_even_those_written_after_it(iss_settings, delay_s):
    """Live, Flink writes a row shortly after its time; a job catching up writes days of rows
    at once, all stamped now: either way the rows of the moment are found by their own time."""
    settings = iss_settings
    send(
        settings,
        settings.topics.location,
        [(BASE + i * 60, record(i).to_json()) for i in range(300)],
    )
    send_flink(settings, flink_rows(settings), delay_s)
    at = BASE + 2 * 3_600  # a speed, a window end and a crossing fall exactly on it
    moment = moment_at(settings, utc(at))
    reads = moment.reads
    assert [r["timestamp"] for r in reads["speeds"].rows] == [BASE + i * 60 for i in range(1, 121)]
    assert [r["window_end"] for r in reads["stats"].rows][-1] == iso_utc(at)
    assert len(reads["stats"].rows) == 12
    assert [r["timestamp"] for r in reads["events"].rows] == [BASE + i * 2_700 for i in range(3)]
    assert [reads[k].skipped for k in ("speeds", "stats", "events")] == [1, 1, 0]
    assert [reads[k].duplicates for k in ("speeds", "stats", "events")] == [1, 1, 1]
    assert all(reads[k].fetched < 300 for k in ("speeds", "stats", "events"))
    # The snapshot's streams are those rows, made by the hub's own row functions.
    shot = moment.snapshot
    assert shot.speeds.rows[-1] == (at * 1000.0, 27_120.0)
    assert shot.stats.rows[-1][0] == iso_utc(at - 600)
    assert shot.positions.rows[-1][0] == at and len(shot.positions.rows) == 100
    assert "Not live — showing" in shot.status and len(shot.predicted["x"])


def test_the_snapshot_has_the_rows_the_live_hub_makes(iss_settings):
    settings = iss_settings
    values = [record(i).to_json() for i in range(150)]
    send(settings, settings.topics.location, [(BASE + i * 60, v) for i, v in enumerate(values)])
    shot = snapshot_at(settings, utc(BASE + 149 * 60))
    assert isinstance(shot, snap.Snapshot)
    hub = StreamHub(settings)
    for value in values[-100:]:
        assert hub.ingest(settings.topics.location, value)
    hub.publish()
    # n counts what a hub received and at when it arrived: a moment has neither.
    kept = [i for i, c in enumerate(POSITION_COLUMNS) if c not in ("n", "at")]
    same = lambda rows: [tuple(row[i] for i in kept) for row in rows]  # noqa: E731
    assert same(shot.positions.rows) == same(hub.snapshot().positions.rows)


def test_a_moment_draws_the_track_the_live_hub_draws(iss_settings):
    """A segment into each position but the first, none along an anomalous leg: the live
    hub's track for the same rows (a moment had no track: points without their line)."""
    settings = iss_settings
    values = [record(i).to_json() for i in range(150)]
    send(settings, settings.topics.location, [(BASE + i * 60, v) for i, v in enumerate(values)])
    t0, t1 = BASE + 120 * 60, BASE + 121 * 60
    anomaly = {
        "event": "anomaly",
        "timestamp": t1,
        "eventTime": iso_utc(t1),
        "prev_timestamp": t0,
        "next_timestamp": t1,
        "latitude": 71.0,
        "longitude": -58.0,
        "source": "sgp4",
        "reason": "speed 41234 km/h over 60 s, outside 23500-26500 km/h",
    }
    send(settings, settings.topics.events, [(t1 + 20, json.dumps(anomaly).encode())])
    shot = snapshot_at(settings, utc(BASE + 149 * 60))
    hub = StreamHub(settings)
    for value in values[-100:]:
        assert hub.ingest(settings.topics.location, value)
    assert hub.ingest(settings.topics.events, json.dumps(anomaly).encode())
    hub.publish()

    def drawn(rows) -> list[tuple[int, int]]:
        return [(r[0], r[1]) for r in rows if not math.isnan(r[2])]

    expected = [(BASE + (i - 1) * 60, BASE + i * 60) for i in range(51, 150) if i != 121]
    assert len(shot.track.rows) == len(shot.positions.rows) == 100
    assert drawn(shot.track.rows) == expected == drawn(hub.snapshot().track.rows)


def test_rows_rolled_back_in_a_transaction_are_never_shown(iss_settings):
    settings = iss_settings
    topic = settings.topics.stats
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        transactional_id=f"test-{uuid.uuid4().hex}",
        # A begin right after an end is refused (CONCURRENT_TRANSACTIONS) until the broker has
        # written the markers: retried after 20 ms, as Java's producer does, not kafka-python's
        # 100 ms (half the test's time).
        retry_backoff_ms=20,
    )
    try:
        producer.init_transactions()
        for w in range(20):
            row = {
                "window_start": iso_utc(BASE + w * 600),
                "window_end": iso_utc(BASE + w * 600 + 600),
            }
            producer.begin_transaction()
            producer.send(
                topic, json.dumps(row).encode(), timestamp_ms=(BASE + w * 600 + 620) * 1000
            )
            if w in (5, 12):
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close()
    history = read_at(settings, topic, utc(BASE + 15 * 600), limit=24)
    starts = [r["window_start"] for r in history.rows]
    assert starts == [iso_utc(BASE + w * 600) for w in range(15) if w not in (5, 12)]


def test_no_broker_is_one_clear_error(iss_settings):
    from tests.conftest import free_port

    assert iss_settings.kafka.connect_timeout_s == 5.0  # 1 s here: the test waits it out
    settings = iss_settings.replace(
        kafka={"bootstrap": f"127.0.0.1:{free_port()}", "connect_timeout_s": 1.0}
    )
    with pytest.raises(HistoryError, match="is not reachable"):
        read_at(settings, settings.topics.location, utc(BASE))
