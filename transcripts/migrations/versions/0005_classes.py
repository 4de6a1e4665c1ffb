"""Classes (#18): a trainer's class, its students and the sessions they opened in it.

A student's ``token_hash`` is a SHA-256 of the token the student's browser keeps; ``lessons``
and ``warnings`` are JSON text (the report's figures), kept up to date as the class runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("title", sa.String(100), nullable=False, server_default=""),
        sa.Column("trainer", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("max_students", sa.Integer, nullable=False),
        sa.Column("lesson", sa.String(100)),
        sa.Column("restrict_target", sa.String(255)),
        sa.Column("broadcasting", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_classes_code", "classes", ["code"])
    op.create_index("ix_classes_trainer", "classes", ["trainer", "created_at"])
    op.create_table(
        "class_students",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "class_id",
            sa.String(32),
            sa.ForeignKey("classes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("user_name", sa.String(100)),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("sessions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lessons", sa.Text, nullable=False, server_default="{}"),
        sa.Column("warnings", sa.Text, nullable=False, server_default="{}"),
        sa.UniqueConstraint("class_id", "name", name="uq_class_students_name"),
    )
    op.create_table(
        "class_sessions",
        sa.Column("transcript_id", sa.String(64), primary_key=True),
        sa.Column(
            "class_id",
            sa.String(32),
            sa.ForeignKey("classes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("student_id", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_class_sessions_class", "class_sessions", ["class_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_class_sessions_class", "class_sessions")
    op.drop_table("class_sessions")
    op.drop_table("class_students")
    op.drop_index("ix_classes_trainer", "classes")
    op.drop_index("ix_classes_code", "classes")
    op.drop_table("classes")
