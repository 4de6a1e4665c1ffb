"""The tables (SQLAlchemy Core) and the limits every stored transcript keeps to.

The migrations in ``transcripts/migrations`` create these tables; this module is what the
queries use. Change both together, with a new revision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

MAX_TITLE = 200
MAX_DESCRIPTION = 4_000
MAX_NOTE = 4_000
MAX_TARGET = 255
MAX_AUTHOR = 100
# One entry's JSON; a reply is at most 64 KiB (smtp_session.wire.reply).
MAX_ENTRY_BYTES = 256 * 1024
STATUSES = ("live", "closed", "interrupted")
VISIBILITIES = ("private", "team", "link")
SOURCES = ("console", "captured")  # who recorded it: a console session, or the sandbox
OUTCOMES = ("live", "delivered", "refused", "quit", "dropped")

metadata = MetaData()

transcripts = Table(
    "transcripts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", String(MAX_TITLE)),
    Column("description", Text),
    Column("target", String(MAX_TARGET), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("close_reason", String(MAX_TITLE)),
    Column("owner", String(MAX_AUTHOR)),
    Column("visibility", String(16), nullable=False),
    Column("edit_token_hash", String(64), nullable=False),
    Column("process", String(MAX_TARGET)),
    Column("entry_count", Integer, nullable=False),
    Column("last_code", Integer),
    # Revision 0004: captured sessions (smtp_session/sandbox/capture.py).
    Column("source", String(16), nullable=False, server_default="console"),
    Column("client", String(MAX_TARGET)),
    Column("ehlo", String(MAX_TARGET)),
    Column("outcome", String(16)),
    Column("warnings", Integer, nullable=False, server_default="0"),
    Column("messages", Text),  # a JSON list of inbox ids
)

entries = Table(
    "entries",
    metadata,
    Column("transcript_id", String(64), ForeignKey("transcripts.id", ondelete="CASCADE")),
    Column("seq", Integer, nullable=False),
    Column("t_ms", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("payload", Text, nullable=False),
    # Revision 0002: what a search looks at, so it need not read the JSON.
    Column("code", Integer),
    Column("text", Text),
    PrimaryKeyConstraint("transcript_id", "seq"),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "transcript_id",
        String(64),
        ForeignKey("transcripts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer),
    Column("text", Text, nullable=False),
    Column("author", String(MAX_AUTHOR)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
