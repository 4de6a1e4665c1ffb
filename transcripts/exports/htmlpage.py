"""The HTML export: one self-contained page (inline CSS, no script, nothing fetched)."""

from __future__ import annotations

from html import escape

from transcripts.exports._common import Explain, Item, heading, items, notes_by_seq, printable
from transcripts.model import Note, Transcript

# Even if some text slipped through unescaped, the page could load and run nothing.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2330}
h1{font-size:1.5rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dt{font-weight:600}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #dde;padding:.3rem .5rem;vertical-align:top;text-align:left}
td.line{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
tr.C td.line{color:#0b5394}tr.S td.line{color:#274e13}tr.E td.line{color:#7f6000;font-style:italic}
td.num{color:#888;font-size:.85em}.note{background:#fff8d6;border-left:3px solid #e0b400;
padding:.2rem .5rem;margin:.3rem 0}.explain{color:#333}
"""
_CLASSES = {"C": "C", "S": "S", "*": "E"}


def _text(value: str | None) -> str:
    return escape(printable(value or ""))


def _note(note: Note) -> str:
    by = f"<b>{_text(note.author)}:</b> " if note.author else ""
    return f'<div class="note">{by}{_text(note.text)}</div>'


def _row(item: Item, explain: Explain | None, notes: list[Note]) -> str:
    lines = "\n".join(f"{item.who}: {escape(line)}" for line in item.lines)
    said = explain(item.entry) if explain else None
    panel = f'<div class="explain">{_text(said)}</div>' if said else ""
    panel += "".join(_note(note) for note in notes)
    seconds = f"{item.entry['t'] / 1000:.3f}s"
    return (
        f'<tr class="{_CLASSES[item.who]}"><td class="num">{item.entry["seq"]}<br>{seconds}</td>'
        f'<td class="line">{lines}</td><td>{panel}</td></tr>'
    )


def _meta(transcript: Transcript) -> str:
    meta = transcript.meta()
    rows = [
        ("Target", transcript.target),
        ("Started", meta["created_at"]),
        ("Ended", meta["ended_at"]),
        ("Status", transcript.status),
        ("Reason", transcript.close_reason),
        ("Transcript", transcript.id),
    ]
    return "".join(f"<dt>{k}</dt><dd>{_text(str(v))}</dd>" for k, v in rows if v)


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The HTML page."""
    notes = notes_by_seq(transcript)
    title = _text(heading(transcript))
    body = "\n".join(
        _row(item, explain, notes.get(item.entry["seq"], [])) for item in items(transcript)
    )
    general = "".join(_note(note) for note in notes.get(None, []))
    description = f"<p>{_text(transcript.description)}</p>" if transcript.description else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_CSS}</style></head>
<body><h1>{title}</h1><dl>{_meta(transcript)}</dl>{description}{general}
<table><thead><tr><th>#</th><th>Line</th><th>What it means</th></tr></thead>
<tbody>
{body}
</tbody></table>
<p>C: sent by the client, S: the server's reply, *: an event. Exported from SMTP Playground.</p>
</body></html>
"""
    return page.encode()
