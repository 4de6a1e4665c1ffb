"""The steps of a recorded session worth jumping to: greeting, EHLO, TLS, AUTH, each mail
transaction, QUIT; and the notes on lines.

The replay page's timeline and the asciicast export (``"m"`` events) read the same list, so
a marker a writer sees in the player is the one a reader finds in asciinema.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from transcripts.model import Entry, Note

# Command verb -> (marker kind, label). RFC 5321 §4.1.1 (HELO/EHLO, MAIL, QUIT), RFC 3207
# (STARTTLS), RFC 4954 (AUTH), RFC 2033 (LHLO, LMTP's EHLO).
_VERBS = {
    "EHLO": ("ehlo", "EHLO"),
    "HELO": ("ehlo", "HELO"),
    "LHLO": ("ehlo", "LHLO"),
    "STARTTLS": ("tls", "STARTTLS"),
    "AUTH": ("auth", "AUTH"),
    "MAIL": ("mail", "Message"),
    "QUIT": ("quit", "QUIT"),
}
NOTE_LABEL_CHARS = 60


@dataclass(frozen=True)
class Marker:
    """A point of the session: the entry ``seq`` it starts at, what kind, words for it."""

    seq: int
    t: int  # milliseconds, as the entry's
    kind: str  # greeting, ehlo, tls, auth, mail, quit, note
    label: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _step_marker(entry: Entry, messages: int) -> Marker | None:
    seq, t = entry["seq"], entry["t"]
    if entry["kind"] == "reply" and entry.get("after") == "greeting":
        return Marker(seq, t, "greeting", "Greeting")
    if entry["kind"] == "event" and entry.get("event") == "tls":
        data = entry.get("data") or {}
        # Entries say tls_mode; those recorded before it said mode.
        if data.get("tls_mode", data.get("mode")) == "implicit":  # RFC 8314 §3.3
            return Marker(seq, t, "tls", "TLS (implicit)")
        return None
    if entry["kind"] != "sent" or entry.get("line_kind", "command") != "command":
        return None
    verb = str(entry.get("text", "")).split(" ", 1)[0].upper()
    found = _VERBS.get(verb)
    if found is None:
        return None
    kind, label = found
    if kind == "mail":
        label = f"Message {messages + 1}"
    return Marker(seq, t, kind, label)


def step_markers(entries: Iterable[Entry]) -> list[Marker]:
    """One marker per SMTP step of the session, in order."""
    out: list[Marker] = []
    messages = 0
    for entry in entries:
        marker = _step_marker(entry, messages)
        if marker is None:
            continue
        messages += marker.kind == "mail"
        out.append(marker)
    return out


def note_label(note: Note) -> str:
    """A note's first line, cut to fit a timeline tooltip."""
    first = (note.text.strip().splitlines() or [""])[0]
    if len(first) > NOTE_LABEL_CHARS:
        first = first[: NOTE_LABEL_CHARS - 1] + "…"
    return f"Note: {first}"


def markers_of(entries: list[Entry], notes: Iterable[Note]) -> list[Marker]:
    """Step markers and a marker per note on a line, ordered by position."""
    times = {entry["seq"]: entry["t"] for entry in entries}
    found = step_markers(entries)
    found += [
        Marker(n.seq, times[n.seq], "note", note_label(n))
        for n in notes
        if n.seq is not None and n.seq in times
    ]
    return sorted(found, key=lambda m: (m.seq, m.kind == "note"))
