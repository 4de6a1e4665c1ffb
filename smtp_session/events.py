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

from .dialogue import DATA
from .reply import Reply


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


@dataclass(frozen=True)
class MessageSent(Event):
    """A run of message lines (inside DATA) that left in one write; the final "." included."""

    frame_type: ClassVar[str] = "sent"
    lines: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        first = self.lines[0] if self.lines else ""
        return {"text": first, "lines": self.lines, "kind": DATA, "verb": None}


@dataclass(frozen=True)
class ReplyReceived(Event):
    """A whole reply; ``after`` says what it answered, ``line`` the command line it answered."""

    frame_type: ClassVar[str] = "reply"
    reply: Reply
    after: str | None
    line: str | None


@dataclass(frozen=True)
class Discarded(Event):
    """Bytes the server sent after its 220 to STARTTLS, thrown away unread (RFC 3207 §4.2)."""

    frame_type: ClassVar[str] = "discarded"
    bytes: int
    text: str
    message: str


@dataclass(frozen=True)
class TlsUp(Event):
    """The TLS handshake finished; the facts the TLS panel shows (smtp_session.tlsinfo)."""

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
    code: str


SessionEvent = Connected | Sent | MessageSent | ReplyReceived | Discarded | TlsUp | Closed
EventSink = Callable[[SessionEvent], None]
