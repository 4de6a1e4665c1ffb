"""A capturing sandbox for the capture tests: the real aiosmtpd sandbox, a real store, the bus.

``Capturing`` starts the sandbox with its capture sink (web/live/captured.py) on a real
transcript store; ``watch()`` subscribes to the bus's ``captured`` channel, so a test waits on
the session's ``ended`` message (the product's own signal), never on a sleep.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smtp_session.guide.replay import replay_frames
from smtp_session.sandbox.capture import CaptureLimits
from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from smtp_session.wire.reply import Reply, ReplyParser
from tests.conftest import free_port
from transcripts.model import Transcript
from transcripts.store import Store
from web.live.bus import make_bus
from web.live.captured import CaptureWriter


class Watch:
    """A subscription to the ``captured`` channel, read until a session ends."""

    def __init__(self, bus: Any) -> None:
        self.sub = bus.subscribe("captured", maxsize=100_000)
        self.messages: list[dict[str, Any]] = []

    def ended(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next ``ended`` message (the others are kept in ``messages``)."""
        while True:
            message = self.sub.get(timeout)
            assert message is not None, "no captured session ended in time"
            self.messages.append(message)
            if message["event"] == "ended":
                return message


class Capturing:
    """The sandbox with capture on, its store (SQLite unless ``url``) and an in-process bus."""

    def __init__(
        self,
        data_dir: Path,
        limits: CaptureLimits | None = None,
        url: str | None = None,
        bus: Any = None,
        **writer: Any,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.store = Store.open(url or f"sqlite:///{data_dir / 'playground.db'}")
        self.bus = bus or make_bus(None)
        self.writer = CaptureWriter(self.store, self.bus, **writer)
        config = SandboxConfig(
            data_dir=data_dir,
            port=free_port(),
            tls_port=free_port(),
            capture=self.writer,
            capture_limits=limits or CaptureLimits(),
        )
        self.server = SandboxServer(config)
        self.server.start()
        self.port = config.port
        self.tls_port = config.tls_port or 0

    @contextmanager
    def watch(self) -> Iterator[Watch]:
        watch = Watch(self.bus)
        try:
            yield watch
        finally:
            watch.sub.close()

    def transcript(self, tid: str) -> Transcript:
        found = self.store.get(tid)
        assert found is not None
        return found

    def frames(self, tid: str) -> list[dict[str, Any]]:
        """The frames the replay page shows for the captured transcript (guide/replay.py)."""
        return replay_frames(self.transcript(tid).entries)

    def codes(self, tid: str) -> list[str]:
        """Every warning code the replay shows, in order."""
        return [w["code"] for f in self.frames(tid) for w in f.get("warnings") or []]

    def close(self) -> None:
        self.server.stop()
        self.writer.stop()
        self.store.dispose()


class RawClient:
    """A client on a plain socket: sends exactly the bytes given, reads whole replies."""

    def __init__(self, port: int, sock: socket.socket | None = None) -> None:
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = ReplyParser()
        self.got: list[Reply] = []
        self.read(1)  # the greeting

    def read(self, n: int) -> list[Reply]:
        """Wait for ``n`` more whole replies."""
        want = len(self.got) + n
        while len(self.got) < want:
            data = self.sock.recv(65536)
            if not data:
                break
            self.got += self.parser.feed(data)
        return self.got[want - n :]

    def send(self, data: bytes, replies: int = 1) -> list[Reply]:
        """Send ``data`` in one write, then wait for ``replies`` replies."""
        self.sock.sendall(data)
        return self.read(replies) if replies else []

    def close(self) -> None:
        self.sock.close()
