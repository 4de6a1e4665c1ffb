"""Reading an uploaded transcript (JSON format v1) strictly, and redacting it again.

The file is untrusted: every field is checked (docs/transcript-format.md), errors say what and
where, and AUTH lines are run through the redactor so no credential reaches storage.
"""

from __future__ import annotations

import json
from typing import Any

from smtp_session.guide.redact import Redactor
from smtp_session.wire.reply import Reply
from transcripts.errors import TranscriptImportError
from transcripts.exports.jsonfmt import FORMAT, VERSION
from transcripts.schema import MAX_ENTRY_BYTES
from transcripts.validate import META_FIELDS, NOTE_FIELDS, Invalid, check_entry, check_fields

MAX_ENTRIES = 20_000
MAX_NOTES = 1_000
_TOP_FIELDS = ("format", "version", "transcript", "entries", "notes")


def _bad(message: str) -> TranscriptImportError:
    return TranscriptImportError(message, code="bad_import")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _bad(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise _bad(f"{name} is not a JSON number")


def _parse(data: bytes, max_bytes: int) -> Any:
    if len(data) > max_bytes:
        raise TranscriptImportError(
            f"the file is {len(data)} bytes; at most {max_bytes} are accepted", code="too_large"
        )
    try:
        text = data.decode("utf-8-sig")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise _bad("the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _bad("the JSON is nested too deeply") from None


def _check_header(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise _bad("the file must hold a JSON object")
    for key in doc:
        if key not in _TOP_FIELDS:
            raise _bad(f"unknown top-level field {key!r}")
    if doc.get("format") != FORMAT:
        raise _bad(f"format must be {FORMAT!r}: this is not a playground transcript")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad("version must be an integer")
    if version != VERSION:
        raise _bad(f"version {version} is not supported; this playground reads version {VERSION}")


def _check_list(doc: dict[str, Any], name: str, limit: int, required: bool) -> list[Any]:
    if name not in doc and not required:
        return []
    value = doc.get(name)
    if not isinstance(value, list):
        raise _bad(f"{name} must be a list")
    if len(value) > limit:
        raise TranscriptImportError(f"{name} has more than {limit} items", code="too_large")
    return value


def _check_entries(entries: list[Any]) -> None:
    previous = -1
    for i, entry in enumerate(entries):
        where = f"entries[{i}]"
        check_entry(entry, where)
        if entry["seq"] <= previous:
            raise Invalid(f"{where}.seq must be greater than the seq before it ({previous})")
        previous = entry["seq"]
        if len(json.dumps(entry, ensure_ascii=False)) > MAX_ENTRY_BYTES:
            raise Invalid(f"{where} is larger than {MAX_ENTRY_BYTES} bytes")


def _check_notes(notes: list[Any], seqs: set[int]) -> None:
    for i, note in enumerate(notes):
        where = f"notes[{i}]"
        check_fields(note, NOTE_FIELDS, where)
        if not note["text"].strip():
            raise Invalid(f"{where}.text is empty")
        if note["seq"] is not None and note["seq"] not in seqs:
            raise Invalid(f"{where}.seq refers to no entry ({note['seq']})")


def redact_entries(entries: list[dict[str, Any]]) -> None:
    """Run every sent line through a fresh Redactor, in order, in place."""
    redactor = Redactor()
    last_reply: Reply | None = None
    for entry in entries:
        if entry["kind"] == "reply":
            lines = tuple(entry["lines"])
            last_reply = Reply(code=entry["code"], lines=lines, enhanced=entry.get("enhanced"))
        elif entry["kind"] == "sent":
            entry["text"] = redactor.feed(entry["text"], entry["line_kind"], last_reply)


def import_json(data: bytes, max_bytes: int) -> dict[str, Any]:
    """Validate an uploaded JSON transcript; returns {"transcript", "entries", "notes"}."""
    doc = _parse(data, max_bytes)
    _check_header(doc)
    try:
        check_fields(doc.get("transcript"), META_FIELDS, "transcript")
        entries = _check_list(doc, "entries", MAX_ENTRIES, required=True)
        notes = _check_list(doc, "notes", MAX_NOTES, required=False)
        _check_entries(entries)
        _check_notes(notes, {e["seq"] for e in entries})
    except Invalid as exc:
        raise _bad(exc.message) from None
    redact_entries(entries)
    return {"transcript": doc["transcript"], "entries": entries, "notes": notes}
