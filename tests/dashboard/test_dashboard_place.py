"""Readouts, footprint and a place with its passes, on the served dashboard in Chromium.

The page reads the models (sources, the readouts text), never SlickGrid's rendering; every
wait is on a condition, never on the machine's speed.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from isspanel.dashboard.readouts_view import FOOTPRINT_COLOR, PLACE_COLOR
from isspanel.geo import readouts
from isspanel.geo.mercator import mercator
from isspanel.record import IssRecord
from isspanel.sources import tle
from tests.browser import (
    DashboardServer,
    address,
    all_text,
    model_data,
    table_keys,
    wait_on,
    wait_until,
)
from tests.conftest import free_port, publish

pytestmark = pytest.mark.browser

NOW = int(time.time())
BAD_PLACE_TS = itertools.count(NOW - 200)  # apart from the other tests' moments
BERLIN = (52.52, 13.40)


@pytest.fixture(scope="module")
def served(tmp_path_factory, kafka_settings):
    from isspanel.broker.topics import fresh_topics

    settings = fresh_topics(kafka_settings, prefix="place")
    publish(settings, [IssRecord(NOW - 600, *BERLIN, "sgp4")])
    server = DashboardServer(settings, free_port(), tmp_path_factory.mktemp("place") / "panel.log")
    yield settings, server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def readout_text(page) -> str:
    """The readouts' line: the last of the readouts text (the first is the position's)."""
    text = page.evaluate("() => Bokeh.documents[0].get_model_by_name('iss-readouts').content")
    return text.split("\n")[-1]


def number_after(label: str, text: str) -> float:
    match = re.search(rf"{label} ([\d,.]+) ", text)
    assert match, (label, text)
    return float(match.group(1).replace(",", ""))


def projected(lines) -> tuple[list, list]:
    xs, ys = [], []
    for lons, lats in zip(*lines, strict=True):
        points = [mercator(lon, lat) for lon, lat in zip(lons, lats, strict=True)]
        xs.append([p[0] for p in points])
        ys.append([p[1] for p in points])
    return xs, ys


def circles_of(page, color: str) -> tuple[list, list]:
    data = model_data(page, "circles")
    keep = [i for i, c in enumerate(data["color"]) if c == color]
    return [data["xs"][i] for i in keep], [data["ys"][i] for i in keep]


def assert_same_lines(got, expected, metres: float = 1.0) -> None:
    assert len(got[0]) == len(expected[0])
    for gx, gy, ex, ey in zip(*got, *expected, strict=True):
        assert gx == pytest.approx(ex, abs=metres) and gy == pytest.approx(ey, abs=metres)


def test_readouts_with_units_and_the_footprint_follow_the_newest_record(served, open_page):
    settings, server = served
    page = open_page(server.url)
    wait_until(lambda: "over Germany" in readout_text(page), 20, "the backfilled readouts")
    ts = NOW - 300
    publish(settings, [IssRecord(ts, -20.0, 80.0, "sgp4")])  # the Indian Ocean
    wait_until(lambda: table_keys(page)[0] == ts, 10, "the new row")
    text = wait_until(lambda: "Indian Ocean" in (t := readout_text(page)) and t, 5, "readouts")
    truth = readouts.readout(tle.current_tle(settings), ts)  # skyfield, independently
    assert number_after("Altitude", text) == pytest.approx(truth.altitude_km, abs=0.06)
    assert number_after("ground speed", text) == pytest.approx(truth.ground_speed_kmh, abs=1)
    assert ("in sunlight" if truth.sunlit else "in the Earth's shadow") in text
    assert "over Indian Ocean" in text
    radius = number_after("footprint radius", text)
    assert radius == pytest.approx(truth.footprint_radius_km, abs=1)
    assert re.search(r"Altitude [\d.]+ km · ground speed [\d,]+ km/h · ", text), text
    # The footprint: the circle of that radius around the marker, cut at ±180° like the track.
    row = model_data(page, "positions")
    expected = readouts.circle_xy(-20.0, 80.0, row["footprint_km"][-1])
    assert_same_lines(circles_of(page, FOOTPRINT_COLOR), projected(expected))
    # Across the antimeridian it is cut into pieces that each reach the map's edge.
    publish(settings, [IssRecord(ts + 60, 10.0, 175.0, "sgp4")])
    wait_until(lambda: len(circles_of(page, FOOTPRINT_COLOR)[0]) == 3, 10, "three pieces")
    row = model_data(page, "positions")
    expected = readouts.circle_xy(10.0, 175.0, row["footprint_km"][-1])
    assert_same_lines(circles_of(page, FOOTPRINT_COLOR), projected(expected))


def test_a_readouts_line_too_long_for_the_map_ends_in_an_ellipsis(served, open_page):
    _settings, server = served
    page = open_page(server.url)
    wait_until(lambda: "Altitude" in readout_text(page), 20, "the readouts")
    page.set_viewport_size({"width": 760, "height": 900})  # the map's column: ~300 px
    line = page.locator(".iss-readouts", has_text="Altitude")  # the readouts' box
    clipped = "(e) => e.scrollWidth > e.clientWidth"
    wait_until(lambda: line.evaluate(clipped), 10, "a line wider than the map")
    assert line.evaluate("(e) => getComputedStyle(e).textOverflow") == "ellipsis"


# The place's marker is a renderer on the map, added with the session's first place.
MARKER_DRAWN = """() => [...Bokeh.documents[0].all_models].some(
  (m) => m.glyph != null && m.data_source != null && m.data_source.name === 'place')"""


def place_of(page) -> tuple[float, float] | None:
    data = model_data(page, "place")
    return (data["lat"][0], data["lon"][0]) if data["lat"] else None


def query_of(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(address(page)).query).items()}


def passes_of(page) -> dict:
    return model_data(page, "passes")


def test_a_place_in_the_url_shows_marker_circle_and_passes(served, open_page):
    settings, server = served
    page = open_page(f"{server.url}?lat=52.52&lon=13.40")
    wait_until(lambda: place_of(page) == BERLIN, 10, "the place")
    x, y = mercator(13.40, 52.52)
    marker = model_data(page, "place")
    assert marker["x"] == [pytest.approx(x)] and marker["y"] == [pytest.approx(y)]
    wait_until(lambda: page.evaluate(MARKER_DRAWN), 10, "the marker's renderer in the page")
    # The circle from which the ISS is above the place's horizon, at the newest altitude
    # (the browser draws it from the row's footprint radius, rounded to 0.1 km: ~100 m).
    altitude = model_data(page, "positions")["alt_km"][-1]
    circle = wait_until(lambda: circles_of(page, PLACE_COLOR)[0], 10, "the place's circle")
    circle = circles_of(page, PLACE_COLOR)
    assert_same_lines(
        circle, projected(readouts.visibility_circle_xy(*BERLIN, altitude)), metres=300.0
    )
    rows = wait_until(lambda: passes_of(page)["rise"] and passes_of(page), 60, "the passes")
    assert set(rows["visible"]) <= {"yes", "no"}
    assert all(0 <= e <= 90 for e in rows["max_elevation"])
    # The same passes as isspanel.geo.passes gives, computed here independently of the server.
    from isspanel.geo.passes import next_passes

    start = datetime.now(UTC) - timedelta(hours=1)
    mine = next_passes(tle.current_tle(settings), *BERLIN, start=start, days=3)
    for rise, top in zip(rows["rise"], rows["max_elevation"], strict=True):
        at = datetime.strptime(rise, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        same = [p for p in mine if abs((p.rise - at).total_seconds()) <= 2]
        assert len(same) == 1 and same[0].max_elevation_deg == pytest.approx(top, abs=0.06)
    assert "Next passes over 52.52°, 13.40°" in all_text(page)
    assert query_of(page) == {"lat": "52.52", "lon": "13.40"}
    # Another page at the same place gets the same passes from the shared cache.
    other = open_page(f"{server.url}?lat=52.520&lon=13.4")
    wait_until(lambda: passes_of(other)["rise"] == rows["rise"], 20, "the same passes")
    assert server.log().count("passes over 52.52, 13.40:") == 1


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("lat=abc&lon=13.4", "the latitude must be a number of degrees, not 'abc'"),
        ("lat=95&lon=0", "the latitude must be within -90..90 degrees, not '95'"),
        ("lat=10&lon=nan", "the longitude must be within -180..180 degrees, not 'nan'"),
        ("lat=52.5", "the longitude is missing: a place needs both"),
        ("lat=%3Cb%3Ex%3C/b%3E&lon=1", "not '<b>x</b>'"),  # shown as text, never as HTML
    ],
)
def test_a_bad_place_in_the_url_says_so_and_the_page_still_works(served, open_page, query, says):
    settings, server = served
    page = open_page(f"{server.url}?{query}")
    wait_until(lambda: says in all_text(page), 10, f"the message {says!r}")
    assert "The place in the address is not used" in all_text(page)
    assert place_of(page) is None and not page.evaluate(MARKER_DRAWN)
    # One moment per case, never one shown before: the hub keys on the timestamp and ignores
    # a repeat (a time-based stamp per case repeated one when a case took as long as its
    # query's length differed, and the row never came).
    ts = next(BAD_PLACE_TS)
    publish(settings, [IssRecord(ts, 1.0, 2.0, "sgp4")])
    # The record comes just after the page rendered: under load, before the server had its
    # DocumentReady, when Panel dropped a held update's changes (test_session_load.py).
    wait_on(page, lambda: table_keys(page)[0] == ts, 10, "the next record, as ever")


def test_typing_a_place_sets_it_and_the_url_remembers_it(served, open_page):
    _settings, server = served
    page = open_page(server.url)
    page.locator("input[placeholder='52.52']").fill("-33.87")
    page.locator("input[placeholder='13.40']").fill("151.21")
    page.locator("button", has_text="Set place").click()
    wait_until(lambda: place_of(page) == (-33.87, 151.21), 10, "the typed place")
    wait_until(lambda: query_of(page) == {"lat": "-33.87", "lon": "151.21"}, 10, "the URL")
    wait_until(lambda: passes_of(page)["rise"], 60, "the passes")
    # A typo says what is wrong and leaves the place as it was.
    page.locator("input[placeholder='52.52']").fill("north")
    page.locator("button", has_text="Set place").click()
    wait_until(lambda: "not 'north'" in all_text(page), 10, "the typo named")
    assert place_of(page) == (-33.87, 151.21)
    # Clear: no marker, no circle, no place in the URL.
    page.locator("button", has_text="Clear").click()
    wait_until(lambda: place_of(page) is None, 10, "no place")
    wait_until(lambda: "lat" not in query_of(page), 10, "the URL without the place")
    wait_until(lambda: circles_of(page, PLACE_COLOR) == ([], []), 10, "no place circle")


def test_a_click_on_the_map_sets_the_place_there(served, open_page):
    _settings, server = served
    page = open_page(server.url)
    canvas = page.locator(".bk-Figure canvas").first  # the map (first figure on the page)
    box = wait_until(canvas.bounding_box, 10, "the map's canvas")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.6)
    place = wait_until(lambda: place_of(page), 10, "a place from the click")
    # The middle of the map's width is the middle of its x range: longitude 0.
    assert place[1] == pytest.approx(0.0, abs=1.0)
    assert -70 < place[0] < 75
    wait_until(lambda: query_of(page).get("lon") == f"{place[1]:.2f}", 10, "the URL")
    wait_until(lambda: passes_of(page)["rise"], 60, "the passes for the clicked place")


FOOTPRINT_SHOWN = """() => [...Bokeh.documents[0].all_models].find(
  (m) => m.glyph != null && m.data_source != null && m.data_source.name === 'circles').visible"""


def test_a_click_on_the_legend_hides_a_layer_and_sets_no_place(served, open_page):
    """A click on the legend (hide a layer) is not a click on the map: it sets no place.

    BokehJS 3.9 draws the legend outside the canvas's hit area and sends no Tap for it.
    """
    _settings, server = served
    page = open_page(server.url)
    wait_until(lambda: model_data(page, "circles")["xs"], 20, "the footprint")
    canvas = page.locator(".bk-Figure canvas").first
    box = wait_until(canvas.bounding_box, 10, "the map's canvas")
    # The legend sits at the map's bottom left; its last item is the footprint's.
    page.mouse.click(box["x"] + 60, box["y"] + box["height"] - 30)
    wait_until(lambda: not page.evaluate(FOOTPRINT_SHOWN), 10, "the footprint hidden")
    # A later request of this session is handled after the Tap: once its answer is shown,
    # a place set by the Tap would be shown too.
    page.locator("input[placeholder='52.52']").fill("legend?")
    page.locator("input[placeholder='13.40']").fill("0")
    page.locator("button", has_text="Set place").click()
    wait_until(lambda: "not 'legend?'" in all_text(page), 10, "the answer to the typo")
    assert place_of(page) is None and "lat" not in query_of(page)


def test_without_a_tle_the_page_says_what_it_cannot_show(
    topic_factory, tmp_path, open_page, monkeypatch
):
    settings = topic_factory(tle={"path": tmp_path / "no.tle"})  # the server's ISS_TLE_PATH
    monkeypatch.setenv("ISS_HOME", str(tmp_path))  # and none stored in ISS_HOME
    publish(settings, [IssRecord(NOW - 60, *BERLIN, "sgp4")])
    server = DashboardServer(settings, free_port(), tmp_path / "panel.log")
    try:
        page = open_page(f"{server.url}?lat=52.52&lon=13.40")
        text = wait_until(lambda: "over Germany" in (t := readout_text(page)) and t, 20, "")
        assert text.startswith("No TLE within a year of this moment: altitude, ground speed")
        assert model_data(page, "circles")["xs"] == []  # no altitude, no circles
        wait_until(lambda: place_of(page) == BERLIN, 10, "the place's marker all the same")
        wait_until(lambda: "No TLE in use: the passes cannot be computed" in all_text(page), 10, "")
        assert open_page.close(page) == []
    finally:
        server.stop()
    assert "Traceback" not in server.log()
