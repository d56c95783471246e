"""A session's place: its marker, the circle from which the ISS is above its horizon, and
the next passes over it.

Set by ``?lat=..&lon=..`` in the URL, by the two inputs, or by a click on the map (a Bokeh
Tap event, handled here per session); remembered in the URL. The passes are computed off
the event loop and shared between sessions (``passes.py``); the horizon circle is drawn
in the browser with the newest footprint radius (``static/readouts.js``). A session
without a place costs the server nothing here.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future
from functools import partial
from urllib.parse import parse_qsl, urlencode

import panel as pn
from bokeh.events import ButtonClick, Tap
from bokeh.layouts import column, row
from bokeh.models import Button, ColumnDataSource, DataTable, Div, TextInput

from isspanel.dashboard import passes
from isspanel.dashboard.readouts_view import PLACE_COLOR
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.world_map import WorldMap
from isspanel.geo.mercator import lat_lon, mercator

log = logging.getLogger(__name__)

DIGITS = 2  # a place is rounded to 0.01° (~1 km): passes move by seconds; the cache's key
REFRESH_S = 600.0  # a page with a place drops ended passes this often
HINT = "Set a place (or click the map) to see the next passes over it."


class PlaceError(ValueError):
    """A place that cannot be used; the message says why in words."""


def _degrees(text, what: str, limit: float) -> float:
    shown = repr(str(text)[:40])
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise PlaceError(f"the {what} must be a number of degrees, not {shown}") from None
    if not (math.isfinite(value) and -limit <= value <= limit):
        raise PlaceError(f"the {what} must be within -{limit:g}..{limit:g} degrees, not {shown}")
    return value


def parse_place(lat_text, lon_text) -> tuple[float, float]:
    """Latitude and longitude from text (URL or inputs), rounded to DIGITS; or PlaceError."""
    if lat_text in (None, "") or lon_text in (None, ""):
        missing = "latitude" if lat_text in (None, "") else "longitude"
        raise PlaceError(f"the {missing} is missing: a place needs both")
    return rounded(_degrees(lat_text, "latitude", 90.0), _degrees(lon_text, "longitude", 180.0))


def rounded(lat: float, lon: float) -> tuple[float, float]:
    """A place as this module keeps it: to DIGITS decimals, and never -0.0 (shown "-0.00")."""
    return round(lat, DIGITS) + 0.0, round(lon, DIGITS) + 0.0


class PlaceView(pn.viewable.Viewer):
    """The place controls of one session, its place kept in the address (if it has one)."""

    def __init__(
        self,
        world: WorldMap,
        source: ColumnDataSource,
        hub,
        context: SessionContext,
        **params,
    ):
        super().__init__(**params)
        self.hub, self.context, self.location = hub, context, context.location
        self.place: tuple[float, float] | None = None
        self._token = 0  # which request's passes may still be shown
        self._refresh_cb = None
        self.source = source  # x, y, lat, lon of the place (readouts_view.py draws its circle)
        self.world, self._marker = world, None  # the marker: drawn with the first place
        world.figure.on_event(Tap, self.on_tap)
        # Bokeh's own widgets, not Panel's: a third of the memory per session (~50 KB
        # instead of ~150 KB), and every page has them.
        self.lat_input = TextInput(title="Latitude (° N)", placeholder="52.52", width=110)
        self.lon_input = TextInput(title="Longitude (° E)", placeholder="13.40", width=110)
        below = (24, 5, 5, 5)  # the buttons' margin: level with the inputs, not their titles
        set_button = Button(label="Set place", button_type="primary", width=90, margin=below)
        clear_button = Button(label="Clear", width=70, margin=below)
        set_button.on_event(ButtonClick, self._on_set)
        clear_button.on_event(ButtonClick, self._on_clear)
        self.message = Div(
            text=HINT, name="place-message", render_as_text=True, sizing_mode="stretch_width"
        )
        # Made with the first place: each model in a document costs each of its messages.
        self.passes: ColumnDataSource | None = None
        self._table: DataTable | None = None
        self.form = column(
            row(self.lat_input, self.lon_input, set_button, clear_button),
            self.message,
            sizing_mode="stretch_width",
        )
        self._pane = pn.pane.Bokeh(self.form, sizing_mode="stretch_width")
        if self.location is not None:
            self.location.param.watch(self._on_search, "search")
            self._on_search()

    def __panel__(self):
        return self._pane

    # -- the three ways in ---------------------------------------------------------------
    def _on_search(self, *_events) -> None:
        """The URL's ``?lat=..&lon=..`` (at load, and whenever the browser reports it)."""
        query = dict(parse_qsl(self.location.search.lstrip("?")))
        if "lat" not in query and "lon" not in query:
            return
        try:
            place = parse_place(query.get("lat"), query.get("lon"))
        except PlaceError as exc:
            with self.context.hold():
                self._say(f"The place in the address is not used: {exc}.", error=True)
            log.info("a page's place in the URL was refused: %s", exc)
            return
        if place != self.place:
            self.set_place(*place)

    def _on_set(self, _event) -> None:
        try:
            place = parse_place(self.lat_input.value.strip(), self.lon_input.value.strip())
        except PlaceError as exc:
            with self.context.hold():
                self._say(f"Not a place: {exc}.", error=True)
            return
        self.set_place(*place)

    def on_tap(self, event) -> None:
        if event.x is None or event.y is None:
            return
        lat, lon = lat_lon(event.x, event.y)
        if abs(lat) <= 90.0:
            self.set_place(*rounded(lat, lon))

    def _on_clear(self, _event) -> None:
        with self.context.hold():
            self.place = None
            self._token += 1
            self.source.data = {"x": [], "y": [], "lat": [], "lon": []}
            self.lat_input.value = self.lon_input.value = ""
            if self.passes is not None:
                self.passes.data = {k: [] for k in passes.COLUMNS}
                self._table.visible = False
            self._say(HINT)
            self._write_query(None)
            self.context.stop(self._refresh_cb)
            self._refresh_cb = None

    # -- setting it ------------------------------------------------------------------------
    def set_place(self, lat: float, lon: float) -> None:
        """Show the place, remember it in the URL and ask for its passes."""
        with self.context.hold():
            self.place = (lat, lon)
            if self._marker is None:
                self._marker = self.world.figure.scatter(
                    "x",
                    "y",
                    source=self.source,
                    size=15,
                    marker="star",
                    fill_color=PLACE_COLOR,
                    line_color="#fff",
                    legend_label="your place",
                    level="overlay",
                )
                self._marker.nonselection_glyph = None
                self._marker.muted_glyph = None
            x, y = mercator(lon, lat)
            self.source.data = {"x": [x], "y": [y], "lat": [lat], "lon": [lon]}
            self.lat_input.value, self.lon_input.value = f"{lat:.{DIGITS}f}", f"{lon:.{DIGITS}f}"
            self._write_query((lat, lon))
            self._request_passes()
            if self._refresh_cb is None:
                self._refresh_cb = self.context.every(self._refresh, REFRESH_S)

    def _refresh(self) -> None:
        """Drop the passes that have ended (and recompute once the cache's copy is old)."""
        if not self.context.loaded:
            return  # a change now would be dropped, and the page believed to have it
        with self.context.hold():
            self._request_passes()

    def _write_query(self, place: tuple[float, float] | None) -> None:
        if self.location is None:
            return
        query = {
            k: v for k, v in parse_qsl(self.location.search.lstrip("?")) if k not in ("lat", "lon")
        }
        if place is not None:
            query |= {"lat": f"{place[0]:.{DIGITS}f}", "lon": f"{place[1]:.{DIGITS}f}"}
        search = "?" + urlencode(query) if query else ""
        if search != self.location.search:
            self.location.search = search

    def _request_passes(self) -> None:
        if self.place is None:
            return
        tle = self.hub.tle
        if tle is None:
            self._say("No TLE in use: the passes cannot be computed.", error=True)
            return
        self._token += 1
        token = self._token
        future = passes.CACHE.get(tle, *self.place)
        if future.done():
            self._show(token, future)
            return
        self._say(f"Computing the passes over {self._where()}…")
        # On the worker's thread: the one way back (session.py).
        future.add_done_callback(lambda f: self.context.post(partial(self._show, token, f)))

    def _show(self, token: int, future: Future) -> None:
        if token != self._token or self.place is None:
            return  # another place was set meanwhile
        try:
            found = future.result()
        except ValueError as exc:  # e.g. the TLE is over a year from now
            self._say(f"No passes for {self._where()}: {exc}.", error=True)
            return
        except Exception:
            log.exception("passes over %s failed", self.place)
            self._say(f"The passes over {self._where()} could not be computed.", error=True)
            return
        data = passes.rows(found, time.time())
        table = self._passes_table()
        if table.data != data:  # a refresh with nothing ended sends nothing
            table.data = data
        if data["rise"]:
            self._say(
                f"Next passes over {self._where()}: times in UTC, rise and set at the horizon;"
                " visible = sunlit while the sky is dark (sun below -6°)."
            )
        else:
            days = passes.PASS_DAYS
            self._say(f"The ISS does not rise over {self._where()} in the next {days:g} days.")

    def _passes_table(self) -> ColumnDataSource:
        """The passes' source, and its table in the page (made with the first place)."""
        if self.passes is None:
            self.passes = ColumnDataSource({k: [] for k in passes.COLUMNS}, name="passes")
            self._table = passes.table(self.passes)
            self.form.children.append(self._table)
        self._table.visible = True
        return self.passes

    def _where(self) -> str:
        lat, lon = self.place or (0.0, 0.0)
        return f"{lat:.{DIGITS}f}°, {lon:.{DIGITS}f}°"

    def _say(self, text: str, error: bool = False) -> None:
        self.message.text = text  # shown as text (render_as_text): never parsed as HTML
        self.message.styles = {"color": "#b91c1c" if error else "inherit"}
