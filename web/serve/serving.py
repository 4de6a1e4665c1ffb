"""The embedded server (``python app.py``) with a header deadline and a per-address cap.

Werkzeug's threaded server gives every connection a thread and waits for its request line and
headers for ever, so 300 sockets that each send half a request hold 300 threads. Here a
connection must finish its request line and headers (a WebSocket handshake is one) within
``header_timeout`` seconds of starting to wait for them, in total, however slowly it trickles
bytes; a reaper thread shuts it down otherwise. An address with ``max_per_address``
connections open has its next one answered 503 and closed at once, before any thread starts.
gunicorn.conf.py gives gunicorn the same two guards (web/serve/gworker.py).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from web.serve.connguard import refusal

log = logging.getLogger(__name__)


class HeaderDeadlines:
    """Connections still reading their request head, and when each must be done."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._pending: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._reap, name="header-deadlines", daemon=True)
        self._thread.start()

    def watch(self, conn: socket.socket) -> None:
        with self._lock:
            self._pending[conn] = time.monotonic() + self.timeout_s

    def forget(self, conn: socket.socket) -> bool:
        """Stop watching; False if the deadline had already passed and the socket was shut."""
        with self._lock:
            return self._pending.pop(conn, None) is not None

    def _reap(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout_s / 4)):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._pending.items() if deadline <= now]
                for conn in late:
                    del self._pending[conn]
            for conn in late:
                try:  # the blocked read returns at once; the handler closes the socket
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()


class GuardedHandler(WSGIRequestHandler):
    """Werkzeug's handler, with the request line and headers under a deadline."""

    server: GuardedServer

    def handle_one_request(self) -> None:
        # Also between the requests of a kept-alive connection: an idle one ends in time.
        self.server.deadlines.watch(self.connection)
        self.connection.settimeout(self.server.deadlines.timeout_s)
        try:
            super().handle_one_request()
        finally:
            self.server.deadlines.forget(self.connection)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if not self.server.deadlines.forget(self.connection):
            self.close_connection = True  # cut off mid-headers: never run the app for it
            return False
        self.connection.settimeout(None)  # the body, a WebSocket: the app's own timeouts
        return bool(ok)


class GuardedServer(ThreadedWSGIServer):
    """ThreadedWSGIServer with the header deadline and the per-address connection cap."""

    def __init__(
        self, host: str, port: int, app: Any, header_timeout_s: float, max_per_address: int
    ) -> None:
        super().__init__(host, port, app, handler=GuardedHandler)
        self.deadlines = HeaderDeadlines(header_timeout_s)
        self.max_per_address = max_per_address
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        address = str(client_address[0]) if isinstance(client_address, tuple) else ""
        with self._lock:
            full = self._open[address] >= self.max_per_address
            if not full:
                self._open[address] += 1
        if full:
            self._refuse(request, address)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            address = str(client_address[0]) if isinstance(client_address, tuple) else ""
            with self._lock:
                self._open[address] -= 1
                if self._open[address] <= 0:
                    del self._open[address]

    def _refuse(self, request: socket.socket, address: str) -> None:
        log.warning("refused a connection from %s: %d open", address, self.max_per_address)
        try:
            request.setblocking(False)  # a fresh socket's buffer takes this whole; never wait
            request.send(refusal(self.max_per_address))
        except OSError:
            pass
        self.shutdown_request(request)

    def server_close(self) -> None:
        self.deadlines.stop()
        super().server_close()


def make_guarded_server(
    host: str, port: int, app: Any, header_timeout_s: float, max_per_address: int
) -> GuardedServer:
    """The server ``python app.py`` runs."""
    return GuardedServer(host, port, app, header_timeout_s, max_per_address)
