"""Who may open a session now: new sessions per minute and open sessions, per user and address.

Counts live in the limits backend (Redis when configured), so they hold across app processes.
A session's slot expires unless refreshed; one heartbeat thread refreshes every open session.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from typing import Any

from web.live.limits import Limiter

log = logging.getLogger(__name__)
HEARTBEAT_S = 20.0


class Admission:
    """The slots one live session holds while it is open."""

    def __init__(self, limiter: Limiter, subjects: list[str], config: dict[str, Any]) -> None:
        self.limiter = limiter
        self.subjects = subjects
        self.config = config
        self.session_id = uuid.uuid4().hex
        self.held: list[str] = []

    def admit(self) -> None:
        """Take a slot for each subject, or raise LimitError naming the limit."""
        for subject in self.subjects:
            self.limiter.hit_rate(subject, "sessions", self.config["SESSIONS_PER_MINUTE"], 60)
        try:
            for subject in self.subjects:
                self.limiter.acquire_session(subject, self.session_id, self.config["MAX_SESSIONS"])
                self.held.append(subject)
        except Exception:
            self.release()
            raise
        Heartbeat.watch(self)

    def refresh(self) -> None:
        for subject in list(self.held):
            self.limiter.refresh_session(subject, self.session_id)

    def release(self) -> None:
        """Give the slots back (idempotent)."""
        while self.held:
            self.limiter.release_session(self.held.pop(), self.session_id)


class Heartbeat:
    """One daemon thread that keeps every open session's slots alive."""

    _admissions: weakref.WeakSet[Admission] = weakref.WeakSet()
    _thread: threading.Thread | None = None
    _lock = threading.Lock()

    @classmethod
    def watch(cls, admission: Admission) -> None:
        with cls._lock:
            cls._admissions.add(admission)
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(target=cls._run, name="slot-heartbeat", daemon=True)
                cls._thread.start()

    @classmethod
    def _run(cls) -> None:
        stop = threading.Event()
        while not stop.wait(HEARTBEAT_S):
            for admission in list(cls._admissions):
                try:
                    admission.refresh()
                except Exception as exc:  # a Redis hiccup must not kill the heartbeat
                    log.warning("could not refresh session slots: %s", exc)
