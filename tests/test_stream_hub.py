"""The dashboard's one consumer (StreamHub) against a real broker: no message can stop it."""

from __future__ import annotations

import threading
import time

import pytest

from isspanel.dashboard_page import health_html
from isspanel.record import IssRecord
from isspanel.stream_hub import StreamHub, describe
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
    hubs = []

    def make(settings) -> StreamHub:
        hub = StreamHub(settings)
        hub.start()
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()


def test_no_poison_message_stops_the_consumer_and_each_is_counted(iss_settings, hub_factory):
    settings = iss_settings
    hub = hub_factory(settings)
    wait_until(lambda: len(hub.health_snapshot().assigned) == 4, 20, "all four topics assigned")
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
    wait_until(lambda: hub.health_snapshot().skipped == bad, 20, f"{bad} skipped messages")
    wait_until(lambda: hub.snapshot().positions, 10, "the good record after the poison")
    wait_until(lambda: hub.snapshot().speeds, 10, "the good speed row after the poison")
    snap = hub.snapshot()
    assert [r.timestamp for r in snap.positions] == [NOW + 60]
    assert [row["speed_kmh"] for row in snap.speeds] == [27_600.0]
    assert snap.stats == [] and snap.events == []
    health = hub.health_snapshot()
    assert health.kafka_connected and health.stalled_s is None
    # A later record still flows: the thread is alive, not just the counters.
    produce_raw(settings, settings.topic, [good(2)])
    wait_until(lambda: len(hub.snapshot().positions) == 2, 10, "a second good record")


def test_a_new_server_backfills_past_the_poison(iss_settings, hub_factory):
    settings = iss_settings
    for topic, values in poison_for(settings).items():
        produce_raw(settings, topic, values)
    produce_raw(settings, settings.topic, [good(1)])
    hub = hub_factory(settings)  # the poison is now part of the history it backfills
    wait_until(lambda: hub.snapshot().positions, 20, "the good record behind the poison")
    assert hub.health_snapshot().skipped == sum(len(v) for v in poison_for(settings).values())
    assert hub.health_snapshot().stalled_s is None


def test_a_stuck_consumer_shows_as_not_connected(iss_settings, hub_factory, monkeypatch):
    import isspanel.stream_hub as stream_hub

    monkeypatch.setattr(stream_hub, "STALL_S", 1.0)  # the real 10 s, shortened for the test
    settings = iss_settings
    hub = hub_factory(settings)
    wait_until(lambda: hub.health_snapshot().kafka_connected, 20, "connected")
    release = threading.Event()
    # A listener that blocks stands in for any hang on the consumer thread.
    hub.subscribe(lambda kinds: release.wait(30) if "positions" in kinds else None)
    produce_raw(settings, settings.topic, [good(1)])
    try:
        health = wait_until(
            lambda: (h := hub.health_snapshot()).stalled_s is not None and h, 20, "stalled"
        )
        text = health_html(health, settings.bootstrap)
        assert "not connected" in text and "stalled" in text
        assert "connected to" not in text
    finally:
        release.set()
    wait_until(lambda: hub.health_snapshot().stalled_s is None, 20, "the consumer to recover")


def test_errors_name_their_class_once():
    from kafka.errors import KafkaConnectionError

    assert describe(KafkaConnectionError("broker gone")) == "KafkaConnectionError: broker gone"
    assert describe(OSError("no route")) == "OSError: no route"
    assert describe(TimeoutError()) == "TimeoutError"
