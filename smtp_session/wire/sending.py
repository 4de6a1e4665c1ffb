"""The sending half of :class:`~smtp_session.wire.session.SmtpSession`: lines are queued and leave
when the pacer (``pacing.py``) says the server's reading of them is known.

Sending may happen on the browser's thread (a line just queued) or on the reader's (a reply
made the next lines' meaning known); the model lock keeps the two in step.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from smtp_session.errors import LimitReached, LineError, PlaygroundError, SessionClosed
from smtp_session.wire.dialogue import Dialogue, Outgoing
from smtp_session.wire.events import CloseCode, HeldBack, MessageSent, Refused, Sent, SessionEvent
from smtp_session.wire.lines import check_lines, describe_os_error
from smtp_session.wire.pacing import BDAT_AFTER_FAILURE, Chunk, Held, Pacer, Unit, is_empty_command

# RFC 5321 §4.1: every command is a verb and its arguments; an empty line is none (a server
# answers 500), so it is not sent where the server reads commands.
EMPTY_LINE = LineError(
    "The empty line was not sent: the server reads a command here, and an empty line (or "
    "one of spaces only) is no command (it would answer 500). Inside a message (after 354) "
    "an empty line is sent: it separates the headers from the body.",
    code="empty_line",
)


def _send_whole(sock: socket.socket, data: bytes) -> None:
    """``sendall`` in one ``send`` when it all fits (nearly always): gevent's ``sendall``
    asks the kernel for the buffer size (``getsockopt``) on every call. TLS keeps
    ``sendall``: an SSL write retried after a short one must be the same write."""
    if not isinstance(sock, ssl.SSLSocket):
        sent = sock.send(data)
        if sent == len(data):
            return
        data = data[sent:]
    sock.sendall(data)


class Sender:
    """Queueing, pacing and writing; the session provides the socket and the events."""

    dialogue: Dialogue
    pacer: Pacer
    admit: Callable[[Unit], None]
    _model: threading.RLock
    _wlock: threading.Lock
    _closed: threading.Event
    _close_reason: str | None
    _sock: socket.socket | None
    _tls_step: str | None
    _owed_since: float
    _last_activity: float

    def _emit(self, event: SessionEvent) -> None:
        raise NotImplementedError

    def _shutdown(self, reason: str, code: CloseCode) -> None:
        raise NotImplementedError

    def send_line(self, text: str) -> None:
        """Queue one line typed by the user and send it as soon as its meaning is known."""
        self.send_lines([text], typed=True)

    def send_lines(self, lines: Iterable[str], typed: bool = False) -> None:
        """Queue lines in order and send what the replies so far allow (see ``pacing``);
        every line is checked before any is queued. The rest leaves as replies arrive."""
        lines = list(lines)
        check_lines(lines)
        with self._model:
            self._writable()
            for held in self.pacer.add(lines, typed):
                self._emit_held(held)
        self._release()

    def send_chunk(self, chunk: Chunk) -> None:
        """Queue a BDAT chunk: ``BDAT <n> [LAST]`` and exactly its octets (RFC 3030 §2)."""
        with self._model:
            self._writable()
            self.pacer.add_chunk(chunk)
        self._release()

    def _writable(self) -> socket.socket:
        if self._closed.is_set():
            raise SessionClosed(f"The session is closed: {self._close_reason}.", "closed")
        if self._sock is None:
            raise SessionClosed("The session is not connected; connect first.", "not_connected")
        return self._sock

    def _release(self) -> None:
        """Send every queued unit whose reading the replies so far make known (any thread)."""
        with self._model:
            # RFC 3207 §4: after the 220 to STARTTLS nothing leaves until TLS is up.
            while not self._closed.is_set() and self._tls_step is None:
                unit = self.pacer.peek()
                if unit is None:
                    return
                refusal = self._refusal(unit)
                if refusal is None:
                    self._write(unit)
                    continue
                self.pacer.skip(unit)
                self._emit(refusal)
                if refusal.code != EMPTY_LINE.code:  # what followed it meant something else
                    reason = "limit" if refusal.limit else refusal.code.replace("_", "-")
                    for held in self.pacer.drop(reason):
                        self._emit_held(held)
                    return

    def _refusal(self, unit: Unit) -> Refused | None:
        """Why ``unit`` may not leave (an empty command, a wrong BDAT count, a limit)."""
        if is_empty_command(unit):
            return Refused(message=EMPTY_LINE.message, code=EMPTY_LINE.code)
        if unit.error is not None:
            code = "bdat_refused" if unit.error == BDAT_AFTER_FAILURE else "bdat_count"
            return Refused(message=unit.error, code=code)
        try:
            self.admit(unit)
        except PlaygroundError as exc:  # a limit: this and what follows stay unsent
            return Refused(message=exc.message, code=exc.code, limit=isinstance(exc, LimitReached))
        return None

    def _release_quietly(self) -> None:
        """``_release`` from the reader: a failed write has already closed the session."""
        try:
            self._release()
        except PlaygroundError:
            pass

    def _write(self, unit: Unit) -> None:
        """One unit: classified, written in one go, then announced. The bytes leave first so
        that the server works on the line while its echo is made (the echo was on the round
        trip's critical path); the announcement still comes before the reply it caused,
        because the caller holds ``_model``, which the reader takes to deliver any reply."""
        with self._wlock:
            sock = self._writable()
            out = self.pacer.take(unit)
            if out.expects_reply and len(self.dialogue.pending) == 1:
                self._owed_since = time.monotonic()  # a new wait for a reply starts now
            payload = ("\r\n".join(unit.lines) + "\r\n").encode("utf-8")
            if unit.chunk is not None:  # RFC 3030 §2: the octets right after the CRLF
                payload += unit.chunk.payload
            try:
                _send_whole(sock, payload)
            except OSError as exc:
                self._announce(unit, out)  # what was being sent
                self._shutdown(f"sending failed: {describe_os_error(exc)}", CloseCode.SEND_FAILED)
                raise SessionClosed(f"Sending failed: {describe_os_error(exc)}.") from exc
            self._announce(unit, out)
        self._last_activity = time.monotonic()

    def _announce(self, unit: Unit, out: Outgoing) -> None:
        """The events for a unit that has been written (or whose write failed)."""
        first = out.n - len(unit.lines) + 1
        if len(unit.lines) > 1:
            self._emit(MessageSent(lines=list(unit.lines), n=first))
        else:
            self._emit(Sent(text=unit.text, kind=out.kind, verb=out.verb, n=first))
        if unit.chunk is not None and unit.chunk.lines:
            self._emit(MessageSent(lines=list(unit.chunk.lines), n=-1, chunk=True))

    def _emit_held(self, held: Held) -> None:
        self._emit(HeldBack(held=held))
