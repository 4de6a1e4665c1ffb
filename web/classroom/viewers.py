"""Class viewers (the dashboard here, the follow socket in follow.py): bounded, coalescing.

Each viewer has reader threads that drain its bus subscriptions at once into memory (the
latest row per student; a bounded queue of console frames) and one sender thread that writes
to the viewer's socket. A slow viewer's socket therefore only makes its sender wait: rows it
has not sent yet are replaced by newer ones (``coalesced``), console frames beyond the queue
are dropped oldest first (``dropped``, and an ``overflow`` frame says so).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from web.classroom.hub import (
    ROW_INTERVAL,
    ClassHub,
    console_channel,
    ctl_channel,
    events_channel,
    rows_channel,
)
from web.classroom.rows import blank_row, judge, now_ms, stuck_first
from web.classroom.store import ClassInfo
from web.live.frames import FrameError

log = logging.getLogger(__name__)

Frame = dict[str, Any]
CONSOLE_QUEUE = 512  # console frames waiting for a slow viewer
MAX_WATCHES = 8
RENEW = 10.0  # seconds between watch renewals (the student's lease is 30 s)
LOST_AFTER = 3  # heartbeats missed before a student shows as lost


class Viewer:
    """What the dashboard and the follow socket share: readers, a sender, counters."""

    def __init__(self, hub: ClassHub, info: ClassInfo, send: Callable[[Frame], None]) -> None:
        self.hub = hub
        self.info = info
        self.id = secrets.token_hex(6)
        self._send = send
        self.cond = threading.Condition()
        self.console: deque[Frame] = deque()
        self.overflow: dict[str, int] = {}
        self.dropped = 0  # console frames thrown away for this viewer
        self.coalesced = 0  # row updates replaced by newer ones before they were sent
        self.closed = False
        self._subs: list[Any] = []
        self._sender = threading.Thread(target=self._send_loop, daemon=True, name="class-viewer")
        hub.viewers[self.id] = self

    def start(self) -> None:
        self._sender.start()

    def listen(self, sub: Any, handle: Callable[[Frame], None]) -> None:
        """Drain ``sub`` on a thread of its own, handing each message to ``handle``."""
        self._subs.append(sub)

        def run() -> None:
            while not sub.closed and not self.closed:
                message = sub.get(timeout=1.0)
                if message is not None:
                    with self.cond:
                        handle(message)
                        self.cond.notify()

        threading.Thread(target=run, daemon=True, name="class-viewer-read").start()

    def queue_console(self, frame: Frame, source: str) -> None:
        """Called with ``cond`` held."""
        if len(self.console) >= CONSOLE_QUEUE:
            old = self.console.popleft()
            self.dropped += 1
            src = old.get("source", source)
            self.overflow[src] = self.overflow.get(src, 0) + 1
        self.console.append(frame)

    def on_console(self, message: Frame, source: str) -> None:
        if message.get("kind") == "snapshot":
            self.queue_console(
                {"type": "console_snapshot", "source": source, "frames": message["frames"]},
                source,
            )
        elif message.get("kind") == "frame":
            self.queue_console(
                {"type": "console", "source": source, "frame": message["frame"]}, source
            )

    def send(self, frame: Frame) -> None:
        try:
            self._send(frame)
        except Exception as exc:  # the viewer went away; its receive loop ends it
            log.debug("class viewer frame not delivered: %s", exc)

    def _send_loop(self) -> None:
        while not self.closed:
            with self.cond:
                self.cond.wait(self.next_wait())
                out = self.take()
            for frame in out:
                self.send(frame)

    def take(self) -> list[Frame]:
        """What to send now (called with ``cond`` held)."""
        out: list[Frame] = []
        for source, count in self.overflow.items():
            out.append({"type": "overflow", "dropped": count, "source": source})
        self.overflow.clear()
        out.extend(self.console)
        self.console.clear()
        return out

    def next_wait(self) -> float:
        return 0.0 if self.console or self.overflow else 1.0

    def close(self) -> None:
        self.closed = True
        for sub in self._subs:
            sub.close()
        with self.cond:
            self.cond.notify()
        self.hub.viewers.pop(self.id, None)


class Dashboard(Viewer):
    """The trainer's live view of a class: rows, watches, class changes."""

    def __init__(self, hub: ClassHub, info: ClassInfo, send: Callable[[Frame], None]) -> None:
        super().__init__(hub, info, send)
        self.rows: dict[str, Frame] = {}
        self.pending: dict[str, int] = {}  # student -> row updates not sent yet
        self.last_sent: dict[str, float] = {}
        self.shown: dict[str, tuple[Any, ...]] = {}  # what was last sent of the clock's part
        self.heard: dict[str, float] = {}
        self.watching: dict[str, Any] = {}
        self.class_frame: Frame | None = None
        self._renewed = time.monotonic()
        self._scanned = 0.0
        self.stuck_after = float(hub.config.get("CLASS_STUCK_AFTER", 180.0))

    @staticmethod
    def stored_row(student: Any) -> Frame:
        """A student's row from the database alone (before any live update)."""
        row = blank_row(student.id, student.name)
        row.update(sessions=student.sessions, warning_codes=dict(student.warnings))
        row["warnings"] = sum(student.warnings.values())
        if student.online:
            row.update(connected=True, presence="online")
        return row

    @classmethod
    def stored_rows(cls, hub: ClassHub, info: ClassInfo) -> list[Frame]:
        stuck_after = float(hub.config.get("CLASS_STUCK_AFTER", 180.0))
        rows = [cls.stored_row(student) for student in hub.store.students(info.id)]
        return stuck_first([judge(row, now_ms(), stuck_after) for row in rows])

    def open(self, students: list[Any], public: Frame) -> None:
        now = time.monotonic()
        for student in students:
            self.rows[student.id] = self.stored_row(student)
            if student.online:
                self.heard[student.id] = now
        self.listen(self.hub.bus.subscribe(rows_channel(self.info.id), maxsize=8192), self.on_row)
        self.listen(self.hub.bus.subscribe(events_channel(self.info.id), maxsize=64), self.on_event)
        shown = [judge(row, now_ms(), self.stuck_after) for row in self.rows.values()]
        for row in shown:
            self.shown[row["id"]] = (row["stuck"], tuple(row["stuck_reasons"]), row["presence"])
        self.send({"type": "dashboard", "class": public, "students": stuck_first(shown)})
        self.hub.bus.publish(ctl_channel(self.info.id), {"kind": "rollcall"})
        self.start()

    # -- from the bus (cond held) ----------------------------------------------------------

    def on_row(self, message: Frame) -> None:
        now = time.monotonic()
        if message.get("kind") == "heartbeat":
            for sid in message.get("students") or []:
                self.heard[sid] = now
                row = self.rows.get(sid)
                if row is not None and row.get("presence") == "lost":
                    row.update(presence="online", connected=True)
                    self._changed(sid)
            return
        row = message.get("row")
        if message.get("kind") != "row" or not isinstance(row, dict) or "id" not in row:
            return
        sid = row["id"]
        self.heard[sid] = now
        self.rows[sid] = row
        self._changed(sid)

    def _changed(self, sid: str) -> None:
        if self.pending.get(sid):
            self.coalesced += 1
        self.pending[sid] = self.pending.get(sid, 0) + 1

    def on_event(self, message: Frame) -> None:
        if message.get("kind") == "state" and isinstance(message.get("class"), dict):
            self.class_frame = {"type": "class_state", "class": message["class"]}

    # -- the sender (cond held) -------------------------------------------------------------

    def next_wait(self) -> float:
        if self.console or self.overflow or self.class_frame is not None:
            return 0.0
        if self.pending:
            now = time.monotonic()
            due = [self.last_sent.get(s, 0.0) + ROW_INTERVAL - now for s in self.pending]
            return max(0.0, min(min(due), 1.0))
        return 1.0

    def take(self) -> list[Frame]:
        out = super().take()
        if self.class_frame is not None:
            out.insert(0, self.class_frame)
            self.class_frame = None
        now = time.monotonic()
        clock = now_ms()
        if now - self._scanned >= 1.0:  # the clock's part: lost students, stuck for long
            self._scanned = now
            self._check_presence(now)
            for sid, row in self.rows.items():
                if sid not in self.pending and self.shown.get(sid) != self._verdict(row, clock):
                    self.pending[sid] = 1
        for sid in [s for s in self.pending if now - self.last_sent.get(s, 0.0) >= ROW_INTERVAL]:
            del self.pending[sid]
            current = self.rows.get(sid)
            if current is None:
                continue
            shown = judge(current, clock, self.stuck_after)
            self.last_sent[sid] = now
            self.shown[sid] = (shown["stuck"], tuple(shown["stuck_reasons"]), shown["presence"])
            out.append({"type": "student", "row": shown})
        if now - self._renewed >= RENEW:
            self._renewed = now
            for sid in self.watching:
                self._watch_message(sid, True, renew=True)
        return out

    def _verdict(self, row: Frame, clock: int) -> tuple[Any, ...]:
        shown = judge(row, clock, self.stuck_after)
        return (shown["stuck"], tuple(shown["stuck_reasons"]), shown["presence"])

    def _check_presence(self, now: float) -> None:
        limit = LOST_AFTER * self.hub.heartbeat
        for sid, row in self.rows.items():
            if row.get("presence") == "online" and now - self.heard.get(sid, now) > limit:
                row.update(presence="lost", connected=False)
                self.pending[sid] = self.pending.get(sid, 0) + 1

    # -- from the trainer ----------------------------------------------------------------------

    def handle(self, frame: Frame) -> None:
        kind = frame["type"]
        if kind == "ping":
            self.send({"type": "pong"})
            return
        sid = frame["student"]
        with self.cond:
            known = sid in self.rows
        if not known and self.hub.store.student(self.info.id, sid) is None:
            raise FrameError(f"There is no student {sid!r} in this class.", "bad_student")
        if kind == "watch":
            self.watch(sid)
        else:
            self.unwatch(sid)

    def watch(self, sid: str) -> None:
        if sid not in self.watching and len(self.watching) >= MAX_WATCHES:
            raise FrameError(
                f"At most {MAX_WATCHES} consoles are watched at once.", "too_many_watches"
            )
        if sid not in self.watching:
            sub = self.hub.bus.subscribe(console_channel(self.info.id, sid), maxsize=1024)
            self.watching[sid] = sub
            self.listen(sub, lambda message: self.on_console(message, sid))
        self._watch_message(sid, True)  # a fresh snapshot, also when asked again

    def unwatch(self, sid: str) -> None:
        sub = self.watching.pop(sid, None)
        if sub is not None:
            sub.close()
            self._watch_message(sid, False)

    def _watch_message(self, sid: str, on: bool, renew: bool = False) -> None:
        message = {"kind": "watch", "source": sid, "viewer": self.id, "on": on, "renew": renew}
        self.hub.bus.publish(ctl_channel(self.info.id), message)

    def close(self) -> None:
        for sid in list(self.watching):
            self.unwatch(sid)
        super().close()
