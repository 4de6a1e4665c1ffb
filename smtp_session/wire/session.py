"""One SMTP connection driven line by line, its replies delivered as events.

The session owns the socket. The caller (the web layer) writes lines with :meth:`send_line`;
a reader turns received bytes into :class:`~smtp_session.wire.reply.Reply` objects and hands
each to ``on_event``: a thread, or under gevent a socket watcher that runs a read step in a
greenlet only when something arrives (watched.py: an idle console holds no reader stack).
TLS (STARTTLS and implicit, RFC 3207 / RFC 8314) is a swap of ``self._sock`` under the
write lock, so the rest of the session does not care which kind of socket it holds. Sending
(queued lines paced by the replies) is the :class:`~smtp_session.wire.sending.Sender` half.

Over 300 lines: the connection's life (connect, reader, TLS swap, close) shares one lock and
one socket; sending is already split off into sending.py.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from smtp_session.errors import ConnectError, PlaygroundError, ProtocolError, SessionClosed
from smtp_session.locks import rlock
from smtp_session.wire import tlsinfo
from smtp_session.wire.dialogue import Dialogue
from smtp_session.wire.events import (
    CloseCode,
    Closed,
    Connected,
    Discarded,
    EventSink,
    ReplyReceived,
    SessionEvent,
    TlsMode,
    TlsUp,
)
from smtp_session.wire.lines import (
    RECV_SIZE,
    Limits,
    check_line,
    connect,
    describe_os_error,
    error_code,
    reply_bytes,
    resolve,
    to_millis,
    try_recv,
)
from smtp_session.wire.pacing import Pacer, Unit
from smtp_session.wire.reply import Reply, ReplyParser
from smtp_session.wire.sending import Sender
from smtp_session.wire.watched import WatchedReader, watched_reader

__all__ = ["EventSink", "Limits", "SessionEvent", "SmtpSession", "TlsMode", "check_line"]

# How long a trailing CR waits for its LF before it counts as a bare CR line end (which
# RFC 5321 §2.3.8 forbids): a CRLF split across two TCP segments arrives well within this.
CR_GRACE = 0.25

log = logging.getLogger(__name__)


class SmtpSession(Sender):
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
        self._reader: threading.Thread | WatchedReader | None = None
        # _owed_since: when the wait for the oldest owed reply began (the reply timeout
        # runs from there, so a server trickling bytes cannot stretch it forever).
        self._started = self._last_activity = self._owed_since = 0.0
        self.tls_context: ssl.SSLContext | None = None
        self.pinned_fingerprint: str | None = None
        self.server_hostname: str | None = None
        self.tls_active = False
        # STARTTLS progress: None, "asked" (no reply yet) or "handshake" (220 in, TLS not up).
        self._tls_step: str | None = None  # "handshake": the 220 to STARTTLS is in
        # The model lock: the dialogue, the queue and the decisions on them change together,
        # whichever thread (the browser's, the reader) sends; taken before the write lock.
        self._model = rlock()
        self.pacer = Pacer(self.dialogue)
        # Called with each unit before it leaves; raising refuses it (the web layer's quota).
        self.admit: Callable[[Unit], None] = lambda unit: None

    # -- connecting ---------------------------------------------------------------------

    def connect(
        self,
        host: str,
        port: int,
        addresses: Iterable[str] | None = None,
        tls_mode: TlsMode | None = None,
        tls_context: ssl.SSLContext | None = None,
        pinned_fingerprint: str | None = None,
    ) -> None:
        """Open the connection (trying each address in turn) and start reading replies.

        ``tls_mode=TlsMode.IMPLICIT`` speaks TLS from the first byte (RFC 8314 §3); None
        connects in the clear (STARTTLS may upgrade later). With ``pinned_fingerprint``
        (SHA-256, colon hex) TLS fails unless the server shows exactly that certificate: that
        is how the sandbox is trusted.
        """
        if tls_mode not in (None, TlsMode.IMPLICIT):
            raise ValueError("connect() starts plain or with implicit TLS; STARTTLS comes later")
        self.server_hostname = host
        self.tls_context = tls_context
        self.pinned_fingerprint = pinned_fingerprint
        sock, address = self._open(host, port, list(addresses) if addresses else None)
        self._started = self._last_activity = self._owed_since = time.monotonic()
        self._emit(Connected(host=host, port=port, address=address))
        self._sock = sock
        self.dialogue.expect_greeting()
        if tls_mode is TlsMode.IMPLICIT:
            try:
                self._handshake(TlsMode.IMPLICIT)
            except PlaygroundError as exc:
                self._shutdown(exc.message, CloseCode.of(exc.code))
                raise
        self._reader = self._new_reader(host)
        self._reader.start()

    def _new_reader(self, host: str) -> threading.Thread | WatchedReader:
        sock = self._sock
        assert sock is not None
        if not isinstance(sock, ssl.SSLSocket):  # implicit TLS is read by a thread throughout
            watched = watched_reader(self, sock.fileno())
            if watched is not None:
                return watched
        return threading.Thread(target=self._read_loop, name=f"smtp-{host}", daemon=True)

    def _open(self, host: str, port: int, addresses: list[str] | None) -> tuple[socket.socket, str]:
        if addresses is None:
            addresses = resolve(host, port)
        errors: list[str] = []
        code = "connect"
        for address in addresses:
            try:
                sock = connect(address, port, self.limits.connect_timeout)
            except OSError as exc:
                errors.append(f"{address}: {describe_os_error(exc)}")
                code = error_code(exc)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, address
        causes = [errors[0].split(": ", 1)[1]] if len(errors) == 1 else errors
        raise ConnectError(
            f"Could not connect to {host} port {port}: " + "; ".join(causes) + ".", code=code
        )

    # -- reading ------------------------------------------------------------------------

    def _read_loop(self) -> None:
        self._read_until_end(self._pump)

    def _read_wake(self, timed_out: bool) -> bool:
        """One wake of the watched reader (watched.py): what arrived read and delivered, or
        the wait's end handled; True while the session reads on."""
        return self._read_until_end(lambda: self._pump_ready(timed_out))

    def _read_until_end(self, pump: Callable[[], tuple[str, CloseCode] | None]) -> bool:
        """Run ``pump``; if it says the connection ended, end the session (False)."""
        try:
            ended = pump()
            if ended is None:
                return True
            reason, code = ended
            if not self._closed.is_set():
                for reply in self._parser.flush():
                    self._deliver(reply)
        except PlaygroundError as exc:
            reason, code = exc.message, CloseCode.of(exc.code)
        except Exception as exc:  # a bug must end the session in words, not kill the thread
            log.exception("SMTP reader failed")
            reason = f"an internal error ended the session ({exc!r})"
            code = CloseCode.INTERNAL_ERROR
        try:
            self._shutdown(reason, code)
        finally:
            self._close_socket()
        return False

    def _pump(self) -> tuple[str, CloseCode]:
        """Receive and deliver until the connection ends; returns why it ended."""
        while not self._closed.is_set():
            ended = self._read_step(self._receive)
            if ended is not None:
                return ended
        return "closed by the user", CloseCode.CLIENT_CLOSED

    def _pump_ready(self, timed_out: bool) -> tuple[str, CloseCode] | None:
        """One step of the watched reader; None while the connection goes on."""
        if self._closed.is_set():
            return "closed by the user", CloseCode.CLIENT_CLOSED
        ended = self._read_step(lambda: self._receive_ready(timed_out))
        if ended is None and isinstance(self._sock, ssl.SSLSocket):
            return self._pump()  # STARTTLS is done: this greenlet reads on, as a thread would
        if ended is None and self._closed.is_set():  # closed meanwhile (from a listener too):
            return "closed by the user", CloseCode.CLIENT_CLOSED  # never watch its number again
        return ended

    def _read_step(self, receive: Callable[[], bytes | None]) -> tuple[str, CloseCode] | None:
        """Receive once and deliver; why the connection ended, or None while it goes on."""
        try:
            data = receive()
        except TimeoutError:
            remaining = self._remaining()
            if self._parser.awaiting_lf and (remaining is None or remaining > 0):
                for reply in self._parser.end_bare_cr():
                    self._deliver(reply)
                return None
            return self._timeout_reason()
        except (OSError, ValueError) as exc:
            failed = f"the connection failed: {describe_os_error(exc)}"
            return failed, CloseCode.CONNECTION_LOST
        if data is None:  # the watched reader woke with nothing to read
            return None
        if not data:
            return "the server closed the connection", CloseCode.SERVER_CLOSED
        self._consume(data)
        return None

    def _receive(self) -> bytes:
        sock = self._sock
        assert sock is not None
        wait = self._remaining()
        if self._parser.awaiting_lf:  # a CR just arrived: give its LF a moment, no more
            wait = CR_GRACE if wait is None else min(wait, CR_GRACE)
        if isinstance(sock, ssl.SSLSocket):
            data = self._receive_tls(sock, wait)
        else:
            sock.settimeout(None if wait is None else max(0.01, wait))
            data = sock.recv(RECV_SIZE)
        self._last_activity = time.monotonic()
        return data

    def _read_wait(self) -> float | None:
        """How long the watched reader waits for data (as ``_receive`` would, in recv)."""
        sock = self._sock
        assert sock is not None
        wait = self._remaining()
        if self._parser.awaiting_lf:
            wait = CR_GRACE if wait is None else min(wait, CR_GRACE)
        wait = None if wait is None else max(0.01, wait)
        sock.settimeout(wait)  # the writer's sendall waits as long, as with the thread reader
        return wait

    def _receive_ready(self, timed_out: bool) -> bytes | None:
        """What the watched plain socket holds, without waiting (None: nothing yet); after
        the wait ran out with nothing in, TimeoutError as a blocking recv would raise."""
        sock = self._sock
        assert sock is not None
        try:
            data = os.read(sock.fileno(), RECV_SIZE)  # gevent keeps the descriptor non-blocking
        except BlockingIOError:
            if timed_out:
                raise TimeoutError("no data from the server in time") from None
            return None
        self._last_activity = time.monotonic()
        return data

    def _receive_tls(self, sock: ssl.SSLSocket, wait: float | None) -> bytes:
        # OpenSSL forbids SSL_read and SSL_write on one SSL object from two threads at once
        # (a line sent during a read can be lost): wait for data outside the write lock,
        # read it non-blocking under the lock.
        deadline = None if wait is None else time.monotonic() + wait
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while True:
            with self._wlock:
                data = try_recv(sock, self.limits.send_timeout)
            if data is not None:
                return data
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0 or not poller.poll(to_millis(left)):
                raise TimeoutError("no data from the server in time")

    def _consume(self, data: bytes) -> None:
        # One line at a time, so that when the 220 to STARTTLS completes we know exactly
        # which bytes came after it.
        pieces = data.splitlines(keepends=True)
        for i, piece in enumerate(pieces):
            replies = self._parser.feed(piece)
            for j, reply in enumerate(replies):
                if self._deliver(reply):
                    after = b"".join(reply_bytes(r) for r in replies[j + 1 :])
                    self._starttls(after + bytes(self._parser._buf) + b"".join(pieces[i + 1 :]))
                    return

    def _deliver(self, reply: Reply) -> bool:
        """Hand a reply on; True if it is the 220 that starts the TLS handshake."""
        with self._model:
            expected = self.dialogue.auth_expected
            owed = self.dialogue.on_reply(reply)
            held = self.pacer.on_reply(owed, reply, expected)
            after = owed.after if owed else None
            self._owed_since = time.monotonic()
            upgrade = after == "STARTTLS" and reply.code == 220
            if upgrade:
                self._tls_step = "handshake"  # before the event: nothing leaves until TLS is up
            line = owed.line if owed else None  # the transaction state needs the command itself
            answers = owed.n if owed else None
            self._emit(ReplyReceived(reply=reply, after=after, line=line, answers=answers))
            for item in held:
                self._emit_held(item)
        if reply.truncated and self._flooding(reply):
            raise ProtocolError(
                f"The server sent a reply of more than {self._parser.max_reply_lines} lines or "
                f"{self._parser.max_reply_bytes:,} bytes; a server that does not stop talking "
                "is broken or hostile, so the connection was closed.",
                code="reply_too_long",
            )
        if not upgrade:
            self._release_quietly()  # the reply may make the next queued lines' meaning known
        return upgrade

    def _flooding(self, reply: Reply) -> bool:
        size = sum(len(line) + 2 for line in reply.lines)
        parser = self._parser
        return len(reply.lines) >= parser.max_reply_lines or size > parser.max_reply_bytes

    def _remaining(self) -> float | None:
        """Seconds until the nearest bound (reply, idle, duration), or None for no bound."""
        now = time.monotonic()
        limits = self.limits
        bounds = []
        if self.dialogue.pending and limits.reply_timeout:
            bounds.append(self._owed_since + limits.reply_timeout - now)
        if limits.idle_timeout:
            bounds.append(self._last_activity + limits.idle_timeout - now)
        if limits.max_duration:
            bounds.append(self._started + limits.max_duration - now)
        return min(bounds) if bounds else None

    def _timeout_reason(self) -> tuple[str, CloseCode]:
        now = time.monotonic()
        lim = self.limits
        if lim.max_duration and now - self._started >= lim.max_duration - 0.02:
            return (
                f"the session reached its maximum of {lim.max_duration:g} s",
                CloseCode.MAX_DURATION,
            )
        if self.dialogue.pending and lim.reply_timeout:
            return (
                f"the server took longer than {lim.reply_timeout:g} s to reply",
                CloseCode.REPLY_TIMEOUT,
            )
        return f"the session was idle for {lim.idle_timeout:g} s", CloseCode.IDLE_TIMEOUT

    # -- TLS ----------------------------------------------------------------------------

    def _starttls(self, after_220: bytes) -> None:
        # RFC 3207 §4.2: anything the server sent after its 220 and before the handshake
        # must be discarded; a server (or a man in the middle) could inject replies there.
        self._parser = ReplyParser()
        injected = after_220 + tlsinfo.drain(self._sock)
        if injected:
            self._emit(Discarded(**tlsinfo.discarded_event_data(injected)))
        self._handshake(TlsMode.STARTTLS)

    def _handshake(self, mode: TlsMode) -> None:
        context = self.tls_context or tlsinfo.client_context()
        # Nothing leaves while this is set; a failed handshake leaves it set (the session ends).
        self._tls_step = "handshake"
        with self._wlock:
            tls = self._wrap(context)
            try:
                tls.do_handshake()
                tlsinfo.check_pin(tls, self.pinned_fingerprint)
            except (ssl.SSLError, ssl.CertificateError, OSError, ValueError) as exc:
                raise tlsinfo.handshake_error(exc, self.server_hostname) from exc
            self.tls_active = True
        facts = tlsinfo.describe(tls, context, self.pinned_fingerprint)
        with self._model:
            if mode is TlsMode.STARTTLS:
                self.dialogue.reset_for_tls()  # RFC 3207 §4.2: nothing from before stands
            # Recorded before the first line sent over TLS: it is cleared only after the event.
            self._emit(TlsUp(tls_mode=mode, **facts))
            self._tls_step = None
        self._release_quietly()

    def _wrap(self, context: ssl.SSLContext) -> ssl.SSLSocket:
        raw = self._sock
        assert raw is not None
        raw.settimeout(self.limits.tls_timeout)
        try:
            tls = context.wrap_socket(
                raw, server_hostname=self.server_hostname, do_handshake_on_connect=False
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise tlsinfo.handshake_error(exc, self.server_hostname) from exc
        # The TLS socket now owns the descriptor: install it before the handshake so that a
        # close() during a stalled handshake shuts the right socket down.
        with self._close_lock:
            self._sock = tls
            if self._closed.is_set():
                tls.close()
                raise SessionClosed(f"The session is closed: {self._close_reason}.", "closed")
        return tls

    # -- closing ------------------------------------------------------------------------

    def close(
        self, reason: str = "closed by the user", code: CloseCode = CloseCode.CLIENT_CLOSED
    ) -> None:
        """Close the connection (idempotent) and wait briefly for the reader to finish."""
        self._shutdown(reason, code)
        reader = self._reader
        if reader is not None and not self._in_reader():
            reader.join(timeout=1.0)

    def _shutdown(self, reason: str, code: CloseCode) -> None:
        with self._close_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            self._close_reason = reason
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader; the descriptor stays ours
            except OSError:
                pass
            # Only the reader closes a socket it may be reading: closed from here, its number
            # could be reused by the kernel for someone else's connection while the reader
            # still reads from (or answers TLS alerts on) it.
            if not self._reader_running():
                self._close_socket()
        with self._model:  # after the socket is shut: a writer stuck in sendall lets go
            for held in self.pacer.drop("closed"):
                self._emit_held(held)
            self._emit(Closed(reason=reason, code=code))

    def _reader_running(self) -> bool:
        reader = self._reader
        return reader is not None and reader.is_alive() and not self._in_reader()

    def _in_reader(self) -> bool:
        """True when called from the reader (its thread, or a watched reader's step)."""
        reader = self._reader
        if isinstance(reader, WatchedReader):
            return reader.is_current()
        return reader is threading.current_thread()

    def _close_socket(self) -> None:
        with self._wlock:  # no writer is inside sendall() on it
            if self._sock is not None:
                self._sock.close()

    def _emit(self, event: SessionEvent) -> None:
        # The listener's failure is its own: it must not leave a socket open or a thread dead.
        try:
            self.on_event(event)
        except Exception:
            log.exception("on_event failed for a %s event", type(event).__name__)

    @property
    def closed(self) -> bool:
        """True once the session has been closed, by either side."""
        return self._closed.is_set()

    @property
    def close_reason(self) -> str | None:
        """Why the session closed, in words (None while open)."""
        return self._close_reason
