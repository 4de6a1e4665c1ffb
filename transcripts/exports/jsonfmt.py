"""The JSON export: the versioned interchange format (docs/transcript-format.md)."""

from __future__ import annotations

import json
from typing import Any

from transcripts.exports._common import Explain
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
    return (json.dumps(document(transcript), ensure_ascii=False, indent=2) + "\n").encode()
