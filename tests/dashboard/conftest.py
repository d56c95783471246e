"""Fixtures of the dashboard's tests that drive a page's session by hand, without a server."""

from __future__ import annotations

import pytest

from isspanel.dashboard import session


@pytest.fixture
def ticks(monkeypatch) -> list:
    """The sessions' next-tick queue, run by hand (as if every document had a session)."""
    queue: list = []
    monkeypatch.setattr(session, "next_tick", lambda doc, callback: queue.append(callback))
    return queue


class InlineLoop:
    """A session's loop that is the test's thread: what is handed to it runs at once."""

    def add_callback(self, callback, *args) -> None:
        callback(*args)


@pytest.fixture
def inline_loop() -> InlineLoop:
    return InlineLoop()
