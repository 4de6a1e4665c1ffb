"""The follow socket's viewer: the trainer's broadcast console, read-only (docs/classroom.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from web.classroom.hub import ClassHub, console_channel, ctl_channel, events_channel
from web.classroom.store import ClassInfo
from web.classroom.viewers import Frame, Viewer


class Follower(Viewer):
    """A student's (or the trainer's) read-only view of the trainer's broadcast console."""

    def __init__(
        self,
        hub: ClassHub,
        info: ClassInfo,
        send: Callable[[Frame], None],
        end: Callable[[], None],
    ) -> None:
        super().__init__(hub, info, send)
        self._end = end
        self.ended = False
        self.pending_frames: list[Frame] = []

    def follow(self, public: Frame) -> None:
        self.send({"type": "class_state", "class": public})
        cid = self.info.id
        self.listen(self.hub.bus.subscribe(events_channel(cid), maxsize=64), self.on_event)
        sub = self.hub.bus.subscribe(console_channel(cid, "trainer"), maxsize=1024)
        self.listen(sub, lambda message: self.on_console(message, "trainer"))
        self.hub.bus.publish(ctl_channel(cid), {"kind": "snapshot", "source": "trainer"})
        self.start()

    def on_event(self, message: Frame) -> None:
        if message.get("kind") == "state" and isinstance(message.get("class"), dict):
            self.pending_frames.append({"type": "class_state", "class": message["class"]})
            if message["class"].get("ended_at"):
                self.pending_frames.append(
                    {"type": "class_ended", "message": "The trainer ended the class."}
                )
                self.ended = True

    def next_wait(self) -> float:
        return 0.0 if self.pending_frames or self.console else 1.0

    def take(self) -> list[Frame]:
        out = super().take() + self.pending_frames
        self.pending_frames = []
        if self.ended:
            self.closed = True
            threading.Thread(target=self._finish, args=(out,), daemon=True).start()
            return []
        return out

    def _finish(self, out: list[Frame]) -> None:
        for frame in out:
            self.send(frame)
        self._end()

    def handle(self, frame: Frame) -> None:
        if frame["type"] == "ping":
            self.send({"type": "pong"})
