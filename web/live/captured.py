"""The sandbox's capture sink: captured sessions judged, stored and published, off the loop.

``smtp_session/sandbox/capture.py`` hands every record to :meth:`CaptureWriter.submit` on the
sandbox's event loop; that only queues it (a full queue drops the record and counts it, it
never waits). One thread takes what has queued, runs each session's records through
``guide/captured.py`` (the Guide's explanations, the client checks, redaction), stores the
entries in the transcript store (``Store.create_captured``, ``append_many``) and publishes them
on the bus: channel ``captured`` (every session's start, end and entries, thinned on long
sessions) and ``captured:<id>`` (one session's, every entry). Messages are
``{"type": "captured", "event": "started"|"entry"|"ended", "id", "summary", "entry"}``.
Retention (``CAPTURE_MAX_SESSIONS``, ``CAPTURE_MAX_AGE``) is applied at start and as sessions end.

Nothing a client sends can stop the thread: a record that fails is logged (never its text)
and the next one is taken.

Over 300 lines: the queue, its one thread and each session's bookkeeping (judge, stored
summary, entries to publish) are one object's life cycle.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smtp_session.guide.captured import LINES, CapturedSession
from transcripts.model import Entry, iso

log = logging.getLogger(__name__)

CHANNEL = "captured"
QUEUE_SIZE = 200_000  # records waiting for the thread (a few hundred bytes each)
BATCH = 5_000  # records handled between commits
INTERVAL = 0.02  # seconds the thread gathers records before handling them
FULL_FEED = 100  # entries of a session sent on the "captured" channel before thinning
THIN_EVERY = 100  # ...then one in this many


def channel_of(transcript_id: str) -> str:
    """The bus channel of one captured session's entries."""
    return f"{CHANNEL}:{transcript_id}"


@dataclass
class _Live:
    """A session being captured: its judge and what its summary needs besides."""

    judge: CapturedSession
    target: str
    created_at: datetime
    stored: bool = True
    entries: int = 0
    last_code: int | None = None
    ended_at: datetime | None = None
    reason: str = ""
    pending: list[Entry] = field(default_factory=list)
    stored_summary: tuple[Any, ...] = ()

    def summary(self) -> dict[str, Any]:
        judged = self.judge.summary
        return {
            "id": self.judge.id,
            "created_at": iso(self.created_at),
            "ended_at": iso(self.ended_at),
            "status": "closed" if self.ended_at else "live",
            "client": judged["client"],
            "ehlo": judged["ehlo"],
            "outcome": judged["outcome"],
            "warnings": judged["warnings"],
            "messages": list(judged["messages"]),
            "target": self.target,
            "entry_count": self.entries,
            "last_code": self.last_code,
        }


class CaptureWriter:
    """The capture sink (``CaptureSink``): queue on the loop, judge/store/publish in a thread."""

    def __init__(
        self,
        store: Any,
        bus: Any = None,
        *,
        max_sessions: int = 1000,
        max_age: float = 7 * 86400.0,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.store = store
        self.bus = bus
        self.max_sessions = max_sessions
        self.max_age = max_age
        self.dropped = 0  # records lost to a full queue
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._sessions: dict[str, _Live] = {}
        self._late: deque[Any] = deque()  # session ends that found the queue full
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    # -- the sink (called on the sandbox's event loop) ---------------------------------------

    def submit(self, record: Any) -> None:
        """Queue one record; never blocks, never raises (a full queue drops it)."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            if getattr(record, "kind", None) == "close":
                self._late.append(record)  # one per connection: a session always ends
                return
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("capture queue full: %d records dropped", self.dropped)

    # -- for the process and the tests ------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is stored and published; False on timeout."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Store what has queued, then end the thread."""
        if self._stopping:
            return
        self.flush(timeout)
        self._stopping = True
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        self._prune()
        while True:
            batch = [self._queue.get()]
            # Gather what comes in the next few milliseconds: a message's lines arrive as a
            # stream, and one commit for many of them is what keeps up with it.
            deadline = time.monotonic() + INTERVAL
            while len(batch) < BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            waiters = [item for item in batch if isinstance(item, threading.Event)]
            records = [i for i in batch if i is not None and not isinstance(i, threading.Event)]
            while self._late:
                records.append(self._late.popleft())
            try:
                self._handle(records)
            except Exception:
                log.exception("capture: a batch of records failed")
            for waiter in waiters:
                waiter.set()
            if any(item is None for item in batch):
                return

    def _handle(self, records: list[Any]) -> None:
        ended: list[_Live] = []
        touched: dict[str, _Live] = {}
        for record in records:
            live = self._record(record)
            if live is None:
                continue
            touched[live.judge.id] = live
            if live.judge.ended:
                ended.append(live)
        for live in touched.values():
            self._store(live)
        for live in ended:
            self._finish(live)
        if ended:
            self._prune()

    def _record(self, record: Any) -> _Live | None:
        sid = record.session
        if record.kind == "open":
            return self._open(sid, record)
        live = self._sessions.get(sid)
        if live is None:
            return None
        try:
            entries = live.judge.entries_for(record.kind, record.t, record.data)
        except Exception:
            log.exception("capture: session %s, a %s record failed", sid, record.kind)
            return live
        for entry in entries:
            if entry["kind"] == "reply":
                live.last_code = entry.get("code")
        live.pending += entries
        if record.kind == "close":
            live.ended_at = datetime.now(UTC)
            live.reason = str(record.data.get("reason", ""))
        return live

    def _open(self, sid: str, record: Any) -> _Live | None:
        data = record.data
        at = data.get("at")
        created = datetime.fromtimestamp(at, UTC) if isinstance(at, float) else datetime.now(UTC)
        client = data.get("client")
        target = f"captured from {client} (sandbox {data.get('host')}:{data.get('port')})"
        live = _Live(CapturedSession(sid), target, created)
        self._sessions[sid] = live
        try:
            live.pending += live.judge.entries_for("open", record.t, data)
            self.store.create_captured(sid, target, client, created)
        except Exception:
            log.exception("capture: session %s could not be stored", sid)
            live.stored = False
        self._publish(live, "started")
        return live

    def _store(self, live: _Live) -> None:
        if not live.judge.ended:
            live.pending += live.judge.flush()  # the message lines held until now
        batch, live.pending = live.pending, []
        if not batch or not live.stored:
            return
        first = live.entries
        tid = live.judge.id
        try:
            stored = self._write(tid, batch)
            live.entries += len(stored)
            summary_now = _stored_part(live.judge.summary)
            if not live.judge.ended and summary_now != live.stored_summary:
                self.store.summarise_captured(tid, live.judge.summary)
                live.stored_summary = summary_now
        except Exception:
            log.exception("capture: %d entries of session %s were lost", len(batch), tid)
            return
        summary = live.summary()
        for i, entry in enumerate(stored):
            self._publish(live, "entry", entry, thin=_thinned(first + i), summary=summary)

    def _write(self, tid: str, batch: list[Entry]) -> list[Entry]:
        """Store the entries (a run of message lines as one row); returns them one by one."""
        out: list[Entry] = []
        plain: list[Entry] = []
        for entry in batch:
            lines = entry.pop(LINES, None)
            if lines is None:
                plain.append(entry)
                continue
            if plain:
                self.store.append_many(tid, plain)
                out += plain
                plain = []
            self.store.append_lines(tid, {**entry, "text": lines[0]}, lines)
            out += [
                {
                    **entry,
                    "seq": entry["seq"] + i,
                    "text": line,
                    "explain": entry["explain"] if i == 0 else [],
                }
                for i, line in enumerate(lines)
            ]
        if plain:
            self.store.append_many(tid, plain)
            out += plain
        return out

    def _finish(self, live: _Live) -> None:
        self._sessions.pop(live.judge.id, None)
        if live.stored:
            try:
                self.store.finish_captured(live.judge.id, live.reason, live.judge.summary)
            except Exception:
                log.exception("capture: session %s could not be closed", live.judge.id)
        self._publish(live, "ended")

    def _publish(
        self,
        live: _Live,
        event: str,
        entry: Entry | None = None,
        thin: bool = False,
        summary: dict[str, Any] | None = None,
    ) -> None:
        if self.bus is None:
            return
        message: dict[str, Any] = {
            "type": "captured",
            "event": event,
            "id": live.judge.id,
            "summary": summary or live.summary(),
        }
        if entry is not None:
            message["entry"] = entry
        try:
            self.bus.publish(channel_of(live.judge.id), message)
            if not thin:
                self.bus.publish(CHANNEL, message)
        except Exception:
            log.exception("capture: publishing failed")

    def _prune(self) -> None:
        try:
            gone = self.store.prune_captured(self.max_sessions, self.max_age)
        except Exception:
            log.exception("capture: retention failed")
            return
        if gone:
            log.info("capture retention: %d captured sessions deleted", len(gone))


def _stored_part(summary: dict[str, Any]) -> tuple[Any, ...]:
    """What of a judged summary the store keeps while the session runs."""
    return (summary["ehlo"], summary["warnings"], len(summary["messages"]))


def _thinned(index: int) -> bool:
    """Whether the ``index``-th entry of a session is left off the ``captured`` channel."""
    return index >= FULL_FEED and index % THIN_EVERY != 0
