"""The class frames a browser may send, per socket (docs/classroom.md is the contract)."""

from __future__ import annotations

from typing import Any

from web.live.frames import FrameError, decode_frame

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
    return check_fields(decode_frame(data, MAX_CLASS_FRAME, set(table)), table)
