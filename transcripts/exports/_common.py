"""What every export shares: safe text, event wording, line items and file names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from transcripts.model import Entry, Note, Transcript

Explain = Callable[[Entry], "str | None"]

# C0 and C1 controls (ESC above all: a hostile banner must not drive a reader's terminal),
# DEL, and the bidi overrides that reorder text in editors (CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """The text with control characters shown as escapes (\\x1b, \\u202e), tabs kept."""
    return _UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def _connect(data: dict[str, Any]) -> str:
    where = f"{data.get('host', '?')}:{data.get('port', '?')}"
    address = f" ({data['address']})" if data.get("address") else ""
    return f"connected to {where}{address}"


def _tls(data: dict[str, Any]) -> str:
    mode = data.get("tls_mode", data.get("mode"))  # "mode": transcripts before tls_mode
    version = (
        f": {data['version']} {data.get('cipher') or ''}".rstrip() if data.get("version") else ""
    )
    return "TLS established" + (f" ({mode})" if mode else "") + version


def _closed(data: dict[str, Any]) -> str:
    reason = data.get("reason") or "closed"
    return f"connection closed: {reason}" + (f" ({data['code']})" if data.get("code") else "")


def _generic(name: str) -> Callable[[dict[str, Any]], str]:
    def describe(data: dict[str, Any]) -> str:
        details = ", ".join(f"{k}={v}" for k, v in data.items())
        return f"{name}: {details}" if details else name

    return describe


_EVENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "connect": _connect,
    "closed": _closed,
    "tls": _tls,
    "error": lambda d: f"error: {d.get('message') or d.get('code') or 'unknown'}",
    # Lines the playground did not send (docs/protocol.md, Pacing): its words say why.
    "held": lambda d: f"held back: {d.get('message') or d.get('count', '?')}",
}


def describe_event(entry: Entry) -> str:
    """One line of words for an event entry."""
    name = entry.get("event", "event")
    describe = _EVENTS.get(name) or _generic(name)
    return describe(entry.get("data") or {})


@dataclass(frozen=True)
class Item:
    """One entry as lines with a direction: C (client), S (server) or * (event)."""

    entry: Entry
    who: str
    lines: list[str]


def items(transcript: Transcript) -> Iterator[Item]:
    """Every entry of the transcript as printable lines. Lines that repeat (5,000 NOOPs)
    are made printable once and share one list: read them, do not change them."""
    sent: dict[str, list[str]] = {}
    replies: dict[tuple[str, ...], list[str]] = {}
    for entry in transcript.entries:
        kind = entry["kind"]
        if kind == "sent":
            text = entry["text"]
            lines = sent.get(text)
            if lines is None:
                lines = sent[text] = [printable(text)]
            yield Item(entry, "C", lines)
        elif kind == "reply":
            said = tuple(entry["lines"])
            lines = replies.get(said)
            if lines is None:
                lines = replies[said] = [printable(line) for line in said] or [""]
            yield Item(entry, "S", lines)
        else:
            yield Item(entry, "*", [printable(describe_event(entry))])


def notes_by_seq(transcript: Transcript) -> dict[int | None, list[Note]]:
    """Notes grouped by the line they belong to (None: the whole transcript)."""
    grouped: dict[int | None, list[Note]] = {}
    for note in transcript.notes:
        grouped.setdefault(note.seq, []).append(note)
    return grouped


def readable_time(moment: datetime | None) -> str:
    """A time as people read it: 2026-11-20 10:00:05 UTC (no microseconds, no T)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def heading(transcript: Transcript) -> str:
    """The title, or words made from the target."""
    return transcript.title or f"SMTP session with {transcript.target}"


def filename(transcript: Transcript, ext: str) -> str:
    """A safe download name: smtp-<title or target>-<id start>.<ext>."""
    slug = re.sub(r"[^a-z0-9]+", "-", heading(transcript).lower()).strip("-")[:48] or "session"
    return f"smtp-{slug}-{transcript.id[:8]}.{ext}"


CHUNK_LINES = 1000  # lines per piece of a streamed export


def joined(lines: Iterable[str], end: str = "") -> Iterator[bytes]:
    """Exactly ``("\n".join(lines) + end).encode()``, in pieces of CHUNK_LINES lines: an
    export of a long transcript is written as it is made, never held whole."""
    batch: list[str] = []
    first = True
    for text in lines:
        batch.append(text)
        if len(batch) >= CHUNK_LINES:
            yield (("" if first else "\n") + "\n".join(batch)).encode()
            batch, first = [], False
    tail = "\n".join(batch)
    yield (("" if first or not batch else "\n") + tail + end).encode()
