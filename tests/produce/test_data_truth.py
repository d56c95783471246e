"""What the producer says about the ISS: one record per moment, a frozen live feed told and
(in auto mode) replaced by SGP4, each live position's distance from the model, and Kafka
timestamps that are event times. A real broker; the live API is a local HTTP server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from isspanel.geo.orbit import great_circle_km
from isspanel.produce.producer import IssProducer
from isspanel.produce.publisher import Publisher
from isspanel.record import IssRecord
from isspanel.settings import PROJECT_ROOT
from isspanel.sources import make_source
from isspanel.sources.sgp4_model import Sgp4Source
from tests.conftest import good_answer, kafka_env, produce_raw, read_topic


def timestamps(settings, expected: int, timeout_s: float = 15) -> list[int]:
    return [
        v["timestamp"] for v in read_topic(settings, settings.topics.location, expected, timeout_s)
    ]


def test_a_fast_sgp4_producer_publishes_each_second_once(iss_settings, caplog):
    # The issue: `--source sgp4 --interval 0.2` published each second up to five times.
    caplog.set_level(logging.INFO, logger="isspanel")
    producer = IssProducer(iss_settings, Sgp4Source(iss_settings))
    stats = producer.run(interval=0.2, max_ticks=15)
    fetched = stats.ticks - stats.skipped
    assert stats.accepted + stats.duplicates == fetched, stats
    assert stats.duplicates >= 1, stats  # 15 ticks 0.2 s apart span about 3 seconds
    # The run has closed its producer: reading to the end offsets shows any extra.
    published = timestamps(iss_settings, expected=stats.accepted)
    assert len(published) == stats.accepted
    assert published == sorted(set(published))
    assert f"skipped {stats.duplicates} duplicate(s)" in caplog.text  # the INFO summary


def test_the_cli_repro_publishes_each_second_once_across_two_runs(iss_settings):
    env = {**os.environ, **kafka_env(iss_settings), "ISS_HOME": str(iss_settings.home)}
    command = [sys.executable, "-m", "isspanel", "produce", "--source", "sgp4"]
    for _ in range(2):
        subprocess.run(
            [*command, "--interval", "0.2", "--count", "3"],
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
            timeout=120,
            capture_output=True,
        )
    published = timestamps(iss_settings, expected=6)  # both runs have ended: to the end
    assert len(published) == 6
    assert published == sorted(set(published)), published


def test_nothing_older_than_the_topics_newest_record_is_published(iss_settings, caplog):
    # The topic's tail, read at start: a record 60 s ahead of the clock (allowed skew), then
    # a bad message after it that must not hide it.
    ahead = int(time.time()) + 60
    produce_raw(
        iss_settings,
        iss_settings.topics.location,
        [IssRecord(ahead, 1.0, 2.0, "sgp4").to_dict(), b"not json"],
    )
    caplog.set_level(logging.INFO, logger="isspanel")
    producer = IssProducer(iss_settings, Sgp4Source(iss_settings))
    stats = producer.run(interval=0.2, max_ticks=4)
    assert stats.accepted == 0 and stats.stale == stats.ticks - stats.skipped >= 1, stats
    assert (
        len(read_topic(iss_settings, iss_settings.topics.location, expected=2)) == 2
    )  # read to the end
    assert (
        "publishing positions after" in caplog.text
        and f"on {iss_settings.topics.location}" in caplog.text
    )


def test_accelerated_history_skips_moments_already_on_the_topic(iss_settings):
    source = Sgp4Source(iss_settings)
    end = int(time.time()) - 600
    first = list(source.history(10, step_s=60, end_ts=end))
    IssProducer(iss_settings, source).publish_all(first)
    # Overlapping history: five moments already published, five new ones.
    stats = IssProducer(iss_settings, source).publish_all(
        list(source.history(10, step_s=60, end_ts=end + 300))
    )
    assert (stats.accepted, stats.duplicates, stats.stale) == (5, 1, 4)
    published = timestamps(iss_settings, expected=15)  # read to the end: an extra shows
    assert published == [end - 540 + 60 * i for i in range(15)]


def test_kafka_timestamps_are_event_times_so_seeking_by_time_seeks_event_time(iss_settings):
    base = int(time.time()) - 86_400
    records = [IssRecord(base + 3600 * i, 1.0 + i, 2.0, "sgp4") for i in range(5)]
    publisher = Publisher(iss_settings)
    publisher.accept_many(records)
    publisher.close()
    consumer = KafkaConsumer(
        bootstrap_servers=iss_settings.kafka.bootstrap_servers, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(iss_settings.topics.location, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        messages = []
        deadline = time.monotonic() + 15
        while len(messages) < 5 and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                messages += batch
        assert [m.timestamp for m in messages] == [r.timestamp * 1000 for r in records]
        # Seek to the first record at or after base + 2.5 h: the fourth one.
        found = consumer.offsets_for_times({tp: (base + 9000) * 1000})[tp]
        assert found.offset == messages[3].offset
    finally:
        consumer.close()


def frozen_script(now: int, sgp4: Sgp4Source, repeats: int = 6) -> tuple[list[dict], list[int]]:
    """Answers: the live position 1° north of SGP4's ``repeats`` times, then two new ones.

    Fetches are at least one interval apart, so of 6 answers 0.6 s apart the 3rd on come
    over a second after the first: at least 4 stale answers, whatever the machine's speed.
    """
    a, b, c = now - 10, now + 20, now + 21  # b, c: newer than any SGP4 stand-in meanwhile
    answers = []
    for ts in (a, b, c):
        model = sgp4.position(ts)
        answers.append(good_answer(ts, model.latitude + 1.0, model.longitude))
    return [answers[0]] * repeats + answers[1:], [a, b, c]


def stop_when_answered(api, stop: threading.Event) -> None:
    """Set ``stop`` once ``api`` has sent every scripted answer (or when set already)."""
    while not stop.wait(0.05):
        with api.lock:
            if not api.script and not api.in_flight:
                stop.set()


@pytest.mark.parametrize("mode", ["open-notify", "auto"])
def test_a_frozen_feed_is_told_once_and_in_auto_mode_sgp4_stands_in(
    mode, iss_settings, fake_api, caplog
):
    settings = iss_settings.replace(producer={"api_url": fake_api.url, "read_timeout_s": 1.0})
    sgp4 = Sgp4Source(settings)
    script, (a, b, c) = frozen_script(int(time.time()), sgp4)
    fake_api.script = ([script[0]] if mode == "auto" else []) + script  # auto probes once
    caplog.set_level(logging.DEBUG, logger="isspanel")
    source = make_source(settings, mode)
    assert source.name == "open-notify"
    producer = IssProducer(settings, source)
    # Three ticks to spare for ones skipped on a stalled machine; the run stops once the last
    # scripted answer is sent (its fetch still ends: `finish` waits for it).
    answered = threading.Thread(target=stop_when_answered, args=(fake_api, producer.stop_event))
    answered.start()
    try:
        stats = producer.run(interval=0.6, max_ticks=len(script) + 3)
    finally:
        producer.stop_event.set()
        answered.join()
    assert not fake_api.script, stats  # every scripted answer was fetched

    # The three live positions at least; the run has ended, so to the end: every stand-in.
    values = read_topic(settings, settings.topics.location, expected=3)
    live = [v for v in values if v["source"] == "open-notify"]
    assert [v["timestamp"] for v in live] == [a, b, c]
    stand_ins = [v for v in values if v["source"] == "sgp4"]
    if mode == "auto":
        assert stand_ins, "SGP4 positions while the feed is frozen"
        assert all(a < v["timestamp"] < b for v in stand_ins)
        assert all("model_km" not in v for v in stand_ins)
    else:
        assert stand_ins == []
    assert [v["timestamp"] for v in values] == sorted({v["timestamp"] for v in values})
    assert stats.stale >= 3
    # Live vs model: the answers lie 1° of latitude north of SGP4's position.
    one_degree = great_circle_km(0.0, 0.0, 1.0, 0.0)
    assert [v["model_km"] for v in live] == [pytest.approx(one_degree, abs=0.5)] * 3

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("isspanel")]
    assert len([m for m in lines if m.startswith("feed frozen")]) == 1
    assert len([m for m in lines if m.startswith("feed moving again")]) == 1
    events = read_topic(settings, settings.topics.events, expected=2, timeout_s=15)
    assert [e["event"] for e in events] == ["feed-frozen", "feed-moving"]
    assert all(e["source"] == "open-notify" for e in events)
    assert events[1]["timestamp"] == b


def test_records_without_model_km_are_still_read(iss_settings):
    from isspanel.record import from_flat

    plain = IssRecord(int(time.time()), 1.0, 2.0, "sgp4")
    assert "model_km" not in plain.to_dict()
    assert from_flat(plain.to_json()) == plain
    with_km = IssRecord(plain.timestamp, 1.0, 2.0, "open-notify", model_km=12.5)
    assert from_flat(with_km.to_json()).model_km == 12.5
    # A bad annotation is dropped; the position it annotates is still good.
    for bad in ("far", -1, float("inf"), 1e9, True, None):
        row = {**plain.to_dict(), "model_km": bad}
        assert from_flat(row).model_km is None


def test_a_record_ahead_of_the_clock_does_not_block_the_ones_after_it(iss_settings):
    # Kafka 4 refuses a timestamp over an hour ahead: as the Kafka timestamp, the clock's.
    now = int(time.time())
    records = [IssRecord(now + 7200, 1.0, 2.0, "replay"), IssRecord(now, 3.0, 4.0, "replay")]
    publisher = Publisher(iss_settings)
    publisher.accept_many(records)
    assert publisher.flush(30), "a refused record holds up the outbox"
    publisher.close()
    assert timestamps(iss_settings, expected=2) == [now + 7200, now]
