"""Limits that hold across app processes: open sessions, new sessions per minute, counts.

Two backends share one protocol: ``MemoryLimits`` for a single process and ``RedisLimits`` for
several. In Redis every check-and-update is one Lua script (atomic), a session slot is a member
of a sorted set scored by its expiry, refreshed by a heartbeat, so a crashed process's slots
fall away by themselves; all times are the Redis server's clock, not each process's.

Over 300 lines on purpose: the two backends stand side by side so that they keep one
behaviour; splitting them would hide a difference.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from smtp_session.errors import LimitReached

DEFAULT_SLOT_TTL_S = 60.0  # a heartbeat every ~20 s keeps a live session's slot
DEFAULT_COUNT_TTL_S = 24 * 3600.0  # per-session counts outlive any session
SWEEP_AT = 10_000  # MemoryLimits drops expired counts once it holds this many
# What each limit counts, in a trainer's words; unknown names are shown as they are.
COUNT_WORDS = {
    "recipients": "recipients in this transaction",
    "messages": "messages to non-sandbox targets in this session",
    "bytes": "bytes in this session",
}
RATE_WORDS = {"sessions": "new sessions"}
SUBJECT_WORDS = {"user": "per user", "addr": "per client address"}
WINDOW_WORDS = {60: "minute", 3600: "hour", 86400: "day"}


class LimitError(LimitReached):
    """A limit was reached; the message names the limit and its value."""

    code = "limit"

    def __init__(
        self,
        message: str,
        code: str | None = None,
        *,
        limit: int | None = None,
        current: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, code)
        self.limit, self.current, self.retry_after_s = limit, current, retry_after_s


class Limiter(Protocol):
    """What the web layer needs from a limits backend."""

    def acquire_session(self, subject: str, session_id: str, max_concurrent: int) -> None: ...
    def refresh_session(self, subject: str, session_id: str) -> bool: ...
    def release_session(self, subject: str, session_id: str) -> None: ...
    def session_count(self, subject: str) -> int: ...
    def hit_rate(self, subject: str, name: str, limit: int, window_s: int) -> str: ...
    def forget_hit(self, subject: str, name: str, hit: str) -> None: ...
    def add_count(self, subject_session: str, name: str, amount: int, limit: int) -> int: ...
    def reset_count(self, subject_session: str, name: str) -> None: ...


def make_limits(
    redis_url: str | None,
    *,
    prefix: str = "playground:limits:",
    slot_ttl_s: float = DEFAULT_SLOT_TTL_S,
    count_ttl_s: float = DEFAULT_COUNT_TTL_S,
) -> Limiter:
    """RedisLimits when a Redis URL is configured (several processes), else MemoryLimits."""
    if redis_url:
        return RedisLimits(redis_url, prefix, slot_ttl_s, count_ttl_s)
    return MemoryLimits(slot_ttl_s, count_ttl_s)


def sessions_error(subject: str, count: int, limit: int) -> LimitError:
    """The refusal for one session too many."""
    per = SUBJECT_WORDS.get(subject.split(":", 1)[0], f"per {subject.split(':', 1)[0]}")
    return LimitError(
        f"You have {count} sessions open; the limit is {limit} {per}. Close one first.",
        code="concurrent_sessions",
        limit=limit,
        current=count,
    )


def rate_error(name: str, count: int, limit: int, window_s: int, retry_s: float) -> LimitError:
    """The refusal for one start too many in the window."""
    what = RATE_WORDS.get(name, name)
    window = WINDOW_WORDS.get(window_s, f"{window_s} seconds")
    wait = max(1, round(retry_s))
    return LimitError(
        f"You have started {count} {what} in the last {window_s} seconds; the limit is "
        f"{limit} per {window}. Try again in {wait} seconds.",
        code="rate_limit",
        limit=limit,
        current=count,
        retry_after_s=retry_s,
    )


def count_error(name: str, current: int, amount: int, limit: int) -> LimitError:
    """The refusal for a count that would pass its limit."""
    what = COUNT_WORDS.get(name, name)
    return LimitError(
        f"That would make {current + amount} {what}; the limit is {limit}.",
        code=f"too_many_{name}",
        limit=limit,
        current=current,
    )


class MemoryLimits:
    """Limits for one process, guarded by one lock; expiry works as in Redis."""

    def __init__(
        self,
        slot_ttl_s: float = DEFAULT_SLOT_TTL_S,
        count_ttl_s: float = DEFAULT_COUNT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slot_ttl_s, self.count_ttl_s = slot_ttl_s, count_ttl_s
        self.clock = clock  # seconds; tests pass one they move by hand
        self._lock = threading.Lock()
        self._slots: dict[str, dict[str, float]] = {}
        self._hits: dict[str, deque[tuple[float, str]]] = {}
        self._counts: dict[str, tuple[int, float]] = {}

    def _live_slots(self, subject: str, now: float) -> dict[str, float]:
        slots = self._slots.setdefault(subject, {})
        for session_id in [s for s, expiry in slots.items() if expiry <= now]:
            del slots[session_id]
        return slots

    def acquire_session(self, subject: str, session_id: str, max_concurrent: int) -> None:
        """Take a session slot for ``session_id`` (again: refresh), or raise LimitError."""
        with self._lock:
            now = self.clock()
            slots = self._live_slots(subject, now)
            if session_id not in slots and len(slots) >= max_concurrent:
                raise sessions_error(subject, len(slots), max_concurrent)
            slots[session_id] = now + self.slot_ttl_s

    def refresh_session(self, subject: str, session_id: str) -> bool:
        """Heartbeat: push the slot's expiry on; False if it had already expired."""
        with self._lock:
            now = self.clock()
            slots = self._live_slots(subject, now)
            if session_id not in slots:
                return False
            slots[session_id] = now + self.slot_ttl_s
            return True

    def release_session(self, subject: str, session_id: str) -> None:
        """Give the slot back (a no-op if it is gone)."""
        with self._lock:
            slots = self._slots.get(subject, {})
            slots.pop(session_id, None)
            if not slots:
                self._slots.pop(subject, None)

    def session_count(self, subject: str) -> int:
        """Sessions currently holding a slot for ``subject``."""
        with self._lock:
            count = len(self._live_slots(subject, self.clock()))
            if not count:
                self._slots.pop(subject, None)
            return count

    def hit_rate(self, subject: str, name: str, limit: int, window_s: int) -> str:
        """Record one event in a sliding window and name it, or raise LimitError if full."""
        with self._lock:
            now = self.clock()
            hits = self._hits.setdefault(f"{name}:{subject}", deque())
            while hits and hits[0][0] <= now - window_s:
                hits.popleft()
            if len(hits) >= limit:
                raise rate_error(name, len(hits), limit, window_s, hits[0][0] + window_s - now)
            hit = uuid.uuid4().hex
            hits.append((now, hit))
            return hit

    def forget_hit(self, subject: str, name: str, hit: str) -> None:
        """Take back one recorded event (a login that turned out right is not a failure)."""
        with self._lock:
            hits = self._hits.get(f"{name}:{subject}")
            if hits is not None:
                self._hits[f"{name}:{subject}"] = deque(h for h in hits if h[1] != hit)

    def add_count(self, subject_session: str, name: str, amount: int, limit: int) -> int:
        """Add ``amount`` and return the new total, or raise LimitError and add nothing."""
        key = f"{name}:{subject_session}"
        with self._lock:
            now = self.clock()
            value, expiry = self._counts.get(key, (0, now))
            current = value if expiry > now else 0
            if current + amount > limit:
                raise count_error(name, current, amount, limit)
            if len(self._counts) > SWEEP_AT:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            self._counts[key] = (current + amount, now + self.count_ttl_s)
            return current + amount

    def reset_count(self, subject_session: str, name: str) -> None:
        """Start a count again from zero (recipients: at each new transaction)."""
        with self._lock:
            self._counts.pop(f"{name}:{subject_session}", None)


# Each check-and-update is one script, so it is atomic across processes. Times are the Redis
# server's clock in ms (Redis 7 replicates script effects, so TIME is allowed before writes).
_NOW = "local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)"
_EXPIRE_AT_LAST = """local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then redis.call('PEXPIREAT', KEYS[1], top[2]) end"""
_LUA = {
    "acquire": f"""{_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and count >= tonumber(ARGV[2]) then
  return count end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
{_EXPIRE_AT_LAST}
return -1""",
    "refresh": f"""{_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
{_EXPIRE_AT_LAST}
return 1""",
    "count": f"""{_NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')""",
    "hit": f"""{_NOW}
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {{count, tonumber(oldest[2]) + window - now}} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
return {{-1, 0}}""",
    "add": """local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {0, current} end
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, total}""",
    "release": "return redis.call('ZREM', KEYS[1], ARGV[1])",
    "forget": "return redis.call('ZREM', KEYS[1], ARGV[1])",
    "reset": "return redis.call('DEL', KEYS[1])",
}


class RedisLimits:
    """Limits shared by every process that uses the same Redis and key prefix."""

    def __init__(
        self,
        url: str,
        prefix: str = "playground:limits:",
        slot_ttl_s: float = DEFAULT_SLOT_TTL_S,
        count_ttl_s: float = DEFAULT_COUNT_TTL_S,
    ) -> None:
        self.prefix = prefix
        self._slot_ms, self._count_ms = int(slot_ttl_s * 1000), int(count_ttl_s * 1000)
        import redis  # only when REDIS_URL is set: a worker without it stays smaller

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._scripts = {name: self.client.register_script(lua) for name, lua in _LUA.items()}

    def _run(self, script: str, key: str, *args: str | int) -> Any:
        try:
            return self._scripts[script](keys=[self.prefix + key], args=list(args))
        except self._errors as error:
            raise _unavailable(error) from error

    def acquire_session(self, subject: str, session_id: str, max_concurrent: int) -> None:
        """Take a session slot for ``session_id`` (again: refresh), or raise LimitError."""
        count = int(
            self._run("acquire", f"slots:{subject}", session_id, max_concurrent, self._slot_ms)
        )
        if count >= 0:
            raise sessions_error(subject, count, max_concurrent)

    def refresh_session(self, subject: str, session_id: str) -> bool:
        """Heartbeat: push the slot's expiry on; False if it had already expired."""
        return self._run("refresh", f"slots:{subject}", session_id, self._slot_ms) == 1

    def release_session(self, subject: str, session_id: str) -> None:
        """Give the slot back (a no-op if it is gone)."""
        self._run("release", f"slots:{subject}", session_id)

    def session_count(self, subject: str) -> int:
        """Sessions currently holding a slot for ``subject``."""
        return int(self._run("count", f"slots:{subject}"))

    def hit_rate(self, subject: str, name: str, limit: int, window_s: int) -> str:
        """Record one event in a sliding window and name it, or raise LimitError if full."""
        member = uuid.uuid4().hex  # distinct members: two hits in one millisecond both count
        count, retry_ms = self._run("hit", f"rate:{name}:{subject}", member, limit, window_s * 1000)
        if count >= 0:
            raise rate_error(name, int(count), limit, window_s, int(retry_ms) / 1000)
        return member

    def forget_hit(self, subject: str, name: str, hit: str) -> None:
        """Take back one recorded event (a login that turned out right is not a failure)."""
        self._run("forget", f"rate:{name}:{subject}", hit)

    def add_count(self, subject_session: str, name: str, amount: int, limit: int) -> int:
        """Add ``amount`` and return the new total, or raise LimitError and add nothing."""
        key = f"count:{name}:{subject_session}"
        added, total = self._run("add", key, amount, limit, self._count_ms)
        if not added:
            raise count_error(name, int(total), amount, limit)
        return int(total)

    def reset_count(self, subject_session: str, name: str) -> None:
        """Start a count again from zero (recipients: at each new transaction)."""
        self._run("reset", f"count:{name}:{subject_session}")

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def _unavailable(error: Exception) -> LimitError:
    # Fail closed: without the shared counts no process can tell whether a limit is reached.
    return LimitError(
        f"The shared limits store (Redis) cannot be reached ({type(error).__name__}), so no "
        "new session or message can be allowed right now. Try again shortly.",
        code="limits_unavailable",
    )
