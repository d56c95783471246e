"""One browser session's page: table, map, Flink analytics and link health.

A record's rows reach a session in one message: streamed into its positions and track
sources (``ColumnDataSource.stream``; the hub decides the track: ``track.py``). The table, the
ISS marker and the position's line are derived from the positions in the browser
(``static/positions.js``, ``static/readouts.js``). When the status line, the next orbit or
the night side changed too, that follows in a second message, once every page has the
record's rows (``_sync``). The hub's wake reaches the page by the session's one way in
(``session.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from functools import partial

import panel as pn
import param
from bokeh.models import ColumnDataSource, CustomJS

from isspanel.dashboard import snapshot as snap
from isspanel.dashboard.flink_view import FlinkView
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.place import PlaceView
from isspanel.dashboard.readouts_view import ReadoutsView
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.static_files import static_text
from isspanel.dashboard.streams import TRACK, records, shown
from isspanel.dashboard.tables import PositionsTable, column_maker, on_any_change
from isspanel.dashboard.world_map import WorldMap

log = logging.getLogger(__name__)

PAGE_CSS = static_text("page.css")
LINK_CSS = static_text("link.css")
# A quiet page hears from the server every settings.dashboard.page_beat_s (a ~100-byte
# message), so that it can tell a dead link from a quiet one: silence for page_stall_s shows
# as "stalled". A page without a link asks the server, at most every PROBE_S, whether it
# answers a GET of the page (then it reloads: link.js); a GET unanswered for PROBE_TIMEOUT_S
# is given up.
PROBE_S = 1.0
PROBE_TIMEOUT_S = 10.0
# A stalled page whose probe the server answered waits this long past a beat for its own link
# before it reloads: a server thawed after a freeze answers the pending GET and beats within one.
ANSWERED_GRACE_S = 1.0


class DashboardPage(pn.viewable.Viewer):
    """The page of one session; it reads the hub's shared snapshots and sends deltas."""

    hub = param.Parameter(doc="The server's StreamHub.")
    context = param.ClassSelector(
        class_=SessionContext, doc="This page's session (made if not given)."
    )

    def __init__(self, **params):
        super().__init__(**params)
        hub: StreamHub = self.hub
        if self.context is None:
            self.context = SessionContext.current()
        context: SessionContext = self.context
        self._deferred = False
        self._heard_at = time.monotonic()  # rows or heartbeat: what link.js counts as alive
        self._shown = snap.Snapshot(version=-1, status="")
        self.pinned: snap.Snapshot | None = None  # a moment shown instead (time_travel.py)

        self.heartbeat = ColumnDataSource({"now": [time.time()]}, name="heartbeat")
        # A source per stream the page shows (streams.py), by name; the views take theirs.
        self._streams = shown(hub.streams)
        self._keep = {s.name: s.keep(hub.settings) for s in self._streams}
        self.sources = {
            s.name: ColumnDataSource(snap.columns((), s.columns), name=s.source)
            for s in self._streams
        }
        self.positions = self.sources[records(hub.streams).name]
        self.map = WorldMap(self.positions, self.sources[TRACK.name])
        self.readouts = ReadoutsView(self.positions, self.map)
        self.place = PlaceView(self.map, self.readouts.place, hub, context)
        column = column_maker()
        self.table = PositionsTable(column)
        derive = CustomJS(
            args={
                "positions": self.positions,
                "rows": self.table.rows,
                "table": self.table.table,
                "iss": self.map.iss,
                "beat": self.heartbeat,  # unused there: it puts the heartbeat in the document
            },
            code=static_text("positions.js"),
        )
        ready: list[CustomJS] = []
        on_any_change(self.positions, derive, ready)
        self.readouts.hook(ready)
        self.map.hook(ready)
        self.beat_s = hub.settings.dashboard.page_beat_s
        link_args = {
            "stall_ms": hub.settings.dashboard.page_stall_s * 1000,
            "probe_ms": PROBE_S * 1000,
            "probe_timeout_ms": PROBE_TIMEOUT_S * 1000,
            "grace_ms": (self.beat_s + ANSWERED_GRACE_S) * 1000,
        }
        alive = CustomJS(args={**link_args, "lost": False}, code=static_text("link.js"))
        self.heartbeat.js_on_change("data", alive)
        self.flink = FlinkView(column, ready, self.sources)
        # A widget, not an HTML pane: it sends what changed; a pane all (0.15 vs 0.5 ms).
        self.status = pn.widgets.StaticText(stylesheets=[PAGE_CSS], sizing_mode="stretch_width")
        # Its text may be older than the rows painted (repaint.js): the figures painted again.
        self.status.jscallback(value=static_text("repaint.js"))
        self.tiles = pn.widgets.Checkbox(label="Online basemap (OpenStreetMap; needs internet)")
        self.tiles.param.watch(lambda event: self.map.show_tiles(bool(event.new)), "value")
        self._layout = pn.Column(
            pn.pane.Markdown("## isspanel — where is the ISS now?", margin=(0, 10)),
            self.status,
            pn.Row(
                pn.Column(
                    self.readouts,
                    self.map,
                    self.tiles,
                    self.place,
                    sizing_mode="stretch_width",
                ),
                self.table,
                sizing_mode="stretch_width",
            ),
            self.flink,
            sizing_mode="stretch_width",
        )
        self._sync(hub.snapshot())  # the first rendering: everything, before any message
        if context.doc is not None:
            context.doc.js_on_event("document_ready", *ready, alive)  # alive: the banner
            context.doc.js_on_event(
                "connection_lost",
                CustomJS(args={**link_args, "lost": True}, code=static_text("link.js")),
            )
        context.every(self._beat, self.beat_s)
        context.when_loaded(self._on_loaded)  # till then a held update is dropped
        self._token = hub.subscribe(partial(context.post, self._update))
        context.on_close(self._closed)

    def __panel__(self):
        return self._layout

    # -- on the session's event loop --------------------------------------------------
    def _on_loaded(self) -> None:
        """The browser has rendered the document: send what changed since it was made (from
        now on the hub's wakes come through)."""
        if self.hub.snapshot().version != self._shown.version:
            self.context.soon(self._update)

    def _update(self) -> None:
        """The hub has a new snapshot (once, however many came): send what changed, held."""
        self._sync(self.pinned or self.hub.snapshot(), rows_first=True)

    def _beat(self) -> None:
        """A quiet page still hears from the server, and learns of a stalled consumer."""
        if not self.context.loaded:
            return
        quiet = time.monotonic() - self._heard_at >= self.beat_s * 0.9
        if not quiet and self._shown.health.stalled_s is None:
            return
        with self.context.hold():
            self._sync(self.pinned or self.hub.snapshot(), rows_first=True)
            # Only positions and the heartbeat tell the page its link is alive (link.js);
            # a status alone does not: a stalled consumer's changes every beat, and a page
            # that got only those showed "stalled" while its server was fine.
            if time.monotonic() - self._heard_at >= self.beat_s * 0.9:
                self.heartbeat.data = {"now": [time.time()]}
                self._heard_at = time.monotonic()

    def show(self, pinned: snap.Snapshot | None) -> None:
        """Show ``pinned`` (a moment) instead of the hub's snapshots, or live again (None)."""
        self.pinned, self._shown = pinned, snap.Snapshot(version=-1, status="")  # redraw all
        with self.context.hold():
            self._sync(pinned or self.hub.snapshot())

    def _sync(self, new: snap.Snapshot, rows_first: bool = False) -> None:
        """Send what changed between the snapshot shown and ``new``: work ∝ the change.

        ``rows_first`` (a record's update, or a beat that finds one): if the rest (status,
        next orbit, night) changed as well, it follows on the next tick, queued behind every
        other page's update, so a record's rows reach all pages first. Only once in a row:
        a burst of records must not hold the rest back.
        """
        old = self._shown
        sent = self._send_rows(old, new)
        later = (old.status, old.predicted_version, old.night_version)
        rest = later != (new.status, new.predicted_version, new.night_version)
        if rows_first and sent and rest and not self._deferred and old.version >= 0:
            self._deferred = True
            self._shown = replace(
                new, status=later[0], predicted_version=later[1], night_version=later[2]
            )
            self.context.soon(self._update)
            return
        self._deferred = False
        if new.predicted_version != old.predicted_version or old.version < 0:
            self.map.show_predicted(new.predicted)
        if new.night_version != old.night_version or old.version < 0:
            self.map.show_night(new.night)
        if new.status != old.status:
            self.status.value = new.status
        self._shown = new

    def _send_rows(self, old: snap.Snapshot, new: snap.Snapshot) -> bool:
        """Stream each source's new rows (all of them again after a reset)."""
        sent = False
        for stream in self._streams:
            source = self.sources[stream.name]
            if not snap.send_rows(
                source,
                new.rows(stream.name),
                old.rows(stream.name),
                stream.columns,
                self._keep[stream.name],
                old.version < 0,
            ):
                continue
            if source is self.positions:
                self._heard_at = time.monotonic()  # positions.js counts it as a heartbeat
            sent = True
        return sent

    def _closed(self) -> None:
        self.hub.unsubscribe(self._token)
        log.info("session closed")
