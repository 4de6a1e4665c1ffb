"""sandbox_main.py in its own process captures into the shared PostgreSQL and publishes through
Redis: a subscriber in this process sees the session live and its end, and reads it stored.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER
from tests.capture_kit import RawClient
from tests.conftest import free_port
from transcripts.store import Store
from web.live.bus import make_bus

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL, dropped afterwards."""
    if not DB_URL or not REDIS_URL:
        pytest.skip("needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets both)")
    import psycopg

    schema = "capture_test_" + uuid.uuid4().hex[:12]
    plain = DB_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{DB_URL}{'&' if '?' in DB_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@dataclass
class Sandbox:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def sandbox_process(pg_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    port, tls_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": str(REDIS_URL),
        "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
        "PLAYGROUND_SANDBOX_PORT": str(port),
        "PLAYGROUND_SANDBOX_TLS_PORT": str(tls_port),
    }
    log = tmp_path / "sandbox.log"
    with open(log, "wb") as out:
        cmd = [sys.executable, "sandbox_main.py", "--log-level", "DEBUG"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):  # polls the port the process opens, like test_production
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield Sandbox(port, proc, log, tmp_path / "data")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def ours(message: dict[str, Any] | None, port: int) -> bool:
    """Redis pub/sub is shared by every database number: keep this sandbox's sessions."""
    return message is not None and message["summary"]["target"].endswith(f":{port})")


def next_of(sub: Any, port: int, event: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = sub.get(max(0.0, deadline - time.monotonic()))
        if ours(message, port) and message["event"] == event:
            return dict(message)
    raise AssertionError(f"no {event} message from the sandbox on port {port}")


def test_sandbox_main_captures_into_postgresql_and_publishes_through_redis(
    sandbox_process: Sandbox, pg_url: str
) -> None:
    bus = make_bus(REDIS_URL)
    port = sandbox_process.port
    try:
        with bus.subscribe("captured", maxsize=10_000) as sub:
            client = RawClient(port)
            client.send(b"EHLO live.example\r\n")
            started = next_of(sub, port, "started")
            entry = next_of(sub, port, "entry")
            assert started["summary"]["status"] == "live" and entry["entry"]["seq"] == 0
            client.send(b"QUIT\r\n")
            client.close()
            ended = next_of(sub, port, "ended")
            assert ended["id"] == started["id"] and ended["summary"]["outcome"] == "quit"

            context = ssl.create_default_context(
                cafile=str(sandbox_process.data_dir / "tls" / "sandbox-cert.pem")
            )
            context.check_hostname = False
            smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="app.example")
            smtp.starttls(context=context)
            smtp.login(DEMO_USER, DEMO_PASSWORD)
            smtp.sendmail("app@example.org", ["bob@example.org"], b"Subject: x\r\n\r\nhi\r\n")
            smtp.quit()
            quit_at = time.monotonic()
            delivered = next_of(sub, port, "ended")
            assert time.monotonic() - quit_at < 1.0
    finally:
        bus.close()
    store = Store.open(pg_url)
    try:
        transcript = store.get(delivered["id"])
        assert transcript is not None and transcript.source == "captured"
        assert transcript.outcome == "delivered" and transcript.status == "closed"
        assert transcript.ehlo == "app.example"
        assert any(e.get("event") == "tls" for e in transcript.entries)
        assert [s["id"] for s in store.list_captured()] == [delivered["id"], started["id"]]
    finally:
        store.dispose()
    os.kill(sandbox_process.proc.pid, signal.SIGTERM)
    sandbox_process.proc.wait(15)
    assert DEMO_PASSWORD not in sandbox_process.log.read_text()
