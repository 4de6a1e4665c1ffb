"""Writes a live session into its transcript as it happens, credentials already redacted."""

from __future__ import annotations

import secrets
import threading
from typing import Any

# Frame fields that exist for the live browser only and must never reach storage.
_LIVE_ONLY = ("original",)


class Recorder:
    """One transcript being written: ``record`` each frame, ``finish`` once."""

    def __init__(self, store: Any, transcript_id: str, edit_token: str | None) -> None:
        self.store = store
        self.transcript_id = transcript_id
        self.edit_token = edit_token
        self._seq = 0
        self._lock = threading.Lock()
        self._finished = False

    @classmethod
    def start(cls, store: Any, target: dict[str, Any], client: str) -> Recorder:
        """Create the transcript record (or, with no store, just an id)."""
        if store is None:
            return cls(None, secrets.token_urlsafe(24), None)
        transcript, token = store.create(target=target["name"], meta={"target": target})
        return cls(store, transcript.id, token)

    def record(self, frame: dict[str, Any]) -> int:
        """Append one entry; returns its sequence number (the line number in every view)."""
        with self._lock:
            seq = self._seq
            self._seq += 1
            if self.store is not None:
                entry = {k: v for k, v in frame.items() if k not in _LIVE_ONLY}
                entry["seq"] = seq
                self.store.append(self.transcript_id, entry)
        return seq

    def add_note(self, seq: int, text: str) -> dict[str, Any]:
        if self.store is None:
            return {"seq": seq, "text": text}
        return dict(self.store.add_note(self.transcript_id, seq, text, None))

    def finish(self, reason: str, code: str) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if self.store is not None:
            self.store.close(self.transcript_id, reason)
