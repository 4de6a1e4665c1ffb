"""Group commit for live transcripts, with a journal so that a crash loses nothing sent.

A live session records two entries per round trip. Committing each one on its own (a
transaction per frame) was the largest cost of a round trip, so :class:`Writer` queues them
and one background thread commits whatever has queued every few milliseconds, in one
transaction. Before an entry is queued it is appended to this process's journal file (one
``write`` to a file opened ``O_APPEND``): the kernel keeps that even if the process is killed
the next instant. At start-up, :func:`recover` stores what a dead process journaled but had
not committed, so a SIGKILL loses at most the entry being written, as before.

Reads in this process wait for the queue (``Store.get`` calls :meth:`Writer.flush` first);
another process sees an entry once it is committed, a few milliseconds later.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from transcripts import process
from transcripts.model import Entry
from transcripts.rows import Pending, entry_row, journal_payload, lines_row

log = logging.getLogger(__name__)

INTERVAL = 0.02  # seconds between group commits while entries keep coming
BATCH_ROWS = 20_000  # commit at once when this many rows wait (a pasted message)
MAX_PENDING_ROWS = 200_000  # writers wait beyond this: memory stays bounded
TRUNCATE_AT = 1 << 20  # the journal starts again once everything in it is committed
RETRY_DELAYS = (0.05, 0.2, 1.0, 5.0)  # the database is unreachable: try again after...


_pid = os.getpid()  # os.getpid() is a system call; this is kept current across forks


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class Writer:
    """Queue entries for one transcript store; a thread commits them in groups."""

    def __init__(
        self, store: Any, journal_dir: Path | None, interval: float = INTERVAL
    ) -> None:
        self.store = store
        self.journal_dir = journal_dir
        self.interval = interval
        # One lock, two conditions: the thread waits on _wake, which a producer signals only
        # when it has something new to say (the first entry of a group, or "hurry"), so a
        # round trip does not wake the thread twice; flushers and held-back producers wait
        # on _settled, signalled after each commit.
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        self._wake = threading.Condition(lock)
        self._settled = self._cond
        self._commit_lock = threading.Lock()  # the thread and stop() never commit at once
        self._queue: list[Pending] = []
        self._rows_waiting = 0
        self._queued = 0  # writes queued so far (counts up)
        self._done = 0  # writes committed (or dropped) so far
        self._hurry = False  # a reader waits: commit now rather than after the interval
        self._pid = 0
        self._journal: _Journal | None = None
        self._thread: threading.Thread | None = None
        store.settle = self.flush

    # -- what the recorder calls ----------------------------------------------------------

    def append(self, transcript_id: str, entry: Entry) -> None:
        """Queue one entry (checked now: a bad entry fails here, in the caller)."""
        self._submit(Pending(transcript_id, [entry_row(transcript_id, entry)]))

    def append_lines(self, transcript_id: str, first: Entry, lines: list[str]) -> None:
        """Queue a batch of message lines, one entry each (``Store.append_lines``)."""
        if lines:
            self._submit(Pending(transcript_id, [lines_row(transcript_id, first, lines)]))

    def close(self, transcript_id: str, reason: str | None) -> None:
        """Close the transcript after everything queued for it."""
        self._submit(Pending(transcript_id, close=reason or ""))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued before this call is committed; False on timeout."""
        with self._cond:
            target = self._queued
            if self._done >= target:
                return True
            self._hurry = True
            self._wake.notify()
            return self._settled.wait_for(lambda: self._done >= target, timeout)

    def stop(self) -> None:
        """Commit what waits, here and now, and remove this process's journal."""
        with self._commit_lock, self._cond:
            batch, self._queue = self._queue, []
            if batch:
                self._commit(batch, retry=False)
                self._done += len(batch)
                self._rows_waiting = 0
            if self._journal is not None and self._pid == _pid:
                self._journal.remove()
                self._journal = None
            self._cond.notify_all()

    # -- the queue ------------------------------------------------------------------------

    def _submit(self, item: Pending) -> None:
        with self._cond:
            self._start()
            self._settled.wait_for(lambda: self._rows_waiting < MAX_PENDING_ROWS)
            if item.rows and self._journal is not None:
                self._journal.write(item)
            self._queue.append(item)
            self._queued += 1
            self._rows_waiting += sum(row.get("entries", 1) for row in item.rows)
            hurry = self._rows_waiting >= BATCH_ROWS and not self._hurry
            if hurry:
                self._hurry = True
            if hurry or len(self._queue) == 1:
                self._wake.notify()

    def _start(self) -> None:
        """The thread (and journal) belong to the process that writes: start them lazily,
        again in a forked child (a gunicorn worker)."""
        if self._pid == _pid:
            return
        self._pid = _pid
        self._journal = _Journal.open(self.journal_dir) if self.journal_dir else None
        self.store.start_checkpoints()
        self._thread = threading.Thread(target=self._run, name="transcript-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._wake.wait_for(lambda: bool(self._queue))
                # Group: let a few milliseconds' worth of entries gather, unless a reader waits.
                self._wake.wait_for(lambda: self._hurry, self.interval)
            with self._commit_lock:
                with self._cond:
                    batch, self._queue = self._queue, []
                    rows = sum(r.get("entries", 1) for item in batch for r in item.rows)
                if batch:
                    self._commit(batch, retry=True)
                with self._cond:
                    self._done += len(batch)
                    self._rows_waiting -= rows
                    if self._done >= self._queued:
                        self._hurry = False
                        if self._journal is not None:
                            self._journal.truncate_if_large()
                    self._settled.notify_all()

    def _commit(self, batch: list[Pending], retry: bool) -> None:
        """One transaction for the batch; item by item if one of them is refused."""
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                self._report(self.store.write_batch(batch))
                return
            except IntegrityError:
                break
            except SQLAlchemyError as exc:  # the database is down or locked: wait, try again
                if delay is None or not retry:
                    log.error("transcript entries not committed (kept in the journal): %s", exc)
                    return
                log.warning("transcript commit failed (attempt %d), retrying: %s", attempt + 1, exc)
                time.sleep(delay)
        for item in batch:
            try:
                self._report(self.store.write_batch([item]))
            except SQLAlchemyError as exc:
                log.error("transcript %s: entries dropped: %s", item.transcript_id, exc)

    @staticmethod
    def _report(dropped: list[str]) -> None:
        for tid in dropped:
            log.info("transcript %s is no longer live; its last entries were not kept", tid)


class _Journal:
    """This process's append-only file of queued rows, one JSON line per write."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.size = 0

    @classmethod
    def open(cls, folder: Path) -> _Journal:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _file_name(process.identity())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        return cls(path, fd)

    def write(self, item: Pending) -> None:
        payloads = ",".join(journal_payload(row) for row in item.rows)
        line = f'{{"tid":{json.dumps(item.transcript_id)},"entries":[{payloads}]}}\n'
        data = line.encode("utf-8", "surrogatepass")
        view = memoryview(data)
        while view:  # one write() for all but huge batches; a short write is finished here
            view = view[os.write(self.fd, view) :]
        self.size += len(data)

    def truncate_if_large(self) -> None:
        if self.size >= TRUNCATE_AT:
            os.ftruncate(self.fd, 0)
            self.size = 0

    def remove(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


def _file_name(identity: str) -> str:
    return identity.replace("/", "_") + ".journal"


def recover(
    store: Any, journal_dir: Path, is_alive: Callable[[str], bool]
) -> dict[str, int]:
    """Store what dead processes journaled and may not have committed; remove their journals.

    Returns {transcript id: entries restored}. A journal whose process still runs (another
    worker) is left alone; one that another process is recovering right now is skipped.
    """
    restored: dict[str, int] = {}
    if not journal_dir.is_dir():
        return restored
    for path in sorted(journal_dir.glob("*.journal")):
        if is_alive(path.name[: -len(".journal")]):
            continue
        try:
            handle = open(path, "rb")  # noqa: SIM115 - held open for the lock
        except FileNotFoundError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            for tid, batch in _read_journal(handle.read()).items():
                count = store.restore(tid, batch)
                if count:
                    restored[tid] = count
                    log.warning("transcript %s: %d entries restored from %s", tid, count, path)
            path.unlink(missing_ok=True)
    return restored


def _read_journal(data: bytes) -> dict[str, dict[int, str]]:
    """Row payloads by transcript and seq; a line cut short by the crash (the last) is skipped."""
    found: dict[str, dict[int, str]] = {}
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8", "surrogatepass"))
            tid, batch = record["tid"], record["entries"]
        except (ValueError, KeyError, TypeError):
            log.warning("journal: skipped a damaged line (%d bytes)", len(raw))
            continue
        for payload in batch:
            if isinstance(payload, dict) and isinstance(payload.get("seq"), int):
                found.setdefault(tid, {})[payload["seq"]] = json.dumps(payload, ensure_ascii=False)
    return found
