"""Alembic environment for the transcript store; run programmatically by ``transcripts.db``."""
