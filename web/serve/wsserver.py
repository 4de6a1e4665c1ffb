"""flask-sock's WebSocket server, read in the caller's thread, every frame written whole.

simple-websocket (under flask-sock) gives every connection a reader thread (a greenlet under
gevent) with a selector for its pings, and writes each frame with one ``socket.send``,
ignoring how much of it went out. Here:

- **Writes are whole and one at a time.** Under gevent a send to a slow reader writes what
  fits in the socket buffer and returns: the rest of the frame was lost and the browser read
  the next frame's bytes as payload ("rsv is not implemented"). And three callers write on
  one socket (the session's threads, pong and close replies, the keepalive), whose encoder
  (with permessage-deflate, its compressor) is not safe to drive from two threads at once.
  Every frame is encoded and written under one lock, with ``sendall``
  (tests/test_ws_frames.py shows both faults, docs/production.md what was measured).
- **No reader thread.** ``receive`` reads the socket itself, in the thread that asks for a
  message (the route's loop): one greenlet fewer per console, and no thread switch and
  event per frame that arrives (docs/production.md, the profile).
- **One keepalive for every connection of the process** (:class:`Keepalive`), instead of a
  selector per socket: it pings each connection every ``ping_interval`` seconds and closes
  one that neither answered the last ping nor has anything unread waiting (the pong may be
  in the socket while the route is busy with a frame).
- **Nothing kept from the handshake**: once open, the WSGI environ and wsproto's HTTP
  handshake state are dropped; the connection keeps its frame protocol only.

Over 300 lines: one WebSocket server; its reading, writing, keepalive and closing share one
lock and one connection state, and split apart each half would reach into the other's fields.
"""

from __future__ import annotations

import select
import threading
import time
import weakref
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed, Server
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from smtp_session.locks import rlock
from web.serve import wsfast
from web.serve.memory import quiet_trim

CLOSE_DRAIN = 1.0  # seconds to wait for the browser's close reply to a close we started


class _NoThread:
    """simple-websocket's Base starts ``thread_class(target=...)``: here it starts nothing."""

    name = "(no reader thread)"

    def __init__(self, target: Any = None) -> None:
        pass

    def start(self) -> None:
        pass


class _NoEvent:
    """Nor does it need the event its reader thread would set: ``receive`` reads itself."""

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> bool:
        return True


def _ready(sock: Any, write: bool, timeout: float) -> bool:
    """Whether ``sock`` can be read (or written) within ``timeout`` seconds (gevent-aware:
    gevent patches ``select``). ``poll``, not ``select``: a worker holding a thousand
    consoles has descriptors above select's limit of 1024, where it fails for every one."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        found = poller.poll(timeout * 1000)
    except (OSError, ValueError):  # closed meanwhile
        return True
    return bool(found)


class _WholeWrites:
    """The connection's socket, whose ``send`` writes everything, under the frame lock."""

    def __init__(self, sock: Any, lock: threading.RLock, tls: bool) -> None:
        self._sock = sock
        self._lock = lock
        self._tls = tls

    def send(self, data: bytes) -> int:
        with self._lock:
            wsfast.send_whole(self._sock, data, self._tls)
        return len(data)

    def __getattr__(self, name: str) -> Any:  # recv, fileno, shutdown, setsockopt...
        return getattr(self._sock, name)


class _Cork:
    """``WholeFrameServer.corked()``: a plain context manager (a generator one cost ~5 % of
    a round trip's CPU), reentrant, from any thread."""

    def __init__(self, server: WholeFrameServer) -> None:
        self.server = server

    def __enter__(self) -> None:
        with self.server.write_lock:
            self.server._corks += 1

    def __exit__(self, *exc: object) -> None:
        self.server._uncork()


class WholeFrameServer(Server):
    """simple_websocket.Server read in the caller's thread, every write whole, under one lock.

    A message is encoded and written under the lock, so messages leave in the order they
    were compressed; pings, pongs and close replies take the same lock, so they fall between
    messages, never inside one. A message is one frame, never fragments: a control frame
    between the fragments of a compressed message is legal (RFC 6455 §5.4) but wsproto,
    which Python clients read with, loses its inflate state on one.
    """

    # Set by simple-websocket's (untyped) __init__.
    sock: Any
    ws: Any
    environ: dict[str, Any]
    connected: bool
    close_reason: Any
    close_message: str | None
    incoming_message: Any
    incoming_message_len: int
    input_buffer: list[Any]
    ping_interval: float | None

    def __init__(self, environ: dict[str, Any], **options: Any) -> None:
        options["thread_class"], options["event_class"] = _NoThread, _NoEvent
        self.write_lock = rlock()
        self._open = False
        self._ping_owed = False
        self._next_ping = 0.0
        self._corks = 0
        self._held: list[bytes] = []
        self._cork = _Cork(self)  # one per connection: ``with ws.corked():`` per line
        self._closed_at: float | None = None
        # Open and no extension (permessage-deflate): the common frames skip wsproto.
        self._fast: wsfast.FastReader | None = None
        super().__init__(environ, **options)
        self.environ = {}  # the handshake is done with it
        if self.connected:
            self._open = True
            self.ws = self.ws.connection  # wsproto's frame protocol, without its HTTP half
            if not getattr(getattr(self.ws, "_proto", None), "extensions", True):
                self._fast = wsfast.FastReader(self.max_message_size)
            self.pong_received = True
            if self.ping_interval:
                self._next_ping = time.monotonic() + self.ping_interval
                Keepalive.of(self.ping_interval).add(self)

    def handshake(self) -> None:
        # Base.__init__ calls this first: wrap the socket before anything is written.
        self._raw = self.sock  # written directly by those already holding the lock
        self._tls = wsfast.is_tls(self._raw)  # asked once, not per frame
        self.sock = _WholeWrites(self.sock, self.write_lock, self._tls)
        super().handshake()

    # -- writing ---------------------------------------------------------------------------

    def send(self, data: Any) -> None:
        with self.write_lock:
            if not self.connected:
                raise ConnectionClosed(self.close_reason, self.close_message)
            frame = self._frame(data)
            if self._corks:
                self._held.append(frame)
            else:
                self._write(frame)

    def _frame(self, data: Any) -> bytes:
        """A message's frame: built here when no extension transforms it, else wsproto's."""
        binary = isinstance(data, bytes)
        if self._fast is not None:
            return wsfast.encode_binary(data) if binary else wsfast.encode_text(str(data))
        return bytes(self.ws.send(Message(data=data) if binary else TextMessage(data=str(data))))

    def _write(self, data: bytes) -> None:
        """Write (the caller holds the lock), and the ping the keepalive could not send."""
        wsfast.send_whole(self._raw, data, self._tls)
        if self._ping_owed:  # the keepalive found the lock taken: its ping goes now
            self._ping_owed = False
            self.sock.send(self.ws.send(Ping()))

    def corked(self) -> _Cork:
        """Messages sent meanwhile (from any thread, in order) leave together in one write
        at the end: the ``sent`` echo of a line and anything else its handling sends."""
        return self._cork

    def _uncork(self) -> None:
        with self.write_lock:
            self._corks -= 1
            held, self._held = (self._held, []) if not self._corks else ([], self._held)
            if held and self.connected:
                try:
                    self._write(b"".join(held))
                except OSError:
                    pass  # the socket is gone; the receive loop notices

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        with self.write_lock:
            if not self.connected:
                raise ConnectionClosed(self.close_reason, self.close_message)
            self._closed_at = time.monotonic()  # the keepalive ends it if no reply comes
            try:
                self.sock.send(self.ws.send(CloseConnection(reason or 1000, message)))
            except (OSError, LocalProtocolError):
                pass
            # Only now: the route, seeing it, may end the socket; the close frame is out.
            self.connected = False

    # -- reading ---------------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> Any:
        """The next message (str or bytes); None if ``timeout`` seconds pass first;
        ConnectionClosed once the connection has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.connected and not self.input_buffer:
            if deadline is not None and not _ready(
                self.sock, False, max(0.0, deadline - time.monotonic())
            ):
                return None
            self._read()
        if self.input_buffer:
            return self.input_buffer.pop(0)
        raise ConnectionClosed(self.close_reason, self.close_message)

    def _read(self) -> None:
        try:
            data = self._raw.recv(self.receive_bytes)  # not through _WholeWrites' __getattr__
            if not data:
                raise OSError("closed by the peer")
            if self._fast is not None and self._fast.active:
                data = self._read_fast(data)
                if not data:
                    return
            self.ws.receive_data(data)
            if not self._handle_events():
                self.connected = False
        except (OSError, LocalProtocolError):
            self.connected = False
        if not self.connected:
            self._ended()

    def _read_fast(self, data: bytes) -> bytes:
        """The common frames read by ``wsfast``; returns what wsproto reads from now on."""
        frames: list[tuple[int, Any]] = []
        rest = self._fast.feed(data, frames) if self._fast is not None else data
        for opcode, payload in frames:
            if opcode == wsfast.OP_PING:  # RFC 6455 §5.5.3: the pong echoes its payload
                with self.write_lock:
                    try:
                        self.sock.send(wsfast.header(wsfast.OP_PONG, len(payload)) + payload)
                    except OSError:
                        pass
            elif opcode == wsfast.OP_PONG:
                self.pong_received = True
            else:
                self.input_buffer.append(payload)
        return rest

    def _handle_events(self) -> bool:
        """Messages into ``input_buffer``; pings, pongs and closes answered. False once the
        connection is to end."""
        if not self._open:  # the handshake: simple-websocket accepts it (and the extension)
            return bool(super()._handle_events())
        for event in self.ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                if not self._take(event):
                    return False
            elif isinstance(event, Ping):
                self._reply(event.response())
            elif isinstance(event, Pong):
                self.pong_received = True
            elif isinstance(event, CloseConnection):
                self.close_reason, self.close_message = event.code, event.reason
                with self.write_lock:
                    if self.connected:  # not a reply to a close we sent
                        self.connected = False
                        self._reply(event.response())
                return False
        return True

    def _take(self, event: TextMessage | BytesMessage) -> bool:
        """Gather a message's fragments; False if it grows beyond the limit."""
        self.incoming_message_len += len(event.data)
        if self.max_message_size and self.incoming_message_len > self.max_message_size:
            self.close_reason = CloseReason.MESSAGE_TOO_BIG
            with self.write_lock:
                self._reply(CloseConnection(CloseReason.MESSAGE_TOO_BIG, "Message is too big"))
                self.connected = False
            return False
        part = event.data.encode() if isinstance(event, TextMessage) else event.data
        if self.incoming_message is None and event.message_finished:
            self.input_buffer.append(event.data)  # a whole message in one frame: as it is
            self.incoming_message_len = 0  # the limit is per message, not per connection
            return True
        if self.incoming_message is None:
            self.incoming_message = bytearray()
        self.incoming_message += part
        if event.message_finished:
            whole = bytes(self.incoming_message)
            text = isinstance(event, TextMessage)
            self.input_buffer.append(whole.decode() if text else whole)
            self.incoming_message = None
            self.incoming_message_len = 0
        return True

    def _reply(self, event: Any) -> None:
        with self.write_lock:
            try:
                self.sock.send(self.ws.send(event))
            except (OSError, LocalProtocolError):
                pass

    def _ended(self) -> None:
        """Both directions stop (a writer blocked on a full buffer returns with an error);
        the WSGI server closes the socket once the route has returned."""
        self._closed_at = None
        if self.ping_interval:
            Keepalive.of(self.ping_interval).discard(self)
        try:
            self.sock.shutdown(2)  # socket.SHUT_RDWR
        except OSError:
            pass

    def finish(self) -> None:
        """After the route: close (if still open), wait a moment for the browser's close
        reply so the socket does not end with unread data (a reset), and stop."""
        if self.connected:
            try:
                self.close()
            except ConnectionClosed:
                pass
            deadline = time.monotonic() + CLOSE_DRAIN
            while self.close_reason == CloseReason.NO_STATUS_RCVD:
                left = deadline - time.monotonic()
                if left <= 0 or not _ready(self.sock, False, left):
                    break
                self._read_quietly()
        self._ended()

    def _read_quietly(self) -> None:
        try:
            data = self._raw.recv(self.receive_bytes)  # not through _WholeWrites' __getattr__
            if not data:
                self.close_reason = CloseReason.ABNORMAL_CLOSURE
                return
            if self._fast is not None and self._fast.active:
                data = self._read_fast(data)  # the close frame goes on to wsproto
                if not data:
                    return
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, CloseConnection):
                    self.close_reason = event.code
        except (OSError, LocalProtocolError):
            self.close_reason = CloseReason.ABNORMAL_CLOSURE

    # -- keepalive (called by Keepalive's thread) ---------------------------------------------

    def keepalive(self, now: float) -> bool:
        """Ping when due; close a connection that missed a pong. False once it has ended."""
        if not self.connected:
            # Closed from another thread while the route waits in recv: a browser answers
            # at once; a dead one would hold the route forever, so the socket ends here.
            closed_at = self._closed_at
            if closed_at is None:
                return False
            if now - closed_at >= CLOSE_DRAIN:
                self._ended()
                return False
            return True
        if now < self._next_ping:
            return True
        assert self.ping_interval is not None
        self._next_ping = now + self.ping_interval
        if _ready(self.sock, False, 0):
            return True  # something waits to be read (the pong, perhaps): alive
        if not self.pong_received:
            self._timed_out()
            return False
        self.pong_received = False
        if not self.write_lock.acquire(blocking=False):
            self._ping_owed = True  # a message is being written: the ping follows it
            return True
        try:
            if _ready(self.sock, True, 0):
                self.sock.send(self.ws.send(Ping()))
            else:
                self._ping_owed = True  # the buffer is full: after the next message
        except (OSError, LocalProtocolError):
            pass
        finally:
            self.write_lock.release()
        return True

    def _timed_out(self) -> None:
        """No pong within an interval: 1008, as simple-websocket said it."""
        if self.write_lock.acquire(blocking=False):
            try:
                if self.connected and _ready(self.sock, True, 0):
                    self.close(CloseReason.POLICY_VIOLATION, "Ping/Pong timeout")
            except (ConnectionClosed, OSError):
                pass
            finally:
                self.write_lock.release()
        self.connected = False
        self._ended()  # the route's receive returns; a writer stuck on the buffer fails


class Keepalive:
    """One thread (a greenlet under gevent) pinging every open connection of a process."""

    _by_interval: dict[float, Keepalive] = {}
    _guard = threading.Lock()

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.tick = min(1.0, interval / 5)  # a ping leaves within a fifth of its interval
        self._conns: weakref.WeakSet[WholeFrameServer] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, interval: float) -> Keepalive:
        with cls._guard:
            found = cls._by_interval.get(interval)
            if found is None:
                found = cls._by_interval[interval] = cls(interval)
            return found

    def add(self, conn: WholeFrameServer) -> None:
        with self._lock:
            self._conns.add(conn)
            if self._thread is None or not self._thread.is_alive():  # again after a fork
                self._thread = threading.Thread(target=self._run, name="ws-keepalive", daemon=True)
                self._thread.start()

    def discard(self, conn: WholeFrameServer) -> None:
        with self._lock:
            self._conns.discard(conn)

    def __len__(self) -> int:
        return len(self._conns)

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            with self._lock:
                conns = list(self._conns)
            now = time.monotonic()
            for conn in conns:
                try:
                    alive = conn.keepalive(now)
                except Exception:  # one connection's failure must not stop the others' pings
                    alive = False
                if not alive:
                    self.discard(conn)


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
                trim = quiet_trim()  # its memory goes back once sockets stop ending
                trim.opened()
                try:
                    f(ws, *args, **kwargs)
                except ConnectionClosed:
                    pass
                finally:
                    trim.ended()
                ws.finish()
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
