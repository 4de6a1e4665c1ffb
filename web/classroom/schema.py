"""The class tables (revision 0005 creates them; this module is what the queries use)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

MAX_CLASS_TITLE = 100
MAX_STUDENT_NAME = 40

metadata = MetaData()

classes = Table(
    "classes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("code", String(12), nullable=False),
    Column("title", String(MAX_CLASS_TITLE), nullable=False),
    Column("trainer", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("max_students", Integer, nullable=False),
    Column("lesson", String(100)),
    Column("restrict_target", String(255)),
    Column("broadcasting", Boolean, nullable=False, default=False),
)

class_students = Table(
    "class_students",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("class_id", String(32), ForeignKey("classes.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("user_name", String(100)),
    Column("token_hash", String(64), nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("online", Boolean, nullable=False, default=False),
    Column("sessions", Integer, nullable=False, default=0),
    Column("lessons", Text, nullable=False, default="{}"),
    Column("warnings", Text, nullable=False, default="{}"),
)

class_sessions = Table(
    "class_sessions",
    metadata,
    Column("transcript_id", String(64), primary_key=True),
    Column("class_id", String(32), ForeignKey("classes.id", ondelete="CASCADE"), nullable=False),
    Column("student_id", String(32), nullable=False),
    Column("target", String(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)
