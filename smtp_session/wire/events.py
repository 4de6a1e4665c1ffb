"""What a session reports, one frozen dataclass per kind of fact (never a dict read with .get()).

A consumer dispatches on the class (``match event: case ReplyReceived(): ...``); a misspelt
field is a type error, not a silent ``None``. Each event knows its frame ``type`` on /ws
(docs/protocol.md) and gives its fields as a dict for that frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar

from smtp_session.wire.dialogue import DATA
from smtp_session.wire.pacing import Held
from smtp_session.wire.reply import Reply


class TlsMode(StrEnum):
    """How TLS began on a connection: the one name for that fact everywhere."""

    STARTTLS = "starttls"  # RFC 3207: a plain connection upgraded by STARTTLS
    IMPLICIT = "implicit"  # RFC 8314 §3: TLS from the first byte (port 465 style)


def tls_mode_of(value: Any) -> TlsMode | None:
    """A TlsMode from its JSON spelling (None, or a name that is not a mode, gives None)."""
    try:
        return TlsMode(value)
    except ValueError:
        return None


class CloseCode(StrEnum):
    """Why a session ended: the ``code`` of every ``closed`` frame (docs/protocol.md)."""

    SERVER_CLOSED = "server_closed"  # the server closed the connection (after QUIT, or not)
    CLIENT_CLOSED = "client_closed"  # a close frame, or the session was closed from code
    BROWSER_GONE = "browser_gone"  # the WebSocket went away
    CONNECT_FAILED = "connect_failed"  # the connection never opened (the error frame says why)
    CONNECTION_LOST = "connection_lost"  # the socket failed under us
    SEND_FAILED = "send_failed"  # a line could not be written
    REPLY_TIMEOUT = "reply_timeout"  # RFC 5321 §4.5.3.2: an owed reply did not come in time
    IDLE_TIMEOUT = "idle_timeout"
    MAX_DURATION = "max_duration"
    REPLY_TOO_LONG = "reply_too_long"  # a reply over the line or size bound
    TLS_HANDSHAKE = "tls_handshake"
    TLS_VERIFY = "tls_verify"  # the certificate did not verify
    TLS_TIMEOUT = "tls_timeout"
    TLS_PIN = "tls_pin"  # not the sandbox's pinned certificate
    INTERNAL_ERROR = "internal_error"  # a bug, said in words rather than a dead thread

    @classmethod
    def of(cls, code: str) -> CloseCode:
        """The close code for an error's code; an unforeseen one is the session's own failure."""
        try:
            return cls(code)
        except ValueError:
            return cls.TLS_HANDSHAKE if code.startswith("tls") else cls.INTERNAL_ERROR


@dataclass(frozen=True)
class Event:
    """Base of every session event; ``frame_type`` names its /ws frame."""

    frame_type: ClassVar[str] = ""

    def fields(self) -> dict[str, Any]:
        """The event's fields, shallow (a Reply stays a Reply), for building its frame."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Connected(Event):
    """The TCP connection is open (before any TLS and before the greeting)."""

    frame_type: ClassVar[str] = "connected"
    host: str
    port: int
    address: str


@dataclass(frozen=True)
class Sent(Event):
    """One line left for the server; ``kind`` is how the server will read it (Dialogue)."""

    frame_type: ClassVar[str] = "sent"
    text: str
    kind: str
    verb: str | None
    n: int = 0  # its number among the lines sent on the connection (replies name it)


@dataclass(frozen=True)
class MessageSent(Event):
    """A run of message lines (inside DATA) that left in one write; the final "." included."""

    frame_type: ClassVar[str] = "sent"
    lines: list[str] = field(default_factory=list)
    n: int = 0  # the first line's number among the lines sent on the connection
    chunk: bool = False  # the octets of a BDAT chunk (RFC 3030), owed no reply of their own

    def fields(self) -> dict[str, Any]:
        first = self.lines[0] if self.lines else ""
        out = {"text": first, "lines": self.lines, "kind": DATA, "verb": None, "n": self.n}
        return {**out, "chunk": True} if self.chunk else out


@dataclass(frozen=True)
class ReplyReceived(Event):
    """A whole reply; ``after`` says what it answered, ``line`` the command line it answered."""

    frame_type: ClassVar[str] = "reply"
    reply: Reply
    after: str | None
    line: str | None
    answers: int | None = None  # the number of the sent line it answers (None: greeting)


@dataclass(frozen=True)
class Discarded(Event):
    """Bytes the server sent after its 220 to STARTTLS, thrown away unread (RFC 3207 §4.2)."""

    frame_type: ClassVar[str] = "discarded"
    bytes: int
    text: str
    message: str


@dataclass(frozen=True)
class TlsUp(Event):
    """The TLS handshake finished; the facts the TLS panel shows (smtp_session.wire.tlsinfo)."""

    frame_type: ClassVar[str] = "tls"
    tls_mode: TlsMode
    version: str | None = None
    cipher: str | None = None
    bits: int | None = None
    verified: bool = False
    accept_unverified: bool = False
    pinned: str | None = None
    verification: str = ""
    certificate: dict[str, Any] | None = None
    subject: str | None = None
    issuer: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    san: list[str] = field(default_factory=list)
    chain: list[dict[str, Any]] = field(default_factory=list)
    chain_complete: bool = False
    chain_note: str | None = None

    def fields(self) -> dict[str, Any]:
        out = super().fields()
        out["tls_mode"] = self.tls_mode.value
        return out


@dataclass(frozen=True)
class Closed(Event):
    """The connection is gone, whoever closed it; ``code`` is stable, ``reason`` in words."""

    frame_type: ClassVar[str] = "closed"
    reason: str
    code: CloseCode

    def fields(self) -> dict[str, Any]:
        return {"reason": self.reason, "code": self.code.value}


@dataclass(frozen=True)
class HeldBack(Event):
    """Queued lines that were not sent: a reply took their meaning away (wire/pacing.py)."""

    frame_type: ClassVar[str] = "held"
    held: Held


@dataclass(frozen=True)
class Refused(Event):
    """A line the session would not send (a limit, an empty command), said in words."""

    frame_type: ClassVar[str] = "error"
    message: str
    code: str
    limit: bool = False

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.limit:
            out["limit"] = True
        return out


SessionEvent = (
    Connected | Sent | MessageSent | ReplyReceived | Discarded | TlsUp | Closed | HeldBack | Refused
)
EventSink = Callable[[SessionEvent], None]
