"""Bokeh DataTables as the page uses them: read-only, fixed widths, newest row on top; and
the positions' table."""

from __future__ import annotations

from functools import partial

import panel as pn
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    DataTable,
    NumberFormatter,
    StringEditor,
    StringFormatter,
    TableColumn,
)

from isspanel.dashboard.static_files import static_text


def table(source: ColumnDataSource, name: str, columns: list[TableColumn], **kw) -> DataTable:
    # Fixed column widths: SlickGrid's autosize reads computed styles on every update, a
    # forced style recalculation per record (bench/page_profile.py: updateGrid 17 → 12 ms).
    return DataTable(
        source=source,
        name=name,
        columns=columns,
        index_position=None,
        sortable=False,
        reorderable=False,
        autosize_mode="none",
        sizing_mode="stretch_width",
        **kw,
    )


def column_maker() -> partial[TableColumn]:
    """TableColumn with one editor for a page's columns (read-only tables; each column would
    make its own). One per page: a model belongs to one document."""
    return partial(TableColumn, editor=StringEditor())


def on_any_change(source: ColumnDataSource, callback: CustomJS, ready: list) -> None:
    """Run ``callback`` when ``source`` is replaced or streamed to, and once the page is up."""
    source.js_on_change("data", callback)
    source.js_on_change("streaming", callback)
    ready.append(callback)  # the first data comes with the document: no change event


def newest_first_table(
    src: ColumnDataSource, rows: str, ready: list, name: str, columns: list[TableColumn], **kw
) -> DataTable:
    """A table of ``src``'s rows, newest on top: its source (``rows``) is a browser-only copy
    of ``src`` in reverse order, kept by newest_first.js."""
    # tags=[src]: nothing else refers to src, and a model nothing refers to is not in the
    # document, so the rows streamed to it would never reach the browser.
    dst = ColumnDataSource({k: [] for k in src.data}, name=rows, syncable=False, tags=[src])
    shown = table(dst, name, columns, **kw)
    code = static_text("newest_first.js")
    on_any_change(src, CustomJS(args={"src": src, "dst": dst, "table": shown}, code=code), ready)
    return shown


class PositionsTable(pn.viewable.Viewer):
    """The positions, newest on top: ``rows`` is kept in the browser, from the positions
    source, by ``static/positions.js`` (the page links the two), and never synced back."""

    def __init__(self, column: partial[TableColumn], **params):
        super().__init__(**params)
        self.rows = ColumnDataSource(
            {"ts": [], "time": [], "lat": [], "lon": [], "source": [], "mark": []},
            name="iss-table-rows",
            syncable=False,
        )
        mark = {"background_color": "mark"}  # the newest row's colour (positions.js)
        coordinate = NumberFormatter(format="0.0000", **mark)
        text = StringFormatter(**mark)
        self.table = table(
            self.rows,
            "iss-table",
            [
                column(field="time", width=150, title="Timestamp (UTC)", formatter=text),
                column(field="lat", width=85, title="Latitude", formatter=coordinate),
                column(field="lon", width=85, title="Longitude", formatter=coordinate),
                column(field="source", width=95, title="Source", formatter=text),
            ],
            height=430,
        )
        self._pane = pn.pane.Bokeh(self.table, width=430)

    def __panel__(self):
        return self._pane
