"""A full table is redrawn: once a DataTable's source holds as many rows as it keeps, a new
row replaces the source by one of the same length, which BokehJS's DataTable does not redraw
by itself (positions.js and newest_first.js tell it). Before, the grid kept drawing old rows."""

from __future__ import annotations

import time

import pytest

from isspanel.record import IssRecord
from tests.browser import (
    DashboardServer,
    all_text,
    model_data,
    table_keys,
    visible_top_row,
    wait_until,
)
from tests.conftest import free_port, produce_raw, publish

pytestmark = pytest.mark.browser

BASE_TS = int(time.time()) - 80_000
CROSSINGS = 24  # EVENTS_BUFFER: the crossings' table is full with this many


def crossing(i: int) -> dict:
    minute = f"{i // 60:02d}:{i % 60:02d}"
    return {"event": "equator", "direction": f"dir-{i}", "eventTime": f"2026-11-26T{minute}:00Z"}


def test_full_tables_draw_each_new_row(topic_factory, tmp_path, open_page):
    settings = topic_factory(prefix="full")
    keep = settings.dashboard.buffer_size
    publish(settings, [IssRecord(BASE_TS + i * 60, 10.0, 1.0, "sgp4") for i in range(keep + 5)])
    produce_raw(settings, settings.topics.events, [crossing(i) for i in range(CROSSINGS + 2)])
    server = DashboardServer(settings, free_port(), tmp_path / "panel.log")
    try:
        page = open_page(server.url)
        wait_until(lambda: len(table_keys(page)) == keep, 20, "a full positions table")
        wait_until(lambda: len(model_data(page, "events-rows")["event"]) == CROSSINGS, 20, "24")
        for k in range(2):  # each record after the table is full
            lon = 151.2093 - k
            publish(settings, [IssRecord(BASE_TS + (keep + 5 + k) * 60, -33.8688, lon, "sgp4")])
            wait_until(lambda lon=lon: f"{lon:.4f}" in visible_top_row(page), 10, "drawn on top")
            assert len(table_keys(page)) == keep
        produce_raw(settings, settings.topics.events, [crossing(CROSSINGS + 2)])
        wait_until(lambda: f"dir-{CROSSINGS + 2}" in all_text(page), 10, "the new crossing drawn")
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
