"""The copy of a console a class's viewers get: the student's for watchers (the base of
``Member``), the trainer's own for followers (``Broadcaster``). Only memory on the session's
thread: the hub's pump posts the copies.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from web.classroom.hub import ClassHub, console_channel

SNAPSHOT = 200  # frames of the current session kept for a new watcher
PRIVATE = {"original"}  # what was typed, for the student's own browser only
# Frames about the class itself, not the console: never copied to a watcher.
NOT_SHOWN = {"class_joined", "class_left", "class_watch"}


def shown(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame as a watcher or follower gets it: without what is for one browser only."""
    return {k: v for k, v in frame.items() if k not in PRIVATE}


class ConsoleCopy:
    """What a student's and the trainer's console share: a snapshot and watchers' copies."""

    class_id: str
    source: str

    def __init__(self, hub: ClassHub, live: Any, class_id: str, source: str) -> None:
        self.hub = hub
        self.live = live
        self.class_id = class_id
        self.source = source
        self.frames: deque[dict[str, Any]] = deque(maxlen=SNAPSHOT)
        self.streaming = False  # copy every frame to the console channel
        # Guards the frames and the row against the hub's threads, never held for I/O (the
        # session's own lock may wait on the student's socket; the hub must not).
        self.mutex = threading.Lock()

    def record(self, frame: dict[str, Any]) -> dict[str, Any]:
        copy = shown(frame)
        with self.mutex:
            if copy.get("type") == "session":
                self.frames.clear()
            self.frames.append(copy)
        if self.streaming:
            self.hub.post(
                console_channel(self.class_id, self.source), {"kind": "frame", "frame": copy}
            )
        return copy

    def publish_snapshot(self) -> None:
        with self.mutex:
            frames = list(self.frames)
        self.hub.post(
            console_channel(self.class_id, self.source), {"kind": "snapshot", "frames": frames}
        )

    def check_connect(self, target: Any) -> None:
        """Nothing to check for the trainer's own console."""


class Broadcaster(ConsoleCopy):
    """The trainer's own console, streamed to the class's followers."""

    def __init__(self, hub: ClassHub, live: Any, class_id: str) -> None:
        super().__init__(hub, live, class_id, "trainer")
        self.streaming = True
        self._gone = False

    def on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") not in NOT_SHOWN and not frame.get("type", "").startswith("class_"):
            self.record(frame)

    def pump(self, now: float) -> None:
        """Nothing is coalesced: every frame is posted as it comes."""

    def control(self, message: dict[str, Any]) -> None:
        if message.get("kind") == "snapshot":
            self.publish_snapshot()
        elif message.get("kind") == "end":
            self.detach()

    def detach(self) -> None:
        if self._gone:
            return
        self._gone = True
        if self.live.classroom is self:
            self.live.classroom = None
        self.hub.detach(self)
