"""One SMTP connection driven line by line, its replies delivered as events.

The session owns the socket. The caller (the web layer) writes lines with :meth:`send_line`;
a reader thread turns received bytes into :class:`~smtp_session.reply.Reply` objects and
hands each to ``on_event``. Under gevent the thread is a greenlet; nothing here changes.
TLS (STARTTLS and implicit, RFC 3207 / RFC 8314) is a swap of ``self._sock`` under the
write lock, so the rest of the session does not care which kind of socket it holds.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import tlsinfo
from .dialogue import Dialogue, Outgoing
from .errors import ConnectError, LineError, PlaygroundError, SessionClosed
from .reply import Reply, ReplyParser

# RFC 5321 §2.3.8 and the 2023 SMTP smuggling attacks: a line we send never holds CR or LF,
# and NUL has no place in SMTP text either.
_FORBIDDEN = {"\r": "CR", "\n": "LF", "\x00": "NUL"}
RECV_SIZE = 65536


@dataclass(frozen=True)
class Event:
    """Something that happened on the session: a reply, a TLS upgrade, the close..."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Limits:
    """Bounds a session holds the server to (seconds; None means no bound)."""

    connect_timeout: float = 10.0
    reply_timeout: float | None = 300.0  # RFC 5321 §4.5.3.2 suggests 5 minutes or more
    idle_timeout: float | None = None
    max_duration: float | None = None
    tls_timeout: float = 10.0


EventSink = Callable[[Event], None]


def check_line(text: str) -> None:
    """Refuse a line that would put a bare CR, LF or NUL on the wire."""
    for ch, name in _FORBIDDEN.items():
        if ch in text:
            raise LineError(
                f"The line contains {name}, which would let it smuggle extra commands; "
                "send one line at a time (RFC 5321 §2.3.8).",
                code="bad_line",
            )


class SmtpSession:
    """A client connection to one SMTP server, safe to drive from one writer thread."""

    def __init__(self, on_event: EventSink, limits: Limits | None = None) -> None:
        self.on_event = on_event
        self.limits = limits or Limits()
        self.dialogue = Dialogue()
        self._parser = ReplyParser()
        self._sock: socket.socket | None = None
        self._wlock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed = threading.Event()
        self._close_reason: str | None = None
        self._reader: threading.Thread | None = None
        self._started = 0.0
        self._last_activity = 0.0
        self.tls_context: ssl.SSLContext | None = None
        self.server_hostname: str | None = None
        self.tls_active = False

    # -- connecting ---------------------------------------------------------------------

    def connect(
        self,
        host: str,
        port: int,
        addresses: Iterable[str] | None = None,
        implicit_tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """Open the connection (trying each address in turn) and start reading replies."""
        self.server_hostname = host
        self.tls_context = tls_context
        sock, address = self._open(host, port, list(addresses) if addresses else None)
        self._started = self._last_activity = time.monotonic()
        self.on_event(Event("connected", {"host": host, "port": port, "address": address}))
        self._sock = sock
        self.dialogue.expect_greeting()
        if implicit_tls:
            try:
                self._handshake("implicit")
            except PlaygroundError as exc:
                self._shutdown(exc.message, exc.code)
                raise
        self._reader = threading.Thread(target=self._read_loop, name=f"smtp-{host}", daemon=True)
        self._reader.start()

    def _open(self, host: str, port: int, addresses: list[str] | None) -> tuple[socket.socket, str]:
        if addresses is None:
            addresses = _resolve(host, port, self.limits.connect_timeout)
        errors: list[str] = []
        code = "connect"
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), self.limits.connect_timeout)
            except OSError as exc:
                errors.append(f"{address}: {_describe_os_error(exc)}")
                code = _error_code(exc)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address
        causes = [errors[0].split(": ", 1)[1]] if len(errors) == 1 else errors
        raise ConnectError(
            f"Could not connect to {host} port {port}: " + "; ".join(causes) + ".", code=code
        )

    # -- sending ------------------------------------------------------------------------

    def send_line(self, text: str) -> Outgoing:
        """Send one line (CRLF appended); returns how it was classified."""
        check_line(text)
        if self._closed.is_set():
            raise SessionClosed(f"The session is closed: {self._close_reason}.", "closed")
        if self._sock is None:
            raise SessionClosed("The session is not connected; connect first.", "not_connected")
        with self._wlock:
            out = self.dialogue.classify(text)
            try:
                self._sock.sendall(text.encode("utf-8") + b"\r\n")
            except OSError as exc:
                self._shutdown(f"sending failed: {_describe_os_error(exc)}", "send_failed")
                raise SessionClosed(f"Sending failed: {_describe_os_error(exc)}.") from exc
        self._last_activity = time.monotonic()
        if out.verb == "STARTTLS":
            self.dialogue.starttls_sent = True
        self.on_event(Event("sent", {"text": text, "kind": out.kind, "verb": out.verb}))
        return out

    def send_lines(self, lines: Iterable[str]) -> list[Outgoing]:
        """Send several lines in order; every line is checked before any is sent."""
        lines = list(lines)
        for line in lines:
            check_line(line)
        return [self.send_line(line) for line in lines]

    # -- reading ------------------------------------------------------------------------

    def _read_loop(self) -> None:
        reason, code = "the server closed the connection", "server_closed"
        try:
            while not self._closed.is_set():
                sock = self._sock
                assert sock is not None
                sock.settimeout(self._next_deadline())
                data = sock.recv(RECV_SIZE)
                if not data:
                    break
                self._last_activity = time.monotonic()
                for reply in self._parser.feed(data):
                    self._deliver(reply)
        except TimeoutError:
            reason, code = self._timeout_reason()
        except PlaygroundError as exc:
            reason, code = exc.message, exc.code
        except (OSError, ValueError) as exc:
            if self._closed.is_set():
                return
            reason, code = f"the connection failed: {_describe_os_error(exc)}", "connection_lost"
        for reply in self._parser.flush():
            self._deliver(reply)
        self._shutdown(reason, code)

    def _deliver(self, reply: Reply) -> None:
        owed = self.dialogue.on_reply(reply)
        after = owed.after if owed else None
        line = owed.line if owed else None
        self.on_event(Event("reply", {"reply": reply, "after": after, "line": line}))
        if after == "STARTTLS" and reply.code == 220:
            self._starttls()

    def _next_deadline(self) -> float | None:
        now = time.monotonic()
        limits = self.limits
        bounds = []
        if self.dialogue.pending and limits.reply_timeout:
            bounds.append(self._last_activity + limits.reply_timeout - now)
        if limits.idle_timeout:
            bounds.append(self._last_activity + limits.idle_timeout - now)
        if limits.max_duration:
            bounds.append(self._started + limits.max_duration - now)
        return max(0.01, min(bounds)) if bounds else None

    def _timeout_reason(self) -> tuple[str, str]:
        now = time.monotonic()
        lim = self.limits
        if lim.max_duration and now - self._started >= lim.max_duration:
            return f"the session reached its maximum of {lim.max_duration:g} s", "max_duration"
        if self.dialogue.pending and lim.reply_timeout:
            return (
                f"the server took longer than {lim.reply_timeout:g} s to reply",
                "reply_timeout",
            )
        return f"the session was idle for {lim.idle_timeout:g} s", "idle_timeout"

    # -- TLS ----------------------------------------------------------------------------

    def _starttls(self) -> None:
        # RFC 3207 §4.2: anything the server sent after its 220 and before the handshake
        # must be discarded; a server (or a man in the middle) could inject replies there.
        injected = bytes(self._parser._buf)
        self._parser = ReplyParser()
        injected += _drain(self._sock)
        if injected:
            self.on_event(
                Event(
                    "discarded",
                    {
                        "bytes": len(injected),
                        "text": injected[:512].decode("utf-8", "replace"),
                        "message": "The server sent data after its 220 reply to STARTTLS and "
                        "before the TLS handshake. It was discarded, unread: this is how "
                        "plaintext command injection attacks work (RFC 3207 §4.2).",
                    },
                )
            )
        self._handshake("starttls")
        self.dialogue.reset_for_tls()

    def _handshake(self, mode: str) -> None:
        context = self.tls_context or tlsinfo.client_context()
        with self._wlock:
            raw = self._sock
            assert raw is not None
            raw.settimeout(self.limits.tls_timeout)
            try:
                tls = context.wrap_socket(raw, server_hostname=self.server_hostname)
            except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
                raise tlsinfo.handshake_error(exc, self.server_hostname) from exc
            self._sock = tls
            self.tls_active = True
        self.on_event(Event("tls", {"mode": mode, **tlsinfo.describe(tls, context)}))

    # -- closing ------------------------------------------------------------------------

    def close(self, reason: str = "closed by the user", code: str = "client_closed") -> None:
        """Close the connection (idempotent) and wait briefly for the reader to finish."""
        self._shutdown(reason, code)
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=1.0)

    def _shutdown(self, reason: str, code: str) -> None:
        with self._close_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            self._close_reason = reason
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.on_event(Event("closed", {"reason": reason, "code": code}))

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def close_reason(self) -> str | None:
        return self._close_reason


def _drain(sock: socket.socket | None) -> bytes:
    """Whatever already sits in the receive buffer, without waiting."""
    if sock is None:
        return b""
    chunks = []
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(RECV_SIZE)
            if not chunk:
                break
            chunks.append(chunk)
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        sock.setblocking(True)
    return b"".join(chunks)


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectError(
            f"Could not find the address of {host}: the name was not found ({exc.strerror}).",
            code="name_not_found",
        ) from exc
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    return "connect"


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out (no answer from the server)"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, BrokenPipeError):
        return "the server closed the connection"
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
