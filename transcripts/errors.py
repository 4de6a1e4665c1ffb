"""Errors of the transcripts package, all under the one PlaygroundError base."""

from __future__ import annotations

from smtp_session.errors import PlaygroundError


class StoreError(PlaygroundError):
    """Storage refused an operation (a limit, a closed transcript, a bad entry)."""

    code = "store"


class NotFound(StoreError):
    """No transcript (or note) has that id."""

    code = "not_found"


class TranscriptImportError(PlaygroundError):
    """An uploaded transcript file is not acceptable; the message says what and where."""

    code = "bad_import"


class ExportError(PlaygroundError):
    """An export was asked for in a format that does not exist."""

    code = "bad_format"
