"""smtp_session/locks.py: the reentrant lock of the round trip's objects under gevent."""

from __future__ import annotations

import subprocess
import sys
import threading

import gevent
import pytest

from smtp_session.locks import _green_rlock, rlock


def test_without_gevent_patching_it_is_threadings_rlock() -> None:
    assert type(rlock()) is type(threading.RLock())


def test_under_gevent_patching_it_is_the_green_lock() -> None:
    code = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from smtp_session.locks import rlock\n"
        "print(type(rlock()).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "GreenRLock"


def test_reentrant_within_a_greenlet_and_exclusive_between_greenlets() -> None:
    lock = _green_rlock()()
    order: list[str] = []

    def holder() -> None:
        with lock, lock:  # reentrant
            order.append("a in")
            gevent.sleep(0.01)  # the other greenlet runs and must wait
            order.append("a out")

    def waiter() -> None:
        with lock:
            order.append("b in")

    a = gevent.spawn(holder)
    gevent.sleep(0)  # a holds the lock
    b = gevent.spawn(waiter)
    gevent.joinall([a, b], raise_error=True)
    assert order == ["a in", "a out", "b in"]
    assert not lock.locked()


def test_a_greenlet_that_does_not_hold_it_cannot_release_it() -> None:
    lock = _green_rlock()()
    with pytest.raises(RuntimeError):
        lock.__exit__(None, None, None)
    lock.acquire()
    other = gevent.spawn(lock.release)
    other.join()
    assert isinstance(other.exception, RuntimeError)
    lock.release()  # gevent's own release, after a with-less acquire
    with lock:
        assert lock.locked()
    assert not lock.locked()
