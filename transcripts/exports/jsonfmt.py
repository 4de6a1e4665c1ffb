"""The JSON export: the versioned interchange format (docs/transcript-format.md)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

from transcripts.exports._common import CHUNK_LINES, Explain
from transcripts.model import Transcript

FORMAT = "smtp-playground-transcript"
VERSION = 1


def document(transcript: Transcript) -> dict[str, Any]:
    """The format v1 document as a dict."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "transcript": transcript.meta(),
        "entries": transcript.entries,
        "notes": [note.to_dict() for note in transcript.notes],
    }


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The JSON file (UTF-8, indented, stable key order)."""
    return b"".join(stream(transcript, explain))


try:  # orjson indents exactly as json.dumps(indent=2) does, ~20x faster (tests/test_export_streams)
    _orjson: Any = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    _orjson = None


def _indented(entry: Any) -> str:
    """``json.dumps(entry, ensure_ascii=False, indent=2)``. Lines and replies (the bulk) hold
    strings, integers and lists only; an event's data may hold a float, which orjson would
    write in its own shortest form (1e16, not 1e+16), so events take the standard way."""
    if _orjson is not None and entry.get("kind") != "event":
        try:
            return str(_orjson.dumps(entry, option=_orjson.OPT_INDENT_2).decode())
        except TypeError:  # a lone surrogate, an integer beyond 64 bits: the standard way
            pass
    return json.dumps(entry, ensure_ascii=False, indent=2)


_SLOT = '\n  "entries": [],\n  "notes": '  # where the entries go in the indented document


def stream(transcript: Transcript, explain: Explain | None = None) -> Iterator[bytes]:
    """The same bytes as ``json.dumps(document, indent=2)``, an entry at a time: each entry
    is indented on its own and placed at its depth (JSON strings hold no raw line breaks,
    so every line break is indentation)."""
    empty = {**document(transcript), "entries": []}
    text = json.dumps(empty, ensure_ascii=False, indent=2) + "\n"
    cut = text.index(_SLOT) + len('\n  "entries": ')
    head, tail = text[:cut], text[cut + 2 :]  # without the "[]"
    entries = transcript.entries
    if not entries:
        yield (head + "[]" + tail).encode()
        return
    yield (head + "[\n").encode()
    for start in range(0, len(entries), CHUNK_LINES):
        pieces = [
            "    " + _indented(entry).replace("\n", "\n    ")
            for entry in entries[start : start + CHUNK_LINES]
        ]
        yield (("" if start == 0 else ",\n") + ",\n".join(pieces)).encode()
    yield ("\n  ]" + tail).encode()
