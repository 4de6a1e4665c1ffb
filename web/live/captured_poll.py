"""Captured sessions' bus messages made from the store, for a process the bus does not reach.

The sandbox publishes each captured session on the bus (web/live/captured.py). Across
processes that needs Redis; a web worker without ``REDIS_URL`` whose sandbox runs elsewhere
(``sandbox_main.py``) would hear nothing, and the Captured page would not be live. There, the
event streams (web/views/captured.py) read a :class:`StorePoll` instead of a bus
subscription: the same ``get(timeout)`` / ``close()`` and the same messages, made by reading
the store every ``POLL_S``. It costs one small query a second per open stream, so it is only
used where the bus cannot do the job.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

POLL_S = 1.0
LIST_SIZE = 50


class StorePoll:
    """Messages like the ``captured`` channel's (or one session's, with ``tid``) from polls."""

    def __init__(self, store: Any, tid: str | None = None, since: int = 0) -> None:
        self.store = store
        self.tid = tid
        self.seen = since - 1  # one session: the last seq already reported
        self.channel = "captured" if tid is None else f"captured:{tid}"
        self._queue: deque[dict[str, Any]] = deque()
        self._known: dict[str, dict[str, Any]] = {}
        self.closed = False
        if tid is None:
            self._known = {s["id"]: s for s in store.list_captured(limit=LIST_SIZE)}

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, polling the store until one comes or ``timeout`` passes."""
        deadline = time.monotonic() + (timeout if timeout is not None else 3600.0)
        while not self._queue and not self.closed:
            self._poll()
            left = deadline - time.monotonic()
            if self._queue or left <= 0:
                break
            time.sleep(min(POLL_S, left))
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        self.closed = True

    def _message(self, event: str, summary: dict[str, Any], **extra: Any) -> None:
        self._queue.append(
            {
                "type": "captured",
                "event": event,
                "id": summary["id"],
                "summary": summary,
                "channel": self.channel,
                **extra,
            }  # fmt: skip
        )

    def _poll(self) -> None:
        if self.tid is None:
            self._poll_list()
        else:
            self._poll_session(self.tid)

    def _poll_list(self) -> None:
        for summary in reversed(self.store.list_captured(limit=LIST_SIZE)):  # oldest first
            before = self._known.get(summary["id"])
            self._known[summary["id"]] = summary
            if before is None:
                self._message("started", summary)
                if summary["status"] == "live":
                    continue
            elif before == summary:
                continue
            self._message("ended" if summary["status"] != "live" else "entry", summary)

    def _poll_session(self, tid: str) -> None:
        found = self.store.get(tid, entries=False)
        if found is None:
            return
        summary = found.captured_summary()
        for entry in self.store.entries(tid, self.seen + 1):
            self.seen = entry["seq"]
            self._message("entry", summary, entry=entry)
        if summary["status"] != "live":
            self._message("ended", summary)
            self.closed = True
