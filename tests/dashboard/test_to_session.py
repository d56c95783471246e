"""``to_session.when_loaded``: work for a page waits for its DocumentReady, and a page that never
sends one is not kept alive by the wait (as ``pn.state.onload``'s process-wide table kept it)."""

from __future__ import annotations

import gc
import weakref

import pytest
from bokeh.document import Document
from bokeh.events import DocumentReady

from isspanel.dashboard import to_session


@pytest.fixture
def loading(monkeypatch):
    """Documents are pages that have not said they are ready (a served page before it has
    rendered: its session has connected, its DocumentReady has not come)."""
    monkeypatch.setattr(to_session, "is_loaded", lambda doc: False)


def test_the_wait_ends_with_the_pages_document_ready(loading):
    doc, ran = Document(), []
    to_session.when_loaded(doc, lambda: ran.append("ran"))
    assert ran == []
    doc.callbacks.trigger_event(DocumentReady())
    assert ran == ["ran"]


class Page:
    """What a page's callback holds: the page, which holds its document."""

    def __init__(self, doc: Document):
        self.doc = doc

    def on_loaded(self) -> None:
        pass


def test_a_page_that_never_loads_is_not_kept_by_its_wait(loading):
    doc = Document()
    page = Page(doc)
    to_session.when_loaded(doc, page.on_loaded)
    gone = weakref.ref(doc), weakref.ref(page)
    del doc, page
    gc.collect()
    assert [ref() for ref in gone] == [None, None]


def test_a_document_of_no_session_runs_it_at_once():
    ran = []
    to_session.when_loaded(Document(), lambda: ran.append("ran"))
    assert ran == ["ran"]
