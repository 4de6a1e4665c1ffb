"""The transcripts HTTP API: read, export, import, annotate, delete (docs/api.md)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("transcripts_api", __name__, url_prefix="/api/transcripts")
