"""Slow clients: 300 sockets sending half a request, against both servers (#13).

The attack: 300 sockets that send partial HTTP headers were all still held after 15 s, each
holding a thread of the embedded server. Here they run against ``python app.py`` and against
gunicorn with gunicorn.conf.py, each with a short header timeout and a small per-address
cap: every socket is closed by the server (the bounded wait is only how long we are willing
to watch), the address over the cap is refused, and a client from another address is served
all along. Some sockets send half a WebSocket handshake, one trickles a byte at a time.
"""

from __future__ import annotations

import http.client
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import AppProcess
from tests.conftest import free_port

SOCKETS = 300
CAP = 50
HEADER_TIMEOUT = 8  # long enough that the 300 are all open before the first is closed
WATCH_S = HEADER_TIMEOUT + 30  # how long we watch for the server to close them all
ROOT = Path(__file__).resolve().parent.parent


def _partial(port: int, i: int) -> bytes:
    if i % 3 == 0:  # half a WebSocket handshake
        return (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        ).encode()
    return f"GET /api/transcripts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode()


def _open_attack(port: int) -> list[socket.socket]:
    sockets = []
    for i in range(SOCKETS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            sock.sendall(_partial(port, i))
        except OSError:
            pass  # refused and closed already: it is read as such below
        sockets.append(sock)
    return sockets


def _wait_all_closed(sockets: list[socket.socket]) -> dict[str, int]:
    """Read each socket until the server closes it; what each got: refusal or nothing."""
    got = {sock: b"" for sock in sockets}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + WATCH_S
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""  # closed with unread bytes: a reset is a close too
                if data:
                    got[sock] += data  # type: ignore[index]
                    continue
                selector.unregister(sock)
        still_open = len(selector.get_map())
    refused = sum(1 for data in got.values() if b" 503 " in data and b"Too many" in data)
    answered = sum(1 for data in got.values() if data and b" 503 " not in data)
    return {"open": still_open, "refused": refused, "answered": answered}


def _request(port: int, source: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/api/transcripts")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Trickle(threading.Thread):
    """A client that sends its request head one byte at a time, never finishing it."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0)
        )
        self.closed = threading.Event()
        self.head = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: {'a' * 500}".encode()

    def run(self) -> None:
        for byte in self.head:
            try:
                self.sock.sendall(bytes([byte]))
            except OSError:
                break
            if self.closed.wait(0.2):
                break
        self.closed.set()


def _attack(port: int) -> None:
    trickle = Trickle(port)
    trickle.start()
    sockets = _open_attack(port)
    try:
        # While the 300 are open: this address is over the cap, another one is served.
        status, body = _request(port, "127.0.0.1")
        assert status == 503 and b"Too many connections" in body
        assert _request(port, "127.0.0.2")[0] == 200
        seen = _wait_all_closed(sockets)
        assert seen["open"] == 0, f"{seen['open']} sockets still held after {WATCH_S} s"
        assert seen["refused"] >= 1 and seen["answered"] == 0, seen
        trickle.sock.settimeout(WATCH_S)
        assert trickle.sock.recv(4096) == b""  # closed by the server, not by finishing
        assert _request(port, "127.0.0.1")[0] == 200  # the address is welcome again
    finally:
        trickle.closed.set()
        trickle.sock.close()
        for sock in sockets:
            sock.close()


def test_the_embedded_server_closes_slow_clients_and_caps_an_address(tmp_path):
    env = {
        "PLAYGROUND_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS": str(CAP),
    }
    app = AppProcess(tmp_path / "data", env=env).start()
    try:
        _attack(app.port)
    finally:
        app.stop()


@pytest.fixture
def gunicorn_port(tmp_path: Path) -> Iterator[int]:
    pytest.importorskip("gunicorn", reason="gunicorn is not installed (requirements.txt pins it)")
    from tests.test_production import _listening, _serving, _spawn, _stop, _wait_until

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
        "PLAYGROUND_BIND": f"127.0.0.1:{port}",
        "PLAYGROUND_WORKERS": "1",
        "PLAYGROUND_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS": str(CAP),
    }
    log = tmp_path / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    server = _spawn(cmd, env, log)
    try:
        _wait_until(lambda: _listening(port), "gunicorn listening", server, log)
        _wait_until(lambda: _serving(port), "gunicorn serving", server, log)
        yield port
    finally:
        _stop(server)


@pytest.mark.slow
def test_gunicorn_closes_slow_clients_and_caps_an_address(gunicorn_port):
    _attack(gunicorn_port)
