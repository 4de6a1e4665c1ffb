"""What the store hands back: a transcript with its meta, entries and notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Entry = dict[str, Any]


def utc(value: datetime | None) -> datetime | None:
    """The same instant, timezone-aware UTC (SQLite hands datetimes back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    value = utc(value)
    return value.isoformat() if value else None


@dataclass
class Note:
    """A note someone attached to one line (``seq``) of a transcript."""

    id: int
    transcript_id: str
    seq: int | None
    text: str
    author: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (export format v1), without the database id."""
        return {
            "seq": self.seq,
            "text": self.text,
            "author": self.author,
            "created_at": iso(self.created_at),
        }


@dataclass
class Transcript:
    """One recorded session; ``entries`` and ``notes`` are filled by ``Store.get``."""

    id: str
    target: str
    title: str | None
    description: str | None
    created_at: datetime
    ended_at: datetime | None
    status: str
    close_reason: str | None
    owner: str | None
    visibility: str
    process: str | None
    entry_count: int
    last_code: int | None
    # Captured sessions (revision 0004); a console transcript has source "console" and None.
    source: str = "console"
    client: str | None = None
    ehlo: str | None = None
    outcome: str | None = None
    warnings: int = 0
    messages: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def captured_summary(self) -> dict[str, Any]:
        """What the list of captured sessions shows (``Store.list_captured``, the bus)."""
        return {
            "id": self.id,
            "created_at": iso(self.created_at),
            "ended_at": iso(self.ended_at),
            "status": self.status,
            "client": self.client,
            "ehlo": self.ehlo,
            # A session its sandbox never saw end (the process stopped: interrupted) is gone.
            "outcome": "dropped"
            if self.outcome == "live" and self.status != "live"
            else self.outcome,
            "warnings": self.warnings,
            "messages": list(self.messages),
            "target": self.target,
            "entry_count": self.entry_count,
            "last_code": self.last_code,
        }

    def meta(self) -> dict[str, Any]:
        """The meta that exports carry: nothing about owner, writer process or edit token."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "target": self.target,
            "created_at": iso(self.created_at),
            "ended_at": iso(self.ended_at),
            "status": self.status,
            "close_reason": self.close_reason,
            "entry_count": self.entry_count,
            "last_code": self.last_code,
        }
