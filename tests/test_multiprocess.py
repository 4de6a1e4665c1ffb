"""Two app processes behind one load balancer: what crosses them goes through PostgreSQL and Redis.

Two real ``python app.py`` processes, each with its own data directory (as on two hosts),
share one PostgreSQL schema, one Redis and one sandbox. A session recorded on one is read on
the other, live and after it ends; a session limit taken on one holds on the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer
from tests.apps import AppProcess
from tests.conftest import WsDriver, wait_until
from tests.test_store import _postgres_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _postgres_url()


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip("needs a real Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/15")
    import redis

    client = redis.Redis.from_url(REDIS_URL)

    def clean() -> None:
        for key in client.scan_iter(match="playground:limits:*"):
            client.delete(key)

    clean()
    yield REDIS_URL
    clean()
    client.close()


@pytest.fixture
def two_apps(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str, redis_url: str
) -> Iterator[tuple[AppProcess, AppProcess]]:
    env = {"DATABASE_URL": pg_url, "REDIS_URL": redis_url, "PLAYGROUND_MAX_SESSIONS": "1"}
    assert sandbox.config.tls_port is not None
    ports = (sandbox.config.port, sandbox.config.tls_port)
    started: list[AppProcess] = []
    try:
        for name in ("host-a", "host-b"):
            started.append(AppProcess(tmp_path / name, env, ports).start())
        yield started[0], started[1]
    finally:
        for app in started:
            app.stop()


def test_a_session_recorded_on_one_process_is_read_on_the_other(
    two_apps: tuple[AppProcess, AppProcess],
) -> None:
    a, b = two_apps
    ws = WsDriver(a.ws_url)
    try:
        assert ws.connect()["code"] == 220
        ws.ehlo()
        assert ws.command("MAIL FROM:<alice@example.com>")["code"] == 250
        tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
        seen = max(f["seq"] for f in ws.frames if "seq" in f)

        # Live: B reads what A has sent so far within a group commit or two.
        def b_has_everything() -> bool:
            entries = b.get(f"/api/transcripts/{tid}")["entries"]
            return bool(entries) and entries[-1]["seq"] >= seen

        assert wait_until(b_has_everything, timeout=2.0)
        assert b.get(f"/api/transcripts/{tid}")["transcript"]["status"] == "live"

        assert ws.command("RCPT TO:<bob@example.com>")["code"] == 250
        assert ws.command("DATA")["code"] == 354
        ws.send({"type": "lines", "lines": ["Subject: hi", "", "Hi Bob.", "."]})
        assert ws.wait_for("reply")["code"] == 250
        ws.command("QUIT")
        ws.wait_for("closed")
        last = max(f["seq"] for f in ws.frames if "seq" in f)
    finally:
        ws.close()

    def b_sees_it_closed() -> dict[str, Any] | None:
        body = b.get(f"/api/transcripts/{tid}")
        return body if body["transcript"]["status"] == "closed" else None

    body = wait_until(b_sees_it_closed)
    assert body is not None, "the other process never saw the transcript closed"
    seqs = [e["seq"] for e in body["entries"]]
    assert seqs == list(range(last + 1))
    texts = [e.get("text") for e in body["entries"]]
    assert "MAIL FROM:<alice@example.com>" in texts and "Hi Bob." in texts
    assert body["transcript"]["entry_count"] == len(seqs)
    assert tid in [t["id"] for t in b.get("/api/transcripts")["transcripts"]]


def test_a_session_limit_taken_on_one_process_holds_on_the_other(
    two_apps: tuple[AppProcess, AppProcess],
) -> None:
    a, b = two_apps
    first = WsDriver(a.ws_url)
    try:
        assert first.connect()["code"] == 220  # the one session 127.0.0.1 may have open
        second = WsDriver(b.ws_url)
        try:
            second.send({"type": "connect", "target": "sandbox"})
            error = second.wait_for("error")
            assert error["code"] == "concurrent_sessions" and error.get("limit") is True
        finally:
            second.close()
        first.command("QUIT")
        first.wait_for("closed")
    finally:
        first.close()
    third = WsDriver(b.ws_url)
    try:  # the slot came back through Redis: the other process admits a session now
        assert wait_until(lambda: third.connect()["code"] == 220, timeout=5.0)
    finally:
        third.close()
