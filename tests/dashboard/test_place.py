"""A session's place at the Python level: parsing, the map's click, the shared pass cache."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

import pytest
from bokeh.events import Tap
from bokeh.models import ColumnDataSource

from isspanel.dashboard import passes
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.place import PlaceError, PlaceView, parse_place
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.world_map import WorldMap
from isspanel.geo.mercator import mercator
from isspanel.geo.passes import Pass
from isspanel.settings import Settings
from tests.tle_helpers import days_ago, tle_of

# The cache computes passes from now: a TLE a day old, whatever the bundled one's age.
TLE = tle_of(days_ago(1))


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        ("52.52", "13.40", (52.52, 13.4)),
        (" -33.8688", "151.2093 ", (-33.87, 151.21)),
        ("90", "-180", (90.0, -180.0)),
        ("-0.001", "-0.004", (0.0, 0.0)),
        ("1e1", "2E1", (10.0, 20.0)),
    ],
)
def test_a_place_is_parsed_and_rounded_to_a_hundredth_of_a_degree(lat, lon, expected):
    place = parse_place(lat, lon)
    assert place == expected
    assert f"{place[0]:.2f}" != "-0.00" and f"{place[1]:.2f}" != "-0.00"


@pytest.mark.parametrize(
    ("lat", "lon", "says"),
    [
        ("abc", "13.4", "the latitude must be a number of degrees, not 'abc'"),
        ("52", "east", "the longitude must be a number of degrees, not 'east'"),
        ("90.5", "0", "the latitude must be within -90..90 degrees, not '90.5'"),
        ("0", "-181", "the longitude must be within -180..180 degrees, not '-181'"),
        ("inf", "0", "within -90..90 degrees, not 'inf'"),
        ("0", "NaN", "within -180..180 degrees, not 'NaN'"),
        ("", "13.4", "the latitude is missing"),
        ("52.5", None, "the longitude is missing"),
        ("x" * 500, "0", "not '" + "x" * 40 + "'"),  # a long value is cut in the message
    ],
)
def test_a_bad_place_says_what_is_wrong(lat, lon, says):
    with pytest.raises(PlaceError) as caught:
        parse_place(lat, lon)
    assert says in str(caught.value)
    assert len(str(caught.value)) < 120


class AskedCache:
    """Stands in for passes.CACHE: records what is asked; nothing is computed."""

    def __init__(self):
        self.asked: list[tuple] = []

    def get(self, tle, lat: float, lon: float) -> Future:
        self.asked.append((tle, lat, lon))
        return Future()  # never done: the view waits, as while the worker computes


def test_a_tap_on_the_map_sets_the_session_place_and_asks_for_its_passes(monkeypatch):
    """The Tap handler itself, without a browser (the browser test clicks the canvas)."""
    # Its own cache, not the shared one: another test's place would hide a request not made.
    cache = AskedCache()
    monkeypatch.setattr(passes, "CACHE", cache)
    world = WorldMap(ColumnDataSource({"x": [], "y": []}), ColumnDataSource())
    source = ColumnDataSource({"x": [], "y": [], "lat": [], "lon": []})
    hub = StreamHub(Settings.from_env())
    view = PlaceView(world, source, hub, SessionContext())  # no document, no address
    x, y = mercator(13.4049, 52.5200)
    view.on_tap(Tap(model=world.figure, x=x, y=y))
    assert view.place == (52.52, 13.4)
    # The marker stands on the rounded place, within 0.005° (under 600 m) of the tap.
    assert view.source.data == {
        "x": [mercator(13.4, 52.52)[0]],
        "y": [mercator(13.4, 52.52)[1]],
        "lat": [52.52],
        "lon": [13.4],
    }
    assert view.source.data["x"][0] == pytest.approx(x, abs=600)
    assert (view.lat_input.value, view.lon_input.value) == ("52.52", "13.40")
    assert hub.tle is not None and cache.asked == [(hub.tle, 52.52, 13.4)]
    assert view.message.text == "Computing the passes over 52.52°, 13.40°…"
    view.on_tap(Tap(model=world.figure, x=x, y=None))  # no point: nothing happens
    assert view.place == (52.52, 13.4) and len(cache.asked) == 1


def test_the_pass_cache_computes_a_place_once_for_every_session():
    cache = passes.PassCache(size=2, ttl_s=3600)
    first = cache.get(TLE, 52.52, 13.4)
    assert cache.get(TLE, 52.52, 13.4) is first and cache.computed == 1
    found = first.result(timeout=60)
    assert found and all(isinstance(p, Pass) for p in found)
    assert cache.get(TLE, -33.87, 151.21) is not first and cache.computed == 2
    cache.get(TLE, 0.0, 0.0)  # a third place: the least recently used one goes
    assert cache.get(TLE, 52.52, 13.4) is not first and cache.computed == 4
    stale = passes.PassCache(ttl_s=0.0)
    one = stale.get(TLE, 52.52, 13.4)
    assert stale.get(TLE, 52.52, 13.4) is not one  # too old: computed again
    one.result(timeout=60)


def test_the_table_shows_only_passes_that_have_not_ended():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def a_pass(minutes: int, visible: bool) -> Pass:
        rise = now + timedelta(minutes=minutes)
        return Pass(
            rise, rise + timedelta(minutes=5), rise + timedelta(minutes=10), 42.26, 0, 0, 0, visible
        )

    found = [
        a_pass(-30, False),
        a_pass(-5, True),
        *(a_pass(90 * i, i % 2 == 0) for i in range(1, 12)),
    ]
    rows = passes.rows(found, now.timestamp())
    assert rows["rise"][0] == "2026-11-27 11:55:00"  # under way: shown
    assert len(rows["rise"]) == 8
    assert rows["culmination"][0] == "12:00:00" and rows["set"][0] == "12:05:00"
    assert rows["max_elevation"][0] == 42.3 and rows["visible"][:3] == ["yes", "no", "yes"]
