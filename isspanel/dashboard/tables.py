"""Bokeh DataTables as the page uses them: read-only, fixed widths, newest row on top."""

from __future__ import annotations

from functools import partial

from bokeh.models import ColumnDataSource, CustomJS, DataTable, StringEditor, TableColumn

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


def newest_first(src: ColumnDataSource, name: str, ready: list) -> ColumnDataSource:
    """A browser-only copy of ``src`` in reverse order, kept by newest_first.js."""
    # tags=[src]: nothing else refers to src, and a model nothing refers to is not in the
    # document, so the rows streamed to it would never reach the browser.
    dst = ColumnDataSource({k: [] for k in src.data}, name=name, syncable=False, tags=[src])
    on_any_change(
        src, CustomJS(args={"src": src, "dst": dst}, code=static_text("newest_first.js")), ready
    )
    return dst
