"""The next passes over a place for the dashboard: computed off the event loop, shared by
every session, shown as a Bokeh table.

One worker thread per server process computes them (skyfield, ``isspanel.geo.passes``);
a small LRU keyed by the TLE and the rounded place hands the same Future to every session
that asks for the same place, so a place shared by many pages is computed once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

from bokeh.models import ColumnDataSource, DataTable, NumberFormatter, StringEditor, TableColumn

from isspanel.geo.orbit import Tle

log = logging.getLogger(__name__)

PASS_DAYS = 2.0  # computed this far ahead; a page shows those that have not ended yet
CACHE_SIZE = 64
CACHE_TTL_S = 3600.0  # then recomputed: the next PASS_DAYS still reach well beyond an hour
SHOWN = 8
COLUMNS = ("rise", "culmination", "set", "max_elevation", "visible")


def compute(tle: Tle, lat: float, lon: float) -> list:
    """The passes over (lat, lon) from now over PASS_DAYS (on the worker thread)."""
    from isspanel.geo.passes import next_passes  # skyfield loads here, not at page load

    started = time.perf_counter()
    passes = next_passes(tle, lat, lon, start=datetime.now(UTC), days=PASS_DAYS)
    log.info(
        "passes over %.2f, %.2f: %d in %.0f ms",
        lat,
        lon,
        len(passes),
        (time.perf_counter() - started) * 1000,
    )
    return passes


class PassCache:
    """Futures of pass lists by (TLE, place), least recently used dropped first."""

    def __init__(self, size: int = CACHE_SIZE, ttl_s: float = CACHE_TTL_S):
        self.size, self.ttl_s = size, ttl_s
        self._entries: OrderedDict[tuple, tuple[float, Future]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: tuple[int, ThreadPoolExecutor] | None = None
        self.computed = 0  # how many were submitted (the tests count them)

    def _executor(self) -> ThreadPoolExecutor:
        # `panel serve --num-procs` forks after loading the app: threads do not survive a
        # fork, so each process makes its own pool.
        if self._pool is None or self._pool[0] != os.getpid():
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isspanel-passes")
            self._pool = (os.getpid(), pool)
            self._entries.clear()  # the parent's futures would never complete here
        return self._pool[1]

    def get(self, tle: Tle, lat: float, lon: float) -> Future:
        """The passes over (lat, lon): a Future, done at once if another session asked."""
        key = (tle.line1, tle.line2, lat, lon)
        now = time.monotonic()
        with self._lock:
            pool = self._executor()
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.ttl_s:
                self._entries.move_to_end(key)
                return entry[1]
            future = pool.submit(compute, tle, lat, lon)
            self.computed += 1
            self._entries[key] = (now, future)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return future


CACHE = PassCache()


def rows(passes: list, now: float) -> dict[str, list]:
    """The passes that have not ended by ``now`` (at most SHOWN), as table columns."""
    shown = [p for p in passes if p.set.timestamp() > now][:SHOWN]
    return {
        "rise": [p.rise.strftime("%Y-%m-%d %H:%M:%S") for p in shown],
        "culmination": [p.culmination.strftime("%H:%M:%S") for p in shown],
        "set": [p.set.strftime("%H:%M:%S") for p in shown],
        "max_elevation": [round(p.max_elevation_deg, 1) for p in shown],
        "visible": ["yes" if p.visible else "no" for p in shown],
    }


def table(source: ColumnDataSource) -> DataTable:
    """The passes as a read-only Bokeh table (times in UTC)."""
    column = partial(TableColumn, editor=StringEditor())  # one editor for all: fewer models
    return DataTable(
        source=source,
        name="passes-table",
        columns=[
            column(field="rise", title="Rise (UTC)", width=150),
            column(field="culmination", title="Highest", width=70),
            column(field="set", title="Set", width=70),
            column(
                field="max_elevation",
                title="Max elevation °",
                formatter=NumberFormatter(format="0.0"),
            ),
            column(field="visible", title="Visible", width=60),
        ],
        index_position=None,
        sortable=False,
        reorderable=False,
        height=230,
        sizing_mode="stretch_width",
    )
