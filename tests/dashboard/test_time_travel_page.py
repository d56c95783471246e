"""Time travel on the served dashboard (`panel serve isspanel`), driven in headless Chromium:
``?at=`` puts one page at a moment; the other pages stay live; "Live" returns."""

from __future__ import annotations

import json
import math
import time
import urllib.parse

import pytest
from kafka import KafkaProducer

from isspanel.record import IssRecord, iso_utc
from tests.browser import (
    DashboardServer,
    address,
    all_text,
    model_data,
    table_keys,
    wait_on,
)
from tests.conftest import free_port, publish

pytestmark = pytest.mark.browser

BASE = (int(time.time()) - 2 * 86_400) // 600 * 600  # two days back, on a window boundary


def record(i: int) -> IssRecord:
    return IssRecord(BASE + i * 60, round(-40 + (i % 80), 4), round(-170 + i % 340, 4), "sgp4")


def windows(settings, count: int) -> None:
    """10-minute windows as the stats job writes them, stamped when written (20 s after)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for w in range(count):
        row = {
            "window_start": iso_utc(BASE + w * 600),
            "window_end": iso_utc(BASE + (w + 1) * 600),
            "count": 10,
            "mean_speed_kmh": 27_000.0 + w,
            "distance_km": 4_500.0,
        }
        stamp = (BASE + (w + 1) * 600 + 20) * 1000
        producer.send(settings.topics.stats, json.dumps(row).encode(), timestamp_ms=stamp)
    producer.flush(30)
    producer.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, kafka_settings):
    from isspanel.broker.topics import fresh_topics

    settings = fresh_topics(kafka_settings, prefix="travel")
    publish(settings, [record(i) for i in range(300)])
    windows(settings, 30)
    # A quiet page hears from the server every 1.5 s here, not 4 (the product's, asserted in
    # test_page_sync.py): a test waits for a heartbeat. The stall stays the product's 9 s.
    beat = {"ISS_DASHBOARD_PAGE_BEAT_S": "1.5"}
    log_path = tmp_path_factory.mktemp("tt") / "panel.log"
    server = DashboardServer(settings, free_port(), log_path, env=beat)
    yield settings, server
    server.stop()
    assert "Traceback" not in server.log(), server.log()


def at_url(server, at: str) -> str:
    return f"{server.url}?at={urllib.parse.quote(at)}"


def test_a_page_at_a_middle_moment_shows_the_100_up_to_it_and_others_stay_live(served, open_page):
    settings, server = served
    live = open_page(server.url)
    moment = open_page(at_url(server, iso_utc(BASE + 200 * 60 + 30)))
    expected = [BASE + i * 60 for i in range(200, 100, -1)]  # newest first: the top row
    wait_on(
        moment, lambda: table_keys(moment) == expected, 30, "the 100 positions up to the moment"
    )
    text = all_text(moment)
    assert f"Not live — showing {iso_utc(BASE + 200 * 60 + 30).replace('T', ' ')[:-1]}" in text
    # The windows closed by that moment, and the track of the 100 positions.
    starts = model_data(moment, "stats")["window_start"]
    assert starts[-1] == iso_utc(BASE + 19 * 600) and len(starts) == 20
    assert len(model_data(moment, "positions")["x"]) == 100
    assert "?at=" in address(moment)
    # The other page is live, and stays live when a record arrives; the moment does not move.
    wait_on(live, lambda: table_keys(live)[0] == BASE + 299 * 60, 20, "the live page")
    publish(settings, [record(300)])
    wait_on(live, lambda: table_keys(live)[0] == BASE + 300 * 60, 20, "the new record, live")
    # The server woke both pages for the record at once, on its one event loop: a heartbeat
    # the moment's page gets (every BEAT_S), made after the live page showed the record, left
    # after the moment's update for it, which would have been sent before it.
    shown_at = time.time()
    wait_on(
        moment,
        lambda: model_data(moment, "heartbeat")["now"][0] > shown_at,
        15,
        "a heartbeat sent after the record",
    )
    assert table_keys(moment) == expected
    assert "Not live" not in all_text(live)
    # "Live" puts this page back on the stream, the address without ?at=.
    moment.get_by_role("button", name="Live").click()
    wait_on(moment, lambda: table_keys(moment)[0] == BASE + 300 * 60, 20, "live again")
    wait_on(moment, lambda: "at=" not in address(moment), 10, "the address without ?at=")
    assert "Not live" not in all_text(moment)
    publish(settings, [record(301)])
    wait_on(moment, lambda: table_keys(moment)[0] == BASE + 301 * 60, 20, "streaming again")


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-45T99:00:00Z", "x" * 500, "", "<img src=x onerror=xss=1>"]
)
def test_a_bad_moment_is_said_on_the_page_which_stays_live(served, open_page, value):
    _settings, server = served
    page = open_page(at_url(server, value))
    wait_on(page, lambda: "is not a time" in all_text(page), 20, "the message")
    assert "2026-11-27T01:00:00Z" in all_text(page) and "Showing live" in all_text(page)
    wait_on(page, lambda: len(table_keys(page)) == 100, 20, "live rows")
    assert page.evaluate("() => window.xss") is None  # shown as text, never run


def test_a_moment_before_the_earliest_retained_says_so(served, open_page):
    _settings, server = served
    page = open_page(at_url(server, iso_utc(BASE - 86_400)))
    wait_on(page, lambda: "retains nothing before" in all_text(page), 30, "the message")
    assert "Not live" in all_text(page) and table_keys(page) == []


def test_a_moment_in_the_future_is_live(served, open_page):
    _settings, server = served
    page = open_page(at_url(server, iso_utc(time.time() + 86_400)))
    wait_on(page, lambda: "lies in the future" in all_text(page), 30, "the message")
    wait_on(page, lambda: len(table_keys(page)) == 100, 20, "live rows")
    assert "Not live" not in all_text(page)


def test_the_slider_puts_the_page_at_a_moment_within_what_is_retained(served, open_page):
    _settings, server = served
    page = open_page(server.url)
    wait_on(page, lambda: len(table_keys(page)) == 100, 20, "live rows")
    newest = table_keys(page)[0]
    page.get_by_role("button", name="Time travel…").click()
    handle = page.locator(".noUi-handle").first
    handle.wait_for(timeout=20_000)
    handle.focus()
    for _ in range(6):  # five minutes a page (a minute a step): half an hour back
        handle.press("PageDown")
    wait_on(page, lambda: "Not live — showing" in all_text(page), 30, "the moment")
    # The slider reports while it moves (value_throttled): on a busy machine an earlier step's
    # moment may show first. The page drops answers older than the newest asked for, so the
    # last step's moment is what stays.
    wait_on(
        page,
        lambda: table_keys(page) and newest - 31 * 60 <= table_keys(page)[0] <= newest - 29 * 60,
        30,
        "the rows up to half an hour back",
    )
    keys = table_keys(page)
    assert len(keys) == 100 and keys == sorted(keys, reverse=True)
    assert "?at=" in address(page)


def drawn(page) -> list[tuple[int, int]]:
    """The track's drawn segments as the page holds them: (t0, t1) of each; a segment with
    NaN ends is not drawn."""
    track = model_data(page, "track")
    ends = zip(track["t0"], track["t1"], track["x0"], track["x1"], strict=True)
    return [(int(t0), int(t1)) for t0, t1, x0, x1 in ends if not math.isnan(x0 + x1)]


def test_a_page_at_a_moment_draws_the_track_of_its_positions(served, open_page):
    # The positions' ground track is the live page's, for the rows the moment shows: a
    # segment from each position to the next (none into the first one shown).
    _settings, server = served
    page = open_page(at_url(server, iso_utc(BASE + 200 * 60 + 30)))
    wait_on(page, lambda: "Not live — showing" in all_text(page), 30, "the moment")
    wait_on(page, lambda: len(table_keys(page)) == 100, 30, "the 100 positions up to it")
    expected = [(BASE + (i - 1) * 60, BASE + i * 60) for i in range(102, 201)]
    wait_on(page, lambda: drawn(page) == expected, 10, "the track of the 100 positions")
    assert len(model_data(page, "track")["t0"]) == 100
