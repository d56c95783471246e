"""Protocol-level clients for the fan-out bench: Bokeh sessions or plain WebSockets, no browser.

A Bokeh session here is what BokehJS does on the wire, through Bokeh's public protocol classes:
connect with a session token, pull the document, send DocumentReady (as a page does once it
has rendered), then read every PATCH-DOC. Two ways to read one ("bokeh-wire", the default, and
"bokeh-apply"):
  - wire: search the message's decoded JSON content, as the relay's clients search its text.
    A client then costs about what a relay client costs, so on a machine shared with the
    server the clients' own CPU does not set the latency being measured;
  - apply: apply it to the client's copy of the document (what BokehJS does) and search the
    changes it makes (``Document.on_change``); ~4 ms of client CPU per PATCH-DOC.

A record counts as arrived at a session when the first message that mentions its timestamp is
complete (its last WebSocket frame read). "Mentions" is judged without knowing the page: the
timestamp as epoch seconds, epoch milliseconds or ISO text ("2026-11-27T10:00:00", or with a
space).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import threading
import time
from datetime import datetime
from multiprocessing.connection import Connection

import numpy as np

log = logging.getLogger(__name__)

EPOCH = re.compile(r"(?<!\d)(\d{10}|\d{13})(?!\d)")
ISO = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)")
MAX_DEPTH = 10  # a PATCH-DOC nests events, data, entries, columns; nothing deeper carries one
MAX_MESSAGE = 64 * 2**20


class Scanner:
    """Finds the timestamps in [lo, hi] that a value mentions."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def _add(self, found: set[int], number: float) -> None:
        if self.lo <= number <= self.hi and number == int(number):
            found.add(int(number))
        elif self.lo * 1000 <= number <= self.hi * 1000 and number % 1000 == 0:
            found.add(int(number // 1000))

    def find(self, value, found: set[int] | None = None, depth: int = 0) -> set[int]:
        found = set() if found is None else found
        if depth > MAX_DEPTH or value is None or isinstance(value, bool):
            return found
        if isinstance(value, str):
            for m in EPOCH.finditer(value):
                self._add(found, int(m.group(1)))
            for m in ISO.finditer(value):
                when = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}+00:00")
                self._add(found, when.timestamp())
        elif isinstance(value, int | float | np.number):
            self._add(found, float(value))
        elif isinstance(value, np.ndarray):
            if value.dtype.kind in "iuf":
                flat = value.ravel().astype(float)
                hits = flat[((flat >= self.lo) & (flat <= self.hi)) | (flat >= self.lo * 1000)]
                for number in np.unique(hits)[:1000]:
                    self._add(found, number)
            elif value.dtype.kind in "OU":
                for item in value.ravel()[:10_000]:
                    self.find(item, found, depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                self.find(item, found, depth + 1)
        elif isinstance(value, list | tuple):
            for item in value[:10_000]:
                self.find(item, found, depth + 1)
        return found


def event_payload(event):
    """What a document change carries: a property's new value, streamed rows or patches."""
    for name in ("new", "data", "patches"):
        if hasattr(event, name):
            return getattr(event, name)
    model = getattr(event, "model", None)  # ColumnDataChangedEvent: the source's new data
    return getattr(model, "data", None)


class BokehSession:
    """One session of a Bokeh server app, spoken to through bokeh.protocol."""

    def __init__(self, url: str, scanner: Scanner, document_ready: bool = True, wire=True):
        from bokeh.protocol import Protocol
        from bokeh.protocol.receiver import Receiver

        self.url, self.scanner, self.document_ready = url, scanner, document_ready
        self.wire = wire
        self.protocol = Protocol()
        self.receiver = Receiver(self.protocol)
        self.arrivals: dict[int, float] = {}
        self.apply_s = 0.0  # this process's time spent applying PATCH-DOCs (client-side bias)
        self.patches = 0
        self._found: set[int] = set()
        self.socket = None

    async def _next(self):
        """The next complete message and the time its last frame was read, or (None, now)."""
        while (fragment := await self.socket.read_message()) is not None:
            now = time.time()
            if (message := await self.receiver.consume(fragment)) is not None:
                return message, now
        return None, time.time()

    async def open(self) -> None:
        from bokeh.client.util import websocket_url_for_server_url
        from bokeh.client.websocket import WebSocketClientConnectionWrapper
        from bokeh.document import Document
        from bokeh.util.token import generate_jwt_token, generate_session_id
        from tornado.websocket import websocket_connect

        token = generate_jwt_token(generate_session_id())
        self.socket = await websocket_connect(
            websocket_url_for_server_url(self.url),
            subprotocols=["bokeh", token],
            max_message_size=MAX_MESSAGE,
        )
        wrapper = WebSocketClientConnectionWrapper(self.socket)
        ack, _ = await self._next()
        if ack is None or ack.msgtype != "ACK":
            raise RuntimeError(f"expected ACK, got {ack!r}")
        await self.protocol.create("PULL-DOC-REQ").send(wrapper)
        while True:
            reply, _ = await self._next()
            if reply is None:
                raise RuntimeError("connection closed before PULL-DOC-REPLY")
            if reply.msgtype == "PULL-DOC-REPLY":
                break
        self.document = Document()
        if not self.wire:  # wire: no copy, so a client's heap (and its GC pauses) stay small
            reply.push_to_document(self.document)
            self.document.on_change(self._on_change)
        if self.document_ready:
            await self.ready()

    async def ready(self) -> None:
        """Say what a page says once it has rendered the document (Bokeh's DocumentReady)."""
        from bokeh.client.websocket import WebSocketClientConnectionWrapper
        from bokeh.document.events import MessageSentEvent
        from bokeh.events import DocumentReady

        event = MessageSentEvent(self.document, "bokeh_event", DocumentReady())
        wrapper = WebSocketClientConnectionWrapper(self.socket)
        await self.protocol.create("PATCH-DOC", [event]).send(wrapper)

    def _on_change(self, event) -> None:
        self.scanner.find(event_payload(event), self._found)

    async def read(self, pending: asyncio.Queue) -> None:
        while True:
            message, received = await self._next()
            if message is None:
                return
            if message.msgtype == "PATCH-DOC":
                pending.put_nowait((self, message, received))

    def apply(self, message, received: float) -> None:
        started = time.perf_counter()
        if self.wire:
            self.scanner.find(message.content, self._found)
        else:
            message.apply_to_document(self.document)
        self.apply_s += time.perf_counter() - started
        self.patches += 1
        for ts in self._found:
            self.arrivals.setdefault(ts, received)
        self._found.clear()


class RelayClient:
    """One plain WebSocket connection to the baseline relay ("patches": its messages)."""

    def __init__(self, url: str, scanner: Scanner):
        self.url, self.scanner = url, scanner
        self.arrivals: dict[int, float] = {}
        self.apply_s, self.patches = 0.0, 0
        self.socket = None

    async def open(self) -> None:
        from tornado.websocket import websocket_connect

        self.socket = await websocket_connect(self.url, max_message_size=MAX_MESSAGE)

    async def read(self, pending: asyncio.Queue) -> None:
        while (text := await self.socket.read_message()) is not None:
            pending.put_nowait((self, text, time.time()))

    def apply(self, text: str, received: float) -> None:
        started = time.perf_counter()
        for ts in self.scanner.find(text):
            self.arrivals.setdefault(ts, received)
        self.apply_s += time.perf_counter() - started
        self.patches += 1


async def _serve(clients: list, errors: list[str], opened: threading.Event, stop, open_s) -> None:
    """Open the clients one after the other (for at most ``open_s``), read them all until
    ``stop`` is set.

    Messages are time-stamped as they are read and applied by one worker, one per loop
    iteration: a session's stamp then waits for at most one other message's decoding, not
    for every session of this process to apply its copy first.
    """
    pending: asyncio.Queue = asyncio.Queue()
    readers = []
    deadline = time.monotonic() + open_s
    for client in list(clients):
        if time.monotonic() > deadline:
            errors.append(f"not opened: {open_s:.0f} s passed")
            clients.remove(client)
            continue
        try:
            await asyncio.wait_for(client.open(), 60)
            readers.append(asyncio.ensure_future(client.read(pending)))
        except Exception as exc:  # reported to the parent, which decides
            errors.append(repr(exc))
            clients.remove(client)
    opened.set()
    worker = asyncio.ensure_future(_apply(pending))
    await stop.wait()
    worker.cancel()
    for client in clients:
        client.socket.close()
    if readers:
        await asyncio.wait(readers, timeout=5)
    while not pending.empty():
        client, message, received = pending.get_nowait()
        client.apply(message, received)


async def _apply(pending: asyncio.Queue) -> None:
    while True:
        client, message, received = await pending.get()
        client.apply(message, received)
        await asyncio.sleep(0)  # let the readers stamp what has arrived meanwhile


def client_main(
    kind: str, url: str, count: int, lo: int, hi: int, conn: Connection, life_s, open_s, imports
):
    """A client process: open ``count`` sessions (within ``open_s``), answer the parent's
    commands, then report.

    Commands: ("seen", ts) -> how many sessions have ts; ("stop",) -> close all, send the
    arrivals (one {ts: epoch s} per session). The process ends by itself after ``life_s``.
    ``imports``: modules that define the document's custom models (Panel's, the app's).
    """
    logging.basicConfig(level=logging.WARNING)
    for module in imports if kind.startswith("bokeh") else ():  # models the pulled document names
        importlib.import_module(module)
    scanner = Scanner(lo, hi)
    deadline = time.monotonic() + life_s
    if kind.startswith("bokeh"):
        clients = [BokehSession(url, scanner, wire=kind != "bokeh-apply") for _ in range(count)]
    else:
        clients = [RelayClient(url, scanner) for _ in range(count)]
    errors: list[str] = []
    opened = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(_serve(clients, errors, opened, stop, open_s),),
        daemon=True,
    )
    thread.start()
    opened.wait(max(1.0, deadline - time.monotonic()))
    conn.send(("ready", len(clients) if opened.is_set() else 0, errors[:5]))
    while time.monotonic() < deadline and conn.poll(max(0.0, deadline - time.monotonic())):
        command = conn.recv()
        if command[0] == "seen":
            conn.send(sum(command[1] in c.arrivals for c in clients))
        elif command[0] == "stop":
            break
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    stats = {"apply_s": sum(c.apply_s for c in clients), "patches": sum(c.patches for c in clients)}
    conn.send(("arrivals", [dict(c.arrivals) for c in clients], stats))
