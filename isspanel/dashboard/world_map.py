"""The world map: land, ISS marker, track, predicted orbit and night, in Web Mercator
(``geo/mercator.py``); what it draws is made on the server (``map_data.py``, ``track.py``)."""

from __future__ import annotations

import panel as pn
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, WMTSTileSource
from bokeh.plotting import figure

from isspanel.dashboard.map_data import land_data
from isspanel.dashboard.static_files import static_text
from isspanel.geo.mercator import mercator


class WorldMap(pn.viewable.Viewer):
    """The figure and its sources for one session.

    The moving parts (track, points, ISS, next orbit) draw on Bokeh's overlay canvas
    layer, so a new position repaints them alone and not the land (~8 ms instead of ~24
    ms a record in each browser). That layer is not clipped to the plot's frame, so the
    figure has no axes or borders and its toolbar sits outside it, in a grid: the frame
    is the whole canvas and nothing can be drawn outside it. Hover gives coordinates.
    """

    def __init__(self, positions: ColumnDataSource, track: ColumnDataSource, **params):
        super().__init__(**params)
        x0, y0 = mercator(-180, -70)
        x1, y1 = mercator(180, 75)
        # Fixed: the position's line is in the readouts text (readouts.js), since a new title
        # lays the whole figure out again in every page, on every record.
        self.figure = figure(
            name="iss-map",
            title="Ground track, next orbit, night side",
            x_range=(x0, x1),
            y_range=(y0, y1),
            sizing_mode="stretch_width",
            height=430,
            tools="pan,wheel_zoom,box_zoom,reset",
            active_scroll="wheel_zoom",
            match_aspect=True,
            background_fill_color="#dbe9f6",
            toolbar_location=None,
            min_border=0,
            x_axis_location=None,
            y_axis_location=None,
        )
        self.figure.grid.visible = False
        layout = gridplot([[self.figure]], toolbar_location="above", sizing_mode="stretch_width")
        self._pane = pn.pane.Bokeh(layout, sizing_mode="stretch_width")
        # An online basemap, off by default: this is a tool that works offline. Its renderer
        # is added only when asked for: a tile renderer with no tiles never "finishes", so
        # the document never became idle, and Bokeh's DocumentReady (and with it Panel's
        # onload) never fired.
        self.tiles = None
        self.night = ColumnDataSource({"x": [], "y": []}, name="night")
        self.land = ColumnDataSource(land_data(), name="land")
        self.predicted = ColumnDataSource({"x": [], "y": []}, name="predicted")  # the hub's
        # What the line draws: a browser-only copy of it (static/stream_copy.js), so that a
        # new orbit does not make the legend build its DOM again. tags: the copy refers to the
        # synced source, which nothing else does (a model nothing refers to is not sent).
        self.orbit = ColumnDataSource(
            {"x": [], "y": []}, name="orbit", syncable=False, tags=[self.predicted]
        )
        self.copy_orbit = CustomJS(
            args={"src": self.predicted, "dst": self.orbit}, code=static_text("stream_copy.js")
        )
        self.points = positions
        self.track = track  # a segment per position, from the hub (track.py); NaN: not drawn
        self.iss = ColumnDataSource(
            {k: [] for k in ("x", "y", "time", "lat", "lon", "source")}, name="iss", syncable=False
        )
        f = self.figure
        self.land_renderer = f.patches(
            "xs",
            "ys",
            source=self.land,
            fill_color="#f4f1e8",
            line_color="#9a9a8a",
            line_width=0.6,
        )
        f.patch("x", "y", source=self.night, fill_color="#0b1d3a", fill_alpha=0.18, line_alpha=0)
        f.line(
            "x",
            "y",
            source=self.orbit,
            line_color="#7b3fa0",
            line_width=1.5,
            line_dash="dashed",
            legend_label="next orbit (SGP4)",
            level="overlay",
        )
        f.segment(
            "x0",
            "y0",
            "x1",
            "y1",
            source=self.track,
            line_color="#d62728",
            line_width=2,
            legend_label="track",
            level="overlay",
        )
        dots = f.scatter(
            "x", "y", source=self.points, size=4, color="#d62728", alpha=0.6, level="overlay"
        )
        marker = f.scatter(
            "x",
            "y",
            source=self.iss,
            size=16,
            marker="circle_dot",
            fill_color="#ffbf00",
            line_color="#222",
            legend_label="ISS",
            level="overlay",
        )
        f.add_tools(
            HoverTool(
                renderers=[dots, marker],
                tooltips=[
                    ("time", "@time"),
                    ("lat", "@lat{0.0000}"),
                    ("lon", "@lon{0.0000}"),
                    ("source", "@source"),
                ],
            )
        )
        for renderer in f.renderers:
            # Nothing on the map is selected or muted: no copies of each glyph for that
            # (every model in a document costs each of its messages something).
            renderer.nonselection_glyph = None
            renderer.muted_glyph = None
        f.legend.location = "bottom_left"
        f.legend.background_fill_alpha = 0.7
        f.legend.click_policy = "hide"

    def __panel__(self):
        return self._pane

    def hook(self, ready: list) -> None:
        """Copy the next orbit to what the map draws on every change of it, and at load."""
        self.predicted.js_on_change("data", self.copy_orbit)
        ready.append(self.copy_orbit)

    def show_tiles(self, visible: bool) -> None:
        if self.tiles is None and visible:
            self.tiles = self.figure.add_tile(
                WMTSTileSource(
                    url="https://tile.openstreetmap.org/{Z}/{X}/{Y}.png",
                    attribution="© OpenStreetMap contributors",
                )
            )
        if self.tiles is not None:
            self.tiles.visible = visible

    def show_predicted(self, data: dict) -> None:
        """Show ``predicted_data`` (shared by every session: the dict is copied)."""
        self.predicted.data = dict(data)

    def show_night(self, data: dict) -> None:
        """Show ``night_data`` (shared by every session: the dict is copied)."""
        self.night.data = dict(data)
