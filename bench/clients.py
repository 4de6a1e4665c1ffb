"""Three ways to reach the same sandbox, each with ``command(line) -> reply`` timed the same way.

``Direct`` is a plain TCP socket (the physical limit), ``Websockify`` a binary WebSocket
through websockify (raw bytes both ways), ``Playground`` the app's JSON WebSocket with its
explanations on. All three read a full SMTP reply before a round trip counts as done.
"""

from __future__ import annotations

import functools
import json
import socket
import ssl
from typing import Any

import websocket  # websocket-client: synchronous, fine for one session per thread


def reply_done(buf: bytes) -> bool:
    """A complete SMTP reply: its last line is ``NNN SP ...`` (RFC 5321 §4.2.1)."""
    if not buf.endswith(b"\r\n"):
        return False
    last = buf[:-2].rsplit(b"\r\n", 1)[-1]
    return len(last) >= 4 and last[3:4] == b" "


@functools.cache
def insecure_context() -> ssl.SSLContext:
    """For timing only: the sandbox's self-signed certificate is not what we measure.

    Built once: create_default_context() loads the system CA bundle, ~30 ms each time.
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Direct:
    """A TCP (or TLS) socket to the sandbox."""

    def __init__(self, port: int, tls: bool = False) -> None:
        sock = socket.create_connection(("127.0.0.1", port), 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = insecure_context().wrap_socket(sock) if tls else sock
        self.greeting = self.read_reply()

    def read_reply(self) -> bytes:
        buf = b""
        while not reply_done(buf):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {buf!r}")
            buf += chunk
        return buf

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.read_reply()

    def starttls(self) -> None:
        reply = self.command("STARTTLS")
        assert reply.startswith(b"220"), reply
        self.sock = insecure_context().wrap_socket(self.sock)

    def send_raw(self, data: bytes) -> bytes:
        self.sock.sendall(data)
        return self.read_reply()

    def close(self) -> None:
        self.sock.close()


class Websockify:
    """A binary WebSocket through websockify; SMTP bytes travel unchanged."""

    def __init__(self, port: int) -> None:
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/", timeout=10, subprotocols=["binary"]
        )
        self.greeting = self.read_reply()

    def read_reply(self) -> bytes:
        buf = b""
        while not reply_done(buf):
            data = self.ws.recv()
            buf += data if isinstance(data, bytes) else data.encode()
        return buf

    def command(self, line: str) -> bytes:
        self.ws.send_binary(line.encode() + b"\r\n")
        return self.read_reply()

    def close(self) -> None:
        self.ws.close()


class Bridge(Websockify):
    """bench/bridge.py: the same raw bytes as websockify, through flask-sock (no subprotocol)."""

    def __init__(self, port: int) -> None:
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/", timeout=10)
        self.ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.greeting = self.read_reply()


class Playground:
    """The app's WebSocket: JSON frames, a 'sent' frame per line and a 'reply' per reply."""

    def __init__(self, port: int, target: str = "sandbox") -> None:
        self.transcript: str | None = None  # the id the session frame names
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=30)
        self.send({"type": "connect", "target": target})
        self.greeting = self.wait_for("reply")

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def wait_for(self, kind: str) -> dict[str, Any]:
        while True:
            frame = json.loads(self.ws.recv())
            if frame["type"] == kind:
                return frame
            if frame["type"] == "session":
                self.transcript = frame.get("transcript")
            if frame["type"] in ("error", "closed"):
                raise RuntimeError(f"waiting for {kind}: {frame}")

    def command(self, line: str) -> dict[str, Any]:
        self.send({"type": "line", "text": line})
        return self.wait_for("reply")

    def close(self) -> None:
        try:
            self.send({"type": "close"})
        finally:
            self.ws.close()
