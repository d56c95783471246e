"""The dashboard: one Kafka consumer per server process, fanned out to every browser.

The server side knows no Bokeh or Panel (tests/test_layout.py):

- ``streams.py`` is the one registry of the streams: topic, depth, columns, validator, rows;
- ``consumer.py`` polls their topics on a thread and feeds the hub;
- ``hub.py`` validates, buffers (``buffers.py``) and publishes one immutable ``Snapshot``
  (``snapshot.py``) per change; it owns the sky (``sky_state.py``: TLE, readouts, next orbit,
  night side) and the health (``health.py``);
- ``track.py`` decides the map's track (no line across the antimeridian or an anomaly);
- ``map_data.py`` makes what the map draws besides, as shared arrays;
- ``history.py`` builds the snapshot of a past moment (time travel) the same way.

The page side, one per browser session:

- ``page.py`` is a session's page: it sends each browser only what changed;
- ``session.py`` is a page's session and the one way another thread reaches it;
- ``world_map.py`` draws land, track, next orbit and night; ``flink_view.py`` Flink's rows;
  ``tables.py`` makes the page's DataTables; ``time_travel.py`` puts a page at a moment;
- ``status.py`` makes every piece of HTML from data (the status line, the banner);
- ``gc_freeze.py`` keeps Python's full garbage collections off the per-record path;
- ``live.py`` is the dashboard in a notebook cell (one hub per kernel); ``live_view.py`` a view;
- ``static/`` holds the page's JavaScript and CSS, read by ``static_files.py``.

``isspanel/main.py`` and ``isspanel/app_hooks.py`` are the thin Bokeh directory-app shims.
The names below load lazily, so that importing the server side never imports the page's.
"""

from __future__ import annotations

from isspanel.lazy import lazy_names

_NAMES = {
    "LINK_CSS": "page",
    "DashboardPage": "page",
    "get_hub": "consumer",
    "stop_hub": "consumer",
}

__all__ = sorted(_NAMES)

__getattr__ = lazy_names(__name__, _NAMES)
