"""A page's update, tick by tick, without a server: what ``_sync`` sends first and what follows.

The hub is real (records go in through ``ingest``, as the consumer feeds it, and its wake
reaches the page by ``SessionContext.post``); the session's next-tick queue is a list here,
run one callback at a time.
"""

from __future__ import annotations

import time
from dataclasses import replace

import panel as pn
from bokeh.document import Document
from panel.io.state import set_curdoc

import isspanel.dashboard.page as page_module
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.page import DashboardPage
from isspanel.dashboard.session import SessionContext
from isspanel.record import IssRecord
from isspanel.settings import Settings


def record(hub: StreamHub, ts: int) -> None:
    """One position into the hub, a minute apart from the last: each brings a new next orbit."""
    assert hub.ingest(hub.settings.topics.location, IssRecord(ts, 10.0, 20.0, "sgp4").to_json())
    hub.publish()


def test_rows_go_first_and_the_rest_on_the_next_tick_once_in_a_row(ticks, inline_loop):
    hub = StreamHub(Settings.from_env())
    page = DashboardPage(hub=hub, context=SessionContext(Document(), inline_loop))
    assert "No record yet" in page.status.value
    orbit = page.map.predicted.data["x"]
    ts = int(time.time()) - 3600

    record(hub, ts)  # the hub wakes the page: its update is queued
    ticks.pop(0)()  # the record's update: its rows, nothing else
    assert page.positions.data["ts"] == [ts]
    assert "No record yet" in page.status.value and page.map.predicted.data["x"] is orbit
    assert len(ticks) == 1  # the rest, queued behind the other pages' updates
    ticks.pop(0)()
    assert "Last record" in page.status.value and page.map.predicted.data["x"] is not orbit

    # A burst: the next record arrives before the deferred rest has gone. The update that
    # follows sends everything, the newest orbit included: the rest waits one tick at most.
    record(hub, ts + 60)
    ticks.pop(0)()
    orbit = page.map.predicted.data["x"]
    record(hub, ts + 120)  # its wake finds the deferred update queued: not queued again
    ticks.pop(0)()  # the deferred update, which now also finds the third record
    assert page.positions.data["ts"] == [ts, ts + 60, ts + 120]
    assert page.map.predicted.data["x"] is hub.snapshot().predicted["x"] is not orbit
    assert ticks == []
    page.context.close()
    assert hub.health.sessions == 0


class Clock:
    """The page module's clock, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


def test_a_page_that_gets_only_status_changes_still_gets_its_heartbeat(monkeypatch):
    """A stalled consumer changes the status at every beat. Only positions and the heartbeat
    tell the page its link is alive (link.js): without a heartbeat, such a page showed
    "stalled" while its server was fine."""
    clock = Clock()
    monkeypatch.setattr(page_module, "time", clock)
    hub = StreamHub(Settings.from_env())
    doc = Document()
    with set_curdoc(doc):
        page = DashboardPage(hub=hub)
    assert page.context.loaded  # a document of no session: as once the browser said so
    beats = []
    page.heartbeat.on_change("data", lambda _attr, _old, new: beats.append(new["now"][0]))
    first = hub.snapshot()
    for i in range(3):
        health = replace(first.health, stalled_s=10 + 4 * i)
        stalled = replace(first, health=health, status=f"stalled for {10 + 4 * i} s")
        monkeypatch.setattr(hub, "snapshot", lambda s=stalled: s)
        clock.now += page.beat_s
        page._beat()
        assert page.status.value == stalled.status
    assert len(beats) == 3
    page.context.close()


def test_a_page_outside_a_served_session_builds_and_follows_the_hub(inline_loop):
    """As in a notebook cell: no document yet and no address bar. The page and its time
    travel build, show, and the hub's wake reaches the page all the same."""
    from isspanel.dashboard.time_travel import TimeTravel

    hub = StreamHub(Settings.from_env())
    context = SessionContext(loop=inline_loop)
    assert SessionContext.current().location is None  # no pn.state.location assumed
    page = DashboardPage(hub=hub, context=context)
    travel = TimeTravel(page, context)
    pn.Column(travel, page).get_root(Document())  # what showing it in a cell makes
    ts = int(time.time()) - 3600
    record(hub, ts)
    assert page.positions.data["ts"] == [ts] and "Last record" in page.status.value
    context.close()
    assert hub.health.sessions == 0


def test_the_link_times_come_from_the_settings(inline_loop):
    """The beat and the stall reach the page and its link.js (the tests that wait for a stall
    shorten both); by default a silent page shows "stalled" within 10 s (9 s)."""
    assert (Settings().dashboard.page_beat_s, Settings().dashboard.page_stall_s) == (4.0, 9.0)
    hub = StreamHub(Settings.from_env(dashboard={"page_beat_s": 1.5, "page_stall_s": 3.5}))
    page = DashboardPage(hub=hub, context=SessionContext(Document(), inline_loop))
    assert page.beat_s == 1.5
    (link,) = page.heartbeat.js_property_callbacks["change:data"]
    assert (link.args["stall_ms"], link.args["grace_ms"]) == (3500, 2500)
    page.context.close()
