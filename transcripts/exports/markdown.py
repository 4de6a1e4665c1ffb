"""The Markdown export, for documentation: the session as one fenced block, then what it means.

Every field comes from a server, a user or an imported file, so each is written to be inert
CommonMark: protocol lines only inside the fenced block (each starts with ``C:``/``S:``/``*``,
so none can close it), target and ids in code spans whose fence is longer than any backtick
run they hold, and other text with only the characters escaped that could start markup there
(no ``\\(`` or ``\\_`` inside a word: a reader sees the text, not the escapes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

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

_TICKS = re.compile(r"`+")
# CommonMark: these start inline markup (code, emphasis, links and images, GFM
# strikethrough) or escape the next character.
_ALWAYS = set("\\`*[~")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# At the start of a line: ATX headings, block quotes, bullet and ordered lists, setext
# underlines, thematic breaks, GFM tables, fences.
_LINE_START = re.compile(r"[#>+\-=|_]|\d{1,9}(?=[.)])")


def _char(text: str, i: int) -> str:
    c = text[i]
    if c in _ALWAYS:
        return "\\" + c
    if c == "_":  # inside a word _ is a letter; at a word's edge it may open emphasis
        inside = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        return c if inside else "\\_"
    if c == "<":  # raw HTML and autolinks begin <letter, </, <!, <? or <local-part@
        after = text[i + 1 : i + 2]
        return "\\<" if after.isascii() and after not in (" ", "\t", "<", ">") else c
    if c == "&" and _ENTITY.match(text, i):
        return "\\&"
    return c


@lru_cache(maxsize=4096)
def inline(text: str) -> str:
    """Text that reads as itself in the middle of a CommonMark line (cached: a long
    transcript says the same explanation thousands of times)."""
    text = printable(text)
    return "".join(_char(text, i) for i in range(len(text)))


def line(text: str) -> str:
    """Text that reads as itself as a whole line: no leading marker, indent or hard break."""
    text = printable(text).strip()
    found = _LINE_START.match(text)
    if found is None:
        return inline(text)
    if text[0].isdigit():  # an ordered-list number: escape its . or ), not the digits
        end = found.end()
        return text[:end] + "\\" + text[end] + inline(text[end + 1 :])
    return "\\" + text[0] + inline(text[1:])


@lru_cache(maxsize=4096)
def code(text: str) -> str:
    """A code span that holds any text: the fence is longer than any backtick run in it
    (cached: each entry's first line is one in the list of meanings)."""
    text = printable(text)
    if not text:
        return "(empty)"
    fence = "`" * (max((len(run) for run in _TICKS.findall(text)), default=0) + 1)
    # CommonMark strips one space from each end when both are there, unless the text is all
    # spaces; pad so that it strips ours (and a backtick at an end does not join the fence).
    pad = " " if text.strip(" ") and (text[0] in "` " or text[-1] in "` ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _heading(text: str) -> str:
    escaped = inline(printable(text).strip())
    if escaped.endswith("#"):  # a closing run of # would be dropped from the heading
        escaped = escaped[:-1] + "\\#"
    return "# " + (escaped or "Transcript")


def _note(note: Note) -> str:
    by = f" from {inline(note.author)}" if note.author else ""
    return f"Note{by}: {inline(note.text)}"


def block(item: Item) -> list[str]:
    """One entry's lines as they stand in the fenced block."""
    return [f"{item.who}: {text}" if item.who != "*" else f"* {text}" for text in item.lines]


def _fenced(transcript: Transcript) -> Iterator[str]:
    """The session's lines in a fence longer than any backtick run in them (a first pass
    finds the longest run; the lines are made again as they are written)."""
    texts = {text for item in items(transcript) for text in item.lines}  # each once
    runs = (len(r) for text in texts for r in _TICKS.findall(text))
    fence = "`" * max(3, max(runs, default=0) + 1)
    yield f"{fence}text"
    for item in items(transcript):
        yield from block(item)
    yield fence


def _meanings(transcript: Transcript, explain: Explain | None) -> Iterator[str]:
    notes = notes_by_seq(transcript)
    started = False
    for item in items(transcript):
        said = explain(item.entry) if explain else None
        parts = [inline(said)] if said else []
        parts += [_note(note) for note in notes.get(item.entry["seq"], [])]
        if parts:
            if not started:
                yield from ("## What the lines mean", "")
                started = True
            seconds = f"{item.entry['t'] / 1000:.3f} s"
            where = f"Line {item.entry['seq']} ({seconds}), {code(block(item)[0])}"
            yield f"- {where}: {' '.join(parts)}"
    if started:
        yield ""


def _meta(transcript: Transcript) -> list[str]:
    status = inline(transcript.status)
    if transcript.close_reason:
        status += f" ({inline(transcript.close_reason)})"
    rows = [f"- Target: {code(transcript.target)}"]
    rows += [f"- Started: {readable_time(transcript.created_at)}"]
    if transcript.ended_at:
        rows += [f"- Ended: {readable_time(transcript.ended_at)}"]
    return [*rows, f"- Status: {status}", f"- Transcript: {code(transcript.id)}", ""]


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The Markdown document."""
    return b"".join(stream(transcript, explain))


def stream(transcript: Transcript, explain: Explain | None = None) -> Iterator[bytes]:
    """The Markdown document, written as it is made."""
    return joined(_lines(transcript, explain))


def _lines(transcript: Transcript, explain: Explain | None) -> Iterator[str]:
    yield from [_heading(heading(transcript)), "", *_meta(transcript)]
    if transcript.description:
        yield from [line(text) for text in transcript.description.splitlines()] + [""]
    yield from _fenced(transcript)
    yield from ["", "C: sent by the client (you), S: the server's reply, \\*: an event.", ""]
    yield from _meanings(transcript, explain)
    general = notes_by_seq(transcript).get(None, [])
    if general:
        yield from ["## Notes", "", *[f"- {_note(note)}" for note in general], ""]
