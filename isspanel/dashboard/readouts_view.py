"""Readouts beside the position: altitude, ground speed, sunlight, what it is over, footprint.

The hub computes them once per record (``isspanel.geo.quick``) into extra columns of the
positions row (``streams.READOUT_COLUMNS``), shared by every session; the browser shows the
newest row's and draws the footprint circle, and the horizon circle around the session's
place, from them (``static/readouts.js``). A record costs the server nothing more per session.
"""

from __future__ import annotations

import panel as pn
from bokeh.models import Column, ColumnDataSource, CustomJS, Pane
from bokeh.models.dom import Text

from isspanel.dashboard.static_files import static_text
from isspanel.dashboard.world_map import WorldMap
from isspanel.geo.mercator import MAX_LAT, R_MERCATOR
from isspanel.geo.orbit import EARTH_RADIUS_KM

FOOTPRINT_COLOR = "#e4760b"
PLACE_COLOR = "#1a7f37"
CIRCLE_POINTS = 181  # as readouts.circle_xy


class ReadoutsView(pn.viewable.Viewer):
    """The readouts lines and the map's circles of one session, all derived in the browser.

    It shows ``text``, the two lines to put above the map (the position, then its readouts);
    ``place`` holds the session's place (set by ``place.py``), whose horizon circle is drawn
    with the newest footprint radius.
    """

    def __init__(self, positions: ColumnDataSource, world: WorldMap, **params):
        super().__init__(**params)
        self.place = ColumnDataSource({"x": [], "y": [], "lat": [], "lon": []}, name="place")
        # Written by the browser only (readouts.js): never synced back. A text node of
        # Bokeh's DOM models, not a Div: a new text in a Div rerenders it and lays the whole
        # page out again (bench/page_profile.py: 26 ms a record), a Text only sets its node's
        # text. The Pane holding it is no layout (Bokeh lays out LayoutDOMs only), and the
        # Column around it has a fixed height: a record never changes the page's layout.
        self.text = Text(
            content="Waiting for the first position…", name="iss-readouts", syncable=False
        )
        box = Pane(
            elements=[self.text],
            css_classes=["iss-readouts"],
            # The position's line, then the readouts' line; each cut at the map's width with
            # an ellipsis (readouts.css).
            stylesheets=[static_text("readouts.css")],
        )
        self._box = Column(children=[box], height=40, sizing_mode="stretch_width")
        self.circles = ColumnDataSource(
            {"xs": [], "ys": [], "color": []}, name="circles", syncable=False
        )
        renderer = world.figure.multi_line(
            "xs",
            "ys",
            source=self.circles,
            line_color="color",
            line_width=1.5,
            legend_label="footprint (ISS above the horizon)",
            level="overlay",
        )
        renderer.nonselection_glyph = None
        renderer.muted_glyph = None
        self.callback = CustomJS(
            args={
                "positions": positions,
                "place": self.place,
                "circles": self.circles,
                "text": self.text,
                "earth_km": EARTH_RADIUS_KM,
                "r_mercator": R_MERCATOR,
                "max_lat": MAX_LAT,
                "points": CIRCLE_POINTS,
                "footprint_color": FOOTPRINT_COLOR,
                "place_color": PLACE_COLOR,
            },
            code=static_text("readouts.js"),
        )
        self._pane = pn.pane.Bokeh(self._box, sizing_mode="stretch_width")

    def __panel__(self):
        return self._pane

    def hook(self, ready: list) -> None:
        """Run in the browser on every change of the positions or the place, and at load."""
        for source in (self.callback.args["positions"], self.callback.args["place"]):
            source.js_on_change("data", self.callback)
        self.callback.args["positions"].js_on_change("streaming", self.callback)
        ready.append(self.callback)
