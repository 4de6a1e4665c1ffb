"""The statements for captured sessions (revision 0004): create, summarise, list, prune.

A captured session is an ordinary transcript (``source = 'captured'``) whose id the sandbox
chose when the connection opened (so the inbox message can name it before anything is
stored). ``Store`` calls these; its own methods append the entries.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from transcripts import db, process
from transcripts.model import Transcript
from transcripts.rows import token_hash, transcript_of
from transcripts.schema import MAX_TARGET, MAX_TITLE, OUTCOMES, transcripts

CAPTURED = "captured"
_META = [c for c in transcripts.c if c.name != "edit_token_hash"]


def _short(value: Any, size: int = MAX_TARGET) -> str | None:
    return None if value is None else str(value)[:size]


def create(
    engine: Engine, transcript_id: str, target: str, client: str | None, created_at: datetime
) -> None:
    """The live transcript of a session that just opened (its edit token is never shown)."""
    row = {
        "id": transcript_id,
        "title": None,
        "description": None,
        "target": target[:MAX_TARGET],
        "created_at": created_at,
        "ended_at": None,
        "status": "live",
        "close_reason": None,
        "owner": None,
        "visibility": "link",  # like a console transcript: the id is the share link
        "edit_token_hash": token_hash(secrets.token_urlsafe(32)),
        "process": process.identity(),
        "entry_count": 0,
        "last_code": None,
        "source": CAPTURED,
        "client": _short(client),
        "ehlo": None,
        "outcome": "live",
        "warnings": 0,
        "messages": "[]",
    }
    with db.writer(engine) as conn, conn.begin():
        conn.execute(insert(transcripts), row)


def summary_values(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a judged session's summary sets (guide/captured.py)."""
    outcome = summary.get("outcome")
    warnings = summary.get("warnings")
    return {
        "ehlo": _short(summary.get("ehlo")),
        "outcome": outcome if outcome in OUTCOMES else None,
        "warnings": warnings if isinstance(warnings, int) else 0,
        "messages": json.dumps([str(m) for m in summary.get("messages") or []][:1000]),
    }


def summarise(engine: Engine, transcript_id: str, summary: Mapping[str, Any]) -> None:
    """Keep the summary of a session still going (the list shows it live)."""
    stmt = (
        update(transcripts)
        .where(transcripts.c.id == transcript_id)
        .values(**summary_values(summary))
    )
    with db.writer(engine) as conn, conn.begin():
        conn.execute(stmt)


def finish(engine: Engine, transcript_id: str, reason: str, summary: Mapping[str, Any]) -> None:
    """Close the session's transcript with its final summary."""
    stmt = (
        update(transcripts)
        .where(transcripts.c.id == transcript_id)
        .values(
            status="closed",
            ended_at=datetime.now(UTC),
            close_reason=reason[:MAX_TITLE] or None,
            **summary_values(summary),
        )
    )
    with db.writer(engine) as conn, conn.begin():
        conn.execute(stmt)


def listing(engine: Engine, limit: int = 50, before: str | None = None) -> list[Transcript]:
    """Captured sessions, newest first; ``before``: only those older than that transcript."""
    stmt = (
        select(*_META)
        .where(transcripts.c.source == CAPTURED)
        .order_by(transcripts.c.created_at.desc(), transcripts.c.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    with engine.begin() as conn:
        if before is not None:
            pivot = conn.execute(
                select(transcripts.c.created_at, transcripts.c.id).where(transcripts.c.id == before)
            ).first()
            if pivot is None:
                return []
            older = transcripts.c.created_at < pivot.created_at
            tie = (transcripts.c.created_at == pivot.created_at) & (transcripts.c.id < pivot.id)
            stmt = stmt.where(older | tie)
        return [transcript_of(row) for row in conn.execute(stmt)]


def prune(engine: Engine, max_sessions: int, max_age: float) -> list[str]:
    """Delete ended captured sessions beyond the newest ``max_sessions`` or older than
    ``max_age`` seconds (a live one is never deleted); returns the deleted ids.

    Two indexed reads (ix_transcripts_source) when nothing is due, as it runs at every end.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=max(0.0, max_age))
    captured = transcripts.c.source == CAPTURED
    with db.writer(engine) as conn, conn.begin():
        pivot = conn.scalar(  # the newest session past the count: it and older ones go
            select(transcripts.c.created_at)
            .where(captured)
            .order_by(transcripts.c.created_at.desc())
            .limit(1)
            .offset(max(0, max_sessions))
        )
        due = transcripts.c.created_at < cutoff
        if pivot is not None:
            due = due | (transcripts.c.created_at <= pivot)
        doomed = conn.scalars(
            select(transcripts.c.id).where(captured, transcripts.c.status != "live", due)
        ).all()
        if doomed:
            conn.execute(delete(transcripts).where(transcripts.c.id.in_(doomed)))
    return list(doomed)
