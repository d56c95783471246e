"""One live component in a notebook cell: some of the page's parts, fed by the kernel's hub.

Shown, it renders like any Panel object; then it binds to the document its output got and
makes that output's ``SessionContext`` (a document of no session: work runs on the kernel's
event loop at once). The hub wakes it on the consumer thread; the wake only counts what it
was told of and hands the update on through ``SessionContext.post``. On the kernel's loop
the update streams what changed, as a page does, and pushes it over the output's comm
(``pn.io.push_notebook``: Bokeh models changed directly in a notebook are sent that way).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import panel as pn
from bokeh.models import ColumnDataSource, CustomJS, Div

from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.flink_view import FlinkView
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.static_files import static_text
from isspanel.dashboard.status import status_html
from isspanel.dashboard.streams import STREAMS, TRACK, Shown, records
from isspanel.dashboard.tables import PositionsTable, column_maker, on_any_change
from isspanel.dashboard.world_map import WorldMap

log = logging.getLogger(__name__)

PARTS = ("status", "map", "table", "flink")
KINDS = tuple(s.name for s in STREAMS)
POSITIONS = records(STREAMS).name  # what ``wait_for`` counts


def totals(snapshot: snap.Snapshot) -> dict[str, int]:
    """How many records of each stream the hub had received when it made ``snapshot``."""
    return {kind: snapshot.rows(kind).total for kind in KINDS}


class LiveView(pn.viewable.Viewer):
    """Live parts (``PARTS``) of the dashboard; ``received`` and ``shown`` count records.

    ``received``: the hub's totals at the newest wake (what the kernel's consumer has
    received); ``shown``: the totals of the snapshot this view has put in its output.
    """

    def __init__(self, hub: StreamHub, parts: Iterable[str], **params):
        super().__init__(**params)
        self.hub = hub
        self.parts = tuple(parts)
        unknown = set(self.parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown parts {sorted(unknown)}; pick from {PARTS}")
        self.roots: frozenset[str] = frozenset()  # its output's root models (cleanup ids)
        self.context: SessionContext | None = None
        self._changed = threading.Condition()
        self.received = dict.fromkeys(KINDS, 0)
        self.shown = dict.fromkeys(KINDS, 0)
        self._shown = snap.Snapshot(version=-1, status="")
        self._streams: list[Shown] = []  # those its parts show, each with a source
        self.sources: dict[str, ColumnDataSource] = {}
        self._layout = pn.Column(*self._build(), sizing_mode="stretch_width")
        self._token: int | None = hub.subscribe(self._woken)

    def __panel__(self):
        return self._layout

    def _source(self, stream: Shown) -> ColumnDataSource:
        """The source of a stream this view shows (streams.py), made once."""
        if stream.name not in self.sources:
            self._streams.append(stream)
            self.sources[stream.name] = ColumnDataSource(
                snap.columns((), stream.columns), name=stream.source
            )
        return self.sources[stream.name]

    def _build(self) -> list:
        column = column_maker()
        shown: list = []
        self.status = self.map = self.table = self.flink = None
        if "status" in self.parts:
            # A Bokeh Div, not Panel's StaticText: the view must own a model of its output.
            self.status = Div(stylesheets=[static_text("page.css")], sizing_mode="stretch_width")
            shown.append(pn.pane.Bokeh(self.status, sizing_mode="stretch_width"))
        if {"map", "table"} & set(self.parts):
            self.positions = self._source(records(self.hub.streams))
            scratch = ColumnDataSource({}, syncable=False)  # positions.js fills rows and iss
            if "map" in self.parts:
                self.map = WorldMap(self.positions, self._source(TRACK))
                self.map.hook([])  # the data comes as a change: no ready hook
            if "table" in self.parts:
                self.table = PositionsTable(column)
                # Shown alone, nothing else refers to the positions: a model nothing refers
                # to is not in the document, and its rows would never reach the browser.
                self.table.rows.tags = [self.positions]
            derive = CustomJS(
                args={
                    "positions": self.positions,
                    "rows": self.table.rows if self.table else scratch,
                    "table": self.table.table if self.table else None,
                    "iss": self.map.iss if self.map else scratch,
                },
                code=static_text("positions.js"),
            )
            on_any_change(self.positions, derive, [])
            shown.append(pn.Row(*(p for p in (self.map, self.table) if p is not None)))
        if "flink" in self.parts:
            flink = {s.name: self._source(s) for s in self.hub.streams if not s.record}
            # The data comes as a change: no ready hook.
            self.flink = FlinkView(column, [], flink)
            shown.append(self.flink)
        return shown

    # -- shown in a notebook ------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        """Render as Panel does, then bind to the output's document."""
        self._sync(self.hub.snapshot())  # the output's first data, in its HTML
        bundle = super()._repr_mimebundle_(include, exclude)
        owned = self.status if self.status is not None else self.sources[self._streams[0].name]
        if owned.document is not None:
            self.bind(owned.document)
        return bundle

    def bind(self, doc) -> None:
        """Update ``doc`` (the output's document) from now on; a view shown again follows
        its newest output. On the kernel's event loop."""
        if self.context is not None:
            self.context.close()
        if self._token is None:
            return  # closed
        self.roots = frozenset(root.id for root in doc.roots)
        self.context = SessionContext(doc)  # on the running loop: the kernel's
        # Everything once more, as a change: the browser derives the table, the marker and
        # the newest-first rows from changes only (positions.js, newest_first.js).
        self._shown = snap.Snapshot(version=-1, status="")
        self.context.post(self._update)

    def close(self) -> None:
        """Its output is gone (cleared, re-run) or the kernel's hub stops: no more wakes."""
        token, self._token = self._token, None
        if token is not None:
            self.hub.unsubscribe(token)
        if self.context is not None:
            self.context.close()
        with self._changed:
            self._changed.notify_all()

    @property
    def subscribed(self) -> bool:
        return self._token is not None

    def wait_for(self, records: int, timeout_s: float = 60.0, shown: bool = False) -> dict:
        """Wait until this view has ``received`` (or ``shown``) at least ``records``
        positions; the counts, or TimeoutError (also if it closes first). ``shown`` needs
        the kernel's event loop free: not from a cell of the same kernel (its loop runs that
        cell)."""
        counts = (lambda: self.shown) if shown else (lambda: self.received)
        with self._changed:
            reached = self._changed.wait_for(
                lambda: counts()[POSITIONS] >= records or not self.subscribed, timeout_s
            )
            if counts()[POSITIONS] >= records:
                return dict(counts())
            why = f"after {timeout_s} s" if not reached else "and the view was closed"
            raise TimeoutError(f"{counts()['positions']} of {records} positions {why}")

    # -- the consumer thread --------------------------------------------------------------
    def _woken(self) -> None:
        """A new snapshot: count it, and hand the update to the output (``post``)."""
        received = totals(self.hub.snapshot())
        context = self.context
        if context is not None:
            context.post(self._update)
        with self._changed:
            self.received = received
            self._changed.notify_all()

    # -- the kernel's event loop -----------------------------------------------------------
    def _update(self) -> None:
        new = self.hub.snapshot()
        self._sync(new)
        pn.io.push_notebook(self._layout)  # inside the context's hold: one message
        with self._changed:
            self.shown = totals(new)
            self._changed.notify_all()

    def _sync(self, new: snap.Snapshot) -> None:
        """Set what changed between the snapshot shown and ``new``: work ∝ the change."""
        old = self._shown
        for stream in self._streams:
            snap.send_rows(
                self.sources[stream.name],
                new.rows(stream.name),
                old.rows(stream.name),
                stream.columns,
                stream.keep(self.hub.settings),
                old.version < 0,
            )
        if self.map is not None:
            if new.predicted_version != old.predicted_version or old.version < 0:
                self.map.show_predicted(new.predicted)
            if new.night_version != old.night_version or old.version < 0:
                self.map.show_night(new.night)
        if self.status is not None and (new.health != old.health or old.version < 0):
            # Every health change, counts too: a page's count is kept by link.js, not here.
            self.status.text = status_html(new.health, self.hub.settings.kafka.bootstrap_servers)
        self._shown = new
