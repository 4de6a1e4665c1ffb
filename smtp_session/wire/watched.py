"""The SMTP reader under gevent: a socket watcher, and a greenlet only while replies are read.

A reader thread (a greenlet under gevent) blocked in ``recv`` holds its stack for the whole
session: ~10 KB for every idle console. Here the session's plain socket is watched by the
event loop instead, and a wake (data in, or the wait for it over) runs one read step of the
session in a runner greenlet, which is free again when the step has delivered what arrived:
it parks for the next step of any session (``_Runners``), so a reply costs no new greenlet.
Once TLS is up (STARTTLS, from a step) that runner reads on as the thread reader does, until
the end.
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
        runners = _runners(self._hub)
        self._running = runners.take(self._new_greenlet)
        runners.run(self._running, self._step, timed_out)

    def _step(self, timed_out: bool) -> None:
        reading = self._session._read_wake(timed_out)  # never raises: it ends the session
        self._running = None
        if reading:
            self._arm()
            return
        self._io.close()
        self._ended.set()


class _Runners:
    """Greenlets that run read steps and, once done, park for the next one (of any session).

    A new greenlet per step cost a greenlet and a 16 KiB frame stack (an mmap and a munmap) on
    every reply. Parked runners are few: as many as steps ever ran at once, at most ``keep``.
    """

    keep = 8

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.parked: list[Any] = []
        self._first: tuple[Any, Any] | None = None

    def take(self, new_greenlet: Any) -> Any:
        """A parked runner, or a new one (not started yet)."""
        while self.parked:
            runner = self.parked.pop()
            if not runner.dead:  # (one ended by an exception thrown into its park)
                return runner
        return new_greenlet(self._run, parent=self.hub)

    def run(self, runner: Any, step: Any, arg: Any) -> None:
        """Run ``step(arg)`` in ``runner`` (from ``take``) now."""
        if runner:  # parked in _run's hub.switch(): that call returns (step, arg)
            runner.switch(step, arg)
            return
        # A greenlet's first switch keeps its arguments for the greenlet's whole life (its
        # run() call holds them): the first step is handed over beside it instead.
        self._first = (step, arg)
        runner.switch()

    def _run(self) -> None:
        from greenlet import getcurrent

        me = getcurrent()
        first, self._first = self._first, None
        assert first is not None  # run() sets it just before the first switch
        step, arg = first
        del first
        while True:
            step(arg)
            step = arg = None  # a parked runner holds on to no session
            if len(self.parked) >= self.keep:
                return  # enough are parked: this one ends
            self.parked.append(me)
            step, arg = self.hub.switch()  # parked until the next wake switches here


def _runners(hub: Any) -> _Runners:
    """The hub's runners, kept on the hub: they go with it (a thread's hub, a test's)."""
    runners: _Runners | None = getattr(hub, "_smtp_step_runners", None)
    if runners is None:
        runners = _Runners(hub)
        hub._smtp_step_runners = runners
    return runners


def watched_reader(session: Watchable, fileno: int) -> WatchedReader | None:
    """A watched reader where gevent has patched ``socket`` (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    from gevent import get_hub

    return WatchedReader(session, fileno, get_hub())
