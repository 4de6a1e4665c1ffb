"""SQLite WAL checkpoints from a native thread, off the event loop.

A checkpoint copies the write-ahead log into the database file and fsyncs both. SQLite runs
one automatically inside whichever commit crosses its threshold; under gevent that commit
runs on the event loop's thread, so the fsync stalls every session of the worker (the
benchmark saw a 0.45 s p99 for paced round trips). Here a native thread (a real OS thread
even when gevent has patched ``threading``) checkpoints every second with its own
connection; sqlite3 releases the GIL while it works, so the sessions carry on.
"""

from __future__ import annotations

import _thread
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

INTERVAL = 1.0
_running: dict[tuple[int, str], Checkpointer] = {}  # one per process and database file


class Checkpointer:
    """A native thread checkpointing one database file until stopped (or the file is gone)."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.stopped = False
        self.checkpoints = 0  # successful ones, for tests and curiosity

    def run(self, sleep: Callable[[float], Any]) -> None:
        conn = sqlite3.connect(self.path, timeout=15, isolation_level=None, check_same_thread=False)
        failures = 0
        try:
            while not self.stopped and os.path.exists(self.path):
                sleep(self.interval)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    failures = 0
                except sqlite3.Error as exc:  # busy for longer than the timeout
                    failures += 1
                    if failures in (1, 10):
                        log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()


def start(path: str, interval: float = INTERVAL) -> Checkpointer:
    """Checkpoint ``path`` every ``interval`` seconds (once per process and file)."""
    key = (os.getpid(), path)
    running = _running.get(key)
    if running is not None and not running.stopped:
        return running
    checkpointer = _running[key] = Checkpointer(path, interval)
    start_thread, sleep = _native()
    start_thread(checkpointer.run, (sleep,))
    return checkpointer


def stop(path: str) -> None:
    """Stop this process's checkpointer of ``path`` (it ends within one interval)."""
    running = _running.pop((os.getpid(), path), None)
    if running is not None:
        running.stopped = True


def _native() -> tuple[Callable[..., Any], Callable[[float], Any]]:
    """start_new_thread and sleep as the operating system provides them (not gevent's)."""
    try:
        from gevent import monkey
    except ImportError:
        return _thread.start_new_thread, time.sleep
    start_thread = monkey.get_original("_thread", "start_new_thread")
    sleep = monkey.get_original("time", "sleep")
    return start_thread, sleep
