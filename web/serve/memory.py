"""The worker's allocator: large freed buffers and quiet-time garbage go back to the system.

Two things keep a long-running worker's RSS at its high-water mark after a burst of consoles,
although nothing leaks:

- glibc raises its mmap threshold to the size of each large block freed, so after one big
  message every later buffer of that size comes from the heap (``fix_mmap_threshold``, run
  by gunicorn.conf.py's ``post_fork``);
- a finished console leaves garbage in reference cycles until the collector's next pass, and
  glibc keeps the freed heap pages mapped (``QuietTrim``: once consoles stop ending for a
  moment, one collection and ``malloc_trim(0)`` hand them back).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed: no dynamic raise after a large free


def _libc() -> ctypes.CDLL | None:
    # The process's own symbols first (glibc's are among them on Linux): find_library runs a
    # subprocess, which under gevent switches greenlets, and costs ~10 ms.
    try:
        own = ctypes.CDLL(None)
    except (OSError, TypeError):
        own = None
    if own is not None and hasattr(own, "mallopt"):
        return own
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (True when set; False where there is no glibc)."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def _malloc_trim() -> Callable[[], bool] | None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return lambda: bool(trim(0))


class QuietTrim:
    """After consoles end, once none has ended for ``quiet`` seconds: collect, then trim.

    The process's own is ``quiet_trim()``, made at its first use (a request), after gevent
    has patched ``threading``: locks and events made before it (gunicorn.conf.py imports this
    module in ``post_fork``) would block the whole worker. Every WebSocket route calls
    ``opened()`` and ``ended()`` (web/serve/wsserver.py). One
    background thread (a greenlet under gevent's patching) waits for the first end, then for a
    quiet moment, so a burst of 1,000 consoles ending costs one pass at its end, not 1,000.
    The collection is a full one, because a console that lived for minutes left its cycles in
    the oldest generation, and a full pass stops every console for as long as it walks the
    live objects (60-340 ms with 1,000 open, app.py's tune_gc): so a pass runs only while at
    most ``few`` consoles are open (a class that has gone home, a burst that has ended), at
    least ``spacing`` seconds apart, and under steady churn with few open one still runs every
    ``at_most`` seconds. Where there is no glibc only the collection runs.
    """

    def __init__(
        self, quiet: float = 1.0, spacing: float = 5.0, at_most: float = 60.0, few: int = 32
    ) -> None:
        self.quiet = quiet
        self.spacing = spacing
        self.at_most = at_most
        self.few = few
        self.open = 0
        self.passes = 0
        self.passed = threading.Event()  # set after each pass (tests wait on it)
        self._last_end = 0.0
        self._last_pass = -spacing
        self._pending = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._trim = _malloc_trim()

    def opened(self) -> None:
        """A console has opened."""
        with self._lock:
            self.open += 1

    def ended(self) -> None:
        """A console has ended (its garbage is now collectable)."""
        with self._lock:
            self.open = max(0, self.open - 1)
        self._last_end = time.monotonic()
        if self.open > self.few:
            return  # no pass while many are open; the end that brings them down asks again
        if not self._pending.is_set():
            self._pending.set()
            self._start()

    def _start(self) -> None:
        with self._lock:  # never held across start(): under gevent that switches greenlets
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = thread = threading.Thread(
                target=self._run, name="quiet-trim", daemon=True
            )
        thread.start()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            first = time.monotonic()
            while True:
                now = time.monotonic()
                due = max(self._last_end + self.quiet, self._last_pass + self.spacing)
                if now >= due or now - first >= self.at_most:
                    break
                time.sleep(min(due, first + self.at_most) - now)
            self._pending.clear()
            if self.open <= self.few:  # (more may have opened meanwhile)
                self.run_once()

    def run_once(self) -> bool:
        """One collection and one trim, now (True when the trim gave memory back)."""
        gc.collect()
        gave_back = self._trim() if self._trim is not None else False
        self._last_pass = time.monotonic()
        self.passes += 1
        self.passed.set()
        return gave_back


_PROCESS: list[QuietTrim] = []  # the process's one, made at first use
_ENABLED: list[bool] = []  # set by enable_quiet_trim() (gunicorn.conf.py's post_fork)


def enable_quiet_trim() -> None:
    """Quiet passes on in this process: a gunicorn worker's (``post_fork``). Elsewhere
    (``python app.py``, the tests' in-process servers) ``quiet_trim()`` counts and never
    collects: a forced full collection there finalises a stray object in the middle of
    whatever else the process is doing (a test's unraisable-warning check, seen once)."""
    _ENABLED.append(True)


def quiet_trim() -> QuietTrim:
    """The process's QuietTrim, made on first use (after gevent's patch, in a request).

    No lock: one made before this module's first import could be a native lock, and a switch
    while it is held blocks the worker. Two first uses at once make two, and keep the first.
    """
    if not _PROCESS:
        made = QuietTrim() if _ENABLED else QuietTrim(few=-1)  # few=-1: never a pass
        if not _PROCESS:
            _PROCESS.append(made)
    return _PROCESS[0]
