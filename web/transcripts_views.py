"""Pages for recorded transcripts: the list, the replay page and its embeddable variant."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("transcripts", __name__)
