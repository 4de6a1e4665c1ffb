"""JSON for frames, with orjson when it is installed (requirements.txt) and the standard
library otherwise: encoding the frames was ~12 % of a round trip's CPU in the worker, and
orjson does it ~10x faster (docs/production.md, the profile).

Both give the same JSON values: orjson refuses what the standard library accepts in a few
corners (a lone surrogate from a server's bytes, integers beyond 64 bits, non-string keys),
and those fall back to :mod:`json`, so nothing that encoded before fails now.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

try:  # the web layer's one lookup (transcripts/rows.py, below it, has the store's own)
    ORJSON: Any = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    ORJSON = None


def dumps(value: Any) -> str:
    """``value`` as JSON text (compact)."""
    if ORJSON is not None:
        try:
            return str(ORJSON.dumps(value).decode())
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            pass
    # ASCII: a lone surrogate leaves as an escape (the WebSocket text must be UTF-8).
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """The value of JSON text; :class:`json.JSONDecodeError` (its message) if it is not."""
    if ORJSON is not None:
        try:
            return ORJSON.loads(text)
        except ValueError:  # what orjson refuses, json may take (a lone surrogate escape)
            pass
    return json.loads(text)
