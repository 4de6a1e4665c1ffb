"""The common WebSocket frames of an open connection, read and written without wsproto.

Once a connection is open and no extension was negotiated, nearly every frame a browser
sends is one whole masked text frame (a JSON message), or a pong; nearly every frame the
server sends is one whole text frame. wsproto parses each through generators, a per-byte
pure-Python unmasker and event objects: ~15 % of a round trip's CPU in the worker
(docs/production.md, the profile). Here those frames take a few byte operations:

- :func:`encode_text` builds a server frame (unmasked, RFC 6455 §5.1) for a message.
- :class:`FastReader` splits received bytes into messages and pings/pongs. The first frame
  it does not handle itself (fragments, close, reserved bits, an unmasked or oversized frame,
  invalid UTF-8...) and every byte after it go to wsproto, which then reads the connection
  for good: wsproto stays the one judge of every unusual frame and of every error's close
  code, and it starts at a frame boundary, as if it had read everything before.
"""

from __future__ import annotations

import ssl
from typing import Any

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_MAX_CONTROL = 125  # RFC 6455 §5.5: a control frame's payload is at most 125 bytes


def header(opcode: int, size: int) -> bytes:
    """A final, unmasked frame's header for ``size`` payload bytes (RFC 6455 §5.2)."""
    first = 0x80 | opcode
    if size < 126:
        return bytes((first, size))
    if size < 1 << 16:
        return bytes((first, 126)) + size.to_bytes(2, "big")
    return bytes((first, 127)) + size.to_bytes(8, "big")


def encode_text(text: str) -> bytes:
    """One whole text frame from the server (UnicodeEncodeError for a lone surrogate,
    as wsproto raised)."""
    payload = text.encode("utf-8")
    return header(OP_TEXT, len(payload)) + payload


def encode_binary(data: bytes) -> bytes:
    """One whole binary frame from the server."""
    return header(OP_BINARY, len(data)) + data


def unmask(mask: bytes | bytearray, payload: bytes | bytearray) -> bytes:
    """RFC 6455 §5.3: XOR with the 4-byte key, over the whole payload at once."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


class FastReader:
    """Messages, pings and pongs from received bytes, until a frame needs wsproto."""

    def __init__(self, max_size: int | None) -> None:
        self.max_size = max_size or 0
        self._buf = bytearray()  # the start of a frame still arriving
        self.active = True  # False once wsproto reads the connection

    def feed(self, data: bytes, out: list[tuple[int, Any]]) -> bytes:
        """Append ``(opcode, payload)`` for each whole frame read (a text payload as str);
        returns the bytes wsproto must read from now on (empty while all is common)."""
        if self._buf:
            self._buf += data
            buf: bytes | bytearray = self._buf
        else:
            buf = data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            opcode, size, at = first & 0x0F, second & 0x7F, pos + 2
            # FIN set, no reserved bit, masked (RFC 6455 §5.1: a client masks every frame).
            if first & 0xF0 != 0x80 or not second & 0x80:
                return self._hand_over(buf, pos)
            if size == 126:
                if end - at < 2:
                    break
                size, at = int.from_bytes(buf[at : at + 2], "big"), at + 2
                if size < 126:  # not minimally encoded: wsproto says so
                    return self._hand_over(buf, pos)
            elif size == 127:
                if end - at < 8:
                    break
                size, at = int.from_bytes(buf[at : at + 8], "big"), at + 8
                if size < 1 << 16 or size >> 63:  # not minimal, or the top bit set
                    return self._hand_over(buf, pos)
            if opcode in (OP_TEXT, OP_BINARY):
                if self.max_size and size > self.max_size:
                    return self._hand_over(buf, pos)
            elif opcode not in (OP_PING, OP_PONG) or size > _MAX_CONTROL:
                return self._hand_over(buf, pos)  # close, continuation, reserved opcodes
            if end - at < 4 + size:
                break
            payload = unmask(buf[at : at + 4], buf[at + 4 : at + 4 + size])  # bytes
            if opcode == OP_TEXT:
                try:
                    text: Any = payload.decode("utf-8")
                except UnicodeDecodeError:  # wsproto closes with 1007
                    return self._hand_over(buf, pos)
                out.append((opcode, text))
            else:
                out.append((opcode, payload))
            pos = at + 4 + size
        if pos >= end:
            if self._buf:  # (an empty one stays: no new buffer per read)
                self._buf = bytearray()
        elif buf is self._buf:  # a frame still arriving: keep the buffer, not a copy of it
            del self._buf[:pos]  # (copying it on every read of a 1 MiB frame: 10 % of DATA)
        else:
            self._buf = bytearray(memoryview(buf)[pos:])
        return b""

    def _hand_over(self, buf: bytes | bytearray, pos: int) -> bytes:
        self.active = False
        self._buf = bytearray()
        return bytes(buf[pos:])


def is_tls(sock: Any) -> bool:
    """Whether writes to ``sock`` go through TLS (asked once per connection: on a gevent
    socket the ``hasattr`` is a failed attribute lookup through its ``__getattr__``, ~3 us)."""
    return isinstance(sock, ssl.SSLSocket) or hasattr(sock, "_sslobj")


def send_whole(sock: Any, data: bytes, tls: bool | None = None) -> None:
    """``sock.sendall(data)`` in one ``send`` when it all fits, as it nearly always does:
    gevent's ``sendall`` asks the kernel for the socket's buffer size (a ``getsockopt``)
    on every call. A TLS socket keeps ``sendall`` (a retried SSL write must be the same).
    ``tls``: what :func:`is_tls` said of this socket, when the caller keeps it."""
    if not (is_tls(sock) if tls is None else tls):
        sent = sock.send(data)
        if sent == len(data):
            return
        data = data[sent:]
    sock.sendall(data)
