"""A real SMTP server on loopback that misbehaves on command.

Each test builds a :class:`HostileServer` from *actions*: small callables run against one
connection (send these bytes, trickle them, stall, reset, start TLS with this certificate...).
``banner`` runs when a client connects; ``commands`` maps a verb to what happens when the
client sends it; anything else gets ``default``. Exim's test suite and Postfix's smtp-sink
show which faults matter; the ones here are those a client actually trips over.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from smtp_session.wire.certs import make_self_signed
from smtp_session.wire.events import ReplyReceived, SessionEvent

POLL = 0.05  # how often blocked server threads look at the stop flag


class Hangup(Exception):
    """End this connection now (the client went away, or an action closed it)."""


class Conn:
    """One accepted connection, as the actions see it."""

    def __init__(self, sock: socket.socket, server: HostileServer) -> None:
        self.sock = sock
        self.server = server
        self.buf = b""
        sock.settimeout(POLL)

    def send(self, data: bytes) -> None:
        """Write bytes; a client that has gone away ends the connection."""
        try:
            self.sock.settimeout(5.0)  # a client slow to read is not a client gone
            self.sock.sendall(data)
            self.sock.settimeout(POLL)
        except (OSError, ValueError) as exc:
            raise Hangup from exc

    def _fill(self) -> None:
        while not self.server.stopping.is_set():
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except (OSError, ValueError) as exc:
                raise Hangup from exc
            if not chunk:
                self.server.note_eof()
                raise Hangup
            self.buf += chunk
            return
        raise Hangup

    def readline(self) -> bytes:
        """One line from the client, CRLF included (blocks; Hangup at EOF)."""
        while b"\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        self.server.received.append(line + b"\n")
        if isinstance(self.sock, ssl.SSLSocket):
            self.server.received_in_tls.append(line + b"\n")
        return line + b"\n"


Action = Callable[[Conn], None]


def send(data: bytes) -> Action:
    """Send these bytes in one write."""
    return lambda conn: conn.send(data)


def trickle(data: bytes, interval: float) -> Action:
    """Send one byte every ``interval`` seconds (a slow or malicious server)."""

    def act(conn: Conn) -> None:
        for i in range(len(data)):
            conn.send(data[i : i + 1])
            if conn.server.stopping.wait(interval):
                raise Hangup

    return act


def close() -> Action:
    """Close the connection (a FIN)."""

    def act(conn: Conn) -> None:
        raise Hangup

    return act


def reset() -> Action:
    """Abort the connection: SO_LINGER 0 makes close() send a RST."""

    def act(conn: Conn) -> None:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise Hangup

    return act


def stall(heard: threading.Event | None = None) -> Action:
    """Say nothing more; read and drop whatever comes until the client goes away.

    ``heard`` is set once the client has sent something (a TLS ClientHello, say), so a test
    can wait for that moment instead of sleeping.
    """

    def act(conn: Conn) -> None:
        while True:
            conn._fill()
            conn.buf = b""
            if heard is not None:
                heard.set()

    return act


def endless(line: bytes = b"250-more and more\r\n") -> Action:
    """A multi-line reply that never ends."""

    def act(conn: Conn) -> None:
        chunk = line * 256
        while not conn.server.stopping.is_set():
            conn.send(chunk)
        raise Hangup

    return act


def read_lines(count: int) -> Action:
    """Read (and drop) ``count`` lines, e.g. part of a message after DATA."""

    def act(conn: Conn) -> None:
        for _ in range(count):
            conn.readline()

    return act


def read_message() -> Action:
    """Read message lines up to the lone dot (RFC 5321 §4.1.1.4)."""

    def act(conn: Conn) -> None:
        while conn.readline() not in (b".\r\n", b".\n"):
            pass

    return act


def starttls(context: ssl.SSLContext, reply: bytes = b"220 2.0.0 go ahead\r\n") -> Action:
    """Answer STARTTLS with ``reply`` (anything after its first line is an injection)."""

    def act(conn: Conn) -> None:
        conn.send(reply)
        conn.buf = b""
        conn.sock.settimeout(5.0)
        try:
            conn.sock = context.wrap_socket(conn.sock, server_side=True)
        except (OSError, ValueError) as exc:  # the client refused our certificate
            raise Hangup from exc
        conn.sock.settimeout(POLL)

    return act


def tls_garbage() -> Action:
    """Agree to STARTTLS, then answer the ClientHello with plain text and hang up."""

    def act(conn: Conn) -> None:
        conn.send(b"220 2.0.0 go ahead\r\n")
        conn._fill()
        conn.send(b"this is not a TLS record\r\n" * 4)
        raise Hangup

    return act


DEFAULT_COMMANDS: dict[str, list[Action]] = {
    "EHLO": [send(b"250-hostile.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")],
    "DATA": [send(b"354 go ahead\r\n"), read_message(), send(b"250 2.0.0 queued\r\n")],
    "QUIT": [send(b"221 2.0.0 bye\r\n"), close()],
}


@dataclass
class TlsFiles:
    """A generated certificate: a server context presenting it, and its PEM for clients."""

    context: ssl.SSLContext
    cert_pem: str

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting exactly this certificate (hostname check on)."""
        return ssl.create_default_context(cadata=self.cert_pem)


def make_tls(
    name: str = "localhost",
    ips: tuple[str, ...] = ("127.0.0.1",),
    days: int = 30,
    not_before: dt.datetime | None = None,
) -> TlsFiles:
    """A self-signed certificate for ``name`` (and ``ips``), ready for ``starttls``."""
    cert_pem, key_pem = make_self_signed(name, (name,), ips, days=days, not_before=not_before)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    return TlsFiles(context, cert_pem.decode())


class HostileServer:
    """A loopback TCP server, one thread per connection, scripted by actions."""

    def __init__(
        self,
        banner: Iterable[Action] = (send(b"220 hostile.test ESMTP\r\n"),),
        commands: dict[str, list[Action]] | None = None,
        default: Iterable[Action] = (send(b"250 2.0.0 ok\r\n"),),
    ) -> None:
        self.banner = list(banner)
        self.commands = {**DEFAULT_COMMANDS, **(commands or {})}
        self.default = list(default)
        self.stopping = threading.Event()
        self.received: list[bytes] = []
        self.received_in_tls: list[bytes] = []
        self.accepted = 0
        self.eof_times: list[float] = []
        self.handler_errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self._listener.settimeout(POLL)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="hostile-accept")

    def __enter__(self) -> HostileServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, end every connection and join every thread."""
        self.stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        for thread in list(self._threads):
            thread.join(5)
        self._listener.close()

    def note_eof(self) -> None:
        """The client closed its side: remember when (tests bound how late that may be)."""
        with self._lock:
            self.eof_times.append(time.monotonic())

    @property
    def live_connections(self) -> int:
        """Connection threads still running."""
        return sum(t.is_alive() for t in self._threads)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(sock,), name="hostile-conn")
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(sock, self)
        try:
            self._run(conn, self.banner)
            while True:
                line = conn.readline()
                verb = line.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
                self._run(conn, self.commands.get(verb, self.default))
        except Hangup:
            pass
        except Exception as exc:  # a broken script must show up in the test, not vanish
            self.handler_errors.append(exc)
        finally:
            conn.sock.close()

    @staticmethod
    def _run(conn: Conn, actions: Iterable[Action]) -> None:
        for action in actions:
            action(conn)


E = TypeVar("E", bound=SessionEvent)


class EventLog:
    """Collects a session's events (any thread) and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: SessionEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[E]) -> list[E]:
        """Every event of this class so far."""
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def wait_for(self, kind: type[E], count: int = 1, timeout: float = 5.0) -> E:
        """The ``count``-th event of this class, waiting up to ``timeout`` seconds."""
        with self._cond:
            found = self._cond.wait_for(lambda: len(self.of(kind)) >= count, timeout)
            name = kind.__name__
            assert found, f"no {name} event #{count} in {timeout}s: {self.events[-5:]}"
            return self.of(kind)[count - 1]

    def replies(self) -> list[dict[str, Any]]:
        """The replies so far, as the dicts the web layer sends."""
        return [{**e.reply.to_dict(), "after": e.after} for e in self.of(ReplyReceived)]
