"""Turning entries, notes and transcripts into rows and back, shared by the store and imports."""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, or_

from smtp_session.wire.lines import is_utf8
from transcripts.errors import StoreError
from transcripts.model import Entry, Note, Transcript, utc
from transcripts.schema import MAX_ENTRY_BYTES, MAX_TITLE, entries, transcripts
from transcripts.validate import MAX_TEXT, Invalid, check_entry, plain_entry

try:  # as web/live/jsonfast.py: orjson when installed (requirements.txt), json otherwise
    _orjson: Any = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    _orjson = None


def token_hash(token: str) -> str:
    """The stored form of an edit token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def search_text(entry: Mapping[str, Any]) -> str:
    """What a search matches in an entry: the sent line or the reply's lines."""
    return entry.get("text") or "\n".join(entry.get("lines") or [])


# What json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False) builds
# on every call, built once (the same text).
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_encode_ascii = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _plain_payload(entry: Entry) -> str | None:
    """orjson's text for a plain entry (validate.plain_entry: str, int, None, lists of str),
    which is byte for byte the standard library's for those values (tests/test_store.py
    compares them over every code point); None where orjson refuses (a lone surrogate)."""
    if _orjson is None:
        return None
    try:
        return str(_orjson.dumps(entry).decode())
    except TypeError:  # orjson.JSONEncodeError
        return None


def entry_row(transcript_id: str, entry: Entry) -> dict[str, Any]:
    """The entries row for a checked entry (StoreError if it breaks the format)."""
    plain = plain_entry(entry)
    if not plain:
        try:
            check_entry(entry)
        except Invalid as exc:
            raise StoreError(exc.message, code="bad_entry") from None
    payload = _plain_payload(entry) if plain else None
    if payload is None:
        try:
            payload = _encode(entry)
        except (TypeError, ValueError) as exc:  # event data the web layer built, not JSON
            raise StoreError(f"entry {entry['seq']} is not JSON: {exc}", code="bad_entry") from None
        if not is_utf8(payload):  # a lone surrogate: escaped, so any database takes it
            payload = _encode_ascii(entry)
    if len(payload) > MAX_ENTRY_BYTES:
        raise StoreError(f"an entry is larger than {MAX_ENTRY_BYTES} bytes", code="too_large")
    return {
        "transcript_id": transcript_id,
        "seq": entry["seq"],
        "t_ms": entry["t"],
        "kind": entry["kind"],
        "payload": payload,
        "code": entry.get("code") if entry["kind"] == "reply" else None,
        "text": _searchable(search_text(entry)),
    }


def _searchable(text: str) -> str:
    """What the search column can hold everywhere: no NUL (PostgreSQL refuses it in text, and
    a hostile server may send one), valid UTF-8. The payload keeps the exact text."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not is_utf8(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def lines_row(transcript_id: str, first: Entry, lines: list[str]) -> dict[str, Any]:
    """One row for message lines sent in one batch (a ``lines`` frame of a paste).

    It stands for one ``sent`` entry per line, shaped like ``first`` (the entry for
    ``lines[0]``, checked here) but for its seq and text; :func:`entries_of` gives them back.
    A 20 MB paste is ~270,000 lines: a row (and a JSON encoding) per line was what limited
    throughput, so the store keeps one per batch, under the first line's seq.
    """
    entry_row(transcript_id, {**first, "text": lines[0]})  # the shape, checked once
    if any(type(line) is not str for line in lines) or max(map(len, lines)) > MAX_TEXT:
        raise StoreError(f"a line is not a string of at most {MAX_TEXT} characters")
    text = "\n".join(lines)
    if text.count("\n") != len(lines) - 1:
        raise StoreError("a message line may not contain a line break")
    if "\x00" in text or not is_utf8(text):  # the text column holds the lines exactly
        raise StoreError("a message line may not contain NUL or a lone surrogate")
    data = {k: v for k, v in first.items() if k != "text"}
    # The lines themselves are the search text: stored once, split again on read.
    payload = json.dumps({**data, BATCH: len(lines)}, ensure_ascii=False, separators=(",", ":"))
    return {
        "transcript_id": transcript_id,
        "seq": first["seq"],
        "t_ms": first["t"],
        "kind": "lines",
        "payload": payload,
        "code": None,
        "text": text,
        "entries": len(lines),  # not a column: how many entries the row stands for
    }


BATCH = "batch_lines"  # in a batch row's payload: how many lines its text holds


def entries_in(rows: list[dict[str, Any]]) -> int:
    """How many transcript entries rows stand for (a batch row: one per line)."""
    if len(rows) == 1:  # a live round trip's two writes are one row each
        return int(rows[0].get("entries", 1))
    return sum(row.get("entries", 1) for row in rows)


_BATCH_TEXT = "batch_text"  # in a journaled batch payload: the lines, joined by "\n"


def entry_of(payload: str) -> Entry:
    """The entry a stored row's payload holds (a batch row's payload: its first line's
    fields and the count). orjson reads the standard library's output ~4x faster; what it
    refuses (a lone surrogate escape, an integer beyond 64 bits) the standard library reads."""
    if _orjson is not None:
        try:
            found: Entry = _orjson.loads(payload)
            return found
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            pass
    found = json.loads(payload)
    return found


def entries_of(payload: str, text: str | None) -> list[Entry]:
    """The entries a stored row stands for: itself, or one per line of a batch row."""
    data = entry_of(payload)
    if data.pop(BATCH, None) is None:
        return [data]
    first, explain = data["seq"], data.pop("explain", [])
    return [
        {**data, "seq": first + i, "text": line, "explain": explain if i == 0 else []}
        for i, line in enumerate((text or "").split("\n"))
    ]


def journal_payload(row: dict[str, Any]) -> str:
    """What the journal keeps of a row: its payload, and a batch row's lines with it."""
    if row["kind"] != "lines":
        return str(row["payload"])
    text = json.dumps(row["text"], ensure_ascii=False)
    return f'{row["payload"][:-1]},"{_BATCH_TEXT}":{text}}}'


def row_of_payload(transcript_id: str, payload: str) -> dict[str, Any]:
    """The row for a journaled payload (``journal_payload``), checked again."""
    data = json.loads(payload)
    if data.pop(BATCH, None) is None:
        return entry_row(transcript_id, data)
    lines = str(data.pop(_BATCH_TEXT, "")).split("\n")
    return lines_row(transcript_id, {**data, "text": lines[0]}, lines)


@dataclass
class Pending:
    """A write waiting for the group commit: rows for one transcript, then maybe its close."""

    transcript_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    close: str | None = None  # the close reason, when this write ends the transcript


def checked_title(title: str | None) -> str | None:
    """The title, if it fits."""
    if title is not None and len(title) > MAX_TITLE:
        raise StoreError(f"a title is at most {MAX_TITLE} characters", code="too_long")
    return title


def transcript_of(row: Any) -> Transcript:
    """A Transcript (no entries yet) from a transcripts row."""
    values = dict(row._mapping)
    for name in ("created_at", "ended_at"):
        values[name] = utc(values[name])
    values["messages"] = _id_list(values.get("messages"))
    return Transcript(**values)


def _id_list(stored: Any) -> list[str]:
    """The ``messages`` column: a JSON list of inbox ids (NULL: none)."""
    if not stored:
        return []
    try:
        found = json.loads(stored)
    except ValueError:
        return []
    return [str(m) for m in found] if isinstance(found, list) else []


def note_of(row: Any) -> Note:
    """A Note from a notes row."""
    values = dict(row._mapping)
    values["created_at"] = utc(values["created_at"])
    return Note(**values)


def matches(term: str) -> Any:
    """The WHERE clause of a search: title, target, line text (LIKE) or a reply code."""
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    in_lines = exists().where(
        entries.c.transcript_id == transcripts.c.id,
        entries.c.text.ilike(pattern, escape="\\"),
    )
    conditions = [
        transcripts.c.title.ilike(pattern, escape="\\"),
        transcripts.c.target.ilike(pattern, escape="\\"),
        in_lines,
    ]
    # RFC 5321 §4.2: a reply code is three (ASCII) digits.
    if term.isascii() and term.isdigit() and len(term) == 3:
        code = int(term)
        conditions.append(transcripts.c.last_code == code)
        conditions.append(
            exists().where(entries.c.transcript_id == transcripts.c.id, entries.c.code == code)
        )
    return or_(*conditions)
