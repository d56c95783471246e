"""A page's session, and the one way work done on another thread reaches it.

The rule: another thread reaches a page only through its ``SessionContext.post``, which hops
onto the session's event loop with Tornado's thread-safe ``IOLoop.add_callback`` and there
runs the work as a document callback under ``pn.io.hold``, once the page has loaded and only
while its session lives.

Why each step. Not ``doc.add_next_tick_callback`` straight from the thread: while the loop
holds the document (``pn.io.hold``), that call's ``SessionCallbackAdded`` event joins the held
events, which Panel copies and resets on release; an event added in between is lost, and so
was the update (a page's table stopped while Panel built a new page; a time-travel page stayed
"loading"). Held, so that all of one update's changes leave in one message. Not before the
page has loaded: the browser has its document from the server before it says it is ready
(Bokeh's ``DocumentReady``), and in between Panel drops what a held update changes, counting
on the full document to carry it (a page opened just before a record never showed that
record's row). The wait is an event callback of the document itself, not
``pn.state.onload``: Panel keeps those in a process-wide table until the page loads, so a page
that never did (a probe's GET, a tab closed at once, the GET's session under --num-procs) was
kept for good.

Work posted to one loop from other threads goes over in one hop per batch, however many pages
it is for (the hub wakes every page after each snapshot); work already due and not yet run is
not queued again, so a page woken by ten snapshots updates once.

A context needs no served session: a document of no session (a notebook's, a test's) counts
as loaded and its work runs on the loop at once, and ``location`` is None where the page has
no address bar to keep (a notebook).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from functools import partial

import panel as pn
from bokeh.document import Document
from bokeh.events import DocumentReady
from panel.io.location import Location
from panel.io.state import set_curdoc
from tornado.ioloop import IOLoop

log = logging.getLogger(__name__)

Work = Callable[[], None]


class SessionContext:
    """One page's session: its document, event loop, address (``location``) and request
    arguments (``args``); ``alive`` until it closes, ``loaded`` once the browser has rendered
    it. Made once per page (``current``) and handed to the components that need it."""

    def __init__(
        self,
        doc: Document | None = None,
        loop: IOLoop | None = None,
        location: Location | None = None,
        args: Mapping[str, list[bytes]] | None = None,
    ):
        self.doc = doc
        self.loop = loop if loop is not None else IOLoop.current()
        self.location = location
        self.args = args or {}
        self.alive = True
        self.loaded = doc is None or is_loaded(doc)
        self._due: dict[Work, None] = {}  # queued and not yet run, in order
        self._on_loaded: list[Work] = []
        self._on_close: list[Work] = []
        self._inbox = _inbox_of(self.loop)
        if doc is not None:
            if not self.loaded:
                doc.on_event(DocumentReady, self._ready)
            doc.on_session_destroyed(self._destroyed)

    @classmethod
    def current(cls) -> SessionContext:
        """The context of the page being built (in ``panel serve``, its session's)."""
        doc = pn.state.curdoc
        # Kept: pn.state.location follows pn.state.curdoc, which a callback run for a worker's
        # answer does not set, so read then it may be another page's.
        location = pn.state.location if doc is not None else None
        return cls(doc, IOLoop.current(), location, pn.state.session_args)

    def arg(self, name: str) -> str | None:
        """The first value of the request's argument ``name`` (``?at=``), or None."""
        values = self.args.get(name)
        return values[0].decode("utf-8", errors="replace") if values else None

    # -- from any thread -------------------------------------------------------------
    def post(self, work: Work) -> None:
        """Run ``work`` in this session, by the rule above (from any thread)."""
        self._inbox.put(self, work)

    # -- on the session's loop -------------------------------------------------------
    def soon(self, work: Work) -> None:
        """Run ``work`` as a held document callback on the next tick, once the page has
        loaded; not if it is queued already or the session has closed."""
        if not self.alive or work in self._due:
            return
        self._due[work] = None
        if self.loaded:
            next_tick(self.doc, partial(self._run, work))

    def when_loaded(self, callback: Work) -> None:
        """Call ``callback`` once the page has loaded (now if it has). It runs before Panel
        marks the page loaded, so it must only queue work (``soon``)."""
        if self.loaded:
            callback()
        else:
            self._on_loaded.append(callback)

    def on_close(self, callback: Work) -> None:
        """Call ``callback`` when the session closes."""
        self._on_close.append(callback)

    def hold(self) -> contextlib.AbstractContextManager:
        """Every change made inside leaves in one message."""
        return pn.io.hold(self.doc) if self.doc is not None else contextlib.nullcontext()

    def every(self, callback: Work, period_s: float) -> object | None:
        """Call ``callback`` every ``period_s`` on the session's loop (not without a
        document); ``stop`` ends it."""
        if self.doc is None:
            return None
        return self.doc.add_periodic_callback(callback, int(period_s * 1000))

    def stop(self, periodic: object | None) -> None:
        if periodic is not None and self.doc is not None:
            self.doc.remove_periodic_callback(periodic)

    def close(self) -> None:
        """The session has ended: nothing more runs in it, and ``on_close`` callbacks run."""
        self.alive = False
        self._due.clear()
        self._on_loaded.clear()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()

    def _destroyed(self, _session_context) -> None:
        self.close()

    def _ready(self, _event) -> None:
        if self.loaded or not self.alive:
            return
        self.loaded = True
        for work in list(self._due):  # what came while the page loaded
            next_tick(self.doc, partial(self._run, work))
        callbacks, self._on_loaded = self._on_loaded, []
        for callback in callbacks:
            callback()

    def _run(self, work: Work) -> None:
        self._due.pop(work, None)
        if self.alive:
            with self.hold():
                work()


def is_loaded(doc: Document) -> bool:
    """Whether ``doc``'s page has said it is ready (True for a document of no session)."""
    with set_curdoc(doc):
        return pn.state.loaded


def next_tick(doc: Document | None, callback: Work) -> None:
    """On the session's loop: ``callback`` as ``doc``'s next-tick callback; at once for no
    document or one of no session, whose callbacks nothing would run."""
    if doc is None or doc.session_context is None:
        callback()
    else:
        doc.add_next_tick_callback(callback)


class _Inbox:
    """Work posted to one loop from other threads: one ``add_callback`` per batch."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: list[tuple[SessionContext, Work]] = []

    def put(self, context: SessionContext, work: Work) -> None:
        with self._lock:
            self._items.append((context, work))
            first = len(self._items) == 1
        if first:
            context.loop.add_callback(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for context, work in items:
            try:
                context.soon(work)
            except Exception:
                log.exception("work posted to a session failed")


_INBOXES: weakref.WeakKeyDictionary[IOLoop, _Inbox] = weakref.WeakKeyDictionary()
_INBOXES_LOCK = threading.Lock()


def _inbox_of(loop: IOLoop) -> _Inbox:
    with _INBOXES_LOCK:
        inbox = _INBOXES.get(loop)
        if inbox is None:
            inbox = _INBOXES[loop] = _Inbox()
        return inbox
