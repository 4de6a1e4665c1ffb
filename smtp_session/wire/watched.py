"""The SMTP reader under gevent: a socket watcher, and a greenlet only while replies are read.

A reader thread (a greenlet under gevent) blocked in ``recv`` holds its stack for the whole
session: ~10 KB for every idle console. Here the session's plain socket is watched by the
event loop instead, and a wake (data in, or the wait for it over) runs one read step of the
session in a new greenlet, which ends when the step has delivered what arrived. Once TLS is up
(STARTTLS, from a step) that greenlet reads on as the thread reader does, until the end.
Imported only where gevent has patched ``socket``; the session falls back to a thread
elsewhere (:func:`watched_reader` returns None).
"""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Watchable(Protocol):
    """What the reader needs of the session (smtp_session/wire/session.py)."""

    def _read_wait(self) -> float | None: ...

    def _read_wake(self, timed_out: bool) -> bool: ...


class WatchedReader:
    """Thread-like (start, is_alive, join) so that the session treats both readers alike."""

    def __init__(self, session: Watchable, fileno: int, hub: Any) -> None:
        from gevent.event import Event
        from greenlet import getcurrent, greenlet

        self._session = session
        self._hub = hub
        self._new_greenlet, self._current = greenlet, getcurrent
        self._io = hub.loop.io(fileno, 1)  # 1: readable
        self._timer: Any = None
        self._running: Any = None  # the greenlet of the step under way
        self._ended = Event()

    def start(self) -> None:
        self._arm()

    def is_alive(self) -> bool:
        return not self._ended.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._ended.wait(timeout)

    def is_current(self) -> bool:
        """True in the greenlet of a read step (the session's events are emitted there)."""
        return self._running is not None and self._current() is self._running

    def _arm(self) -> None:
        wait = self._session._read_wait()
        self._io.start(self._wake, False)
        if wait is not None:
            self._timer = self._hub.loop.timer(wait)
            self._timer.start(self._wake, True)

    def _wake(self, timed_out: bool) -> None:
        # In the event loop's greenlet, which must never block: the step gets its own.
        self._io.stop()
        if self._timer is not None:
            self._timer.stop()  # in its own callback perhaps: stopped, and let go
            self._timer = None
        self._running = self._new_greenlet(self._step, parent=self._hub)
        self._running.switch(timed_out)

    def _step(self, timed_out: bool) -> None:
        reading = self._session._read_wake(timed_out)  # never raises: it ends the session
        self._running = None
        if reading:
            self._arm()
            return
        self._io.close()
        self._ended.set()


def watched_reader(session: Watchable, fileno: int) -> WatchedReader | None:
    """A watched reader where gevent has patched ``socket`` (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    from gevent import get_hub

    return WatchedReader(session, fileno, get_hub())
