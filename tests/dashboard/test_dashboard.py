"""The dashboard served for real (`panel serve isspanel`) and driven in headless Chromium."""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest

from isspanel.geo.mercator import mercator
from isspanel.produce.publisher import Publisher
from isspanel.record import IssRecord
from tests.browser import (
    QUICK_LINK,
    DashboardServer,
    all_text,
    model_data,
    page_state,
    table_keys,
    visible_top_row,
    wait_on,
    wait_ready,
    wait_until,
)
from tests.conftest import free_port, produce_raw, publish
from tests.tle_helpers import days_ago, write_tle

pytestmark = pytest.mark.browser

BASE_TS = int(time.time()) - 50_000


def position_line(page) -> str:
    """The first line of the readouts text: the newest position's own."""
    text = page.evaluate("() => Bokeh.documents[0].get_model_by_name('iss-readouts').content")
    return text.split("\n")[0]


def track(start: int, count: int, lon0: float = 0.0, step: float = 1.0) -> list[IssRecord]:
    return [
        IssRecord(
            start + i * 60,
            round(10 + (i % 40) * 0.5, 4),
            round(((lon0 + i * step + 180) % 360) - 180, 4),
            "sgp4",
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def live(tmp_path_factory, kafka_settings):
    """A served dashboard over fresh topics that already hold some history."""
    from isspanel.broker.topics import fresh_topics

    # A TLE 30 days old: past ISS_TLE_MAX_AGE_DAYS (the status warns), within a year of now.
    old_tle = write_tle(tmp_path_factory.mktemp("tle") / "iss.tle", days_ago(30))
    settings = fresh_topics(kafka_settings, prefix="dash", tle={"path": old_tle})
    publish(settings, track(BASE_TS, 30))  # history from before the server started
    # Short session lifetimes, so a closed tab is dropped within seconds, not half a minute.
    server = DashboardServer(
        settings,
        free_port(),
        tmp_path_factory.mktemp("dash") / "panel.log",
        "--check-unused-sessions",
        "1000",
        "--unused-session-lifetime",
        "1000",
    )
    yield settings, server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_a_new_browser_sees_the_backfilled_history(live, open_page):
    _settings, server = live
    page = open_page(server.url)
    keys = wait_until(lambda: table_keys(page), 20, "backfilled rows")
    assert keys[:30] == [BASE_TS + i * 60 for i in reversed(range(30))]
    # The status shows counts and source within a health refresh (2 s) of a record.
    wait_until(lambda: "Source: SGP4 model" in all_text(page), 10, "the source in the status")


def test_a_produced_record_tops_the_table_and_moves_the_marker(live, open_page):
    settings, server = live
    page = open_page(server.url)
    wait_until(lambda: table_keys(page), 20, "first rows")
    record = IssRecord(BASE_TS + 40 * 60, -33.8688, 151.2093, "open-notify")
    publish(settings, [record])
    wait_until(lambda: table_keys(page)[0] == record.timestamp, 10, "the new row on top")
    rows = model_data(page, "iss-table-rows")
    assert rows["mark"][0] != "transparent" and set(rows["mark"][1:]) == {"transparent"}
    # What a person sees: the top row as drawn, newest first.
    wait_until(lambda: "151.2093" in visible_top_row(page), 5, "the new row drawn on top")
    assert visible_top_row(page).split()[-3:] == ["-33.8688", "151.2093", "open-notify"]
    wait_until(lambda: "ISS at -33.8688°, 151.2093°" in position_line(page), 5, "its line")
    x, y = mercator(151.2093, -33.8688)
    marker = wait_until(lambda: model_data(page, "iss"), 5, "marker data")
    assert marker["x"] == [pytest.approx(x)] and marker["y"] == [pytest.approx(y)]
    # The status shows counts and source within a health refresh (2 s) of a record.
    wait_until(lambda: "Source: live API" in all_text(page), 10, "the source in the status")


def test_the_map_draws_the_next_orbit_the_server_made_and_follows_it(live, open_page):
    """The line draws a browser-only copy of the synced orbit (world_map.py), streamed into
    it: equal at load and after a new orbit, whatever their lengths."""
    settings, server = live
    page = open_page(server.url)

    def shown(name: str) -> str:
        return json.dumps(model_data(page, name))  # NaN (a break) compares equal as text

    wait_until(lambda: model_data(page, "orbit")["x"], 20, "the orbit drawn at load")
    assert shown("orbit") == shown("predicted")
    before = shown("predicted")
    publish(settings, [IssRecord(BASE_TS + 42 * 60, 1.0, 2.0, "sgp4")])  # a minute on
    wait_until(lambda: shown("predicted") != before, 10, "the server's new orbit")
    wait_until(lambda: shown("orbit") == shown("predicted"), 5, "the new orbit drawn")


SENT_JS = """
window.isspanelSent = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (typeof data === 'string') window.isspanelSent.push(data);
  return send.call(this, data);
};
"""


def test_a_record_makes_the_page_send_nothing_back(live, open_page):
    """What the page derives from a record stays in the browser: BokehJS sends a stream
    into a source to the server even when the source is not syncable (the map's marker,
    circles and orbit are streamed: world_map.py)."""
    settings, server = live
    page = open_page(server.url, own=True)  # an init script stays with its tab: never lend it
    wait_until(lambda: model_data(page, "orbit")["x"], 20, "the page drawn")
    # What the page sends its server, kept from the new page's start (the socket opens then).
    page.add_init_script(SENT_JS)
    page.reload()
    wait_until(lambda: model_data(page, "orbit")["x"], 20, "the page drawn again")
    record = IssRecord(BASE_TS + 43 * 60, -5.0, 100.0, "sgp4")  # a minute on: a new orbit
    publish(settings, [record])
    wait_until(lambda: model_data(page, "iss")["lat"] == [-5.0], 10, "the marker moved")
    wait_until(
        lambda: json.dumps(model_data(page, "orbit")) == json.dumps(model_data(page, "predicted")),
        5,
        "the new orbit drawn",
    )
    sent = page.evaluate("() => window.isspanelSent")
    assert sent, "the page's own messages were not seen"  # its ready event at least
    assert not [f for f in sent if "ColumnsStreamed" in f], sent


def test_two_browsers_both_update(live, open_page):
    settings, server = live
    pages = [open_page(server.url), open_page(server.url)]
    record = IssRecord(BASE_TS + 41 * 60, 1.0, 2.0, "replay")
    publish(settings, [record])
    for page in pages:
        wait_until(lambda p=page: table_keys(p)[0] == record.timestamp, 10, "both pages")


def test_after_150_records_exactly_the_100_newest_show_in_order(live, open_page):
    settings, server = live
    page = open_page(server.url)
    records = track(BASE_TS + 100 * 60, 150)
    publish(settings, records)
    newest = [r.timestamp for r in reversed(records)][:100]
    wait_until(lambda: table_keys(page) == newest, 15, "the 100 newest rows")
    assert len(model_data(page, "positions")["x"]) == 100


def test_records_one_at_a_time_prepend_rows_and_stream_the_track(live, open_page):
    # The server streams just the new rows; what the page derives must equal a full
    # rendering: the newest 100 in order, one marked row, the same points.
    settings, server = live
    page = open_page(server.url)
    before = wait_until(lambda: table_keys(page), 20, "first rows")
    records = track(BASE_TS + 300 * 60, 5)
    for record in records:
        publish(settings, [record])
        wait_until(lambda r=record: table_keys(page)[0] == r.timestamp, 10, "the row on top")
    expected = ([r.timestamp for r in reversed(records)] + before)[:100]
    assert table_keys(page) == expected
    marks = model_data(page, "iss-table-rows")["mark"]
    assert marks[0] != "transparent" and set(marks[1:]) == {"transparent"}
    points = model_data(page, "positions")
    assert len(points["x"]) == len(expected)
    assert points["ts"][-1] == records[-1].timestamp
    # A new browser renders the same table from scratch.
    assert table_keys(open_page(server.url)) == expected


def test_a_poison_message_changes_nothing_visible(live, open_page):
    settings, server = live
    page = open_page(server.url)
    wait_until(lambda: table_keys(page), 10, "rows")
    before = table_keys(page)
    marker = model_data(page, "iss")
    produce_raw(
        settings,
        settings.topics.location,
        [
            b"\x00\xffnot json",
            {"timestamp": BASE_TS + 999_000},
            {"timestamp": BASE_TS + 300 * 60, "latitude": 123.0, "longitude": 0.0},
        ],
    )
    wait_until(
        lambda: "3 bad message(s) skipped" in page.inner_text(".status"), 10, "the skipped counter"
    )
    assert table_keys(page) == before
    assert model_data(page, "iss") == marker
    # The consumer lives on: a good record after the poison still arrives.
    good = IssRecord(BASE_TS + 310 * 60, 5.0, 6.0, "sgp4")  # a moment not shown yet
    publish(settings, [good])
    wait_until(lambda: table_keys(page)[0] == good.timestamp, 10, "the next good record")


def test_the_track_splits_at_the_antimeridian(live, open_page):
    settings, server = live
    page = open_page(server.url)
    crossing = [
        IssRecord(BASE_TS + (400 + i) * 60, 20.0 + i, lon, "sgp4")
        for i, lon in enumerate([178.8, 179.6, -179.6, -178.8])
    ]
    publish(settings, crossing)
    wait_until(lambda: table_keys(page)[0] == crossing[-1].timestamp, 10, "the crossing")
    data = model_data(page, "track")
    # NaN ends: a segment not drawn (the first position's, or one across the antimeridian).
    segments = [(x0, x1) for x0, x1 in zip(data["x0"], data["x1"], strict=True) if x0 == x0]
    east, west = mercator(179.6, 0)[0], mercator(-179.6, 0)[0]
    assert (pytest.approx(mercator(178.8, 0)[0]), pytest.approx(east)) in segments
    assert (pytest.approx(west), pytest.approx(mercator(-178.8, 0)[0])) in segments
    # No segment across the map: the jump from 179.6° to -179.6° is a gap.
    assert max(abs(x1 - x0) for x0, x1 in segments) < mercator(180, 0)[0]


def test_a_closed_tab_unsubscribes_its_session(live, browser, open_page):
    settings, server = live
    context = browser.new_context()  # a tab of its own: closing it is the test
    page = context.new_page()
    page.goto(server.url)
    wait_ready(page)
    count = lambda: int(page.inner_text(".sessions").split()[0])  # noqa: E731
    wait_until(lambda: count() >= 1, 5, "the session count")
    watcher = open_page(server.url)
    # Both pages show the same count once each status has refreshed with both sessions in it.
    # At least 2: the status is refreshed every 2 s, and a watcher ready before that showed the
    # count from before it (1), as the first page still did: "agreeing" on 1, nothing to drop.
    before = wait_until(
        lambda: count() == int(watcher.inner_text(".sessions").split()[0]) >= 2 and count(),
        10,
        "both pages to agree on the session count",
    )
    context.close()  # the tab goes away; Bokeh destroys its session after a grace period
    publish(settings, [IssRecord(BASE_TS + 500 * 60, 1.0, 1.0, "sgp4")])
    wait_until(
        lambda: int(watcher.inner_text(".sessions").split()[0]) < before,
        60,
        "the closed session to be dropped",
        shown=lambda: page_state(watcher),
    )


def test_the_page_shows_analytics_from_flink_topics(live, open_page):
    settings, server = live
    page = open_page(server.url)
    produce_raw(
        settings,
        settings.topics.speed,
        [
            {"event_time": "2026-11-26 08:00:00", "speed_kmh": 27_580.5, "distance_km": 459.7},
            b"garbage",
        ],
    )
    produce_raw(
        settings,
        settings.topics.stats,
        [{"window_start": "2026-11-26T08:00:00Z", "count": 10, "mean_speed_kmh": 27_600.0}],
    )
    produce_raw(
        settings,
        settings.topics.events,
        [
            {
                "event": "equator",
                "direction": "<b>ascending</b>",
                "eventTime": "2026-11-26T08:05:00Z",
            },
            {"event": "equator", "direction": "descending", "eventTime": "2026-11-26T08:50:00Z"},
        ],
    )
    wait_until(lambda: len(model_data(page, "speed")["kmh"]) == 1, 10, "the speed series")
    wait_until(lambda: model_data(page, "stats-rows")["count"] == [10], 10, "window statistics")
    wait_until(lambda: len(model_data(page, "events-rows")["event"]) == 2, 10, "crossings")
    assert json.dumps(model_data(page, "speed")["kmh"]) == "[27580.5]"
    # Newest on top, and HTML in a string is shown as text, never rendered.
    assert model_data(page, "events-rows")["direction"] == ["descending", "<b>ascending</b>"]
    assert "<b>ascending</b>" in all_text(page)


def test_a_broker_restart_shows_in_the_status_and_streaming_resumes(tmp_path, open_page):
    from isspanel.broker.local import LocalBroker
    from isspanel.broker.topics import ensure_topics
    from tests.conftest import broker_settings

    settings = broker_settings(tmp_path / "home")
    broker = LocalBroker(settings, tied=True)
    broker.start()
    server = None
    try:
        ensure_topics(settings)
        server = DashboardServer(settings, free_port(), tmp_path / "panel.log")
        page = open_page(server.url)
        status = page.locator(".kafka-status")
        wait_until(lambda: "connected to" in status.inner_text(), 20, "Kafka connected")
        broker.stop()
        wait_until(lambda: "not connected" in status.inner_text(), 30, "Kafka shown as lost")
        broker.start()
        wait_until(lambda: "connected to" in status.inner_text(), 60, "Kafka shown as back")
        record = IssRecord(BASE_TS + 800 * 60, -5.0, 60.0, "sgp4")
        publish(settings, [record])
        wait_until(lambda: table_keys(page)[:1] == [record.timestamp], 30, "streaming resumed")
        # Closed before the server stops: a page left open probes for the server's return,
        # and the refused probe is a console error of the teardown, not of the test.
        assert open_page.close(page) == []
    finally:
        if server is not None:
            server.stop()
        broker.stop()


def test_with_several_server_processes_every_page_sees_every_record_even_one_opened_mid_stream(
    topic_factory, tmp_path, open_page
):
    """Two server processes (`--num-procs 2`), one server for both checks (a start is 3 CPU-s).

    Every process sees every record: pages on both processes all show the next one.

    A page whose session starts while the hub is busy must not lose its updates. Panel's page
    handler (patch_model_css) holds the new document and restores its held events afterwards:
    a next-tick callback added from the hub's thread in that moment was dropped, and the page
    never updated again (only its status, from the beat). Twelve pages open one after another
    while records stream, 10 a second; each must then show a record newer than the newest it
    loaded with. Each closes once it has: twelve pages left open would each draw every record,
    more than two cores can (the opening is under test).
    """
    import threading

    settings = topic_factory()
    server = DashboardServer(settings, free_port(), tmp_path / "panel.log", "--num-procs", "2")
    stop = threading.Event()
    thread = None
    try:
        pages, pids = [], set()
        for _ in range(16):  # the kernel picks the process per connection: open until both
            # Console errors are checked: every page's CSS comes from this server, whichever
            # process builds its session (panel_assets.py; test_offline.py, num-procs-2).
            page = open_page(server.url)
            pid = wait_until(lambda p=page: p.inner_text(".server-pid").split()[-1], 10, "pid")
            pages.append(page)
            pids.add(pid)
            if len(pids) == 2 and len(pages) >= 4:
                break
        assert len(pids) == 2, f"all {len(pages)} pages landed on one process"
        record = IssRecord(BASE_TS + 700 * 60, 12.0, 34.0, "sgp4")
        publish(settings, [record])
        for page in pages:
            wait_until(
                lambda p=page: table_keys(p)[:1] == [record.timestamp],
                15,
                f"every page: {[(table_keys(p)[:2], p.inner_text('.status')) for p in pages]}",
            )
        # Closed before the server stops: a page left open probes for the server's return,
        # and the refused probe is a console error of the teardown, not of the test.
        for page in pages:
            assert "Traceback" not in all_text(page)
            assert open_page.close(page) == []

        def stream() -> None:
            publisher = Publisher(settings)
            ts = record.timestamp  # newer than every record before
            while not stop.is_set():
                ts += 1
                publisher.accept(IssRecord(ts, 1.0, 2.0, "sgp4"))
                publisher.drain()  # accept alone sends on a connected producer only (the loop's)
                time.sleep(0.1)  # the pace of the stream, not a wait
            publisher.close()

        thread = threading.Thread(target=stream, daemon=True)
        thread.start()
        for n in range(12):
            page = open_page(server.url)
            loaded = (table_keys(page) or [0])[0]
            wait_on(
                page,
                lambda p=page, k=loaded: (table_keys(p) or [0])[0] > k,
                15,
                f"page {n + 1} of 12 to show a record newer than {loaded}",
            )
            open_page.close(page)
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        server.stop()


def test_screenshot_then_a_frozen_server_shows_stalled_then_connected_then_stopped_disconnected(
    topic_factory, tmp_path, open_page
):
    """A realistic page; ISS_UPDATE_SCREENSHOT=1 writes it to the README's image.

    Then a server that stops answering (SIGSTOP) keeps the socket open: silence is the sign.
    Last, a server that stops closes it: the page says so at once. One server and one page
    for the three (a server start is 3 CPU-s, a page load 1.5).
    """
    import os
    import signal

    from isspanel.settings import PROJECT_ROOT
    from isspanel.sources.sgp4_model import Sgp4Source

    settings = topic_factory()
    source = Sgp4Source(settings)
    publish(settings, list(source.history(100, step_s=60)))
    # A quiet page hears from the server every 1.5 s here (4 s by default); 3.5 s of silence
    # is "stalled" (9 s by default). The picture is the same.
    server = DashboardServer(settings, free_port(), tmp_path / "panel.log", env=QUICK_LINK)
    try:
        # The stop below makes the page's reconnection attempts console errors; until then
        # it must have none.
        page = open_page(server.url, expect_errors=True)
        wait_until(lambda: len(table_keys(page)) == 100, 20, "100 rows")
        target = tmp_path / "dashboard.png"
        if os.environ.get("ISS_UPDATE_SCREENSHOT"):
            target = PROJECT_ROOT / "tests" / "screenshots" / "dashboard.png"
            target.parent.mkdir(exist_ok=True)
        page.wait_for_timeout(500)  # let the map finish drawing; a picture, not an assertion
        page.screenshot(path=str(target))
        assert target.stat().st_size > 20_000

        banner = page.locator("#isspanel-link")
        wait_until(lambda: banner.get_attribute("data-state") == "connected", 10, "connected")
        page.evaluate("() => { window.beforeTheFreeze = true; }")
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: banner.get_attribute("data-state") == "stalled", 12, "stalled")
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        wait_until(lambda: banner.get_attribute("data-state") == "connected", 15, "connected")
        # The stalled page asked the server whether it answers; the thawed server's heartbeat
        # came first, so the page kept its session: no reload (test_reconnect.py has the
        # dead links, which do reload).
        wait_until(lambda: page.evaluate("() => !window.isspanelLink.probing"), 15, "no probe")
        kept = "() => window.beforeTheFreeze === true && !window.isspanelLink.lost"
        assert page.evaluate(kept), "the page reloaded, or is about to"
        assert "Traceback" not in all_text(page)
        assert page.console_errors == []

        server.stop()
        stopped = time.monotonic()
        wait_until(
            lambda: banner.get_attribute("data-state") == "disconnected",
            5,
            "the disconnected banner",
        )
        assert time.monotonic() - stopped < 2.0
        assert "reload" in banner.inner_text()
    finally:
        server.stop()


def test_the_status_says_how_far_to_trust_the_positions(live, open_page):
    """TLE age (a warning past ISS_TLE_MAX_AGE_DAYS), live vs model, a frozen feed."""
    settings, server = live
    page = open_page(server.url)
    status = page.locator(".status")
    wait_until(lambda: "TLE 30 days old" in status.inner_text(), 20, "the TLE's age")
    assert page.locator(".status .tle.warn").count() == 1  # the module's TLE is past 14 days
    publish(settings, [IssRecord(BASE_TS + 750 * 60, 1.0, 2.0, "open-notify", model_km=321.4)])
    wait_until(lambda: "live vs model: 321.4 km" in status.inner_text(), 10, "live vs model")
    # The next record's figures come with its row, not with a new status (status_key).
    count = lambda: int(page.inner_text(".status .record-count .n"))  # noqa: E731
    before = count()
    publish(settings, [IssRecord(BASE_TS + 750 * 60 + 30, 1.5, 2.5, "open-notify", model_km=7.25)])
    wait_until(lambda: "live vs model: 7.3 km" in status.inner_text(), 10, "the next figure")
    # Right after the figure, not a second later: a status text re-rendered after the row (a
    # session came or went; rows go first) carried the older count until link.js's next paint
    # (fresh-17, 2026-12-07: 196 == 196 + 1 with 7.3 shown); repaint.js paints it again at once.
    assert count() == before + 1, (
        page.evaluate("() => window.isspanelNewest"),
        page.inner_html(".status"),
    )
    frozen = {
        "event": "feed-frozen",
        "timestamp": BASE_TS + 751 * 60,
        "eventTime": IssRecord(BASE_TS + 751 * 60, 0, 0, "sgp4").event_time,
        "source": "open-notify",
        "latitude": 1.0,
        "longitude": 2.0,
        "reason": "its answer came again 3 times in a row",
    }
    produce_raw(settings, settings.topics.events, [frozen])
    wait_until(lambda: "Live feed frozen since" in status.inner_text(), 10, "frozen feed")
    wait_until(lambda: "feed-frozen" in model_data(page, "events-rows")["event"], 10, "event")
    moving = {**frozen, "event": "feed-moving", "timestamp": BASE_TS + 752 * 60}
    moving["eventTime"] = IssRecord(moving["timestamp"], 0, 0, "sgp4").event_time
    produce_raw(settings, settings.topics.events, [moving])
    wait_until(lambda: "frozen since" not in status.inner_text(), 10, "moving again")


def test_the_track_breaks_at_an_anomaly_and_the_events_say_why(live, open_page):
    """Flink's anomaly events (the legs into and out of an impossible position) arrive after
    the positions: a page that already drew the track takes it again without those legs."""
    settings, server = live
    page = open_page(server.url)
    start = BASE_TS + 820 * 60  # after the other tests' moments, before now
    legs = [IssRecord(start + i * 60, 30.0 + i * 0.5, 40.0 + i, "sgp4") for i in range(5)]
    legs[2] = IssRecord(legs[2].timestamp, 36.0, 47.0, "sgp4")  # ~700 km off its track
    publish(settings, legs)
    ts = [r.timestamp for r in legs]
    wait_until(lambda: table_keys(page)[0] == ts[-1], 10, "the positions")

    def drawn(page) -> list[tuple[int, int]]:
        data = model_data(page, "track")
        return [
            (int(t0), int(t1))
            for t0, t1, x0 in zip(data["t0"], data["t1"], data["x0"], strict=True)
            if t0 >= ts[0] and not math.isnan(x0)
        ]

    wait_until(lambda: drawn(page) == list(itertools.pairwise(ts)), 10, "the whole track")
    reason = "speed 41234 km/h over 60 s, outside 23500-26500 km/h"
    produce_raw(
        settings,
        settings.topics.events,
        [
            {
                "event": "anomaly",
                "timestamp": end,
                "eventTime": IssRecord(end, 0, 0, "sgp4").event_time,
                "prev_timestamp": begin,
                "next_timestamp": end,
                "latitude": 36.0,
                "longitude": 47.0,
                "reason": reason,
                "speed_kmh": 41234.0,
                "dt_s": 60,
            }
            for begin, end in ((ts[1], ts[2]), (ts[2], ts[3]))
        ],
    )
    broken = [(ts[0], ts[1]), (ts[3], ts[4])]
    wait_until(lambda: drawn(page) == broken, 10, "the track broken around the bad position")
    events = model_data(page, "events-rows")
    assert events["event"][:2] == ["anomaly", "anomaly"] and events["detail"][:2] == [reason] * 2
    assert reason in all_text(page)
    assert drawn(open_page(server.url)) == broken  # a new page draws the same
