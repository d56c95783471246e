"""The one way work done on another thread reaches a session's document.

A worker thread (a passes computation, a time-travel reader; the hub's consumer wakes the
pages the same way, per loop) never touches a Bokeh document. It calls Tornado's
thread-safe ``IOLoop.add_callback`` for the session's loop; there the work becomes a document
callback, run inside ``pn.io.hold`` so that all its changes leave in one message.

Why not ``doc.add_next_tick_callback`` straight from the worker: while the loop holds the
document (``pn.io.hold``), that call's ``SessionCallbackAdded`` event joins the held events,
which Panel copies and resets on release; an event added in between is lost, and so was the
update (a page's table stopped, a time-travel page stayed "loading").

Nor before the page has loaded: the browser has its document from the server before it says
it is ready (Bokeh's DocumentReady), and in between Panel drops what a held update changes,
counting on the full document to carry it (it did not: a page opened just before a record
never showed that record's row). So the work waits for the page's ``DocumentReady``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import panel as pn
from bokeh.document import Document
from bokeh.events import DocumentReady
from panel.io.state import set_curdoc
from tornado.ioloop import IOLoop


def to_session(
    loop: IOLoop, doc: Document, callback: Callable[[], None], alive: Callable[[], bool]
) -> None:
    """From any thread: run ``callback`` in ``doc``'s session, held, once its page has loaded,
    unless ``alive()`` is False by the time it reaches the session's loop."""
    loop.add_callback(_on_loop, doc, callback, alive)


def _on_loop(doc: Document, callback: Callable[[], None], alive: Callable[[], bool]) -> None:
    if alive():
        when_loaded(doc, partial(next_tick, doc, callback))


def is_loaded(doc: Document) -> bool:
    """Whether ``doc``'s page has said it is ready (True for a document of no session)."""
    with set_curdoc(doc):
        return pn.state.loaded


def when_loaded(doc: Document, callback: Callable[[], None]) -> None:
    """On the session's loop: run ``callback`` once ``doc``'s page has loaded (now if it has).

    Until then a held change would be dropped, not sent (see above). The wait is an event
    callback of the document itself, not ``pn.state.onload``: Panel keeps those in a
    process-wide table until the page loads, so a page that never did (a probe's GET, a tab
    closed at once, the GET's session under --num-procs) was kept for good. The callback runs
    before Panel's own (registered after the app's code) marks the page loaded, so it must
    only schedule work, as ``next_tick`` does. (isspanel serves without a thread pool: with
    one, Panel marks the page loaded on a worker thread, possibly after the check below.)
    """
    if is_loaded(doc):
        callback()
    else:
        doc.on_event(DocumentReady, lambda _event: callback())


def next_tick(doc: Document, callback: Callable[[], None]) -> None:
    """On the session's loop: run ``callback`` as a document callback, its changes in one
    message."""
    doc.add_next_tick_callback(partial(_held, doc, callback))


def _held(doc: Document, callback: Callable[[], None]) -> None:
    with pn.io.hold(doc):
        callback()
