"""Validation of the frames a browser sends (docs/protocol.md is the contract)."""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.wire.lines import is_utf8
from smtp_session.wire.pacing import Chunk
from web.live import jsonfast


class FrameError(PlaygroundError):
    """A frame we cannot act on; the session stays usable."""

    code = "bad_frame"


# Required fields of each frame type and their JSON types.
FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "connect": {},
    "line": {"text": str},
    "lines": {"lines": list},
    "chunk": {"data": str},
    "close": {},
    "note": {"seq": int, "text": str},
    "ping": {},
    "lesson": {},
    "state": {},
}
# Optional fields, read by the frame's handler (web/live/connector.py, web/services.py,
# web/live/live.py).
OPTIONAL: dict[str, tuple[str, ...]] = {
    "connect": ("target", "host", "port", "tls_mode", "tls", "accept_unverified", "frames"),
    "lesson": ("lesson",),
    "chunk": ("last",),
}
MAX_LINES_PER_FRAME = 100_000
FRAME_MODES = ("lean", "full")  # docs/protocol.md v2: lean by default, today's shape on request


def frame_mode(frame: dict[str, Any]) -> str:
    """The ``frames`` a ``connect`` asks for: ``lean`` (the default) or ``full``."""
    mode = frame.get("frames", "lean")
    if mode not in FRAME_MODES:
        raise FrameError(
            "The 'frames' field of 'connect' must be \"lean\" or \"full\".", "bad_field"
        )
    return str(mode)


def decode_frame(
    data: str | bytes, max_bytes: int, known: AbstractSet[str], hint: str = ""
) -> dict[str, Any]:
    """One frame decoded: JSON text, an object, under ``max_bytes``, of a type in ``known``;
    else FrameError saying what is wrong. Every socket's frames start here (this one's
    fields are checked by ``parse_frame``, a class socket's by web/classroom/frames.py)."""
    # A character is at most 4 bytes in UTF-8 (a lone surrogate 3): most frames need no count.
    short = isinstance(data, str) and 4 * len(data) <= max_bytes
    size = (
        0
        if short
        else len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    )
    if size > max_bytes:
        raise FrameError(
            f"The frame is {size:,} bytes; the limit is {max_bytes:,}.{hint}", "frame_too_large"
        )
    if isinstance(data, bytes):
        raise FrameError("Binary frames are not part of the protocol; send JSON text.", "binary")
    try:
        frame = jsonfast.loads(data)
    except json.JSONDecodeError as exc:
        raise FrameError(f"The frame is not valid JSON ({exc.msg}).", "bad_json") from exc
    if not isinstance(frame, dict):
        raise FrameError("A frame must be a JSON object with a 'type'.", "bad_frame")
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in known:
        raise FrameError(
            f"Unknown frame type {kind!r}; expected one of: {', '.join(sorted(known))}.",
            "unknown_type",
        )
    return frame


def parse_frame(data: str | bytes, max_bytes: int, known: AbstractSet[str]) -> dict[str, Any]:
    """Decode and check one frame, or raise FrameError saying what is wrong."""
    frame = decode_frame(data, max_bytes, known, " Send a long message as several 'lines' frames.")
    kind = frame["type"]
    for name, expected in FIELDS.get(kind, {}).items():
        if name not in frame:
            raise FrameError(f"A '{kind}' frame needs a '{name}' field.", "missing_field")
        if not isinstance(frame[name], expected) or isinstance(frame[name], bool):
            raise FrameError(
                f"The '{name}' field of a '{kind}' frame has a wrong type.", "bad_field"
            )
    if kind == "lines":
        _check_lines(frame["lines"])
    return frame


def _check_lines(lines: list[Any]) -> None:
    if len(lines) > MAX_LINES_PER_FRAME:
        raise FrameError(f"At most {MAX_LINES_PER_FRAME:,} lines per frame.", "too_many_lines")
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise FrameError(f"lines[{i}] must be a string.", "bad_field")


def chunk_of(data: str, last: bool) -> Chunk:
    """The octets of a chunk frame, or FrameError: lines end in CRLF (the console turns line
    breaks into CRLF), and nothing is sent that is not UTF-8 or holds NUL."""
    if not is_utf8(data) or "\x00" in data:
        raise FrameError(
            "The chunk holds NUL or half of a UTF-16 surrogate pair; it was not sent.", "bad_chunk"
        )
    bare = data.replace("\r\n", "")
    if "\r" in bare or "\n" in bare:
        raise FrameError(
            "The chunk has a line break that is not CRLF; mail lines end in CRLF "
            "(RFC 5322 §2.1), so it was not sent.",
            "bad_chunk",
        )
    return Chunk(data.encode("utf-8"), last)
