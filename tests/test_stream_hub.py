"""The dashboard's one consumer (StreamHub) against a real broker: no message can stop it."""

from __future__ import annotations

import threading
import time

import pytest

from isspanel.dashboard.consumer import HubConsumer
from isspanel.dashboard.health import describe, status_html
from isspanel.dashboard.hub import StreamHub
from isspanel.record import IssRecord
from tests.browser import wait_until
from tests.conftest import produce_raw

NOW = int(time.time()) - 3600
NESTED = b"[" * 10_000 + b"]" * 10_000
HUGE = b'{"pad": "' + b"x" * 100_000 + b'"}'


def good(i: int) -> dict:
    return IssRecord(NOW + 60 * i, 10.0 + i, 20.0 + i, "sgp4").to_dict()


def poison_for(settings) -> dict[str, list]:
    """Messages that once killed or broke the consumer, by topic."""
    return {
        settings.topic: [NESTED, HUGE, b"\xff\xfe", {"timestamp": "soon", "latitude": 1}],
        settings.speed_topic: [
            NESTED,
            HUGE,
            {"eventTime": "2026-11-27T01:00:00Z", "speed_kmh": "fast"},
            {"eventTime": "yesterday", "speed_kmh": 27_000.0},
            {"eventTime": "2026-11-27T01:00:00Z", "speed_kmh": True},
        ],
        settings.stats_topic: [NESTED, {"window_start": "2026-11-27T01:00:00Z", "x": {"a": 1}}],
        settings.events_topic: [NESTED, {"event": "<b>boom</b>", "timestamp": NOW}],
    }


@pytest.fixture
def hub_factory():
    consumers = []

    def make(settings) -> StreamHub:
        consumer = HubConsumer(StreamHub(settings))
        consumer.start()
        consumers.append(consumer)
        return consumer.hub

    yield make
    for consumer in consumers:
        consumer.stop()


def health(hub):
    return hub.snapshot().health


def positions(hub) -> list[int]:
    return [row[0] for row in hub.snapshot().positions.rows]


def test_no_poison_message_stops_the_consumer_and_each_is_counted(iss_settings, hub_factory):
    settings = iss_settings
    hub = hub_factory(settings)
    wait_until(lambda: len(health(hub).assigned) == 4, 20, "all four topics assigned")
    poison = poison_for(settings)
    for topic, values in poison.items():
        produce_raw(settings, topic, values)
    produce_raw(settings, settings.topic, [good(1)])
    produce_raw(
        settings,
        settings.speed_topic,
        [{"eventTime": "2026-11-27T01:01:00Z", "speed_kmh": 27_600.0}],
    )
    bad = sum(len(v) for v in poison.values())
    wait_until(lambda: health(hub).skipped == bad, 20, f"{bad} skipped messages")
    wait_until(lambda: positions(hub), 10, "the good record after the poison")
    wait_until(lambda: hub.snapshot().speeds.rows, 10, "the good speed row after the poison")
    snap = hub.snapshot()
    assert positions(hub) == [NOW + 60]
    assert [row[1] for row in snap.speeds.rows] == [27_600.0]
    assert snap.stats.rows == () and snap.events.rows == ()
    now = health(hub)
    assert now.kafka_connected and now.stalled_s is None
    # A later record still flows: the thread is alive, not just the counters.
    produce_raw(settings, settings.topic, [good(2)])
    wait_until(lambda: len(positions(hub)) == 2, 10, "a second good record")


def test_a_new_server_backfills_past_the_poison(iss_settings, hub_factory):
    settings = iss_settings
    for topic, values in poison_for(settings).items():
        produce_raw(settings, topic, values)
    produce_raw(settings, settings.topic, [good(1)])
    hub = hub_factory(settings)  # the poison is now part of the history it backfills
    wait_until(lambda: positions(hub), 20, "the good record behind the poison")
    assert health(hub).skipped == sum(len(v) for v in poison_for(settings).values())
    assert health(hub).stalled_s is None


def test_a_stuck_consumer_shows_as_not_connected(iss_settings, hub_factory, monkeypatch):
    import isspanel.dashboard.hub as hub_module

    monkeypatch.setattr(hub_module, "STALL_S", 1.0)  # the real 10 s, shortened for the test
    settings = iss_settings
    hub = hub_factory(settings)
    wait_until(lambda: health(hub).kafka_connected, 20, "connected")
    release = threading.Event()
    # A message whose ingest hangs stands in for any hang on the consumer thread.
    ingest = hub.ingest
    monkeypatch.setattr(
        hub, "ingest", lambda topic, value: release.wait(30) and ingest(topic, value)
    )
    produce_raw(settings, settings.topic, [good(1)])
    try:
        snap = wait_until(
            lambda: (s := hub.snapshot()).health.stalled_s is not None and s, 20, "stalled"
        )
        text = snap.status
        assert text == status_html(snap.health, settings.bootstrap)
        assert "not connected" in text and "stalled" in text
        assert "connected to" not in text
    finally:
        release.set()
    wait_until(lambda: health(hub).stalled_s is None, 20, "the consumer to recover")


def test_errors_name_their_class_once():
    from kafka.errors import KafkaConnectionError

    assert describe(KafkaConnectionError("broker gone")) == "KafkaConnectionError: broker gone"
    assert describe(OSError("no route")) == "OSError: no route"
    assert describe(TimeoutError()) == "TimeoutError"
