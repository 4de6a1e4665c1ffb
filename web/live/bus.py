"""Publish and subscribe between the parts of the app, in one process or across several.

Captured sessions (published by the sandbox, read by the Captured page) and classes (a student's
worker publishes, the trainer's listens) travel on it. ``make_bus`` picks the backend the way
``make_limits`` does: Redis pub/sub when ``REDIS_URL`` is set, so every worker and host sees every
message, else one process's memory.

A slow reader never slows a publisher: ``publish`` never waits for subscribers, and each
subscription keeps at most ``maxsize`` messages, dropping the oldest and counting them in
``dropped``. Messages are JSON-able dicts; a subscriber gets a copy with ``"channel"`` added.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Protocol

log = logging.getLogger(__name__)

Message = dict[str, Any]

# How long subscribe() waits for Redis to confirm a new channel; after it returns, every
# message published to the channel reaches the subscription.
SUBSCRIBE_TIMEOUT_S = 5.0


class Subscription:
    """Messages for one reader, bounded: the oldest go first when the reader falls behind."""

    def __init__(self, bus: _Fanout, channels: tuple[str, ...], maxsize: int) -> None:
        self.channels = channels
        self.dropped = 0
        self._bus = bus
        self._queue: deque[Message] = deque()
        self._maxsize = max(1, maxsize)
        self._ready = threading.Condition()
        self.closed = False

    def put(self, message: Message) -> None:
        with self._ready:
            if len(self._queue) >= self._maxsize:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(message)
            self._ready.notify()

    def get(self, timeout: float | None = None) -> Message | None:
        """The next message, or None after ``timeout`` seconds (or once closed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._queue and not self.closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining)
            return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        if self.closed:
            return
        with self._ready:
            self.closed = True
            self._ready.notify_all()
        self._bus.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus(Protocol):
    def publish(self, channel: str, message: Message) -> None: ...

    def subscribe(self, *channels: str, maxsize: int = 256) -> Subscription: ...

    def close(self) -> None: ...


class _Fanout:
    """Hands each message to the subscriptions of its channel (both backends deliver here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per channel, in the order they subscribed (dicts keep it): delivery follows that order.
        self._subs: dict[str, dict[Subscription, None]] = {}

    def add(self, sub: Subscription) -> list[str]:
        """Register ``sub``; returns the channels that had no subscriber before."""
        with self._lock:
            new = [c for c in sub.channels if not self._subs.get(c)]
            for channel in sub.channels:
                self._subs.setdefault(channel, {})[sub] = None
            return new

    def remove(self, sub: Subscription) -> list[str]:
        """Unregister ``sub``; returns the channels left with no subscriber."""
        with self._lock:
            gone = []
            for channel in sub.channels:
                subs = self._subs.get(channel)
                if subs is None:
                    continue
                subs.pop(sub, None)
                if not subs:
                    del self._subs[channel]
                    gone.append(channel)
            return gone

    def deliver(self, channel: str, message: Message) -> None:
        with self._lock:
            subs = list(self._subs.get(channel, ()))
        for sub in subs:
            sub.put({**message, "channel": channel})

    def channels(self) -> list[str]:
        with self._lock:
            return list(self._subs)


class MemoryBus(_Fanout):
    """One process: publish hands the message straight to the subscriptions."""

    def publish(self, channel: str, message: Message) -> None:
        self.deliver(channel, message)

    def subscribe(self, *channels: str, maxsize: int = 256) -> Subscription:
        sub = Subscription(self, channels, maxsize)
        self.add(sub)
        return sub

    def close(self) -> None:
        for channel in self.channels():
            for sub in list(self._subs.get(channel, ())):
                sub.close()


class RedisBus(_Fanout):
    """Several processes: messages go through Redis pub/sub, one listener thread per process.

    The listener starts with the first subscription and stops with the last (and after a fork,
    as in gunicorn, the child starts its own). A publish is one PUBLISH command; if Redis is
    unreachable the message is dropped and logged, the publisher carries on.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._url = url
        # Redis pub/sub ignores database numbers: two apps on one Redis (or two test runs) with
        # different databases must not hear each other, so channels carry the database's number.
        self._prefix = f"db{self._redis.connection_pool.connection_kwargs.get('db', 0)}:"
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._control = threading.Lock()  # subscribe/unsubscribe/start/stop, in order
        self._confirmed: dict[str, threading.Event] = {}
        self._warned = 0.0

    def publish(self, channel: str, message: Message) -> None:
        try:
            self._redis.publish(self._prefix + channel, json.dumps(message, separators=(",", ":")))
        except Exception as exc:  # the publisher's session must go on without the bus
            now = time.monotonic()
            if now - self._warned > 30:
                self._warned = now
                log.warning("bus: could not publish to Redis (%s); messages are dropped", exc)

    def subscribe(self, *channels: str, maxsize: int = 256) -> Subscription:
        sub = Subscription(self, channels, maxsize)
        with self._control:
            self._after_fork()
            new = self.add(sub)
            if new:
                events = {c: self._confirmed.setdefault(c, threading.Event()) for c in new}
                self._pubsub_for().subscribe(*(self._prefix + c for c in new))
                self._start()
                for channel, event in events.items():
                    if not event.wait(SUBSCRIBE_TIMEOUT_S):
                        log.warning("bus: Redis did not confirm channel %s in time", channel)
        return sub

    def remove(self, sub: Subscription) -> list[str]:
        with self._control:
            gone = super().remove(sub)
            if gone and self._pubsub is not None and os.getpid() == self._pid:
                for channel in gone:
                    self._confirmed.pop(channel, None)
                try:
                    self._pubsub.unsubscribe(*(self._prefix + c for c in gone))
                except Exception:  # the listener's reconnect resubscribes only what is left
                    log.debug("bus: unsubscribe failed", exc_info=True)
            return gone

    def close(self) -> None:
        for channel in self.channels():
            for sub in list(self._subs.get(channel, ())):
                sub.close()
        with self._control:
            self._stop_listener()
        self._redis.close()

    def _after_fork(self) -> None:
        if os.getpid() != self._pid:  # the parent's listener thread did not come with us
            self._pid = os.getpid()
            self._pubsub = None
            self._thread = None
            self._confirmed.clear()
            self._redis = type(self._redis).from_url(
                self._url, socket_timeout=2.0, socket_connect_timeout=2.0
            )

    def _pubsub_for(self) -> Any:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
        return self._pubsub

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._listen, args=(self._pubsub,), name="bus-listener", daemon=True
            )
            self._thread.start()

    def _stop_listener(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:
                log.debug("bus: closing pubsub failed", exc_info=True)
        self._thread = None

    def _listen(self, pubsub: Any) -> None:
        """Read Redis until the last subscription goes (or the bus is closed)."""
        backoff = 0.1
        while self._pubsub is pubsub:
            try:
                message = pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except Exception as exc:
                if self._pubsub is not pubsub:
                    return
                log.warning("bus: Redis listener error (%s); retrying", exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message is None:
                # No reader left: stop. A subscribe() in progress holds the lock; go on then.
                if not self.channels() and self._control.acquire(blocking=False):
                    try:
                        if not self.channels() and self._pubsub is pubsub:
                            self._stop_listener()
                            return
                    finally:
                        self._control.release()
                continue
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if channel is None or not channel.startswith(self._prefix):
            return
        channel = channel[len(self._prefix) :]
        kind = message.get("type")
        if kind == "subscribe":
            event = self._confirmed.get(channel)
            if event is not None:
                event.set()
            return
        if kind != "message":
            return
        try:
            data = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("bus: a message on %s is not JSON; ignored", channel)
            return
        if isinstance(data, dict):
            self.deliver(channel, data)


def make_bus(redis_url: str | None) -> MemoryBus | RedisBus:
    """RedisBus when a Redis URL is configured (several processes), else MemoryBus."""
    if redis_url:
        return RedisBus(redis_url)
    return MemoryBus()
