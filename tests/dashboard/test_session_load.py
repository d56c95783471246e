"""A record that comes while a page is still loading reaches that page once it has loaded.

A page has its document from the server before it says it is ready (Bokeh's DocumentReady,
once rendered); Panel drops the changes a held update makes in between, expecting the full
document to carry them (``pn.io.hold`` on a session not yet connected). So a page that got
a record's rows in that window never showed them (a page opened just before a record missed
its row for good; under load the window is seconds). Read on the wire by protocol-level Bokeh
sessions (bench/fanout_clients.py) against the real app under `panel serve`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import panel  # noqa: F401 - the pulled document names Panel's models

from bench.fanout_clients import BokehSession, Scanner
from isspanel.record import IssRecord
from tests.browser import DashboardServer
from tests.conftest import free_port, publish


def _says_last_record(session: BokehSession) -> bool:
    """The status line (its text) has been sent the first record's "Last record …"."""
    return any("Last record" in str(getattr(m, "text", "")) for m in session.document.models)


async def _until(queue: asyncio.Queue, condition: Callable[[], bool], what: str) -> None:
    """Apply the sessions' PATCH-DOCs to their documents until ``condition`` holds."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        try:
            session, message, received = await asyncio.wait_for(queue.get(), 0.5)
        except TimeoutError:
            continue
        session.apply(message, received)


async def _open_then_ready(url: str, ts: int, settings) -> None:
    # Opened first: its listener is woken first, so its update has run once the other's has.
    loading = BokehSession(url, Scanner(ts, ts), document_ready=False, wire=False)
    await loading.open()
    ready = BokehSession(url, Scanner(ts, ts), wire=False)
    await ready.open()
    queue: asyncio.Queue = asyncio.Queue()
    readers = [asyncio.ensure_future(s.read(queue)) for s in (loading, ready)]
    try:
        await asyncio.get_running_loop().run_in_executor(
            None, publish, settings, [IssRecord(ts, 10.0, 20.0, "sgp4")]
        )
        await _until(
            queue,
            lambda: ts in ready.arrivals and _says_last_record(ready),
            "the record's rows and status at the page that is ready",
        )
        await loading.ready()  # it has rendered: now it hears what it missed
        await _until(
            queue,
            lambda: ts in loading.arrivals and _says_last_record(loading),
            "the record's rows and status at the page that loaded meanwhile",
        )
    finally:
        for reader in readers:
            reader.cancel()
        for session in (loading, ready):
            session.socket.close()


def test_a_record_that_comes_while_a_page_loads_reaches_it_once_loaded(topic_factory, tmp_path):
    settings = topic_factory()
    server = DashboardServer(settings, free_port(), tmp_path / "panel.log")
    try:
        asyncio.run(_open_then_ready(server.url, int(time.time()) - 30, settings))
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
