"""The HTML export: one self-contained page (inline CSS, no script, nothing fetched)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from html import escape

from transcripts.exports._common import (
    Explain,
    Item,
    heading,
    items,
    joined,
    notes_by_seq,
    printable,
    readable_time,
)
from transcripts.model import Note, Transcript

# Even if some text slipped through unescaped, the page could load and run nothing.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# Protocol text wraps only at spaces, never inside a word; a word longer than the screen
# scrolls inside its own cell. Below 40rem (a phone at 390 px) each row becomes a block.
_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;padding:0 1rem;max-width:70rem;
color:#1d2330}
h1{font-size:1.5rem;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem}
dt{font-weight:600}dd{margin:0;min-width:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th.num{width:6.5rem}th.explain{width:40%}
td,th{border-bottom:1px solid #dde;padding:.3rem .5rem;vertical-align:top;text-align:left}
td.line{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:normal;
overflow-wrap:normal;overflow-x:auto}.w{white-space:nowrap}
tr.C td.line{color:#0b5394}tr.S td.line{color:#274e13}tr.E td.line{color:#7f6000;font-style:italic}
td.num{color:#666;font-size:.85em;white-space:nowrap}.note{background:#fff8d6;
border-left:3px solid #e0b400;padding:.2rem .5rem;margin:.3rem 0;overflow-wrap:anywhere}
.explain{color:#333;overflow-wrap:anywhere}
@media (max-width:40rem){body{margin:1rem auto;padding:0 .75rem}
table,tbody,tr,td{display:block;width:100%}thead{display:none}
tr{border-bottom:1px solid #dde;padding:.3rem 0}td{border:0;padding:.1rem 0}}
"""
_WORDS = re.compile(r"(\s+)")
_CLASSES = {"C": "C", "S": "S", "*": "E"}


@lru_cache(maxsize=4096)  # a long transcript repeats its lines and explanations
def _text(value: str | None) -> str:
    return escape(printable(value or ""))


@lru_cache(maxsize=4096)
def _protocol(text: str) -> str:
    """A protocol line that wraps only at its spaces: a word with punctuation in it (where
    browsers would otherwise break, as in ``FROM:<a@b>``) is kept whole in a nowrap span."""
    pieces = _WORDS.split(printable(text))
    return "".join(
        f'<span class="w">{escape(piece)}</span>'
        if piece and not piece.isspace() and not piece.isalnum()
        else escape(piece)
        for piece in pieces
    )


def _note(note: Note) -> str:
    by = f"<b>{_text(note.author)}:</b> " if note.author else ""
    return f'<div class="note">{by}{_text(note.text)}</div>'


def _row(item: Item, explain: Explain | None, notes: list[Note]) -> str:
    lines = "\n".join(_protocol(f"{item.who}: {line}") for line in item.lines)
    said = explain(item.entry) if explain else None
    panel = f'<div class="explain">{_text(said)}</div>' if said else ""
    panel += "".join(_note(note) for note in notes)
    seconds = f"{item.entry['t'] / 1000:.3f} s"
    return (
        f'<tr class="{_CLASSES[item.who]}"><td class="num">#{item.entry["seq"]} · {seconds}</td>'
        f'<td class="line">{lines}</td><td class="explain">{panel}</td></tr>'
    )


def _meta(transcript: Transcript) -> str:
    rows = [
        ("Target", transcript.target),
        ("Started", readable_time(transcript.created_at)),
        ("Ended", readable_time(transcript.ended_at)),
        ("Status", transcript.status),
        ("Reason", transcript.close_reason),
        ("Transcript", transcript.id),
    ]
    return "".join(f"<dt>{k}</dt><dd>{_text(str(v))}</dd>" for k, v in rows if v)


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The HTML page."""
    return b"".join(stream(transcript, explain))


def stream(transcript: Transcript, explain: Explain | None = None) -> Iterator[bytes]:
    """The HTML page, a thousand rows at a time."""
    notes = notes_by_seq(transcript)
    title = _text(heading(transcript))
    general = "".join(_note(note) for note in notes.get(None, []))
    description = f"<p>{_text(transcript.description)}</p>" if transcript.description else ""
    yield f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_CSS}</style></head>
<body><h1>{title}</h1><dl>{_meta(transcript)}</dl>{description}{general}
<table><thead><tr><th class="num">#</th><th>Line</th><th class="explain">What it means</th></tr>
</thead>
<tbody>
""".encode()
    rows = (_row(item, explain, notes.get(item.entry["seq"], [])) for item in items(transcript))
    yield from joined(rows)
    yield b"""
</tbody></table>
<p>C: sent by the client, S: the server's reply, *: an event. Exported from SMTP Playground.</p>
</body></html>
"""
