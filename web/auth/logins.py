"""Password guessing and the login memory bomb: attempts counted first, verifications pooled.

An attempt takes a place in the failed-login windows (per client address and per account
name) *before* its password is looked at, in one atomic step (a Lua script in Redis, a lock
in memory), so a concurrent burst cannot all pass a check made before any of them is counted.
A right password gives its place back: only failures stay counted, so a class behind one NAT
can still sign in one after another. Each argon2id verification allocates its memory cost
(64 MiB by default), so they run through a small pool: a burst waits its turn, or is told
to try again, instead of allocating 64 MiB per request.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from smtp_session.errors import PlaygroundError
from web.live.limits import Limiter, LimitError, make_limits

log = logging.getLogger(__name__)
DEFAULT_ADDRESS_FAILURES = "10 per 5 minutes"
DEFAULT_ACCOUNT_FAILURES = "20 per 5 minutes"
DEFAULT_VERIFY_POOL = 2  # verifications at once: the memory bound is this x the argon2 cost
DEFAULT_VERIFY_WAIT_S = 10.0
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*", re.I)


class LoginRefused(PlaygroundError):
    """No verification for this attempt: a window is full (429) or the pool is busy (503)."""

    def __init__(self, message: str, code: str, status: int, retry_after_s: float) -> None:
        super().__init__(message, code)
        self.status, self.retry_after_s = status, retry_after_s


def parse_rate(text: str) -> tuple[int, int]:
    """``"10 per 5 minutes"`` -> (10, 300): how many in how many seconds."""
    found = _RATE.fullmatch(text)
    if found is None:
        raise ValueError(f"a login limit reads like '10 per 5 minutes', not {text!r}")
    count, amount, unit = found.groups()
    return int(count), int(amount or 1) * _UNITS[unit.lower()]


@dataclass
class Attempt:
    """The places one attempt holds; ``succeeded`` gives them back."""

    limiter: Limiter
    held: list[tuple[str, str]] = field(default_factory=list)

    def succeeded(self) -> None:
        held, self.held = self.held, []
        for subject, hit in held:
            try:
                self.limiter.forget_hit(subject, "logins", hit)
            except LimitError as exc:  # Redis went away: the place expires with its window
                log.warning("could not give a login attempt back: %s", exc.message)


class LoginGuard:
    """The failed-login windows and the verification pool of one app."""

    def __init__(self, config: dict[str, Any]) -> None:
        prefix = config.get("LOGIN_LIMIT_PREFIX", "playground:logins") + ":"
        self.limiter = make_limits(config["REDIS_URL"], prefix=prefix)
        self.windows = {
            "addr": parse_rate(config["LOGIN_FAILURES"]),
            "account": parse_rate(config["LOGIN_ACCOUNT_FAILURES"]),
        }
        self.pool = threading.BoundedSemaphore(max(1, int(config["LOGIN_VERIFY_POOL"])))
        self.wait_s = float(config["LOGIN_VERIFY_WAIT"])

    @contextmanager
    def attempt(self, address: str, name: str) -> Iterator[Attempt]:
        """Count the attempt for the address and the name, or raise LoginRefused (429)."""
        # The name is hashed: people type passwords into it, and it must not sit in Redis.
        account = hashlib.sha256(name.encode()).hexdigest()[:32]
        attempt = Attempt(self.limiter)
        try:
            for kind, subject in (("addr", f"addr:{address}"), ("account", f"account:{account}")):
                limit, window_s = self.windows[kind]
                hit = self.limiter.hit_rate(subject, "logins", limit, window_s)
                attempt.held.append((subject, hit))
        except LimitError as exc:
            attempt.succeeded()  # give back what was taken before the refusal
            raise _refusal(exc) from None
        try:
            yield attempt
        except LoginRefused:
            attempt.succeeded()  # never verified: not a failure
            raise

    def verify(self, check: Callable[[], Any]) -> Any:
        """Run one password check in the pool, or raise LoginRefused (503) after waiting."""
        if not self.pool.acquire(timeout=self.wait_s):
            raise LoginRefused(
                "The server is busy checking other passwords. Try again in a few seconds.",
                "login_busy",
                503,
                self.wait_s,
            )
        try:
            return check()
        finally:
            self.pool.release()


def _refusal(exc: LimitError) -> LoginRefused:
    if exc.code == "limits_unavailable":
        return LoginRefused(exc.message, exc.code, 503, 5.0)
    wait = max(1, round(exc.retry_after_s or 1))
    return LoginRefused(
        "Too many failed logins from this address or for this name. "
        f"Wait {wait} seconds and try again.",
        "login_limit",
        429,
        wait,
    )
