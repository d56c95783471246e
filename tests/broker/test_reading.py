"""isspanel.broker.read_topic, the notebooks' reader, against a real broker: committed rows
only (Flink writes in transactions), counted back by rows not offsets, read to the end offsets
it found (never until a timeout)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from isspanel.broker import HistoryError, read_topic
from isspanel.record import IssRecord
from tests.broker.test_transactional_readers import window, write_in_transactions
from tests.conftest import publish


def test_last_counts_committed_rows_not_offsets(iss_settings):
    settings = iss_settings
    rows = [window(i) for i in range(10)]
    write_in_transactions(settings, settings.topics.stats, rows, aborted={8})
    committed = [r["window_start"] for i, r in enumerate(rows) if i != 8]
    started = time.monotonic()
    assert read_topic(settings, settings.topics.stats)["window_start"].tolist() == committed
    for n in (1, 2, 3, 9):
        df = read_topic(settings, settings.topics.stats, last=n)
        assert df["window_start"].tolist() == committed[-n:], n
    assert time.monotonic() - started < 20  # it read to the end; it never waited one out
    # (kafka-python's abort drops the unsent row: no isolation shows it, so none is asserted.)
    assert len(read_topic(settings, settings.topics.stats, isolation="read_uncommitted")) == 9


def test_since_and_the_errors_it_says_in_one_line(iss_settings):
    settings = iss_settings
    now = int(time.time()) - 600
    publish(settings, [IssRecord(now + 60 * i, 1.0, 2.0, "sgp4") for i in range(5)])
    since = datetime.fromtimestamp(now + 150, UTC)  # Kafka timestamps are event times
    df = read_topic(settings, settings.topics.location, since=since)
    assert df["timestamp"].tolist() == [now + 180, now + 240]
    assert read_topic(settings, settings.topics.location, since=datetime.now(UTC)).empty
    with pytest.raises(HistoryError, match="does not exist"):
        read_topic(settings, "no-such-topic-here")
    with pytest.raises(ValueError, match="isolation"):
        read_topic(settings, settings.topics.location, isolation="dirty")
    with pytest.raises(ValueError, match="time zone"):
        read_topic(settings, settings.topics.location, since=datetime(2026, 1, 1))
