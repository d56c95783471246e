"""A reverse proxy between a browser and the dashboard that can lose a page's WebSocket the
way a broken intermediary does: the server sees the connection end, the browser does not.

Plain HTTP passes through (a request when the server is down gets its connection closed).
``drop_websockets`` closes each WebSocket's server side and leaves its browser side open and
mute: nothing the browser sends reaches the server, nothing more comes back, and no close
ever reaches the page (a proxy that does not pass a close on, a NAT that forgot the link).
The server then has a session nobody uses, and discards it.
"""

from __future__ import annotations

import logging
import socket
import threading

log = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024


class LinkProxy:
    """Listens on 127.0.0.1:``port`` and forwards every connection to ``target_port``."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._websockets: list[tuple[socket.socket, socket.socket]] = []
        self._muted: set[socket.socket] = set()  # browser sides kept open, never closed
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="link-proxy").start()

    def drop_websockets(self) -> int:
        """Close every WebSocket's server side, the browser's side kept open and mute; return
        how many there were."""
        with self._lock:
            dropped, self._websockets = self._websockets, []
            self._muted |= {client for client, _ in dropped}
        for _client, upstream in dropped:
            _close(upstream)
        log.info("dropped %d WebSocket(s) on the server's side only", len(dropped))
        return len(dropped)

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        with self._lock:
            for client in self._muted:
                _close(client)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        head = b""
        try:
            # The request's head, to tell a WebSocket upgrade from plain HTTP.
            while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                chunk = client.recv(HEAD_LIMIT)
                if not chunk:
                    _close(client)
                    return
                head += chunk
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
            upstream.sendall(head)
        except OSError:
            _close(client)  # the server is down: the browser sees its request fail
            return
        if b"upgrade: websocket" in head.lower():
            with self._lock:
                self._websockets.append((client, upstream))
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, client: socket.socket) -> None:
        while True:
            try:
                data = src.recv(HEAD_LIMIT)
            except OSError:
                data = b""
            if client in self._muted:
                if src is client and data:
                    continue  # what a mute link's browser sends goes nowhere
                return  # the browser's side stays open: no close reaches the page
            if not data:
                _close(src)
                _close(dst)
                return
            try:
                dst.sendall(data)
            except OSError:
                _close(src)
                _close(dst)
                return


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
