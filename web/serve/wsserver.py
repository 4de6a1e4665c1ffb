"""flask-sock's WebSocket server with every frame written whole, one writer at a time.

simple-websocket (under flask-sock) writes each frame with one ``socket.send`` and ignores
how much of it went out, and three callers write on one socket: the session's threads
(``send``), its own reader thread (pings every WS_PING seconds, pongs, close replies) and
``close``. Two faults follow (tests/test_ws_frames.py shows both, docs/production.md says
what was measured):

- Under gevent a send to a reader that is not keeping up writes what fits in the socket
  buffer and returns: the rest of a large frame is lost and the browser reads the next
  frame's bytes as payload ("rsv is not implemented", "invalid frame header").
- Two writers can interleave: the kernel lets a second ``send`` in while a large one waits
  for buffer space, and wsproto's encoder (with permessage-deflate, its compressor) is not
  safe to drive from two threads at once.

Here every frame is encoded and written under one lock, and the write is ``sendall``.
"""

from __future__ import annotations

import threading
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed, Server


class _WholeWrites:
    """The connection's socket, whose ``send`` writes everything, under the frame lock."""

    def __init__(self, sock: Any, lock: threading.RLock) -> None:
        self._sock = sock
        self._lock = lock

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:  # recv, fileno, close, setsockopt...
        return getattr(self._sock, name)


class _LockedProtocol:
    """wsproto's connection, encoding one event at a time (its deflate state is shared)."""

    def __init__(self, connection: Any, lock: threading.RLock) -> None:
        self._connection = connection
        self._lock = lock

    def send(self, event: Any) -> bytes:
        with self._lock:
            return bytes(self._connection.send(event))

    def __getattr__(self, name: str) -> Any:  # receive_data, events, state...
        return getattr(self._connection, name)


class WholeFrameServer(Server):
    """simple_websocket.Server whose every write is whole and goes through one lock.

    A message is encoded and written under the lock, so messages leave in the order they
    were compressed; the reader thread's pings and pongs take the same lock, so they fall
    between messages, never inside one. A message is one frame, never fragments: a control
    frame between the fragments of a compressed message is legal (RFC 6455 §5.4) but wsproto,
    which simple-websocket and Python clients read with, loses its inflate state on one.
    """

    sock: Any  # set by simple-websocket's (untyped) __init__
    ws: Any

    def handshake(self) -> None:
        # Base.__init__ calls this before it starts the reader thread: wrap first.
        self.write_lock = threading.RLock()
        self.sock = _WholeWrites(self.sock, self.write_lock)
        self.ws = _LockedProtocol(self.ws, self.write_lock)
        super().handshake()

    def send(self, data: Any) -> None:
        with self.write_lock:
            super().send(data)

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        with self.write_lock:
            super().close(reason, message)


class WholeFrameSock(Sock):
    """flask-sock's extension, serving its routes with WholeFrameServer."""

    bp: Any  # set by flask-sock's (untyped) __init__

    def route(self, path: str, bp: Any = None, **kwargs: Any) -> Any:
        """flask-sock's ``route`` (same contract), with the server above."""

        def decorator(f: Any) -> Any:
            @wraps(f)
            def websocket_route(*args: Any, **kwargs: Any) -> Response:
                options = current_app.config.get("SOCK_SERVER_OPTIONS", {})
                ws = WholeFrameServer(request.environ, **options)
                try:
                    f(ws, *args, **kwargs)
                except ConnectionClosed:
                    pass
                try:
                    ws.close()
                except (ConnectionClosed, OSError):
                    pass
                return _AfterUpgrade(ws.mode)

            kwargs["websocket"] = True
            if bp:
                bp.route(path, **kwargs)(websocket_route)
            elif self.app:
                self.app.route(path, **kwargs)(websocket_route)
            else:
                if self.bp is None:
                    from flask import Blueprint

                    self.bp = Blueprint("__flask_sock", __name__)
                self.bp.route(path, **kwargs)(websocket_route)

        return decorator


class _AfterUpgrade(Response):
    """What the WSGI server gets once the socket is done: nothing more to write (as in
    flask-sock: werkzeug ends the request itself, gunicorn is stopped by StopIteration)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "gunicorn":
            raise StopIteration()
        if self.mode == "werkzeug":
            return super().__call__(*args, **kwargs)
        return []
