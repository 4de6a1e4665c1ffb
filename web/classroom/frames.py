"""The class frames a browser may send, per socket (docs/classroom.md is the contract)."""

from __future__ import annotations

import json
from typing import Any

from web.live.frames import FrameError

FrameTable = dict[str, dict[str, type]]

# Socket -> frame type -> {field: JSON type, or None for "any"}; every field is optional
# unless it is in REQUIRED. The handlers check values further.
CONSOLE: FrameTable = {
    "class_join": {"code": str, "name": str, "token": str},
    "class_leave": {},
    "class_broadcast": {"class": str, "on": bool},
}
DASHBOARD: FrameTable = {
    "watch": {"student": str},
    "unwatch": {"student": str},
    "ping": {},
}
FOLLOW: FrameTable = {
    "follow": {"token": str},
    "ping": {},
}
REQUIRED = {
    ("class_join", "code"),
    ("class_broadcast", "class"),
    ("watch", "student"),
    ("unwatch", "student"),
}
MAX_CLASS_FRAME = 64 * 1024


def check_fields(frame: dict[str, Any], table: FrameTable) -> dict[str, Any]:
    """The frame if its fields are there and of their types, else FrameError."""
    kind = frame["type"]
    for name, expected in table[kind].items():
        if name not in frame or frame[name] is None:
            if (kind, name) in REQUIRED:
                raise FrameError(f"A '{kind}' frame needs a '{name}' field.", "missing_field")
            continue
        value = frame[name]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise FrameError(
                f"The '{name}' field of a '{kind}' frame has a wrong type.", "bad_field"
            )
    return frame


def parse(data: str | bytes, table: FrameTable) -> dict[str, Any]:
    """Decode one frame of a class socket (dashboard or follow)."""
    if isinstance(data, bytes):
        raise FrameError("Binary frames are not part of the protocol; send JSON text.", "binary")
    if len(data) > MAX_CLASS_FRAME:
        raise FrameError("The frame is too large for a class socket.", "frame_too_large")
    try:
        frame = json.loads(data)
    except json.JSONDecodeError as exc:
        raise FrameError(f"The frame is not valid JSON ({exc.msg}).", "bad_json") from exc
    if not isinstance(frame, dict):
        raise FrameError("A frame must be a JSON object with a 'type'.", "bad_frame")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in table:
        raise FrameError(
            f"Unknown frame type {kind!r}; expected one of: {', '.join(sorted(table))}.",
            "unknown_type",
        )
    return check_fields(frame, table)
