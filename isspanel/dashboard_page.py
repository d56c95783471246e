"""One browser session's page: table, map, Flink analytics and link health."""

from __future__ import annotations

import html
import logging
import os
import threading
import time
from contextlib import contextmanager

import panel as pn
from bokeh.document import Document
from bokeh.document.callbacks import invoke_with_curdoc
from bokeh.document.events import DocumentPatchedEvent
from bokeh.models import ColumnDataSource, CustomJS, DatetimeTickFormatter, Div, InlineStyleSheet
from bokeh.plotting import figure
from tornado.ioloop import IOLoop

from isspanel.record import IssRecord
from isspanel.stream_hub import Health, Snapshot, StreamHub
from isspanel.world_map import WorldMap, iss_title, positions_data, predicted_data

log = logging.getLogger(__name__)

ALL = frozenset({"positions", "speeds", "stats", "events", "health", "night"})
BEAT_S = 1.0  # a quiet page gets a heartbeat this often: every message costs the server
STALE_S = 150  # a record older than this, at one a minute, means the producer is stuck
SOURCE_NAMES = {"open-notify": "live API", "sgp4": "SGP4 model (offline)", "replay": "replay"}

TABLE_CSS = """
:host { width: 100%; }
.iss-table { border-collapse: collapse; width: 100%; font: 13px/1.35 ui-monospace, monospace; }
.iss-table th { position: sticky; top: 0; background: #f3f4f6; text-align: right;
  padding: 4px 8px; border-bottom: 1px solid #d1d5db; }
.iss-table td { text-align: right; padding: 2px 8px; border-bottom: 1px solid #eef0f3; }
.iss-table th:first-child, .iss-table td:first-child { text-align: left; }
/* A static mark, not an animation: a CSS animation repaints the page every frame for
   its whole run, which costs every open browser CPU on every record. */
.iss-table tr.new td { background: #ffe58a; font-weight: 600; }
.empty { color: #6b7280; padding: 12px; }
"""

STATUS_CSS = """
.status { display: flex; flex-wrap: wrap; gap: 6px 18px; font: 13px system-ui, sans-serif; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 5px; }
.ok { background: #16a34a; } .bad { background: #dc2626; } .wait { background: #d97706; }
.kv { border-collapse: collapse; font: 13px system-ui, sans-serif; }
.kv td { padding: 2px 10px 2px 0; } .kv td:first-child { color: #6b7280; }
"""

# The browser's side of the browser↔server link. Bokeh fires connection_lost when the
# WebSocket closes: the page says "disconnected" and reloads once the server answers again.
# A server heartbeat (any message, or an explicit beat after a quiet second) shows a silent
# network drop (or a busy server) as "stalled".
LINK_JS = """
const banner = (() => {
  let el = document.getElementById('isspanel-link');
  if (el) return el;
  el = document.createElement('div');
  el.id = 'isspanel-link';
  el.style.cssText = 'position:fixed;top:8px;right:12px;z-index:1000;padding:4px 10px;' +
    'border-radius:6px;font:13px system-ui,sans-serif;color:#fff;background:#16a34a';
  document.body.appendChild(el);
  return el;
})();
const set = (state, text) => {
  if (banner.dataset.state === state && banner.textContent === text) return;
  banner.dataset.state = state;
  banner.textContent = text;
  banner.style.background = {connected: '#16a34a', stalled: '#d97706'}[state] || '#dc2626';
};
if (window.isspanelLink == null) {
  const link = window.isspanelLink = {last: Date.now(), lost: false};
  set('connected', 'Browser ↔ server: connected');
  link.lose = (why) => {
    if (link.lost) return;
    link.lost = true;
    set('disconnected', 'Browser ↔ server: disconnected (' + why + '). ' +
        'The page reloads by itself when the server is back; or reload it then.');
    const probe = setInterval(() => {
      fetch(window.location.href, {cache: 'no-store'}).then((r) => {
        if (r.ok) { clearInterval(probe); set('disconnected', 'Server is back: reloading…');
                    window.location.reload(); }
      }).catch(() => {});
    }, 2000);
  };
  setInterval(() => {
    if (link.lost) return;
    const silent = Date.now() - link.last;
    // A late heartbeat alone may be a busy server: say so, but do not give up the session.
    if (silent > 2500) set('stalled', 'Browser ↔ server: no heartbeat for ' +
                           Math.round(silent / 1000) + ' s (server busy or network down)');
    else set('connected', 'Browser ↔ server: connected');
  }, 250);
}
"""

# Runs on every heartbeat; the first one also sets the link watcher up. The heartbeat
# carries the server's clock, and the "last record N s ago" clock ticks here in the
# browser: re-rendering the status every second cost each page a layout pass.
BEAT_JS = (
    LINK_JS
    + """
window.isspanelLink.last = Date.now();
const now = cb_obj.data.now[0];
// By name: a model passed in args would join this root and stop syncing in Panel's.
const status = cb_obj.document.get_model_by_name('iss-status');
const view = status == null ? null : Bokeh.index.find_one(status);
const root = view == null ? null : view.shadow_el;
if (root != null) {
  for (const age of root.querySelectorAll('.age[data-at]')) {
    const seconds = Math.max(0, now - Number(age.dataset.at));
    age.textContent = seconds.toFixed(0);
    const dot = age.parentElement.querySelector('.dot');
    if (dot != null) dot.className = 'dot ' + (seconds < STALE_S ? 'ok' : 'wait');
  }
}
"""
)

LOST_JS = "if (window.isspanelLink) window.isspanelLink.lose('connection closed');"

# Text that changes with every record (table, title, status, analytics) reaches the page
# through one "dom-updates" source and is written into each Div's element here. Setting a
# Div's text instead makes Bokeh lay the whole page out again and repaint the map: that
# cost every browser ~25 ms per record. The Div's text is kept current silently, so a
# later re-render shows the same thing.
# A "prepend" carries only the new rows of the table: the page inserts them on top and drops
# the oldest beyond ROWS, instead of parsing 100 rows again.
DOM_JS = """
const {name, html, op} = cb_obj.data;
if (window.isspanelLink) window.isspanelLink.last = Date.now();  // as good as a heartbeat
for (let i = 0; i < name.length; i++) {
  const model = cb_obj.document.get_model_by_name(name[i]);
  if (model == null) continue;
  const view = Bokeh.index.find_one(model);
  const el = view == null ? null : view.markup_el;
  const tbody = el == null ? null : el.querySelector('tbody');
  if (op[i] === 'prepend' && tbody != null) {
    for (const row of tbody.querySelectorAll('tr.new')) row.classList.remove('new');
    tbody.insertAdjacentHTML('afterbegin', html[i]);
    while (tbody.rows.length > ROWS) tbody.deleteRow(-1);
    model.setv({text: el.innerHTML}, {silent: true});
  } else if (op[i] === 'replace' && el != null) {
    model.setv({text: html[i]}, {silent: true});
    el.innerHTML = html[i];
  } else {
    // No view yet, or rows for a table it does not show: the server sends the whole
    // table next time; a plain text change renders whenever the view appears.
    if (op[i] === 'replace') model.text = html[i];
    continue;
  }
  if (name[i] === 'iss-table') {
    // Arrival times of new rows, for the latency benchmark: [key, epoch ms] pairs.
    const m = /data-key="(\\d+)"/.exec(html[i]);
    if (m) (window.isspanelArrivals = window.isspanelArrivals || []).push([+m[1], Date.now()]);
  }
}
"""


def rows_html(records: list[IssRecord]) -> str:
    """Table rows, newest on top; the newest is marked new."""
    rows = []
    for i, r in enumerate(reversed(records)):
        rows.append(
            f'<tr class="iss-row{" new" if i == 0 else ""}" data-key="{r.timestamp}">'
            f"<td>{r.event_time.replace('T', ' ').rstrip('Z')}</td>"
            f"<td>{r.latitude:.4f}</td><td>{r.longitude:.4f}</td>"
            f"<td>{html.escape(r.source)}</td></tr>"
        )
    return "".join(rows)


def table_html(records: list[IssRecord]) -> str:
    if not records:
        return '<div class="empty">No positions yet: is the producer running?</div>'
    return (
        '<table class="iss-table"><thead><tr><th>Timestamp (UTC)</th><th>Latitude</th>'
        "<th>Longitude</th><th>Source</th></tr></thead><tbody>"
        + rows_html(records)
        + "</tbody></table>"
    )


def _dot(state: str) -> str:
    return f'<span class="dot {state}"></span>'


def health_html(health: Health, bootstrap: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    if health.stalled_s is not None:
        kafka = (
            f"{_dot('bad')}Server ↔ Kafka: not connected: the dashboard's consumer has stalled "
            f"(no poll for {health.stalled_s} s"
            + (f"; {html.escape(health.kafka_error)}" if health.kafka_error else "")
            + "); see the server log"
        )
    elif health.kafka_connected:
        lag = "?" if health.lag is None else f"{health.lag}"
        kafka = f"{_dot('ok')}Server ↔ Kafka: connected to {bootstrap}, consumer lag {lag}"
    else:
        kafka = (
            f"{_dot('bad')}Server ↔ Kafka: not connected to {bootstrap} "
            f"({html.escape(health.kafka_error or 'unknown')}); retrying — check "
            "<code>isspanel kafka status</code>"
        )
    if health.last_record_at is None:
        last = f"{_dot('wait')}No record yet"
    else:
        age = max(0.0, now - health.last_record_at)
        state = "ok" if age < STALE_S else "wait"
        # The browser keeps the age ticking from data-at (see BEAT_JS).
        last = (
            f'{_dot(state)}Last record <span class="age" data-at="{health.last_record_at:.3f}">'
            f"{age:.0f}</span> s ago"
        )
    source = SOURCE_NAMES.get(health.last_source or "", "—")
    return (
        f'<div class="status"><span class="kafka-status">{kafka}</span>'
        f'<span class="last-record">{last}</span>'
        f'<span class="record-count">{health.records} records</span>'
        f'<span class="source">Source: {source}</span>'
        f'<span class="skipped">{health.skipped} bad message(s) skipped</span>'
        f'<span class="sessions">{health.sessions} session(s)</span>'
        f'<span class="server-pid">server pid {os.getpid()}</span></div>'
    )


def speed_data(speeds: list[dict]) -> dict:
    """The speed series of validated iss-speed rows (see isspanel.flink_rows.speed_row)."""
    return {"t": [row["t_ms"] for row in speeds], "kmh": [row["speed_kmh"] for row in speeds]}


def kv_html(rows: list[dict], title: str, empty: str) -> str:
    if not rows:
        return f'<div class="empty"><b>{title}</b><br>{empty}</div>'
    latest = rows[-1]
    cells = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in latest.items()
    )
    return f'<b>{title}</b><table class="kv">{cells}</table>'


def events_html(rows: list[dict]) -> str:
    if not rows:
        return '<div class="empty"><b>Crossings</b><br>None yet.</div>'
    items = "".join(
        "<li>" + html.escape(", ".join(f"{k}: {_fmt(v)}" for k, v in row.items())) + "</li>"
        for row in reversed(rows[-8:])
    )
    return f"<b>Crossings (newest first)</b><ul>{items}</ul>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


_SHARED_LOCK = threading.Lock()
_SHARED: dict = {"version": None, "predicted_key": None, "predicted": None}
_RENDERINGS = {
    "table": lambda snap: table_html(snap.positions),
    "map": lambda snap: positions_data(snap.positions),
    "title": lambda snap: iss_title(snap.positions[-1] if snap.positions else None),
}


def shared_rendering(snap: Snapshot, what: str):
    """The whole table HTML, map data or title of a snapshot, made once per server on first
    use, not once per session (and not at all while every session only needs new rows)."""
    with _SHARED_LOCK:
        if _SHARED["version"] != snap.version:
            for key in _RENDERINGS:
                _SHARED.pop(key, None)
            _SHARED["version"] = snap.version
        if what not in _SHARED:
            _SHARED[what] = _RENDERINGS[what](snap)
        return _SHARED[what]


def shared_predicted(snap: Snapshot) -> dict | None:
    """The next orbit's map data: it changes once a minute of record time, not per record."""
    key = snap.predicted[0] if snap.predicted else None
    with _SHARED_LOCK:
        if _SHARED["predicted_key"] != key:
            _SHARED.update(
                predicted_key=key, predicted=predicted_data(snap.predicted) if key else None
            )
        return _SHARED["predicted"]


@contextmanager
def held(doc: Document):
    """Collect a callback's model changes and send them to the page as one message.

    Bokeh's own unhold() sends a message per change: the page then applies and paints one
    record's changes message by message, and the server serialises each one separately.
    """
    doc.hold("combine")
    try:
        yield
    finally:
        _send_held(doc)


def _send_held(doc: Document) -> None:
    callbacks = doc.callbacks
    events = list(callbacks._held_events)
    session = getattr(doc.session_context, "_session", None)
    writes = getattr(session, "_pending_writes", None)
    connections = getattr(session, "_subscribed_connections", None)
    if (
        not events
        or writes is None  # not inside a locked session callback: let Bokeh do it
        or connections is None
        or not all(isinstance(e, DocumentPatchedEvent) for e in events)
    ):
        doc.unhold()
        return
    callbacks._held_events = []
    callbacks._hold = None
    for event in events:  # Python-side property callbacks, as unhold() would run them
        if event.callback_invoker is not None:
            invoke_with_curdoc(doc, event.callback_invoker)
    for connection in connections:
        message = connection.protocol.create("PATCH-DOC", events)
        writes.append(connection._socket.send_message(message))


class DashboardPage:
    def __init__(self, hub: StreamHub, doc: Document):
        self.hub = hub
        self.doc = doc
        self._lock = threading.Lock()
        # The server's event loop: this page is built on it (Bokeh runs the app there).
        self._loop = IOLoop.current()
        self._dirty: set[str] = set()
        self._scheduled = False
        self._closed = False

        self.map = WorldMap()
        table_css = InlineStyleSheet(css=TABLE_CSS)
        status_css = InlineStyleSheet(css=STATUS_CSS)
        self.table = Div(
            name="iss-table",
            text=table_html([]),
            stylesheets=[table_css],
            sizing_mode="stretch_width",
            styles={"overflow-y": "auto"},
            height=430,
        )
        self.status = Div(
            name="iss-status", text="", stylesheets=[status_css], sizing_mode="stretch_width"
        )
        # Not a Div: a change to a layout model costs the page a layout pass.
        self.heartbeat = ColumnDataSource({"now": [time.time()]}, name="heartbeat")
        self.heartbeat.js_on_change(
            "data",
            CustomJS(code=BEAT_JS.replace("STALE_S", str(STALE_S))),
        )
        self._health: Health | None = None
        self.dom = ColumnDataSource({"name": [], "html": [], "op": []}, name="dom-updates")
        rows = str(hub.settings.buffer_size)
        self.dom.js_on_change("data", CustomJS(code=DOM_JS.replace("ROWS", rows)))
        self._html: dict[str, str] = {}  # what each Div shows, by name
        self._pending: dict[str, tuple[str, str]] = {}  # name: (op, html)
        self._shown_version = -1  # the hub version of the positions this page shows
        self._table_has_rows = False
        self._sent_at = 0.0  # monotonic time of the last message to this page
        self.title = Div(
            name="iss-title",
            text=iss_title(None),
            styles={"font": "600 15px system-ui, sans-serif"},
        )
        self.speed_source = ColumnDataSource({"t": [], "kmh": []}, name="speed")
        self.speed_fig = figure(
            name="speed-figure",
            height=240,
            sizing_mode="stretch_width",
            x_axis_type="datetime",
            title="Ground speed (Flink, km/h)",
            tools="pan,wheel_zoom,reset,hover",
            tooltips=[("km/h", "@kmh{0,0}")],
        )
        self.speed_fig.line("t", "kmh", source=self.speed_source, line_width=2, color="#1f77b4")
        self.speed_fig.scatter("t", "kmh", source=self.speed_source, size=4, color="#1f77b4")
        self.speed_fig.xaxis.formatter = DatetimeTickFormatter(minutes="%H:%M", hours="%H:%M")
        self.stats = Div(name="iss-stats", stylesheets=[status_css], sizing_mode="stretch_width")
        self.events = Div(name="iss-events", stylesheets=[status_css], sizing_mode="stretch_width")
        self.tiles = pn.widgets.Checkbox(name="Online basemap (OpenStreetMap; needs internet)")
        self.tiles.param.watch(self._toggle_tiles, "value")

        self.layout = pn.Column(
            pn.pane.Markdown("## isspanel — where is the ISS now?", margin=(0, 10)),
            pn.pane.Bokeh(self.status, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.title),
            pn.Row(
                pn.Column(
                    pn.pane.Bokeh(self.map.layout, sizing_mode="stretch_width"),
                    self.tiles,
                    sizing_mode="stretch_width",
                ),
                pn.pane.Bokeh(self.table, width=430),
                sizing_mode="stretch_width",
            ),
            pn.Row(
                pn.pane.Bokeh(self.speed_fig, sizing_mode="stretch_width"),
                pn.Column(pn.pane.Bokeh(self.stats), pn.pane.Bokeh(self.events), width=430),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        doc.add_root(self.heartbeat)  # in the document, though nothing draws them
        doc.add_root(self.dom)
        doc.js_on_event("connection_lost", CustomJS(code=LOST_JS))
        self._token = hub.subscribe(self._on_hub)  # first, so the page counts itself
        # The first rendering goes into the Divs' text: nothing is connected yet.
        snap = hub.snapshot()
        self._render_text(ALL, snap)
        self._render_status()
        for div in (self.table, self.title, self.status, self.stats, self.events):
            div.text = self._pending.pop(div.name, ("replace", div.text))[1]
        self._render_plots(ALL, snap, [])
        self._beat_cb = doc.add_periodic_callback(self._beat, int(BEAT_S * 1000))
        doc.on_session_destroyed(self._destroyed)

    # -- called on the hub's consumer thread -------------------------------------
    def _on_hub(self, kinds: frozenset[str]) -> None:
        with self._lock:
            if self._closed:
                return
            self._dirty |= kinds
            if self._scheduled:
                return  # one pending update per session: bursts coalesce
            self._scheduled = True
        # add_next_tick_callback emits a document event, and an event emitted from another
        # thread while the loop holds the document can be dropped: Panel's page handler
        # (patch_model_css) restores a new document's held events after patching its CSS,
        # and a page whose callback was dropped never updated again. So the hub's thread
        # only hands the scheduling to the loop (tornado's add_callback is thread-safe).
        self._loop.add_callback(self._schedule)

    # -- called on the session's event loop ------------------------------------
    def _schedule(self) -> None:
        self.doc.add_next_tick_callback(self._apply)

    def _apply(self) -> None:
        with self._lock:
            kinds, self._dirty, self._scheduled = frozenset(self._dirty), set(), False
        if kinds:
            self._render(kinds)

    def _render(self, kinds: frozenset[str]) -> None:
        """Send what changed (no kinds: the status alone), and a heartbeat if all is quiet."""
        # Held, so that repeated changes to one property go out once.
        with held(self.doc):
            snap = self.hub.snapshot() if kinds - {"health"} else None
            tail = self._render_text(kinds, snap) if snap else []
            self._render_status()
            # Text first: the table is what people watch, so it goes out before the plots.
            self._flush_html()
            if snap:
                self._render_plots(kinds, snap, tail)
                self._sent_at = time.monotonic()
            # Only a page that heard nothing lately needs the beat (it also ticks the clock).
            if time.monotonic() - self._sent_at >= BEAT_S * 0.9:
                self.heartbeat.data = {"now": [time.time()]}
                self._sent_at = time.monotonic()

    def _render_text(self, kinds: frozenset[str], snap: Snapshot) -> list[IssRecord]:
        """Queue the Divs' new text; return the last position shown, then the new ones."""
        tail: list[IssRecord] = []
        if "positions" in kinds:
            count = snap.version - self._shown_version
            if self._table_has_rows and 0 < count < len(snap.positions):
                tail = snap.positions[-count - 1 :]
                self._html.pop(self.table.name, None)  # rows added in the page: no whole HTML
                self._pending[self.table.name] = ("prepend", rows_html(tail[1:]))
            else:
                self._show(self.table, shared_rendering(snap, "table"))
                self._table_has_rows = bool(snap.positions)
            self._shown_version = snap.version
            self._show(self.title, shared_rendering(snap, "title"))
        if "stats" in kinds:
            self._show(
                self.stats, kv_html(snap.stats, "Latest window (Flink)", "No window closed yet.")
            )
        if "events" in kinds:
            self._show(self.events, events_html(snap.events))
        return tail

    def _render_plots(self, kinds: frozenset[str], snap: Snapshot, tail: list[IssRecord]) -> None:
        if "positions" in kinds:
            if not self.map.append_positions(tail, self.hub.settings.buffer_size):
                self.map.show_positions(shared_rendering(snap, "map"))
            predicted = shared_predicted(snap)
            if predicted is not None:
                self.map.show_predicted(predicted)
        if "night" in kinds:
            self.map.update_night(snap.night)
        if "speeds" in kinds:
            self.speed_source.data = speed_data(snap.speeds)

    def _render_status(self) -> None:
        health = self.hub.health_snapshot()
        if health != self._health:  # only real changes: the age ticks in the browser
            self._health = health
            self._show(self.status, health_html(health, self.hub.settings.bootstrap))

    def _show(self, div: Div, text: str) -> None:
        if self._html.get(div.name) != text:
            self._html[div.name] = text
            self._pending[div.name] = ("replace", text)

    def _flush_html(self) -> None:
        # One assignment per update: a held document combines changes to one property,
        # so a second assignment would replace the first.
        if self._pending:
            pending, self._pending = self._pending, {}
            self._sent_at = time.monotonic()
            self.dom.data = {
                "name": list(pending),
                "op": [op for op, _ in pending.values()],
                "html": [text for _, text in pending.values()],
            }

    def _beat(self) -> None:
        self._render(frozenset())  # lag and Kafka's state change without a new record

    def _toggle_tiles(self, event) -> None:
        self.map.tiles.visible = bool(event.new)

    def _destroyed(self, _context) -> None:
        with self._lock:
            self._closed = True
        self.hub.unsubscribe(self._token)
        log.info("session closed; %d left", self.hub.health_snapshot().sessions)
