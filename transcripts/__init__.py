"""Transcript storage, export and import for the SMTP Playground (no Flask in here)."""

from transcripts.errors import NotFound, StoreError, TranscriptImportError
from transcripts.model import Note, Transcript
from transcripts.store import Store

__all__ = ["NotFound", "Note", "Store", "StoreError", "Transcript", "TranscriptImportError"]
