"""Writing an imported transcript into the store: a new id, closed, in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from transcripts import db
from transcripts.model import Transcript
from transcripts.rows import entry_row, token_hash
from transcripts.schema import entries, notes, transcripts

if TYPE_CHECKING:
    from transcripts.store import Store


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


def store_import(
    store: Store, data: Mapping[str, Any], owner: str | None
) -> tuple[Transcript, str]:
    """Insert ``data`` (validated by ``import_json``) as a new closed transcript."""
    items = list(data["entries"])
    token = secrets.token_urlsafe(32)
    row = _transcript_row(data["transcript"], items, owner, token)
    entry_rows = [entry_row(row["id"], e) for e in items]
    note_rows = [_note_row(row["id"], n) for n in data.get("notes", [])]
    with db.writer(store.engine) as conn, conn.begin():
        conn.execute(insert(transcripts), row)
        if entry_rows:
            conn.execute(insert(entries), entry_rows)
        if note_rows:
            conn.execute(insert(notes), note_rows)
    found = store.get(row["id"])
    assert found is not None  # written in the transaction above
    return found, token
