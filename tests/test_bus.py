"""The publish/subscribe bus: one process in memory, several through a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from web.live.bus import MemoryBus, RedisBus, make_bus

REDIS_URL = os.environ.get("TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["memory", "redis"])
def bus(request):
    if request.param == "memory":
        made = MemoryBus()
    else:
        if not REDIS_URL:
            pytest.skip("set TEST_REDIS_URL to run against a real Redis (CI does)")
        made = RedisBus(REDIS_URL)
    yield made
    made.close()


def _channel() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_a_subscriber_gets_what_is_published_after_it_subscribed(bus):
    channel = _channel()
    with bus.subscribe(channel) as sub:
        bus.publish(channel, {"n": 1})
        bus.publish(channel, {"n": 2})
        assert sub.get(timeout=5) == {"n": 1, "channel": channel}
        assert sub.get(timeout=5) == {"n": 2, "channel": channel}
        assert sub.get(timeout=0.05) is None


def test_only_the_channels_subscribed_arrive(bus):
    one, other = _channel(), _channel()
    with bus.subscribe(one) as sub, bus.subscribe(one, other) as both:
        bus.publish(other, {"to": "other"})
        bus.publish(one, {"to": "one"})
        assert sub.get(timeout=5) == {"to": "one", "channel": one}
        got = [both.get(timeout=5), both.get(timeout=5)]
        assert {m["to"] for m in got if m} == {"one", "other"}


def test_a_slow_subscriber_loses_the_oldest_and_the_publisher_never_waits(bus):
    channel = _channel()
    slow = bus.subscribe(channel, maxsize=3)
    fast = bus.subscribe(channel, maxsize=1000)
    for n in range(10):
        bus.publish(channel, {"n": n})
    # The fast reader saw all ten, so the slow one's queue has been offered all ten too.
    assert [fast.get(timeout=5)["n"] for _ in range(10)] == list(range(10))
    assert [slow.get(timeout=5)["n"] for _ in range(3)] == [7, 8, 9]
    assert slow.dropped == 7
    slow.close()
    fast.close()


def test_close_wakes_a_waiting_reader(bus):
    sub = bus.subscribe(_channel())
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(sub.get(timeout=30)))
    reader.start()
    sub.close()
    reader.join(timeout=10)
    assert not reader.is_alive() and got == [None]


def test_after_the_last_reader_leaves_nothing_is_kept(bus):
    channel = _channel()
    bus.subscribe(channel).close()
    bus.publish(channel, {"n": 1})
    with bus.subscribe(channel) as sub:
        assert sub.get(timeout=0.2) is None


def test_make_bus_picks_redis_only_with_a_url():
    assert isinstance(make_bus(None), MemoryBus)
    assert isinstance(make_bus("redis://127.0.0.1:1/0"), RedisBus)


def test_a_publisher_survives_an_unreachable_redis(caplog):
    bus = RedisBus("redis://127.0.0.1:1/0")  # nothing listens on port 1
    bus.publish("x", {"n": 1})
    bus.publish("x", {"n": 2})
    assert sum("could not publish" in r.getMessage() for r in caplog.records) == 1


NO_REDIS = "set TEST_REDIS_URL to run against a real Redis (CI does)"


@pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)
def test_messages_cross_processes_through_redis():
    """Another process (as another gunicorn worker or the sandbox's process) publishes."""
    channel = _channel()
    bus = RedisBus(REDIS_URL)
    with bus.subscribe(channel) as sub:
        code = (
            "import sys; from web.live.bus import RedisBus; b = RedisBus(sys.argv[1]); "
            "[b.publish(sys.argv[2], {'n': n, 'pid': __import__('os').getpid()}) for n in range(3)]"
        )
        subprocess.run(
            [sys.executable, "-c", code, REDIS_URL, channel], cwd=ROOT, check=True, timeout=60
        )
        got = [sub.get(timeout=10) for _ in range(3)]
    bus.close()
    assert [m["n"] for m in got if m] == [0, 1, 2]
    assert all(m["pid"] != os.getpid() for m in got if m)


@pytest.mark.skipif(not REDIS_URL, reason=NO_REDIS)
def test_apps_on_other_redis_databases_do_not_hear_each_other():
    channel = _channel()
    base = REDIS_URL.rsplit("/", 1)[0]
    mine, theirs = RedisBus(f"{base}/13"), RedisBus(f"{base}/14")
    with mine.subscribe(channel) as sub:
        theirs.publish(channel, {"from": "theirs"})
        mine.publish(channel, {"from": "mine"})
        assert sub.get(timeout=5) == {"from": "mine", "channel": channel}
    mine.close()
    theirs.close()
