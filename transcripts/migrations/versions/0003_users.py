"""Users for PLAYGROUND_AUTH=accounts (and the names a reverse proxy vouches for).

A transcript's ``owner`` is a user name; a user's ``team`` decides who sees transcripts with
visibility ``team``. ``password_hash`` is an argon2id hash, NULL for users only a proxy signs in.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("team", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.CheckConstraint("role IN ('admin', 'trainer', 'member')", name="ck_users_role"),
    )
    op.create_index("ix_users_team", "users", ["team"])


def downgrade() -> None:
    op.drop_index("ix_users_team", "users")
    op.drop_table("users")
