"""Captured sessions (#16): transcripts the sandbox recorded from the server's side.

A captured session is an ordinary transcript (exports, share links, notes and import work on
it) with what the Captured list shows: where it came from (``source``: ``console`` for the
playground's own sessions, ``captured`` for the sandbox's), the client's address and EHLO
name, how it ended, how many warnings its client earned and the inbox messages it delivered
(a JSON list of ids).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcripts") as batch:
        batch.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="console")
        )
        batch.add_column(sa.Column("client", sa.String(255)))
        batch.add_column(sa.Column("ehlo", sa.String(255)))
        batch.add_column(sa.Column("outcome", sa.String(16)))
        batch.add_column(sa.Column("warnings", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("messages", sa.Text))
    op.create_index("ix_transcripts_source", "transcripts", ["source", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_transcripts_source", "transcripts")
    with op.batch_alter_table("transcripts") as batch:
        for name in ("messages", "warnings", "outcome", "ehlo", "client", "source"):
            batch.drop_column(name)
