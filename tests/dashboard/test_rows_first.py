"""Rows first: a record that brings a new next orbit and status reaches every page as its rows
alone, and the rest follows in the page's next message (page.py, ``_sync``).

Read on the wire by protocol-level Bokeh sessions (bench/fanout_clients.py), as BokehJS reads
it, against the real app under `panel serve`.
"""

from __future__ import annotations

import asyncio
import time

import panel  # noqa: F401 - the pulled document names Panel's models

from bench.fanout_clients import BokehSession, Scanner
from isspanel.record import IssRecord
from tests.browser import DashboardServer
from tests.conftest import free_port, publish

SESSIONS = 3


def _changes(message, ids: dict[str, str]) -> set[str]:
    """What a PATCH-DOC changes: "positions" (streamed rows), "predicted", "status". Not the
    night side: the consumer redraws it every minute, whenever that falls."""
    found = set()
    for event in message.content.get("events", []):
        model = (event.get("model") or {}).get("id")
        name = ids.get(model, "")
        if name in ("positions", "predicted"):
            found.add(name)
        if event.get("attr") == "text" and "Last record" in str(event.get("new")):
            found.add("status")
    return found


async def _read(url: str, ts: int, settings) -> list[list[set[str]]]:
    sessions = [BokehSession(url, Scanner(ts, ts), wire=False) for _ in range(SESSIONS)]
    queue: asyncio.Queue = asyncio.Queue()
    for session in sessions:
        await session.open()
    ids = {}
    for session in sessions:
        for name in ("positions", "predicted"):
            ids[session.document.get_model_by_name(name).id] = name
    readers = [asyncio.ensure_future(s.read(queue)) for s in sessions]
    # Nothing to wait for before the record: what a session hears without one (its load, a
    # status refresh with a new session count, whenever that falls) has no rows, no next
    # orbit and no "Last record": _changes finds nothing in it, so it is not counted; were
    # it found, the lists below would not start with the record's messages, and fail.
    await asyncio.get_running_loop().run_in_executor(
        None, publish, settings, [IssRecord(ts, 10.0, 20.0, "sgp4")]
    )
    per_session: dict[int, list[set[str]]] = {id(s): [] for s in sessions}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(
        any("status" in c for c in changes) for changes in per_session.values()
    ):
        try:
            session, message, _ = await asyncio.wait_for(queue.get(), 1.0)
        except TimeoutError:
            continue
        if changes := _changes(message, ids):
            per_session[id(session)].append(changes)
    for reader in readers:
        reader.cancel()
    for session in sessions:
        session.socket.close()
    return list(per_session.values())


def test_a_records_rows_reach_each_page_before_its_next_orbit_and_status(topic_factory, tmp_path):
    settings = topic_factory()
    server = DashboardServer(settings, free_port(), tmp_path / "panel.log")
    try:
        ts = int(time.time()) - 30
        seen = asyncio.run(_read(server.url, ts, settings))
    finally:
        server.stop()
    for changes in seen:
        # The first record: its rows, then the first next orbit and "Last record …".
        assert changes[:2] == [{"positions"}, {"predicted", "status"}], (changes, server.log())
