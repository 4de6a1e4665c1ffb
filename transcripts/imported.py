"""Writing an imported transcript into the store: a new id, closed, in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert

from transcripts import db
from transcripts.rows import entry_row, token_hash
from transcripts.schema import entries, notes, transcripts


def _when(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _last_code(items: list[dict[str, Any]]) -> int | None:
    codes = [e["code"] for e in items if e["kind"] == "reply" and e.get("code") is not None]
    return codes[-1] if codes else None


def _transcript_row(meta: Mapping[str, Any], items: list[dict[str, Any]], owner: str | None,
                    token: str) -> dict[str, Any]:  # fmt: skip
    created = _when(meta.get("created_at"), datetime.now(UTC))
    return {
        "id": secrets.token_urlsafe(24),
        "title": meta.get("title"),
        "description": meta.get("description"),
        "target": meta["target"],
        "created_at": created,
        "ended_at": _when(meta.get("ended_at"), created),
        "status": "closed",
        "close_reason": meta.get("close_reason") or "imported",
        "owner": owner,
        "visibility": "link",
        "edit_token_hash": token_hash(token),
        "process": None,
        "entry_count": len(items),
        "last_code": _last_code(items),
    }


def _note_row(transcript_id: str, note: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "transcript_id": transcript_id,
        "seq": note.get("seq"),
        "text": note["text"],
        "author": note.get("author"),
        "created_at": _when(note.get("created_at"), datetime.now(UTC)),
    }


def store_import(engine: Engine, data: Mapping[str, Any], owner: str | None) -> tuple[str, str]:
    """Insert ``data`` (validated by ``import_json``) as a new closed transcript.

    Returns its id and edit token; ``Store.create_from_import`` reads it back. It takes the
    engine, not the Store, so that store.py can import this module (no cycle).
    """
    items = list(data["entries"])
    token = secrets.token_urlsafe(32)
    row = _transcript_row(data["transcript"], items, owner, token)
    entry_rows = [entry_row(row["id"], e) for e in items]
    note_rows = [_note_row(row["id"], n) for n in data.get("notes", [])]
    with db.writer(engine) as conn, conn.begin():
        conn.execute(insert(transcripts), row)
        if entry_rows:
            conn.execute(insert(entries), entry_rows)
        if note_rows:
            conn.execute(insert(notes), note_rows)
    return row["id"], token
