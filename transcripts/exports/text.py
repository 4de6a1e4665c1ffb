"""The plain-text log (telnet-like C:/S: lines) and the asciicast v2 recording."""

from __future__ import annotations

import json
from collections.abc import Iterator

from transcripts.exports._common import (
    Explain,
    Item,
    heading,
    items,
    joined,
    notes_by_seq,
    printable,
)
from transcripts.markers import markers_of
from transcripts.model import Transcript


def render_txt(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """C: and S: lines as on the wire, events as * lines, notes as # lines."""
    return b"".join(stream_txt(transcript, explain))


def stream_txt(transcript: Transcript, explain: Explain | None = None) -> Iterator[bytes]:
    """The plain-text log, written as it is made."""
    return joined(_txt_lines(transcript), end="\n")


def _txt_lines(transcript: Transcript) -> Iterator[str]:
    meta = transcript.meta()
    yield f"# {printable(heading(transcript))}"
    yield f"# target {printable(transcript.target)}, started {meta['created_at']}, " + str(
        transcript.status
    )
    notes = notes_by_seq(transcript)
    yield from [f"# note: {printable(n.text)}" for n in notes.get(None, [])]
    for item in items(transcript):
        prefix = "*" if item.who == "*" else f"{item.who}:"
        yield from [f"{prefix} {line}" for line in item.lines]
        for note in notes.get(item.entry["seq"], []):
            by = f" ({printable(note.author)})" if note.author else ""
            yield from [f"#   note{by}: {printable(line)}" for line in note.text.splitlines()]


# ANSI SGR colours: what the client sent stands out from what the server said.
_COLOURS = {"C": "\x1b[1;36m", "S": "", "*": "\x1b[2;33m"}
_RESET = "\x1b[0m"
_NOTE = "\x1b[33m"  # notes in yellow, as on the replay page


def render_cast(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """asciicast v2: a JSON header line, then [seconds, "o", text] output events (CRLF line
    ends), an [seconds, "m", label] marker per SMTP step and per note, notes as # lines."""
    notes = notes_by_seq(transcript)
    marks: dict[int, list[str]] = {}
    for marker in markers_of(transcript.entries, transcript.notes):
        marks.setdefault(marker.seq, []).append(printable(marker.label))
    # Notes on the whole transcript open the recording, where every player shows them.
    opening = "".join(
        f"{_NOTE}# note: {printable(n.text)}{_RESET}\r\n" for n in notes.get(None, [])
    )
    events = [_event(0.0, "o", opening)] if opening else []
    width, last = 80, 0.0
    for item in items(transcript):
        seq = item.entry["seq"]
        prefix = "*" if item.who == "*" else f"{item.who}:"
        lines = [f"{prefix} {line}" for line in item.lines]
        lines += [
            f"#   note: {printable(line)}"
            for n in notes.get(seq, [])
            for line in n.text.splitlines()
        ]
        width = max(width, *(len(line) + 1 for line in lines))
        # Times only go forward in a recording, even if the clock readings did not.
        last = max(last, round(item.entry["t"] / 1000, 3))
        events += [_event(last, "m", label) for label in marks.get(seq, [])]
        events.append(_event(last, "o", _coloured(item, lines)))
    header = {
        "version": 2,
        "width": min(width, 200),
        "height": 30,
        "timestamp": int(transcript.created_at.timestamp()),
        "title": printable(heading(transcript)),
        "env": {"TERM": "xterm-256color"},
    }
    return ("\n".join([json.dumps(header, ensure_ascii=False), *events]) + "\n").encode()


def _coloured(item: Item, lines: list[str]) -> str:
    colour = _COLOURS[item.who]
    out = []
    for line in lines:
        shade = _NOTE if line.startswith("#   note") else colour
        out.append(f"{shade}{line}{_RESET if shade else ''}\r\n")
    return "".join(out)


def _event(seconds: float, code: str, data: str) -> str:
    return json.dumps([seconds, code, data], ensure_ascii=False)
