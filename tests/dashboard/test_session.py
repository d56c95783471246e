"""``SessionContext``: the one way another thread reaches a page. Work waits for the page's
DocumentReady, a page that never sends one is not kept alive by the wait (as
``pn.state.onload``'s process-wide table kept it), posts to one loop go over in one hop, work
already due is not queued twice, and nothing runs once the session has closed."""

from __future__ import annotations

import ast
import gc
import threading
import weakref
from functools import partial
from pathlib import Path

import pytest
from bokeh.document import Document
from bokeh.events import DocumentReady

from isspanel.dashboard import session
from isspanel.dashboard.session import SessionContext


@pytest.fixture
def loading(monkeypatch):
    """Documents are pages that have not said they are ready (a served page before it has
    rendered: its session has connected, its DocumentReady has not come)."""
    monkeypatch.setattr(session, "is_loaded", lambda doc: False)


class Loop:
    """Stands in for a session's IOLoop: keeps what other threads hand it, runs it when told."""

    def __init__(self):
        self.hops: list = []
        self._lock = threading.Lock()

    def add_callback(self, callback, *args) -> None:
        with self._lock:
            self.hops.append(partial(callback, *args))

    def run(self) -> int:
        with self._lock:
            hops, self.hops = self.hops, []
        for hop in hops:
            hop()
        return len(hops)


def test_the_wait_ends_with_the_pages_document_ready(loading):
    doc, ran = Document(), []
    context = SessionContext(doc, Loop())
    context.when_loaded(lambda: ran.append("loaded"))
    context.soon(lambda: ran.append("work"))
    assert ran == [] and not context.loaded
    doc.callbacks.trigger_event(DocumentReady())
    assert context.loaded and ran == ["work", "loaded"]  # what came while loading, then on


class Page:
    """What a page's callback holds: the page, which holds its context and document."""

    def __init__(self, context: SessionContext):
        self.context = context

    def on_loaded(self) -> None:
        pass


def test_a_page_that_never_loads_is_not_kept_by_its_wait(loading):
    doc = Document()
    page = Page(SessionContext(doc, Loop()))
    page.context.when_loaded(page.on_loaded)
    page.context.soon(page.on_loaded)
    gone = weakref.ref(doc), weakref.ref(page), weakref.ref(page.context)
    del doc, page
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]


def test_a_document_of_no_session_runs_it_at_once():
    ran = []
    context = SessionContext(Document(), Loop())  # a notebook's, or a test's
    assert context.loaded and context.location is None and context.arg("at") is None
    context.when_loaded(lambda: ran.append("loaded"))
    context.soon(lambda: ran.append("work"))
    assert ran == ["loaded", "work"]


def test_a_request_argument_is_its_first_value_and_an_empty_one_is_not_absent():
    context = SessionContext(Document(), Loop(), args={"at": [b"", b"x"], "lat": [b"\xff1"]})
    assert context.arg("at") == "" and context.arg("lat") == "\ufffd1"
    assert context.arg("lon") is None


def test_posts_from_threads_reach_each_session_once_due_in_one_hop_per_batch(ticks):
    loop = Loop()
    contexts = [SessionContext(Document(), loop) for _ in range(3)]
    ran: list[int] = []
    works = [partial(ran.append, i) for i in range(3)]  # one object each: posted twice

    def wake() -> None:  # as the hub does after a snapshot, from the consumer thread
        for context, work in zip(contexts, works, strict=True):
            context.post(work)

    threads = [threading.Thread(target=wake) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= loop.run() <= 4  # one hop per batch, never one per post
    assert len(ticks) == 3  # each session's work once, though it was posted four times
    for tick in ticks:
        tick()
    assert sorted(ran) == [0, 1, 2]
    ticks.clear()
    wake()  # run: due again
    assert loop.run() == 1 and len(ticks) == 3


def test_nothing_runs_in_a_closed_session(ticks):
    loop, ran, closed = Loop(), [], []
    context = SessionContext(Document(), loop)
    context.on_close(lambda: closed.append(True))
    context.soon(lambda: ran.append("queued before the close"))
    context.close()
    assert closed == [True] and not context.alive
    context.post(lambda: ran.append("posted after"))
    loop.run()
    for tick in ticks:
        tick()
    assert ran == []


# What reaches or captures a session; only session.py may. gc_freeze.py schedules a collection
# on the server's loop (a close, not a session), so it may use IOLoop.
SESSION_NAMES = {
    "add_callback",
    "add_next_tick_callback",
    "add_periodic_callback",
    "on_session_destroyed",
    "curdoc",
    "session_args",
    "set_curdoc",
}


DASHBOARD = Path(session.__file__).parent


@pytest.mark.parametrize(
    "path", [*sorted(DASHBOARD.glob("*.py")), DASHBOARD.parent / "main.py"], ids=lambda p: p.name
)
def test_only_the_session_module_reaches_a_session(path):
    if path.name == "session.py":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            assert node.attr not in SESSION_NAMES, f"{path.name} uses {node.attr}"
            if node.attr == "location":  # pn.state.location: the context's, kept at creation
                assert "state" not in ast.unparse(node.value), f"{path.name}: pn.state.location"
        if isinstance(node, ast.ImportFrom) and path.name != "gc_freeze.py":
            names = {a.name for a in node.names}
            assert not names & (SESSION_NAMES | {"IOLoop"}), f"{path.name} imports {names}"
