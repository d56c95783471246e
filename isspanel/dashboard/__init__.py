"""The dashboard: one Kafka consumer per server process, fanned out to every browser.

- ``consumer.py`` polls the four topics on a thread and feeds the hub;
- ``hub.py`` validates, buffers and publishes one immutable ``Snapshot`` per change;
- ``page.py`` is a session's page: it sends each browser only what changed;
- ``session.py`` is a page's session and the one way another thread reaches it;
- ``flink_view.py`` shows Flink's rows; ``tables.py`` makes the page's DataTables;
- ``world_map.py`` draws land, track, next orbit and night; ``health.py`` the links' health;
- ``status.py`` makes every piece of HTML from data (the status line, the banner);
- ``track.py`` decides the map's track (no line across the antimeridian or an anomaly);
- ``gc_freeze.py`` keeps Python's full garbage collections off the per-record path;
- ``live.py`` is the dashboard in a notebook cell (one hub per kernel); ``live_view.py`` a view;
- ``static/`` holds the page's JavaScript and CSS, read by ``static_files.py``.

``isspanel/main.py`` and ``isspanel/app_hooks.py`` are the thin Bokeh directory-app shims.
"""

from isspanel.dashboard.consumer import get_hub, stop_hub
from isspanel.dashboard.page import LINK_CSS, DashboardPage

__all__ = ["LINK_CSS", "DashboardPage", "get_hub", "stop_hub"]
