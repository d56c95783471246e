"""The Flink analytics of a page: ground speed, the windows and the events, newest on top."""

from __future__ import annotations

from functools import partial

import panel as pn
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, NumberFormatter, TableColumn
from bokeh.plotting import figure

from isspanel.dashboard.tables import newest_first_table


def plain(*renderers) -> None:
    """Drop the glyph copies Bokeh makes for selection and muting: nothing here is selected
    or muted, and each model in a document costs every message of that session (Bokeh
    lists the document's models for each PATCH-DOC). BokehJS draws with the glyph itself."""
    for renderer in renderers:
        renderer.nonselection_glyph = None
        renderer.muted_glyph = None


class FlinkView(pn.viewable.Viewer):
    """The sources the page streams Flink's rows to, and their figure and tables."""

    def __init__(
        self,
        column: partial[TableColumn],
        ready: list,
        sources: dict[str, ColumnDataSource],
        **params,
    ):
        super().__init__(**params)
        # The page's sources, one per stream (streams.STREAMS), by stream name.
        self.speeds = sources["speeds"]
        self.speed_fig = figure(
            name="speed-figure",
            height=240,
            sizing_mode="stretch_width",
            x_axis_type="datetime",
            title="Ground speed (Flink, km/h)",
            tools="pan,wheel_zoom,reset,hover",
            tooltips=[("km/h", "@kmh{0,0}")],
        )
        plain(
            self.speed_fig.line("t", "kmh", source=self.speeds, line_width=2, color="#1f77b4"),
            self.speed_fig.scatter("t", "kmh", source=self.speeds, size=4, color="#1f77b4"),
        )
        self.speed_fig.xaxis.formatter = DatetimeTickFormatter(minutes="%H:%M", hours="%H:%M")
        number = NumberFormatter(format="0,0.0")
        self.stats = sources["stats"]
        self.stats_table = newest_first_table(
            self.stats,
            "stats-rows",
            ready,
            "stats-table",
            [
                column(field="window_start", width=150, title="Window (UTC)"),
                column(field="count", width=70, title="Positions"),
                column(field="mean_speed_kmh", width=95, title="Mean km/h", formatter=number),
                column(field="distance_km", width=95, title="Distance km", formatter=number),
            ],
            height=150,
        )
        self.events = sources["events"]
        self.events_table = newest_first_table(
            self.events,
            "events-rows",
            ready,
            "events-table",
            [
                column(field="eventTime", width=140, title="Time (UTC)"),
                column(field="event", width=95, title="Event"),
                column(field="detail", width=110, title="Detail"),
                column(field="longitude", width=80, title="Longitude", formatter=number),
            ],
            height=150,
        )
        self._layout = pn.Row(
            pn.pane.Bokeh(self.speed_fig, sizing_mode="stretch_width"),
            pn.Column(
                pn.pane.Markdown("**Windows (Flink)**", margin=(0, 10)),
                pn.pane.Bokeh(self.stats_table, sizing_mode="stretch_width"),
                pn.pane.Markdown("**Events (Flink crossings, live feed)**", margin=(0, 10)),
                pn.pane.Bokeh(self.events_table, sizing_mode="stretch_width"),
                width=430,
            ),
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self._layout
