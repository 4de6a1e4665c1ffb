"""Transcripts, their entries and notes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200)),
        sa.Column("description", sa.Text),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("close_reason", sa.String(200)),
        sa.Column("owner", sa.String(100)),
        sa.Column("visibility", sa.String(16), nullable=False, server_default="link"),
        sa.Column("edit_token_hash", sa.String(64), nullable=False),
        sa.Column("process", sa.String(255)),
        sa.Column("entry_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_code", sa.Integer),
    )
    op.create_table(
        "entries",
        sa.Column(
            "transcript_id",
            sa.String(64),
            sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("t_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("transcript_id", "seq"),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "transcript_id",
            sa.String(64),
            sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notes_transcript", "notes", ["transcript_id", "seq"])


def downgrade() -> None:
    op.drop_table("notes")
    op.drop_table("entries")
    op.drop_table("transcripts")
