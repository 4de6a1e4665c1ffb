"""Group commit for live transcripts, with a journal so that a crash loses nothing sent.

A live session records two entries per round trip. Committing each one on its own (a
transaction per frame) was the largest cost of a round trip, so :class:`Writer` queues them
and one background thread commits whatever has queued every few milliseconds, in one
transaction. Before an entry is queued it is appended to this process's journal
(``transcripts.journal``); at start-up ``journal.recover`` stores what a dead process journaled
but had not committed, so a SIGKILL loses nothing the browser saw.

Reads in this process wait for the queue (``Store.get`` calls :meth:`Writer.flush` first);
another process sees an entry once it is committed, a few milliseconds later.

Failures: while the database cannot be reached the thread keeps the group and tries again
(backing off to 5 s); the journal keeps every entry and writers wait once
``MAX_PENDING_ROWS`` are queued. A group the database refuses (a row it cannot store) is
committed item by item, so one bad entry costs only itself, and is logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from transcripts.driver import KeptConnection
from transcripts.journal import Journal
from transcripts.model import Entry
from transcripts.rows import Pending, entries_in, entry_row, lines_row

log = logging.getLogger(__name__)

INTERVAL = 0.02  # seconds between group commits while entries keep coming
BATCH_ROWS = 20_000  # commit at once when this many rows wait (a pasted message)
MAX_PENDING_ROWS = 200_000  # writers wait beyond this: memory stays bounded
MAX_RETRY_DELAY = 5.0  # seconds between attempts while the database is unreachable
STOP_TIMEOUT = 10.0  # at exit, how long to wait for a commit in progress
IDLE_RELEASE = 1.0  # seconds without entries before the thread gives its connection back

_UNREACHABLE = (OperationalError, InterfaceError, DisconnectionError)
_pid = os.getpid()  # os.getpid() is a system call; this is kept current across forks
_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _forked() -> None:
    global _pid
    _pid = os.getpid()
    for writer in list(_writers):
        writer._after_fork()


os.register_at_fork(after_in_child=_forked)


class Writer:
    """Queue entries for one transcript store; a thread commits them in groups."""

    def __init__(self, store: Any, journal_dir: Path | None, interval: float = INTERVAL) -> None:
        self.store = store
        self.journal_dir = journal_dir
        self.interval = interval
        self._journal: Journal | None = None
        self._reset()
        _writers.add(self)
        store.settle = self.flush
        if hasattr(store, "before_dispose"):
            store.before_dispose.append(self._give_back)

    def _reset(self) -> None:
        # One lock, two conditions: the thread waits on _wake, which a producer signals only
        # when it has something new to say (the first entry of a group, or "hurry"), so a
        # round trip does not wake the thread twice; flushers and held-back producers wait
        # on _settled, signalled after each commit.
        mutex = self._mutex = threading.Lock()  # both conditions' lock (taken directly in _submit)
        self._settled = threading.Condition(mutex)
        self._wake = threading.Condition(mutex)
        self._commit_lock = threading.Lock()  # the thread and stop() never commit at once
        self._queue: list[Pending] = []
        self._rows_waiting = 0
        self._queued = 0  # writes queued so far (counts up)
        self._done = 0  # writes committed, or refused by the database, so far
        self._hurry = False  # a reader waits: commit now rather than after the interval
        self._idle = False  # the thread waits for a first entry (not for the interval)
        self._stopping = False
        self._unsaved = False  # something was neither committed nor refused (left in journal)
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._held = KeptConnection(self.store)  # used under _commit_lock only

    def _after_fork(self) -> None:
        """In a forked child: the parent's queue, thread and journal stay the parent's."""
        if self._journal is not None:
            self._journal.abandon()
            self._journal = None
        self._reset()

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
        with self._settled:
            target = self._queued
            if self._done >= target:
                return True
            self._hurry = True
            self._wake.notify()
            return self._settled.wait_for(lambda: self._done >= target, timeout)

    def stop(self) -> None:
        """At exit: commit what waits, and remove the journal if nothing is left unsaved."""
        with self._settled:
            self._stopping = True
            self._wake.notify()
        if not self._commit_lock.acquire(timeout=STOP_TIMEOUT):
            log.error("transcript writer: a commit is still running; the journal keeps the rest")
            return
        try:
            with self._settled:
                batch, self._queue = self._queue, []
            if batch:
                self._commit(batch)
            with self._settled:
                self._done += len(batch)
                self._rows_waiting = 0
                self._settled.notify_all()
            if self._journal is not None and self._pid == _pid and not self._unsaved:
                self._journal.delete()
                self._journal = None
        finally:
            self._commit_lock.release()

    # -- the queue ------------------------------------------------------------------------

    def _submit(self, item: Pending) -> None:
        rows = item.rows
        count = entries_in(rows)
        with self._mutex:  # the conditions' lock, without a Condition's __enter__ frame
            if self._pid != _pid:
                self._start()
            if self._rows_waiting >= MAX_PENDING_ROWS:
                self._settled.wait_for(lambda: self._rows_waiting < MAX_PENDING_ROWS)
            self._queue.append(item)
            self._queued += 1
            if rows and self._journal is not None:
                self._journal.write(item, self._queued)
            self._rows_waiting += count
            hurry = self._rows_waiting >= BATCH_ROWS and not self._hurry
            if hurry:
                self._hurry = True
            # Woken for the first entry only while it waits for one: during the interval
            # it would wake only to wait again (flush and stop still wake it).
            if hurry or self._idle and len(self._queue) == 1:
                self._wake.notify()

    def _start(self) -> None:
        """The thread (and journal) belong to the process that writes: start them lazily,
        again in a forked child (a gunicorn worker). Called while ``self._pid != _pid``."""
        if self.journal_dir is not None and self._journal is None:
            try:
                self._journal = Journal(self.journal_dir)
            except OSError as exc:  # recording goes on; only crash safety is lost
                log.error("transcript journal in %s unavailable: %s", self.journal_dir, exc)
        thread = threading.Thread(target=self._run, name="transcript-writer", daemon=True)
        thread.start()
        self._thread, self._pid = thread, _pid
        self.store.start_checkpoints()

    def _give_back(self) -> None:
        """The pool gets the thread's connection back (quiet, or the store is disposed)."""
        if self._commit_lock.acquire(timeout=STOP_TIMEOUT):
            try:
                self._held.drop()
            finally:
                self._commit_lock.release()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._give_back()

    def _loop(self) -> None:
        while True:
            self._wait_for_entries()
            with self._settled:
                if self._stopping:
                    return
                # Group: let a few milliseconds' worth of entries gather, unless a reader waits.
                self._wake.wait_for(self._hurried, self.interval)
            while True:
                self._commit_queued()
                # While entries keep coming the next group gathers from here: one wait per
                # commit, not a wait for its first entry and then another for the interval.
                with self._settled:
                    if self._stop_asked():  # by stop(), in another thread, meanwhile
                        return
                    self._wake.wait_for(self._hurried, self.interval)
                    if not self._queue:
                        break

    def _wait_for_entries(self) -> None:
        with self._settled:
            self._idle = True
            found = self._wake.wait_for(self._has_work, IDLE_RELEASE)
            self._idle = found is False
        if found:
            return
        self._give_back()  # quiet: the pool gets the connection back until entries come
        with self._settled:
            self._wake.wait_for(self._has_work)
            self._idle = False

    def _stop_asked(self) -> bool:
        return self._stopping

    def _hurried(self) -> bool:
        return self._hurry or self._stopping

    def _commit_queued(self) -> None:
        with self._commit_lock:
            with self._settled:
                batch, self._queue = self._queue, []
                rows = sum(entries_in(item.rows) for item in batch)
            if batch:
                self._commit(batch, self._held)
            with self._settled:
                self._done += len(batch)
                self._rows_waiting -= rows
                if self._done >= self._queued:
                    self._hurry = False
                if self._journal is not None and not self._unsaved:
                    self._journal.committed(self._done)
                self._settled.notify_all()

    def _has_work(self) -> bool:
        return bool(self._queue) or self._stopping

    def _commit(self, batch: list[Pending], held: KeptConnection | None = None) -> None:
        """One transaction for the group; item by item if the database refuses it."""
        if self._attempt(batch, held):
            return
        for item in batch:
            if not self._attempt([item], held):
                n = entries_in(item.rows)
                log.error("transcript %s: %d entries could not be stored", item.transcript_id, n)

    def _attempt(self, batch: list[Pending], held: KeptConnection | None = None) -> bool:
        """True once committed; False if refused. Waits while the database is unreachable
        (until stop(): then what is left stays in the journal for the next start)."""
        delay, failures = 0.05, 0
        while True:
            try:
                conn = held.get() if held is not None else None
                for tid in self.store.write_batch(batch, conn):
                    log.info("transcript %s is no longer live; its last entries were not kept", tid)
                return True
            except _UNREACHABLE as exc:
                if held is not None:
                    held.drop()  # the next attempt starts on a fresh connection
                failures += 1
                if self._stopping:
                    log.error("transcript entries left in the journal (database: %s)", exc)
                    self._unsaved = True
                    return True  # not refused: the journal has them
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("transcript commit failed %d times, retrying: %s", failures, exc)
                time.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
            except Exception as exc:  # the database refused the rows (or a driver could not
                log.warning("transcript commit refused: %s", exc)  # encode them)
                if held is not None:
                    held.drop()
                return False
