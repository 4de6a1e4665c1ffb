"""Reentrant locks for the objects every round trip passes (the console, its SMTP model, its
socket).

Under gevent's monkey-patching, ``threading.RLock()`` is the standard library's Python RLock
around gevent's lock, whose ``acquire`` is itself Python wrapping gevent's compiled
semaphore. A round trip takes ten of them. gevent's own RLock is owned per greenlet the same
way, on its compiled semaphore; with it (and ``verb_of`` cached) a round trip ran 769 k
instructions instead of 825 k, and with ``with`` in one call each way 756 k (callgrind,
bench/instructions.py, docs/production.md). Without gevent this is ``threading.RLock``.
"""

from __future__ import annotations

import sys
import threading
from functools import cache
from typing import Any


def _patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def rlock() -> Any:
    """A reentrant lock, gevent's own when threading is monkey-patched."""
    if _patched():
        return _green_rlock()()
    return threading.RLock()


@cache
def _green_rlock() -> type:
    """gevent's RLock with ``with`` done in one call each way, not two (its ``__enter__``
    calls ``acquire``, its ``__exit__`` ``release``); the same steps, the same errors."""
    from gevent.hub import getcurrent
    from gevent.lock import RLock

    base: Any = RLock  # its slots (_block, _owner, _count) are not in its type hints

    class GreenRLock(base):  # no __slots__ of its own: a __dict__ pointer, never a dict
        _owner: Any
        _count: int
        _block: Any

        def __enter__(self) -> bool:
            me = getcurrent()
            if self._owner is me:
                self._count += 1
                return True
            self._block.acquire()
            self._owner, self._count = me, 1
            return True

        def __exit__(self, *exc: object) -> None:
            if self._owner is not getcurrent():
                raise RuntimeError("cannot release un-acquired lock")
            self._count = count = self._count - 1
            if not count:
                self._owner = None
                self._block.release()

    return GreenRLock
