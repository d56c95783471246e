"""The live dashboard in a notebook: ``from isspanel.dashboard import live``.

``live.dashboard()`` shows status, map, table and Flink views in a cell, live; ``live.table()``,
``live.map()``, ``live.status()`` and ``live.flink()`` one part each. They stream from Kafka
through the server's own hub code: one ``StreamHub`` and ``HubConsumer`` per kernel, made on
first use and shared by every view shown in that kernel; ``live.stop()`` (also at the
kernel's exit) ends it. A view whose output is cleared or re-run is unsubscribed: JupyterLab
tells Panel (its pyviz extension's ``delete`` message) and Panel calls the delete actions
registered with ``pn.extension.add_delete_action``. Panel and Bokeh load inline: nothing is
asked of another host.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref

import panel as pn

from isspanel.dashboard.consumer import HubConsumer
from isspanel.dashboard.hub import StreamHub
from isspanel.dashboard.live_view import PARTS, LiveView
from isspanel.logs import quiet_kafka
from isspanel.settings import Settings

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_kernel: tuple[StreamHub, HubConsumer] | None = None
_views: weakref.WeakSet[LiveView] = weakref.WeakSet()
_extended = False

__all__ = ["PARTS", "LiveView", "dashboard", "extension", "flink", "hub", "map", "status"]
__all__ += ["cleared", "stop", "table", "view", "views"]


def extension() -> None:
    """``pn.extension`` once per kernel, inline (offline), with the cleanup hook."""
    global _extended
    with _LOCK:
        if _extended:
            return
        _extended = True
        pn.extension.add_delete_action(cleared)
        atexit.register(stop)
    pn.extension(inline=True)


def hub(settings: Settings | None = None) -> StreamHub:
    """The kernel's hub, its consumer started on first use (``Settings.from_env()``)."""
    global _kernel
    with _LOCK:
        if _kernel is None:
            quiet_kafka()  # kafka-python's outage noise to DEBUG, as in the server
            shared = StreamHub(settings or Settings.from_env())
            consumer = HubConsumer(shared)
            consumer.start()
            _kernel = (shared, consumer)
        elif settings is not None and settings != _kernel[0].settings:
            raise ValueError("the kernel's hub runs with other settings: live.stop() first")
        return _kernel[0]


def view(*parts: str, settings: Settings | None = None) -> LiveView:
    """A live view of ``parts`` (of ``PARTS``), fed by the kernel's hub."""
    extension()
    made = LiveView(hub(settings), parts)
    _views.add(made)
    return made


def dashboard(settings: Settings | None = None) -> LiveView:
    """Status, map, table and Flink views together."""
    return view(*PARTS, settings=settings)


def table(settings: Settings | None = None) -> LiveView:
    """The positions, newest on top."""
    return view("table", settings=settings)


def map(settings: Settings | None = None) -> LiveView:  # live.map() reads best
    """The world map: track, ISS, next orbit, night side."""
    return view("map", settings=settings)


def status(settings: Settings | None = None) -> LiveView:
    """The status line: Kafka, the last record, the counts."""
    return view("status", settings=settings)


def flink(settings: Settings | None = None) -> LiveView:
    """Flink's ground speed, windows and events."""
    return view("flink", settings=settings)


def views() -> list[LiveView]:
    """The kernel's live views that are still subscribed."""
    return [v for v in list(_views) if v.subscribed]


def stop() -> None:
    """Close every view and stop the kernel's consumer (its thread joined)."""
    global _kernel
    for shown in list(_views):
        shown.close()
    with _LOCK:
        kernel, _kernel = _kernel, None
    if kernel is not None:
        kernel[1].stop()
        log.info("live: the kernel's consumer stopped")


def cleared(root_id: str) -> None:
    """The delete action: the output whose root model is ``root_id`` is gone (JupyterLab
    cleared or re-ran its cell); its view is unsubscribed."""
    for shown in list(_views):
        if root_id in shown.roots:
            shown.close()
