"""A student's console in a class (``LiveSession.classroom``): ``Member``.

Every frame the console gets updates the student's dashboard row and, while a trainer watches,
is copied to the watchers (web/classroom/broadcast.py); hints, pushed lessons, restrictions and
the end of the class arrive from the hub's control thread. On the session's own thread it only
touches memory.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from smtp_session.wire.events import CloseCode
from web.classroom.broadcast import NOT_SHOWN, ConsoleCopy
from web.classroom.hub import ROW_INTERVAL, ClassHub, rows_channel
from web.classroom.rows import RowTracker, blank_row
from web.classroom.store import ClassInfo, Student
from web.live.frames import FrameError

log = logging.getLogger(__name__)

WATCH_LEASE = 30.0  # seconds a watch lasts unless the viewer renews it


class Member(ConsoleCopy):
    """A student's console in a class."""

    def __init__(
        self, hub: ClassHub, live: Any, info: ClassInfo, student: Student, socket_id: str
    ) -> None:
        super().__init__(hub, live, info.id, student.id)
        self.student = student
        self.socket_id = socket_id
        self.restrict = info.restrict
        self.lesson = info.lesson
        self.broadcasting = info.broadcasting
        row = blank_row(student.id, student.name)
        row.update(sessions=student.sessions, warnings=sum(student.warnings.values()))
        row.update(warning_codes=dict(student.warnings), connected=True, presence="online")
        self.tracker = RowTracker(row, dict(student.lessons))
        self.watchers: dict[str, float] = {}  # viewer id -> lease end (monotonic)
        self._dirty = True
        self._stats_dirty = False
        self._last_row = 0.0
        self._pending_hints: list[tuple[str, str]] = []  # (text, author) until a transcript
        self._gone = False
        self._target: str | None = None  # the target of the session open now

    # -- on the session's thread ----------------------------------------------------------

    def on_frame(self, frame: dict[str, Any]) -> None:
        """Every frame the student's console gets (called under the session's lock)."""
        if frame.get("type") in NOT_SHOWN or self._gone:
            return
        copy = self.record(frame)
        with self.mutex:
            changed = self.tracker.on_frame(copy)
        if changed:
            self._stats_dirty = True
        self._dirty = True
        if copy.get("type") == "session" and copy.get("transcript"):
            self._on_session(copy)

    def _on_session(self, frame: dict[str, Any]) -> None:
        tid, target = frame["transcript"], (frame.get("target") or {}).get("name", "")
        self.hub.task(lambda: self.hub.store.add_session(self.class_id, self.source, tid, target))
        if self._pending_hints:
            hints, self._pending_hints = self._pending_hints, []
            recorder = self.live.recorder
            for text, author in hints:
                self.hub.task(partial(recorder.add_note, None, text, author))

    def check_connect(self, target: Any) -> None:
        """A connect to a target the trainer did not allow is refused, in words."""
        if self.restrict and target.name != self.restrict:
            raise FrameError(
                f"The trainer has restricted this class to the target {self.restrict!r}; "
                f"{target.name!r} is not allowed during the class.",
                "class_restricted",
            )
        self._target = target.name

    # -- on the hub's threads ----------------------------------------------------------------

    def pump(self, now: float) -> None:
        """Publish the row if it changed (at most every ROW_INTERVAL); expire old watches."""
        expired = [v for v, end in self.watchers.items() if end < now]
        for viewer in expired:
            self.watchers.pop(viewer, None)
        if expired:
            self._watch_changed()
        if self._dirty and now - self._last_row >= ROW_INTERVAL:
            self.publish_row(now)
        if self._stats_dirty:
            self._stats_dirty = False
            self.hub.task(self.save_stats)

    def publish_row(self, now: float | None = None) -> None:
        self._dirty = False
        self._last_row = time.monotonic() if now is None else now
        with self.mutex:
            row = dict(self.tracker.row)
            row["warning_codes"] = dict(row["warning_codes"])
            row["lesson_passed"] = list(row["lesson_passed"])
        row["watched"] = bool(self.watchers)
        self.hub.post(rows_channel(self.class_id), {"kind": "row", "row": row})

    def save_stats(self) -> None:
        with self.mutex:
            row = self.tracker.row
            sessions, lessons = row["sessions"], dict(self.tracker.lessons)
            warnings = dict(row["warning_codes"])
        self.hub.store.save_stats(self.source, sessions, lessons, warnings)

    def control(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "hint":
            self.hint(str(message.get("text", "")), str(message.get("from", "")), message)
        elif kind == "state":
            self.apply_state(message.get("class") or {})
        elif kind == "end":
            self.end()
        elif kind == "watch":
            self.watch(str(message.get("viewer")), bool(message.get("on")), message)
        elif kind == "snapshot":
            self.publish_snapshot()
        elif kind == "rollcall":
            self._dirty = True
        elif kind == "kick" and message.get("socket") != self.socket_id:
            self.leave("You joined this class from another tab or window; this one left it.")

    def hint(self, text: str, trainer: str, message: dict[str, Any]) -> None:
        """Show the hint and keep it in the transcript as a note."""
        author = f"trainer:{trainer}"
        recorder, seq = self.live.recorder, None
        with self.mutex:
            last = next((f.get("seq") for f in reversed(self.frames) if "seq" in f), None)
        if recorder is not None and self.live.smtp is not None:
            try:
                seq = last
                recorder.add_note(seq, text, author)
            except Exception as exc:
                log.warning("hint not recorded as a note: %s", exc)
                seq = None
        else:
            self._pending_hints.append((text, author))
        to = "you" if message.get("source") else "all"
        frame: dict[str, Any] = {"type": "class_hint", "text": text, "from": trainer, "to": to}
        frame.update(created_at=message.get("created_at"), seq=seq)
        self.live.send(frame)

    def apply_state(self, info: dict[str, Any]) -> None:
        lesson_changed = info.get("lesson") != self.lesson
        self.restrict = info.get("restrict")
        self.lesson = info.get("lesson")
        self.broadcasting = bool(info.get("broadcasting"))
        self.live.send(
            {
                "type": "class_state",
                "lesson": self.lesson,
                "restrict": self.restrict,
                "broadcasting": self.broadcasting,
            }
        )
        if lesson_changed and self.lesson:
            try:
                self.live.start_lesson(self.lesson)
            except Exception as exc:
                log.warning("pushed lesson %r not started: %s", self.lesson, exc)
        smtp = self.live.smtp
        if self.restrict and smtp is not None and not smtp.closed and self._target != self.restrict:
            smtp.close(
                f"the trainer restricted the class to {self.restrict!r}", CloseCode.CLIENT_CLOSED
            )

    def watch(self, viewer: str, on: bool, message: dict[str, Any]) -> None:
        before = len(self.watchers)
        if on:
            self.watchers[viewer] = time.monotonic() + WATCH_LEASE
            self.streaming = True
            if not message.get("renew"):
                self.publish_snapshot()
        else:
            self.watchers.pop(viewer, None)
        if len(self.watchers) != before:
            self._watch_changed()

    def _watch_changed(self) -> None:
        self.streaming = bool(self.watchers)
        self._dirty = True
        count = len(self.watchers)
        self.live.send({"type": "class_watch", "watching": count > 0, "watchers": count})

    def end(self) -> None:
        """The trainer ended the class: close the session in words, keep the transcript."""
        self.live.send(
            {
                "type": "class_ended",
                "message": "The trainer ended the class. Your transcripts are kept; "
                "the console goes on working outside the class.",
            }
        )
        smtp = self.live.smtp
        if smtp is not None and not smtp.closed:
            smtp.close("the trainer ended the class", CloseCode.CLIENT_CLOSED)
        self.detach()

    def leave(self, message: str) -> None:
        self.live.send({"type": "class_left", "message": message})
        self.detach()

    def detach(self) -> None:
        """This console is no longer in the class (left, ended, the socket closed)."""
        with self.mutex:
            if self._gone:
                return
            self._gone = True
        if self.live.classroom is self:
            self.live.classroom = None
        self.hub.detach(self)
        with self.mutex:
            self.tracker.row.update(connected=False, presence="left")
            if self.tracker.row["session"] == "open":
                self.tracker.row["session"] = "closed"
        self.watchers.clear()
        self.publish_row()
        self.hub.task(self.save_stats)
        self.hub.task(lambda: self.hub.store.set_online(self.source, False))
