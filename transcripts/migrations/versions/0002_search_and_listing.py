"""Search columns on entries (reply code, line text) and indexes for the listing page.

Searching the JSON payload with LIKE mismatches on escaped quotes and non-ASCII text, so the
text a search looks at gets its own columns, filled here for entries written before.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("code", sa.Integer))
        batch.add_column(sa.Column("text", sa.Text))
    _backfill()
    op.create_index("ix_transcripts_created", "transcripts", ["created_at"])
    op.create_index("ix_transcripts_owner", "transcripts", ["owner", "created_at"])
    op.create_index("ix_transcripts_status", "transcripts", ["status"])


def _backfill() -> None:
    """Fill code/text from each entry's payload, a batch at a time."""
    bind = op.get_bind()
    entries = sa.table(
        "entries",
        sa.column("transcript_id", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("payload", sa.Text),
        sa.column("code", sa.Integer),
        sa.column("text", sa.Text),
    )
    select = (
        sa.select(entries.c.transcript_id, entries.c.seq, entries.c.payload)
        .where(entries.c.text.is_(None))
        .limit(_BATCH)
    )
    update = (
        entries.update()
        .where(entries.c.transcript_id == sa.bindparam("tid"))
        .where(entries.c.seq == sa.bindparam("s"))
        .values(code=sa.bindparam("c"), text=sa.bindparam("x"))
    )
    while rows := bind.execute(select).all():
        params = []
        for tid, seq, payload in rows:
            entry = json.loads(payload)
            text = entry.get("text") or "\n".join(entry.get("lines") or [])
            params.append({"tid": tid, "s": seq, "c": entry.get("code"), "x": text})
        bind.execute(update, params)


def downgrade() -> None:
    op.drop_index("ix_transcripts_status", "transcripts")
    op.drop_index("ix_transcripts_owner", "transcripts")
    op.drop_index("ix_transcripts_created", "transcripts")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("text")
        batch.drop_column("code")
