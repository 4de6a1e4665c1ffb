"""One process's side of every class: its members, their outbox, the control channel.

Whatever a student's session does only touches memory here (``Member.on_frame`` marks the row
dirty and, while watched, appends to a bounded outbox); one pump thread publishes rows (it looks
every ``PUMP_TICK``, one row per ``ROW_INTERVAL`` per student at most: coalesced), console
frames for watchers and heartbeats, and one
store thread writes the report's figures. A slow bus, database or viewer therefore never
holds up a student's line. Trainer actions arrive on each class's control channel, read by one
thread per class this process holds members of.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from web.classroom.store import ClassStore

log = logging.getLogger(__name__)

ROW_INTERVAL = 0.25  # seconds between two rows of one student (updates in between coalesce)
OUTBOX = 20_000  # messages waiting for the pump; the oldest go first beyond it
PUMP_TICK = 0.05


def ctl_channel(class_id: str) -> str:
    return f"classroom:{class_id}:ctl"


def rows_channel(class_id: str) -> str:
    return f"classroom:{class_id}:rows"


def events_channel(class_id: str) -> str:
    return f"classroom:{class_id}:events"


def console_channel(class_id: str, source: str) -> str:
    return f"classroom:{class_id}:console:{source}"


class Source(Protocol):
    """A console this process holds for a class: a student's (Member) or the trainer's."""

    class_id: str
    source: str  # the student's id, or "trainer"

    def control(self, message: dict[str, Any]) -> None: ...

    def pump(self, now: float) -> None: ...


class ClassHub:
    """Built once per app (``init_classroom``); reached as ``services.classroom``."""

    def __init__(self, store: ClassStore, bus: Any, config: dict[str, Any]) -> None:
        self.store = store
        self.bus = bus
        self.config = config
        self.heartbeat = float(config.get("CLASS_HEARTBEAT", 5.0))
        self.proc = secrets.token_hex(6)  # this process, in heartbeats
        self._lock = threading.Lock()
        self._sources: dict[str, dict[str, Source]] = {}
        self._ctl: dict[str, Any] = {}  # class id -> its control subscription
        self._outbox: deque[tuple[str, dict[str, Any]]] = deque()
        self.dropped = 0  # outbox messages dropped (the bus could not keep up)
        self._wake = threading.Event()
        self._tasks: queue.Queue[Callable[[], None]] = queue.Queue()
        self.viewers: dict[str, Any] = {}  # viewer id -> its counters (the slow-viewer test)
        self._beat_at = 0.0
        self._scanned_at = 0.0
        self.trainer_key = ""  # PLAYGROUND_AUTH=none only (web/classroom/trainer.py)
        self._threads_started = False

    def _start_threads(self) -> None:
        """The pump and the store thread, from the first class console on (not per app)."""
        with self._lock:
            if self._threads_started:
                return
            self._threads_started = True
        threading.Thread(target=self._pump_loop, name="class-pump", daemon=True).start()
        threading.Thread(target=self._task_loop, name="class-store", daemon=True).start()

    # -- what sources use ----------------------------------------------------------------

    def post(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a message for the bus (never blocks; the oldest go first when it is full)."""
        with self._lock:
            if len(self._outbox) >= OUTBOX:
                self._outbox.popleft()
                self.dropped += 1
            self._outbox.append((channel, message))
        self._wake.set()

    def task(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a database write) on the store thread, in order."""
        self._start_threads()
        self._tasks.put(job)

    def attach(self, source: Source) -> Source | None:
        """Hold ``source`` for its class; returns the one it replaced (same student, other tab)."""
        cid = source.class_id
        self._start_threads()
        with self._lock:
            sources = self._sources.setdefault(cid, {})
            old = sources.get(source.source)
            sources[source.source] = source
            need_ctl = cid not in self._ctl
            if need_ctl:
                self._ctl[cid] = None  # claimed: subscribed below, outside the lock
        if need_ctl:
            sub = self.bus.subscribe(ctl_channel(cid), maxsize=1024)
            with self._lock:
                self._ctl[cid] = sub
            threading.Thread(
                target=self._control_loop, args=(cid, sub), name=f"class-ctl-{cid}", daemon=True
            ).start()
        return old

    def detach(self, source: Source) -> None:
        cid = source.class_id
        with self._lock:
            sources = self._sources.get(cid, {})
            if sources.get(source.source) is source:
                del sources[source.source]
            sub = None
            if not sources:
                self._sources.pop(cid, None)
                sub = self._ctl.pop(cid, None)
        if sub is not None:
            sub.close()

    def local(self, class_id: str, source: str) -> Source | None:
        with self._lock:
            return self._sources.get(class_id, {}).get(source)

    def holds(self, class_id: str) -> list[Source]:
        with self._lock:
            return list(self._sources.get(class_id, {}).values())

    # -- threads ---------------------------------------------------------------------------

    def _control_loop(self, class_id: str, sub: Any) -> None:
        while not sub.closed:
            message = sub.get(timeout=1.0)
            if message is None:
                continue
            target = message.get("source")
            for source in self.holds(class_id):
                if target is None or target == source.source:
                    try:
                        source.control(message)
                    except Exception:  # one student's fault is not the class's
                        log.exception("class %s: control %s failed", class_id, message.get("kind"))

    def _pump_loop(self) -> None:
        while True:
            self._wake.wait(PUMP_TICK)
            self._wake.clear()
            try:
                self._pump_once()
            except Exception:
                log.exception("class pump failed")

    def _pump_once(self) -> None:
        """Drain the outbox (woken by each post); look at the members every PUMP_TICK only."""
        now = time.monotonic()
        if now - self._scanned_at >= PUMP_TICK:
            self._scanned_at = now
            self._scan(now)
        while True:
            with self._lock:
                if not self._outbox:
                    break
                channel, message = self._outbox.popleft()
            self.bus.publish(channel, message)

    def _scan(self, now: float) -> None:
        with self._lock:
            classes = {cid: list(s.values()) for cid, s in self._sources.items()}
        for sources in classes.values():
            for source in sources:
                source.pump(now)
        if now - self._beat_at >= self.heartbeat:
            self._beat_at = now
            for cid, sources in classes.items():
                students = [s.source for s in sources if s.source != "trainer"]
                beat = {"kind": "heartbeat", "proc": self.proc, "students": students}
                self.post(rows_channel(cid), beat)

    def _task_loop(self) -> None:
        while True:
            job = self._tasks.get()
            try:
                job()
            except Exception:
                log.exception("class store write failed")
