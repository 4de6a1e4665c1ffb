"""Writes a live session into its transcript as it happens, credentials already redacted.

Frames carry more than a transcript keeps: the full explanation and state are for the live
panels and are re-derived from the knowledge base on replay, so an entry stores only the
explanation keys (docs/transcript-format.md).
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from smtp_session.guide.replay import EVENT_OF_FRAME

log = logging.getLogger(__name__)

# Frame fields that are not event details (the rest of an event frame is its data).
# A held event's ``lines`` (what was not sent) are for the live browser only.
_NOT_DATA = {"type", "t", "seq", "step", "state", "keys", "explain", "original", "lesson", "limit"}
_NOT_DATA |= {"lines"}


def entry_of(frame: dict[str, Any], seq: int) -> dict[str, Any] | None:
    """The transcript entry for a frame, or None for frames that are not recorded."""
    kind = frame["type"]
    get = frame.get
    keys = get("keys") or []
    warnings = get("warnings")
    if warnings:
        keys = [*keys, *(f"warning:{w['code']}" for w in warnings)]
    keys = list(dict.fromkeys(keys))  # one key per explanation, however often it applied
    if kind == "sent":
        return {
            "seq": seq,
            "t": get("t", 0),
            "step": get("step"),
            "kind": "sent",
            "text": frame["text"],
            "line_kind": frame["kind"],
            "explain": keys,
        }
    if kind == "reply":
        return {
            "seq": seq,
            "t": get("t", 0),
            "step": get("step"),
            "kind": "reply",
            "code": get("code"),
            "enhanced": get("enhanced"),
            "lines": frame["lines"],
            "malformed": get("malformed"),
            "after": get("after"),
            "answers": get("answers"),  # the seq of the line it answers
            "explain": keys,
        }
    event = "limit" if get("limit") else EVENT_OF_FRAME.get(kind)
    if event is None:
        return None
    data = {k: v for k, v in frame.items() if k not in _NOT_DATA}
    common = {"seq": seq, "t": get("t", 0), "step": get("step")}
    return {**common, "kind": "event", "event": event, "data": data}


class Recorder:
    """One transcript being written: ``record`` each frame, ``finish`` once."""

    def __init__(
        self, store: Any, transcript_id: str, edit_token: str | None, writer: Any = None
    ) -> None:
        self.store = store
        # Entries and the close go through the group-commit writer when there is one
        # (transcripts.writer); the store's own methods commit each one at once.
        self.sink = writer if writer is not None else store
        self.transcript_id = transcript_id
        self.edit_token = edit_token
        self._seq = 0
        self._lock = threading.Lock()
        self._finished = False

    @classmethod
    def start(
        cls, store: Any, target: dict[str, Any], owner: str | None = None, writer: Any = None
    ) -> Recorder:
        """Create the transcript record (or, with no store, just an id)."""
        if store is None:
            return cls(None, secrets.token_urlsafe(24), None)
        label = f"{target['name']} ({target['host']}:{target['port']})"
        transcript, token = store.create(target=label, owner=owner)
        return cls(store, transcript.id, token, writer)

    def record(self, frame: dict[str, Any]) -> int | None:
        """Append the frame's entries (journaled now, committed within milliseconds when a
        writer is used); returns the first sequence number (its line)."""
        with self._lock:
            if self._finished:
                return None
            if frame["type"] == "sent" and "lines" in frame:
                return self._record_lines(frame)
            entry = entry_of(frame, self._seq)
            if entry is None:
                return None
            self._seq += 1
            if self.store is not None:
                self.sink.append(self.transcript_id, entry)
            return entry["seq"]

    def _record_lines(self, frame: dict[str, Any]) -> int:
        """A batch of message lines: one entry per line (each keeps its line number)."""
        first = self._seq
        lines = frame["lines"]
        self._seq += len(lines)
        if self.store is not None and lines:
            entry = entry_of(frame, first)
            assert entry is not None
            self.sink.append_lines(self.transcript_id, entry, lines)
        return first

    def add_note(self, seq: int, text: str, author: str | None = None) -> dict[str, Any]:
        if self.store is None:
            return {"seq": seq, "text": text}
        return dict(self.store.add_note(self.transcript_id, seq, text, author).to_dict())

    def finish(self, reason: str, code: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if self.store is not None:
            self.sink.close(self.transcript_id, reason)
