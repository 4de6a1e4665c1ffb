"""Limits: one suite for MemoryLimits and RedisLimits, plus Redis across instances and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smtp_session.errors import PlaygroundError
from web.live.limits import Limiter, LimitError, MemoryLimits, RedisLimits, make_limits

REDIS_URL = os.environ.get("TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parent.parent


class Backend:
    """Makes limiters of one backend, and lets time pass for them.

    MemoryLimits run on a clock the test moves (no waiting); Redis keeps time with its own
    server clock, so for it time passes for real.
    """

    def __init__(self, make: Callable[..., Limiter], memory: bool) -> None:
        self._make, self.memory, self.now = make, memory, 1000.0

    def __call__(self, **options: float) -> Limiter:
        if self.memory:
            return self._make(clock=lambda: self.now, **options)
        return self._make(**options)

    def advance(self, seconds: float) -> None:
        if self.memory:
            self.now += seconds
        else:
            time.sleep(seconds)  # the Redis server's clock: nothing to move but time itself


Factory = Backend


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the real Redis, deleted afterwards."""
    if not REDIS_URL:
        pytest.skip("needs a real Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/0")
    prefix = f"test:limits:{uuid.uuid4().hex}:"
    yield prefix
    cleaner = RedisLimits(REDIS_URL, prefix)
    for key in cleaner.client.scan_iter(match=prefix + "*"):
        cleaner.client.delete(key)
    cleaner.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Build limiters of one backend; Redis ones share one prefix, so they share counts."""
    made: list[RedisLimits] = []
    if request.param == "memory":
        yield Backend(MemoryLimits, memory=True)
        return
    prefix = request.getfixturevalue("redis_prefix")

    def factory(**options: float) -> Limiter:
        made.append(RedisLimits(str(REDIS_URL), prefix, **options))
        return made[-1]

    yield Backend(factory, memory=False)
    for limits in made:
        limits.close()


def refused(action: Callable[[], object]) -> LimitError:
    with pytest.raises(LimitError) as caught:
        action()
    return caught.value


# ---------------------------------------------------------------- concurrent sessions


def test_concurrent_sessions_stop_at_the_limit_and_say_so(make: Factory) -> None:
    limits = make()
    limits.acquire_session("user:alice", "s1", 2)
    limits.acquire_session("user:alice", "s2", 2)
    limits.acquire_session("user:alice", "s2", 2)  # the same session again takes no new slot
    error = refused(lambda: limits.acquire_session("user:alice", "s3", 2))
    assert isinstance(error, PlaygroundError) and error.code == "concurrent_sessions"
    assert error.message == "You have 2 sessions open; the limit is 2 per user. Close one first."
    assert (error.limit, error.current) == (2, 2)
    limits.acquire_session("user:bob", "s9", 2)  # another subject has its own slots
    limits.release_session("user:alice", "s1")
    limits.acquire_session("user:alice", "s3", 2)
    assert limits.session_count("user:alice") == 2


def test_client_address_subjects_are_named_as_such(make: Factory) -> None:
    limits = make()
    limits.acquire_session("addr:203.0.113.9", "s1", 1)
    error = refused(lambda: limits.acquire_session("addr:203.0.113.9", "s2", 1))
    assert "the limit is 1 per client address" in error.message


def test_release_and_refresh_of_unknown_sessions(make: Factory) -> None:
    limits = make()
    limits.release_session("user:nobody", "never-held")
    assert limits.refresh_session("user:nobody", "never-held") is False
    limits.acquire_session("user:carol", "s1", 1)
    assert limits.refresh_session("user:carol", "s1") is True
    limits.release_session("user:carol", "s1")
    assert limits.refresh_session("user:carol", "s1") is False
    assert limits.session_count("user:carol") == 0


def test_an_unreleased_slot_expires_and_a_heartbeat_keeps_one(make: Factory) -> None:
    limits = make(slot_ttl_s=0.6)
    limits.acquire_session("user:dave", "crashed", 2)
    limits.acquire_session("user:dave", "alive", 2)
    assert refused(lambda: limits.acquire_session("user:dave", "new", 2)).current == 2
    for _ in range(4):  # 1.2 s in all: twice the TTL, heartbeat every 0.3 s
        make.advance(0.3)
        assert limits.refresh_session("user:dave", "alive") is True
    assert limits.session_count("user:dave") == 1
    limits.acquire_session("user:dave", "new", 2)


def test_concurrent_acquires_from_threads_never_overshoot(make: Factory) -> None:
    limits = make()
    won: list[str] = []
    barrier = threading.Barrier(16)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            limits.acquire_session("user:eve", f"s{n}", 5)
            won.append(f"s{n}")
        except LimitError:
            pass

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 5 and limits.session_count("user:eve") == 5


# ---------------------------------------------------------------- rate


def test_rate_limit_per_minute_names_the_limit_and_the_wait(make: Factory) -> None:
    limits = make()
    for _ in range(3):
        limits.hit_rate("user:frank", "sessions", 3, 60)
    error = refused(lambda: limits.hit_rate("user:frank", "sessions", 3, 60))
    assert error.code == "rate_limit" and (error.limit, error.current) == (3, 3)
    assert "You have started 3 new sessions in the last 60 seconds" in error.message
    assert "the limit is 3 per minute" in error.message
    assert error.retry_after_s is not None and 55 < error.retry_after_s <= 60
    limits.hit_rate("user:grace", "sessions", 3, 60)  # another subject has its own window


def test_a_hit_given_back_frees_its_place_and_only_its_own(make: Factory) -> None:
    limits = make()
    first = limits.hit_rate("addr:192.0.2.7", "logins", 2, 60)
    limits.hit_rate("addr:192.0.2.7", "logins", 2, 60)
    refused(lambda: limits.hit_rate("addr:192.0.2.7", "logins", 2, 60))
    limits.forget_hit("addr:192.0.2.7", "logins", first)
    limits.forget_hit("addr:192.0.2.7", "logins", first)  # twice: still one place
    limits.hit_rate("addr:192.0.2.7", "logins", 2, 60)
    assert refused(lambda: limits.hit_rate("addr:192.0.2.7", "logins", 2, 60)).current == 2


def test_rate_window_slides(make: Factory) -> None:
    # Redis keeps real time: a window of 4 s, so that a loaded machine's pause of a second
    # between two calls does not carry a hit out of it (1 s once failed so under a full run).
    window = 1 if make.memory else 4
    limits = make()
    limits.hit_rate("user:heidi", "sessions", 2, window)
    make.advance(0.6 * window)
    limits.hit_rate("user:heidi", "sessions", 2, window)
    assert refused(lambda: limits.hit_rate("user:heidi", "sessions", 2, window)).current == 2
    make.advance(0.5 * window)  # the first hit has left the window, the second has not
    limits.hit_rate("user:heidi", "sessions", 2, window)
    refused(lambda: limits.hit_rate("user:heidi", "sessions", 2, window))


# ---------------------------------------------------------------- counts

COUNTS = {
    "recipients": ("recipients", 1, 3, "That would make 4 recipients in this transaction"),
    "messages": ("messages", 1, 3, "That would make 4 messages to non-sandbox targets"),
    "bytes": ("bytes", 4_000_000, 12_000_000, "That would make 16000000 bytes in this session"),
}


@pytest.mark.parametrize(("name", "step", "limit", "words"), COUNTS.values(), ids=COUNTS.keys())
def test_counts_stop_at_the_limit_and_add_nothing_when_refused(
    make: Factory, name: str, step: int, limit: int, words: str
) -> None:
    limits = make()
    totals = [limits.add_count("user:ivan:s1", name, step, limit) for _ in range(3)]
    assert totals == [step, 2 * step, 3 * step]
    error = refused(lambda: limits.add_count("user:ivan:s1", name, step, limit))
    assert error.code == f"too_many_{name}" and error.message.startswith(words)
    assert f"the limit is {limit}." in error.message
    assert limits.add_count("user:ivan:s1", name, 0, limit) == 3 * step
    assert limits.add_count("user:ivan:s2", name, step, limit) == step  # per session


def test_reset_count_starts_a_new_transaction(make: Factory) -> None:
    limits = make()
    limits.add_count("user:judy:s1", "recipients", 2, 2)
    limits.reset_count("user:judy:s1", "recipients")
    assert limits.add_count("user:judy:s1", "recipients", 1, 2) == 1


# ---------------------------------------------------------------- backend choice and failure


def test_make_limits_picks_the_backend() -> None:
    assert isinstance(make_limits(None), MemoryLimits)
    redis_limits = make_limits("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert isinstance(redis_limits, RedisLimits)
    error = refused(lambda: redis_limits.acquire_session("user:kim", "s1", 1))
    assert error.code == "limits_unavailable" and "Redis" in error.message
    redis_limits.close()


# ---------------------------------------------------------------- across instances and processes


@pytest.mark.redis
def test_two_redis_instances_share_slots_rates_and_counts(redis_prefix: str) -> None:
    one, two = RedisLimits(str(REDIS_URL), redis_prefix), RedisLimits(str(REDIS_URL), redis_prefix)
    try:
        one.acquire_session("user:leo", "s1", 1)
        assert refused(lambda: two.acquire_session("user:leo", "s2", 1)).current == 1
        two.release_session("user:leo", "s1")
        two.acquire_session("user:leo", "s2", 1)
        one.hit_rate("user:leo", "sessions", 1, 60)
        assert refused(lambda: two.hit_rate("user:leo", "sessions", 1, 60)).limit == 1
        one.add_count("user:leo:s2", "bytes", 700, 1000)
        assert refused(lambda: two.add_count("user:leo:s2", "bytes", 301, 1000)).current == 700
    finally:
        one.close()
        two.close()


CRASHING_HOLDER = """
import os, sys
from web.live.limits import RedisLimits
limits = RedisLimits(sys.argv[1], sys.argv[2], slot_ttl_s=float(sys.argv[3]))
limits.acquire_session("user:mallory", "held-by-child", 1)
print(limits.add_count("user:mallory:child", "messages", 2, 5), flush=True)
os._exit(0)  # a crash: no release, no close
"""


@pytest.mark.redis
@pytest.mark.slow
def test_a_crashed_process_slot_is_seen_by_others_then_expires(redis_prefix: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_HOLDER, str(REDIS_URL), redis_prefix, "3.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert child.stdout.strip() == "2"
    limits = RedisLimits(str(REDIS_URL), redis_prefix)
    try:
        assert limits.session_count("user:mallory") == 1
        assert refused(lambda: limits.acquire_session("user:mallory", "mine", 1)).current == 1
        assert (
            refused(lambda: limits.add_count("user:mallory:child", "messages", 4, 5)).current == 2
        )
        deadline = time.monotonic() + 10
        while limits.session_count("user:mallory") and time.monotonic() < deadline:
            time.sleep(0.1)
        limits.acquire_session("user:mallory", "mine", 1)
    finally:
        limits.close()
