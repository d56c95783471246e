"""Every reader of every topic survives the hostile corpus (tests/hostile.py): it skips each
message, counts it where a count is shown, logs one line, and goes on to the good rows after.

Readers here: the parsers themselves, the JSONL files (replay, the spool), the producer's read
of the topic's tail (and `isspanel produce` itself), the dashboard's hub, time travel, and the
notebooks' reader. The Flink jobs read the corpus in tests/analytics/test_flink.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from isspanel.broker import read_at, read_topic
from isspanel.broker.rows import EVENTS, POSITIONS, SPEEDS, STATS
from isspanel.broker.topics import fresh_topics
from isspanel.messages import InvalidRecord
from isspanel.produce.moments import newest_on_topic
from isspanel.produce.spool import Spool
from isspanel.record import IssRecord, iso_utc
from isspanel.settings import PROJECT_ROOT
from isspanel.sources.replay import read_jsonl
from tests.browser import server_env, wait_until
from tests.conftest import produce_raw
from tests.hostile import CORPUS

NOW = int(time.time()) - 3600
KINDS = (POSITIONS, SPEEDS, STATS, EVENTS)


def good_rows(i: int) -> dict[str, dict]:
    """One valid row of each kind, ``i`` minutes after NOW."""
    ts = NOW + 60 * i
    return {
        "positions": IssRecord(ts, 10.0 + i, 20.0 + i, "sgp4").to_dict(),
        "speeds": {"eventTime": iso_utc(ts), "speed_kmh": 27_600.0 + i},
        "stats": {"window_start": iso_utc(ts), "window_end": iso_utc(ts + 60), "n": i},
        "events": {"event": "equator", "eventTime": iso_utc(ts), "direction": "north"},
    }


def topics_of(settings) -> dict[str, str]:
    return {
        "positions": settings.topics.location,
        "speeds": settings.topics.speed,
        "stats": settings.topics.stats,
        "events": settings.topics.events,
    }


def publish_with_corpus(settings) -> None:
    """On each topic: a good row, the whole corpus, a good row."""
    for kind, topic in topics_of(settings).items():
        values = [good_rows(1)[kind], *(v for _what, v in CORPUS), good_rows(2)[kind]]
        produce_raw(settings, topic, values)


@pytest.fixture(scope="module")
def hostile(kafka_settings):
    settings = fresh_topics(kafka_settings, prefix="hostile")
    publish_with_corpus(settings)
    return settings


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_each_parser_refuses_each_message_in_one_line(kind):
    for what, value in CORPUS:
        with pytest.raises(InvalidRecord) as refused:  # nothing else: no ValueError, no crash
            row = kind.parse(value, 64 * 1024)
            kind.time_ms(row), kind.key(row)
        line = str(refused.value)
        assert "\n" not in line and len(line) < 300, (what, line)


def test_files_skip_each_hostile_line(tmp_path, caplog):
    """Replay files and the producer's spool are outside input too."""
    lines = [v for _what, v in CORPUS if v is not None and v.strip() and b"\n" not in v]
    good = IssRecord(NOW, 1.0, 2.0, "replay")
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join([*lines, good.to_json()]) + b"\n")
    with caplog.at_level(logging.WARNING):
        assert list(read_jsonl(path)) == [good]
    assert len([r for r in caplog.records if "skipped" in r.getMessage()]) == len(lines)
    (tmp_path / "spool").mkdir()
    path.rename(tmp_path / "spool" / "t.jsonl")
    spool = Spool.open(tmp_path, "t")
    try:
        assert spool.load() == [good]
    finally:
        spool.close(remove=True)


def test_the_producer_starts_on_a_hostile_tail(topic_factory, caplog):
    hostile = topic_factory()  # its own: it publishes
    publish_with_corpus(hostile)
    with caplog.at_level(logging.WARNING):
        assert newest_on_topic(hostile) == good_rows(2)["positions"]["timestamp"]
    assert any("bad message(s), skipped" in r.getMessage() for r in caplog.records)
    # And `isspanel produce` itself, which the tail once stopped before it published.
    done = subprocess.run(
        [sys.executable, "-m", "isspanel", "produce", "--source", "sgp4", "--count", "1"],
        env={**server_env(hostile), "ISS_PRODUCER_INTERVAL_S": "1"},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    newest = read_topic(hostile, hostile.topics.location, last=1)
    assert newest["source"].tolist() == ["sgp4"]
    assert newest["timestamp"].iloc[0] > NOW + 120


def test_the_dashboard_skips_and_counts_each(topic_factory, hub_factory, caplog):
    settings = topic_factory()
    hub = hub_factory(settings)
    wait_until(lambda: len(hub.snapshot().health.assigned) == 4, 20, "all four topics assigned")
    with caplog.at_level(logging.WARNING, logger="isspanel.dashboard.hub"):
        publish_with_corpus(settings)
        bad = 4 * len(CORPUS)
        wait_until(lambda: hub.snapshot().health.skipped == bad, 30, f"{bad} skipped")
        snap = hub.snapshot()
        wait_until(lambda: len(hub.snapshot().positions.rows) == 2, 10, "both good positions")
    snap = hub.snapshot()
    assert [len(s.rows) for s in (snap.speeds, snap.stats, snap.events)] == [2, 2, 2]
    assert snap.health.kafka_connected and snap.health.stalled_s is None
    lines = [r for r in caplog.records if r.getMessage().startswith("skipped a bad message")]
    assert len(lines) == bad and not any(r.exc_info for r in lines)


def test_time_travel_skips_and_counts_each(hostile):
    at = datetime.now(UTC)
    for kind, topic in topics_of(hostile).items():
        history = read_at(hostile, topic, at)
        assert len(history.rows) == 2, (kind, history)
        assert history.skipped == len(CORPUS), kind


def test_the_notebooks_reader_skips_and_counts_each(hostile):
    for kind, topic in topics_of(hostile).items():
        df = read_topic(hostile, topic)
        assert len(df) == 2, (kind, df)
        assert df.attrs["skipped"] == len(CORPUS), kind
        assert len(read_topic(hostile, topic, last=1)) == 1
