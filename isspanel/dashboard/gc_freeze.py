"""Full garbage collections off the fan-out path: what an open page is made of is frozen.

CPython 3.11 runs a full collection whenever the objects promoted to its oldest generation
reach a quarter of those already there, and a full collection walks every tracked object,
which means every open page's Bokeh models and Panel objects. With 100 pages in one process
(``bench/dashboard_fanout.py``) that was a pause of 0.4–0.9 s every ~25 records, felt by
every page at once: the fan-out's p99. ``gc.freeze()`` once a page is built moves what exists
into a generation no collection walks; the garbage a record makes is still collected young.

What a closed page leaves behind is freed by reference counting; whatever only a cycle keeps
alive would stay frozen, so a page's close schedules one full collection a few seconds later
(one for the pages that close together): unfreeze, collect, freeze again. That pause is paid
when pages close, not on every record.
"""

from __future__ import annotations

import gc
import logging
import time

from tornado.ioloop import IOLoop

log = logging.getLogger(__name__)

COLLECT_AFTER_S = 5.0  # pages closing together (a server restart's reloads) share one

_scheduled: list[bool] = [False]  # per process, as the collector is; used on its loop only


def page_built(enabled: bool) -> None:
    """A session's page exists: freeze it (and everything else alive) out of full collections."""
    if enabled:
        gc.freeze()


def page_closed() -> None:
    """A session ended (on the server's loop): collect what it left, soon, once; nothing to
    do if nothing is frozen (switched off)."""
    if gc.get_freeze_count() and not _scheduled[0]:
        _scheduled[0] = True
        IOLoop.current().call_later(COLLECT_AFTER_S, collect)


def collect() -> int:
    """Unfreeze, run a full collection, freeze again; the number of objects freed."""
    _scheduled[0] = False
    started = time.perf_counter()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    log.debug(
        "full collection after pages closed: %d freed, %d frozen, %.0f ms",
        freed,
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )
    return freed
