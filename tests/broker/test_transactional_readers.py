"""The dashboard's consumer against the Flink topics as the jobs write them: in Kafka
transactions (flink/10_speed.sql, exactly once). It shows committed rows only, and its backfill
counts records, not offsets (each commit marker takes an offset too)."""

from __future__ import annotations

import json
import uuid

from kafka import KafkaProducer

from isspanel.dashboard.consumer import HubConsumer
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.streams import STREAMS
from isspanel.record import iso_utc
from tests.browser import wait_until

START = 1_795_000_000 // 600 * 600


def window(i: int) -> dict:
    return {
        "window_start": iso_utc(START + 600 * i),
        "window_end": iso_utc(START + 600 * (i + 1)),
        "count": 10,
        "mean_speed_kmh": 24_800.0,
        "anomalies": 0,
    }


def write_in_transactions(settings, topic: str, rows: list[dict], aborted: set[int]) -> None:
    """One transaction per row, as a checkpoint a minute apart would; ``aborted`` are rolled
    back (what a restart does with the rows written after the last checkpoint)."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        transactional_id=f"test-{uuid.uuid4().hex}",
    )
    try:
        producer.init_transactions()
        for i, row in enumerate(rows):
            producer.begin_transaction()
            producer.send(topic, json.dumps(row).encode())
            if i in aborted:
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close()


def test_the_dashboard_backfills_committed_rows_by_count(iss_settings):
    """Before: it sought end - 24 offsets (12 rows behind 12 markers) and, reading
    uncommitted, showed the aborted row too. The aborted row lies among the last 48 offsets:
    twice the depth is not enough either."""
    settings = iss_settings
    keep = {s.name: s.keep(settings) for s in STREAMS}["stats"]
    count = keep + 8
    aborted = {count - 5}
    rows = [window(i) for i in range(count)]
    write_in_transactions(settings, settings.topics.stats, rows, aborted)
    committed = [window(i)["window_start"] for i in range(count) if i not in aborted]

    consumer = HubConsumer(StreamHub(settings))
    consumer.start()
    try:

        def shown() -> list[str]:
            return [row[0] for row in consumer.hub.snapshot().stats.rows]

        wait_until(lambda: len(shown()) >= keep, 30, f"{keep} backfilled windows")
        assert shown() == committed[-keep:]
        # A later commit still arrives; a later abort never does.
        later = [window(count), window(count + 1)]
        write_in_transactions(settings, settings.topics.stats, later, aborted={0})
        wait_until(lambda: shown()[-1] == window(count + 1)["window_start"], 30, "the next row")
        assert window(count)["window_start"] not in shown()
    finally:
        consumer.stop()
