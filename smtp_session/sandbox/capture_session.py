"""The byte-level recording of one sandbox session (the heart of sandbox/capture.py).

:class:`SessionCapture` sees the client's bytes as they arrive and the server's as they leave,
and turns them into :class:`CaptureRecord` items, in order: the client's lines split the way
aiosmtpd splits them (at LF for commands, at CRLF inside DATA) with their line endings, the
read each arrived in and the replies still owed at that moment (what pipelining is judged
on), and whole replies with what they answered (``wire.dialogue.Dialogue``, the playground's
one model of the conversation). It never stores, judges or redacts: that is the sink's work,
off the event loop. What it records is bounded (lines, bytes, one line's length).

Over 300 lines: splitting bytes into lines the way the server reads them (LF or CRLF, BDAT
octets, bytes that wait for the reply that decides their meaning) is one state machine.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from smtp_session.wire.dialogue import AUTH_RESPONSE, COMMAND, DATA, END_OF_DATA, Dialogue
from smtp_session.wire.reply import Reply, ReplyParser

log = logging.getLogger(__name__)

MAX_LINE_CHARS = 4_096  # what a recorded line keeps (the transcript format allows 16,384)
# Replies that decide how the lines after them are read: 354 makes them message data, 334 an
# AUTH answer, 220 to STARTTLS throws them away (RFC 3207 §4.2).
_DECIDING = frozenset({"DATA", "AUTH", AUTH_RESPONSE, "STARTTLS"})
_QUEUED = re.compile(r"queued as (\S+)")
# A dot alone on a line ended by a bare CR or LF: the client meant it as the end of the
# message, but only CRLF . CRLF ends one (RFC 5321 §4.1.1.4).
_LOOSE_DOT = re.compile(rb"(?:^|[\r\n])\.(?:[\r\n]|$)")


@dataclass(frozen=True)
class CaptureLimits:
    """What one captured session may record (beyond them it is counted, not recorded)."""

    max_lines: int = 20_000
    max_bytes: int = 8 << 20


@dataclass(frozen=True)
class CaptureRecord:
    """One fact of a captured session; ``session`` is the transcript id it will be stored as.

    ``kind``: ``open`` {client, host, port, address, implicit_tls, at}, ``tls`` {tls_mode,
    version, cipher, bits}, ``line`` {text, kind, n, ending, bare_cr, bare_lf, loose_dot,
    octets, eight_bit, utf8, read, owed, owed_after, pipelining, truncated}, ``reply`` {lines,
    after, answers}, ``discarded`` {bytes, lines}, ``limit`` {what, max}, ``close`` {reason, by,
    lines, bytes, messages, quit}.
    """

    session: str
    t: int  # milliseconds since the connection opened
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class CaptureSink(Protocol):
    """Where records go. ``submit`` is called on the event loop: it must neither block nor raise."""

    def submit(self, record: CaptureRecord) -> None: ...


@dataclass(frozen=True)
class _Arrival:
    """When bytes came: the read they came in and what the server still owed at that moment."""

    read: int
    t: int
    pipelining: bool  # whether the server had offered PIPELINING (RFC 2920)
    owed: int = 0  # bytes that waited: the replies owed when they came
    owed_after: str | None = None  # ...and what the newest of those answers


@dataclass
class _Line:
    raw: bytes
    octets: int  # with its line ending, however much of it was kept
    ending: str  # "crlf", "lf", "cr" (a bare CR that ended the connection) or "" (no ending)
    arrival: _Arrival
    owed: int  # replies owed to earlier lines when it came (the greeting included)
    owed_after: str | None  # what the newest of them answers (a verb, end-of-data...)


class SessionCapture:
    """One connection's recording (called from the protocol hooks, on the event loop).

    Bytes whose meaning a reply still owed will decide (message data after 354, an AUTH answer
    after 334, nothing at all after 220 to STARTTLS) wait, unsplit, for that reply: aiosmtpd
    splits message lines at CRLF only and commands at LF too, so they can only be split then.
    """

    def __init__(self, sink: CaptureSink, limits: CaptureLimits) -> None:
        self.id = secrets.token_urlsafe(24)  # 192 random bits: the transcript's share link
        self.sink = sink
        self.limits = limits
        self._t0 = time.monotonic()
        self._dialogue = Dialogue()
        self._replies = ReplyParser()
        self._partial = bytearray()
        self._partial_octets = 0
        self._last_cr = False  # the last octet of the partial line (kept or not) was a CR
        self._reads = 0
        self._arrival = _Arrival(0, 0, False)  # of the bytes being split now
        self._waiting: list[tuple[bytes, _Arrival]] = []
        self._waiting_bytes = 0
        self._chunk_left = 0
        self._tls_next = False  # a 220 to STARTTLS went out: the handshake comes next
        self.lines = 0  # lines the client sent (recorded or not)
        self.bytes = 0  # bytes the client sent
        self.messages: list[str] = []  # inbox ids the sandbox queued
        self.quit = False
        self.eof = False
        self._recording = True
        self._closed = False
        # Until the client's first byte, records wait here: a connection on which the client
        # says nothing (a port probe, aiosmtpd's own start-up check) is not recorded at all.
        self._silent: list[CaptureRecord] | None = []

    # -- the hooks' entry points ------------------------------------------------------------

    def opened(self, peer: Any, local: Any, tls: dict[str, Any] | None) -> None:
        self._dialogue.expect_greeting()
        host, port = _address(local)
        self._emit(
            "open",
            client=":".join(map(str, _address(peer))),
            host=host,
            port=port,
            address=host,
            implicit_tls=tls is not None,
            at=time.time(),
        )
        if tls is not None:
            self._emit("tls", tls_mode="implicit", **tls)

    def received(self, data: bytes) -> None:
        """Bytes from the client, split into lines as aiosmtpd will read them."""
        if self._silent is not None:
            held, self._silent = self._silent, None
            for record in held:
                self._submit(record)
        self._reads += 1
        self.bytes += len(data)
        if self._recording and self.bytes > self.limits.max_bytes:
            self._stop("bytes", self.limits.max_bytes)
        self._arrival = _Arrival(self._reads, self._ms(), self._dialogue.pipelining)
        if self._waiting:
            self._wait(data)
            return
        self._feed(data)

    def replied(self, data: bytes) -> None:
        """Bytes the server wrote: whole replies are recorded, then the lines they decided."""
        for reply in self._replies.feed(data):
            self._reply(reply)

    def tls_started(self, tls: dict[str, Any]) -> None:
        """STARTTLS finished: what waited behind it was thrown away unread (RFC 3207 §4.2)."""
        self._tls_next = False
        thrown = self._waiting_bytes + self._partial_octets
        self._waiting, self._waiting_bytes = [], 0
        self._partial.clear()
        self._partial_octets = 0
        if thrown:
            self._emit("discarded", bytes=thrown)
        self._dialogue.reset_for_tls()
        self._emit("tls", tls_mode="starttls", **tls)

    def closed(self, error: BaseException | None) -> None:
        if self._closed or self._silent is not None:
            self._closed = True
            return
        self._closed = True
        waiting, self._waiting = self._waiting, []
        if self._tls_next and waiting:  # the handshake never finished: never read either
            self._emit("discarded", bytes=sum(len(data) for data, _ in waiting))
            waiting = []
        for data, arrival in waiting:  # never read: the connection ended first
            self._arrival = arrival
            self._feed(data, decide=False)
        if self._partial_octets:  # a last line with no line ending (or a bare CR)
            self._arrive(self._take_partial("cr" if self._last_cr else ""))
        if self.quit:
            by, reason = "client", "QUIT"
        elif self.eof:
            by, reason = "client", "the client closed the connection without QUIT"
        elif error is not None:
            by, reason = "client", f"the connection was lost ({type(error).__name__})"
        else:
            by, reason = "server", "the sandbox closed the connection"
        self._recording = True  # the close is always recorded, past any bound
        self._emit(
            "close",
            reason=reason,
            by=by,
            lines=self.lines,
            bytes=self.bytes,
            messages=list(self.messages),
            quit=self.quit,
        )

    # -- splitting --------------------------------------------------------------------------

    def _wait(self, data: bytes) -> None:
        if data and self._waiting_bytes < self.limits.max_bytes:
            pending = self._dialogue.pending
            after = pending[-1].after if pending else self._arrival.owed_after
            owed = len(pending) + self._arrival.owed
            arrival = replace(self._arrival, owed=owed, owed_after=after)
            self._waiting.append((data, arrival))
            self._waiting_bytes += len(data)

    def _feed(self, data: bytes, decide: bool = True) -> None:
        pos = 0
        while pos < len(data):
            if decide and not self._partial_octets and self._undecided():
                self._wait(data[pos:])
                return
            pos = self._consume(data, pos)

    def _consume(self, data: bytes, pos: int) -> int:
        """Take one line (or the rest of ``data``) from ``pos``; returns where it stopped."""
        if self._chunk_left:  # BDAT octets (RFC 3030 §2): counted, split at CRLF for reading
            end = min(len(data), pos + self._chunk_left)
            stop = self._split(data, pos, end, b"\r\n", chunk=True)
            self._chunk_left -= stop - pos
            if self._chunk_left == 0 and self._partial_octets:
                self._arrive(self._take_partial(""), chunk=True)
            return stop
        if self._dialogue.in_data:
            if not self._recording and not self._partial_octets:
                return self._count_data(data, pos)
            return self._split(data, pos, len(data), b"\r\n", chunk=False)
        return self._split(data, pos, len(data), b"\n", chunk=False)

    def _count_data(self, data: bytes, pos: int) -> int:
        """Past the bounds, message lines are only counted, up to the lone dot that ends them
        (which the splitter then takes, so the conversation's model stays right)."""
        if data.startswith(b".\r\n", pos):
            return self._split(data, pos, len(data), b"\r\n", chunk=False)
        end = data.find(b"\r\n.\r\n", pos)
        last = end + 2 if end >= 0 else data.rfind(b"\r\n", pos) + 2
        if last < 2:  # no line ends here: the start of a line
            self._keep(data[pos:])
            return len(data)
        self.lines += data.count(b"\r\n", pos, last)
        if end < 0:
            self._keep(data[last:])
            return len(data)
        return last

    def _split(self, data: bytes, pos: int, end: int, sep: bytes, chunk: bool) -> int:
        if sep == b"\r\n" and self._last_cr and data.startswith(b"\n", pos, end):
            # A CRLF split between two reads: the CR ended the last one.
            if self._partial.endswith(b"\r"):
                del self._partial[-1]
            self._partial_octets += 1
            self._arrive(self._take_partial("crlf"), chunk=chunk)
            return pos + 1
        i = data.find(sep, pos, end)
        if i < 0:
            self._keep(data[pos:end])
            return end
        self._keep(data[pos:i])
        crlf = sep == b"\r\n" or self._last_cr
        if crlf and sep == b"\n" and self._partial.endswith(b"\r"):
            del self._partial[-1]
        self._partial_octets += len(sep)
        self._arrive(self._take_partial("crlf" if crlf else "lf"), chunk=chunk)
        return i + len(sep)

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        self._partial_octets += len(piece)
        self._last_cr = piece.endswith(b"\r")
        room = MAX_LINE_CHARS + 1 - len(self._partial)
        if room > 0:
            self._partial += piece[:room]

    def _take_partial(self, ending: str) -> _Line:
        pending, arrival = self._dialogue.pending, self._arrival
        owed = arrival.owed + len(pending)
        after = pending[-1].after if pending else arrival.owed_after
        line = _Line(bytes(self._partial), self._partial_octets, ending, arrival, owed, after)
        self._partial.clear()
        self._partial_octets = 0
        self._last_cr = False
        return line

    # -- classifying ------------------------------------------------------------------------

    def _arrive(self, line: _Line, chunk: bool = False) -> None:
        self.lines += 1
        if self._recording and self.lines > self.limits.max_lines:
            self._stop("lines", self.limits.max_lines)
        if chunk:
            self._dialogue.sent += 1
            if self._recording:
                self._record_line(line, DATA)
            return
        text = _text(line.raw)
        out = self._dialogue.classify(text)
        if out.kind == COMMAND:
            if out.verb == "QUIT":
                self.quit = True
            if out.verb == "BDAT":
                words = text.split()
                if len(words) > 1 and words[1].isdigit():
                    self._chunk_left = int(words[1])
        if self._recording:
            self._record_line(line, out.kind, text)

    def _undecided(self) -> bool:
        """A reply still owed decides what the next line is (354, 334, 220 to STARTTLS)."""
        return self._tls_next or (
            not self._dialogue.in_data and any(p.after in _DECIDING for p in self._dialogue.pending)
        )

    def _drain(self) -> None:
        while self._waiting and not self._undecided():
            data, self._arrival = self._waiting.pop(0)
            self._waiting_bytes -= len(data)
            rest = self._waiting
            self._waiting = []
            self._feed(data)
            self._waiting += rest

    def _record_line(self, line: _Line, kind: str, text: str | None = None) -> None:
        raw, arrival = line.raw, line.arrival
        body = raw[:-1] if line.ending == "cr" else raw
        bare = b"\r" in raw or b"\n" in raw
        self._emit_at(
            arrival.t,
            "line",
            text=_text(raw) if text is None else text,
            kind=kind,
            n=self._dialogue.sent - 1,
            ending=line.ending,
            bare_cr=bare and b"\r" in body,
            bare_lf=line.ending == "lf" or (bare and b"\n" in raw),
            loose_dot=bare and kind == DATA and _LOOSE_DOT.search(raw) is not None,
            octets=line.octets,
            eight_bit=not raw.isascii(),
            utf8=_is_utf8(raw),
            read=arrival.read,
            owed=line.owed,
            owed_after=line.owed_after,
            pipelining=arrival.pipelining,
            truncated=len(raw) > MAX_LINE_CHARS,
        )

    def _reply(self, reply: Reply) -> None:
        owed = self._dialogue.on_reply(reply)
        after = owed.after if owed else None
        if after == "STARTTLS" and reply.code == 220:
            self._tls_next = True  # what follows waits for the handshake, then is thrown away
        if after in (END_OF_DATA, "BDAT") and reply.code == 250:
            found = _QUEUED.search(reply.lines[-1] if reply.lines else "")
            if found:
                self.messages.append(found.group(1))
        self._emit("reply", lines=list(reply.lines), after=after, answers=owed.n if owed else None)
        self._drain()

    # -- emitting ---------------------------------------------------------------------------

    def _stop(self, what: str, limit: int) -> None:
        self._emit("limit", what=what, max=limit)
        self._recording = False

    def _ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def _emit(self, kind: str, /, **data: Any) -> None:
        self._emit_at(self._ms(), kind, **data)

    def _emit_at(self, t: int, kind: str, /, **data: Any) -> None:
        if not self._recording:
            return
        record = CaptureRecord(self.id, t, kind, data)
        if self._silent is not None:
            self._silent.append(record)
            return
        self._submit(record)

    def _submit(self, record: CaptureRecord) -> None:
        try:
            self.sink.submit(record)
        except Exception:  # the sink's promise is never to raise; a capture never breaks a session
            log.exception("capture sink failed")


def _text(raw: bytes) -> str:
    """A line as text: UTF-8 where it is, and a bare CR or LF shown, not obeyed."""
    text = raw[:MAX_LINE_CHARS].decode("utf-8", "replace")
    if "\r" in text or "\n" in text:
        text = text.replace("\r", "\u240d").replace("\n", "\u240a")
    if len(raw) > MAX_LINE_CHARS:
        text += f" [… cut: {len(raw)}+ octets]"
    return text


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _address(value: Any) -> tuple[str, int]:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return str(value or ""), 0
