"""The dashboard: one Kafka consumer per server process, fanned out to every browser.

- ``consumer.py`` polls the four topics on a thread and feeds the hub;
- ``hub.py`` validates, buffers and publishes one immutable ``Snapshot`` per change;
- ``page.py`` is a session's page: it sends each browser only what changed;
- ``flink_view.py`` shows Flink's rows; ``tables.py`` makes the page's DataTables;
- ``world_map.py`` draws land, track, next orbit and night; ``health.py`` the status;
- ``track.py`` decides the map's track (no line across the antimeridian or an anomaly);
- ``to_session.py`` is the one way a worker thread's result reaches a session's document;
- ``gc_freeze.py`` keeps Python's full garbage collections off the per-record path;
- ``static/`` holds the page's JavaScript and CSS.

``isspanel/main.py`` and ``isspanel/app_hooks.py`` are the thin Bokeh directory-app shims.
"""

from isspanel.dashboard.consumer import get_hub, stop_hub
from isspanel.dashboard.page import LINK_CSS, DashboardPage

__all__ = ["LINK_CSS", "DashboardPage", "get_hub", "stop_hub"]
