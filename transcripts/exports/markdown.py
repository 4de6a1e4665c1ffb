"""The Markdown export: a table of lines with what each means, for documentation."""

from __future__ import annotations

import re

from transcripts.exports._common import Explain, Item, heading, items, notes_by_seq, printable
from transcripts.model import Note, Transcript

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")
_TICKS = re.compile(r"`+")


def escape(text: str) -> str:
    """Markdown-inert text on one line (GFM table cells cannot hold a line break)."""
    return _SPECIAL.sub(r"\\\1", printable(text)).replace("\n", " ").replace("\r", " ")


def code(text: str) -> str:
    """A code span that holds any text: the fence is longer than any backtick run in it."""
    if not text:
        return "*(empty line)*"
    fence = "`" * (max((len(run) for run in _TICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # GFM: a pipe ends a table cell even inside a code span unless escaped.
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def _note(note: Note) -> str:
    by = f" ({escape(note.author)})" if note.author else ""
    return f"*Note{by}:* {escape(note.text)}"


def _row(item: Item, explain: Explain | None, notes: list[Note]) -> str:
    line = "<br>".join(code(text) for text in item.lines)
    if item.who == "*":
        line = "*" + escape(item.lines[0]) + "*"
    meaning = [escape(text)] if explain and (text := explain(item.entry)) else []
    meaning += [_note(note) for note in notes]
    seconds = f"{item.entry['t'] / 1000:.3f}"
    return f"| {item.entry['seq']} | {seconds} | {item.who} | {line} | {' <br> '.join(meaning)} |"


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The Markdown document."""
    notes = notes_by_seq(transcript)
    meta = transcript.meta()
    out = [f"# {escape(heading(transcript))}", ""]
    out += [f"- Target: {code(transcript.target)}", f"- Started: {meta['created_at']}"]
    status = transcript.status + (
        f" ({transcript.close_reason})" if transcript.close_reason else ""
    )
    out += [f"- Status: {escape(status)}", f"- Transcript: {code(transcript.id)}", ""]
    if transcript.description:
        out += [escape(line) for line in transcript.description.splitlines()] + [""]
    out += ["| # | s | Who | Line | What it means |", "|---|---|---|---|---|"]
    out += [_row(item, explain, notes.get(item.entry["seq"], [])) for item in items(transcript)]
    out += ["", "C: sent by the client (you), S: the server's reply, \\*: an event.", ""]
    if notes.get(None):
        out += ["## Notes", ""] + [f"- {_note(note)}" for note in notes[None]] + [""]
    return "\n".join(out).encode()
