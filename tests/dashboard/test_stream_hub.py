"""The dashboard's one consumer (StreamHub) against a real broker: no message can stop it."""

from __future__ import annotations

import itertools
import math
import re
import threading
import time

import pytest

from isspanel.dashboard.health import Health, describe
from isspanel.dashboard.status import moment_status_html, status_html
from isspanel.dashboard.streams import POSITION_COLUMNS
from isspanel.record import IssRecord
from isspanel.settings import Settings
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
        settings.topics.location: [NESTED, HUGE, b"\xff\xfe", {"timestamp": "soon", "latitude": 1}],
        settings.topics.speed: [
            NESTED,
            HUGE,
            {"eventTime": "2026-11-27T01:00:00Z", "speed_kmh": "fast"},
            {"eventTime": "yesterday", "speed_kmh": 27_000.0},
            {"eventTime": "2026-11-27T01:00:00Z", "speed_kmh": True},
        ],
        settings.topics.stats: [NESTED, {"window_start": "2026-11-27T01:00:00Z", "x": {"a": 1}}],
        settings.topics.events: [NESTED, {"event": "<b>boom</b>", "timestamp": NOW}],
    }


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
    produce_raw(settings, settings.topics.location, [good(1)])
    produce_raw(
        settings,
        settings.topics.speed,
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
    produce_raw(settings, settings.topics.location, [good(2)])
    wait_until(lambda: len(positions(hub)) == 2, 10, "a second good record")


def test_a_new_server_backfills_past_the_poison(iss_settings, hub_factory):
    settings = iss_settings
    for topic, values in poison_for(settings).items():
        produce_raw(settings, topic, values)
    produce_raw(settings, settings.topics.location, [good(1)])
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
    produce_raw(settings, settings.topics.location, [good(1)])
    try:
        snap = wait_until(
            lambda: (s := hub.snapshot()).health.stalled_s is not None and s, 20, "stalled"
        )
        text = snap.status
        assert text == status_html(snap.health, settings.kafka.bootstrap_servers)
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


def texts(hub) -> str:
    """The status as text (its per-record figures sit in spans of their own)."""
    return re.sub(r"<[^>]+>", "", hub.snapshot().status)


def counted(monkeypatch, hub, name: str) -> list[None]:
    """One entry per call of the hub's method ``name`` (the consumer thread's) from now on,
    added once the call has returned."""
    calls: list[None] = []
    method = getattr(hub, name)

    def call():
        method()
        calls.append(None)

    monkeypatch.setattr(hub, name, call)
    return calls


def test_a_record_changes_the_status_only_when_what_it_says_changes(
    iss_settings, hub_factory, monkeypatch
):
    # Health checked every 0.5 s, not the product's 2: the test waits for two of them.
    assert Settings().dashboard.health_s == 2.0
    settings = iss_settings.replace(dashboard={"health_s": 0.5})
    hub = hub_factory(settings)
    refreshes = counted(monkeypatch, hub, "refresh_status")
    wait_until(lambda: health(hub).kafka_connected, 20, "connected")
    produce_raw(settings, settings.topics.location, [good(1)])

    def settled(records: int):
        # The lag is checked every health_s: one check may fall between a send and its
        # fetch, and the status then says "lag 1" (what it says changed) until the next one.
        s = hub.snapshot()
        return s.health.records == records and s.health.lag == 0 and s

    first = wait_until(lambda: settled(1), 10, "a record, and no lag")
    assert "1 records" in texts(hub)
    produce_raw(settings, settings.topics.location, [good(2), good(3)])
    wait_until(lambda: len(positions(hub)) == 3, 10, "two more records")
    # Two health refreshes (health_s) after the rows were published: the first checked
    # the lag after they were read, and its status went out with that pass's publish (the
    # second one runs after it).
    seen = len(refreshes)
    wait_until(lambda: len(refreshes) >= seen + 2, 10, "two health refreshes after the rows")
    now = wait_until(lambda: settled(3), 10, "no lag")
    # Count and arrival went with the rows: the text is the same (a page compares the text,
    # so a status made again with the same words is not sent again).
    assert now.status == first.status
    n, at = POSITION_COLUMNS.index("n"), POSITION_COLUMNS.index("at")
    assert [row[n] for row in now.positions.rows] == [1, 2, 3]
    assert now.positions.rows[-1][at] == pytest.approx(now.health.last_record_at, abs=0.01)


def test_a_repeated_timestamp_changes_nothing_shown(iss_settings, hub_factory):
    # A crash-replayed spool may write a record twice: readers key on timestamp. A repeat
    # shows in the status at the next health check: every 0.5 s here, every 2 s by default.
    settings = iss_settings.replace(dashboard={"health_s": 0.5})
    live = hub_factory(settings)
    wait_until(lambda: len(health(live).assigned) == 4, 20, "all four topics assigned")
    again = {**good(1), "latitude": 45.0}  # same moment, other values: the first one stays
    produce_raw(settings, settings.topics.location, [good(1), good(1), again, good(2)])
    for hub in (live, hub_factory(settings)):  # as they come, then backfilled by a new server
        wait_until(lambda h=hub: health(h).duplicates == 2, 20, "two repeats counted")
        wait_until(lambda h=hub: len(positions(h)) == 2, 10, "two positions")
        assert positions(hub) == [NOW + 60, NOW + 120]
        assert hub.snapshot().positions.rows[0][2] == 11.0 and health(hub).records == 2
        assert health(hub).skipped == 0  # a repeat is not a bad message
        wait_until(lambda h=hub: "2 repeat(s) ignored" in texts(h), 10, "repeats in the status")


def feed_event(kind: str, ts: int) -> dict:
    return {
        "event": kind,
        "timestamp": ts,
        "eventTime": IssRecord(ts, 0, 0, "sgp4").event_time,
        "source": "open-notify",
        "latitude": 1.0,
        "longitude": 2.0,
        "reason": "its answer came again 3 times in a row",
    }


def test_a_frozen_feed_shows_in_the_status_and_the_events_table(iss_settings, hub_factory):
    settings = iss_settings
    hub = hub_factory(settings)
    wait_until(lambda: len(health(hub).assigned) == 4, 20, "all four topics assigned")
    produce_raw(settings, settings.topics.events, [feed_event("feed-frozen", NOW + 100)])
    wait_until(lambda: "Live feed frozen since" in texts(hub), 10, "frozen in the status")
    events = hub.snapshot().events.rows
    assert [row[1] for row in events] == ["feed-frozen"] and health(hub).skipped == 0
    produce_raw(settings, settings.topics.events, [feed_event("feed-moving", NOW + 200)])
    wait_until(lambda: "frozen" not in texts(hub), 10, "moving again")
    # An older frozen event (another partition, late) does not undo the newer "moving".
    produce_raw(settings, settings.topics.events, [feed_event("feed-frozen", NOW + 150)])
    wait_until(lambda: len(hub.snapshot().events.rows) == 3, 10, "three events")
    assert health(hub).feed_frozen_at is None
    # Frozen again; auto mode's SGP4 stand-ins say so; a newer live position ends it.
    produce_raw(settings, settings.topics.events, [feed_event("feed-frozen", NOW + 300)])
    produce_raw(
        settings, settings.topics.location, [IssRecord(NOW + 360, 1.0, 2.0, "sgp4").to_dict()]
    )
    wait_until(lambda: "frozen since" in texts(hub) and "SGP4 stands in" in texts(hub), 10, "")
    produce_raw(
        settings, settings.topics.location, [IssRecord(NOW + 420, 1, 2, "open-notify").to_dict()]
    )
    wait_until(lambda: "frozen" not in texts(hub), 10, "a live position ends it")


def test_live_vs_model_and_the_tle_age_show_in_the_status(
    iss_settings, hub_factory, tmp_path, monkeypatch
):
    import isspanel.dashboard.sky_state as sky_module
    from isspanel.sources import tle
    from tests.tle_helpers import days_ago, tle_text, write_tle

    # A TLE 40 days old in use, past ISS_TLE_MAX_AGE_DAYS; a newer one is stored in home below.
    old_tle = write_tle(tmp_path / "old.tle", days_ago(40))
    settings = iss_settings.replace(home=tmp_path, tle={"path": old_tle})
    hub = hub_factory(settings)
    assert '<span class="tle warn"' in hub.snapshot().status and "TLE 40 days old" in texts(hub)
    live = IssRecord(NOW + 60, 1.0, 2.0, "open-notify", model_km=1234.56)
    produce_raw(settings, settings.topics.location, [live.to_dict()])
    wait_until(lambda: "(live vs model: 1,234.6 km)" in texts(hub), 10, "live vs model")
    # Readers accept records without it (and a malformed one): then there is no figure.
    produce_raw(
        settings,
        settings.topics.location,
        [{**good(2), "source": "open-notify", "model_km": "far"}],
    )
    wait_until(lambda: len(positions(hub)) == 2, 10, "the record with a bad model_km")
    wait_until(lambda: "live vs model" not in texts(hub), 10, "no figure without model_km")
    # A refreshed TLE is picked up at the next hourly check, not per record.
    tle.store(tle.validate(tle_text(days_ago(0.5))), tle.stored_path(settings))
    monkeypatch.setattr(sky_module, "TLE_EVERY_S", 0.0)
    hub.update_night()
    wait_until(lambda: "TLE 0.5 days old" in texts(hub), 10, "the new TLE's age")
    assert "tle warn" not in texts(hub)


def anomaly(prev_ts: int, ts: int) -> dict:
    """An anomaly event as flink/30_crossings.sql writes it: the leg prev_ts -> ts."""
    return {
        "event": "anomaly",
        "timestamp": ts,
        "eventTime": IssRecord(ts, 0, 0, "sgp4").event_time,
        "latitude": 15.0,
        "longitude": 25.0,
        "prev_timestamp": prev_ts,
        "next_timestamp": ts,
        "source": "sgp4",
        "reason": "speed 41234 km/h over 60 s, outside 23500-26500 km/h",
        "speed_kmh": 41234.0,
        "dt_s": 60,
        "distance_km": 687.2,
    }


def drawn(hub) -> list[tuple[int, int]]:
    """The legs the track draws, as (t0, t1): a segment with NaN ends is not drawn."""
    return [(r[0], r[1]) for r in hub.snapshot().track.rows if not math.isnan(r[2])]


def test_the_track_is_not_drawn_through_an_anomaly(iss_settings, hub_factory):
    """The hub decides the track: a segment per position, none along an anomalous leg,
    whether the anomaly comes after its positions (the usual order: Flink commits each
    checkpoint) or before them; the anomaly shows in the events with its reason."""
    settings = iss_settings
    hub = hub_factory(settings)
    wait_until(lambda: len(health(hub).assigned) == 4, 20, "all four topics assigned")
    records = [good(i) for i in range(1, 7)]
    records[2] = {**records[2], "latitude": 17.0, "longitude": 27.0}  # good(3), ~700 km off
    produce_raw(settings, settings.topics.location, records)
    t = [NOW + 60 * i for i in range(1, 7)]
    wait_until(lambda: len(drawn(hub)) == 5, 10, "five segments")
    assert drawn(hub) == list(itertools.pairwise(t))
    before = hub.snapshot().track
    produce_raw(settings, settings.topics.events, [anomaly(t[1], t[2]), anomaly(t[2], t[3])])
    wait_until(lambda: len(drawn(hub)) == 3, 10, "the two legs through good(3) broken")
    after = hub.snapshot().track
    assert drawn(hub) == [(t[0], t[1]), (t[3], t[4]), (t[4], t[5])]
    assert len(after.rows) == 6 and after.since(before) is None  # sessions take it all again
    events = hub.snapshot().events.rows
    assert [row[1] for row in events] == ["anomaly", "anomaly"]
    assert events[0][3].startswith("speed 41234 km/h over 60 s")  # detail: the reason
    # An anomaly before its positions (a new server backfills the topics in any order).
    produce_raw(settings, settings.topics.events, [anomaly(NOW + 420, NOW + 480)])
    wait_until(lambda: len(hub.snapshot().events.rows) == 3, 10, "the third anomaly")
    produce_raw(settings, settings.topics.location, [good(7), good(8), good(9)])
    wait_until(lambda: len(positions(hub)) == 9, 10, "three more positions")
    assert drawn(hub)[-2:] == [(t[5], NOW + 420), (NOW + 480, NOW + 540)]  # not 420-480
    # A new server, backfilling all of it, draws the same track.
    fresh = hub_factory(settings)
    wait_until(lambda: len(positions(fresh)) == 9 and len(fresh.snapshot().events.rows) == 3, 20)
    assert drawn(fresh) == drawn(hub)


def test_outside_text_in_the_status_shows_as_text():
    """Escaped, and without TeX delimiters: the status is a Bokeh Div (StaticText), which
    would typeset $$…$$ or \\(…\\) once MathJax is loaded (the page's Markdown panes load it)."""
    error = "<b>boom</b> $$E=mc^2$$ \\(x\\)"
    for out in (
        status_html(Health(kafka_connected=False, kafka_error=error), "host:9092"),
        moment_status_html(error, Health(), (error,), 0),
    ):
        assert "<b>boom" not in out and "&lt;b&gt;boom" in out
        assert "$" not in out and "\\" not in out and "&#36;&#36;E=mc^2" in out
