"""The fast WebSocket frame path (web/serve/wsfast.py) reads and writes what wsproto does.

Frames come from wsproto's own client, so the bytes are what a real client sends; every
stream is also fed one byte at a time and in two halves at each boundary.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage

from web.serve import wsfast


def client_bytes(*events: Any) -> bytes:
    client = Connection(ConnectionType.CLIENT)
    return b"".join(client.send(event) for event in events)


def read_all(chunks: list[bytes]) -> tuple[list[tuple[int, Any]], list[Any]]:
    """What the fast reader gives, then the events wsproto gives for what it handed over."""
    reader = wsfast.FastReader(max_size=1 << 20)
    server = Connection(ConnectionType.SERVER)
    frames: list[tuple[int, Any]] = []
    for chunk in chunks:
        if reader.active:
            chunk = reader.feed(chunk, frames)
        if chunk:
            server.receive_data(chunk)
    return frames, list(server.events())


def splits(data: bytes) -> list[list[bytes]]:
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    ways += [[data[:i], data[i:]] for i in range(1, len(data), max(1, len(data) // 40))]
    return ways


TEXTS = ["NOOP", "", "é ü 中文 😀", "x" * 125, "y" * 126, "z" * 65535, "w" * 70_000]


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{len(t)}-chars")
def test_text_messages_are_read_whole_however_they_arrive(text: str) -> None:
    data = client_bytes(TextMessage(data=text), Message(data=b"\x00\xff"), TextMessage(data="!"))
    for chunks in splits(data) if len(text) < 200 else [[data], [data[:3], data[3:]]]:
        frames, events = read_all(chunks)
        assert frames == [(wsfast.OP_TEXT, text), (wsfast.OP_BINARY, b"\x00\xff"), (1, "!")]
        assert events == []


@pytest.mark.parametrize("read", [64 * 1024, 1000, 65_537])
def test_large_messages_in_reads_of_a_socket_s_size_come_whole_and_in_order(read: int) -> None:
    # A pasted message: frames near 1 MiB, read 64 KiB at a time (app.py's receive_bytes),
    # each read ending mid-frame, and the next frame starting inside a read.
    texts = ["a" * 900_000, "é" * 300_001, "NOOP", "b" * 70_000]
    data = client_bytes(*(TextMessage(data=t) for t in texts), Ping(b"k"))
    frames, events = read_all([data[i : i + read] for i in range(0, len(data), read)])
    assert frames == [*((wsfast.OP_TEXT, t) for t in texts), (wsfast.OP_PING, b"k")]
    assert events == []


def test_pings_and_pongs_are_read_between_messages() -> None:
    data = client_bytes(Ping(b"p1"), TextMessage(data="a"), Pong(b"p2"), Ping(b""))
    for chunks in splits(data):
        frames, _ = read_all(chunks)
        assert frames == [(9, b"p1"), (1, "a"), (10, b"p2"), (9, b"")]


@pytest.mark.parametrize(
    "unusual",
    [
        pytest.param(CloseConnection(code=1000, reason="bye"), id="close"),
        pytest.param(TextMessage(data="part", message_finished=False), id="fragment"),
    ],
)
def test_an_unusual_frame_and_all_after_it_go_to_wsproto(unusual: Any) -> None:
    client = Connection(ConnectionType.CLIENT)
    data = client.send(TextMessage(data="first")) + client.send(unusual)
    if isinstance(unusual, TextMessage):
        data += client.send(TextMessage(data=" end")) + client.send(Ping(b"x"))
    for chunks in splits(data):
        frames, events = read_all(chunks)
        assert frames == [(1, "first")]
        if isinstance(unusual, CloseConnection):
            assert isinstance(events[0], CloseConnection) and events[0].code == 1000
        else:
            texts = "".join(e.data for e in events if isinstance(e, TextMessage))
            assert texts == "part end" and isinstance(events[-1], Ping)


def test_invalid_utf8_and_unmasked_frames_are_judged_by_wsproto() -> None:
    masked = bytearray(client_bytes(TextMessage(data="ab")))
    masked[-2:] = bytes(b ^ m for b, m in zip(b"\xff\xfe", masked[2:4], strict=False))
    frames, events = read_all([client_bytes(TextMessage(data="ok")) + bytes(masked)])
    assert frames == [(1, "ok")]
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1007
    frames, events = read_all([b"\x81\x02hi"])  # RFC 6455 §5.1: a client masks its frames
    assert frames == [] and isinstance(events[-1], CloseConnection) and events[-1].code == 1002


def test_an_oversized_message_goes_to_wsproto() -> None:
    reader = wsfast.FastReader(max_size=10)
    rest = reader.feed(client_bytes(TextMessage(data="x" * 11)), frames := [])
    assert frames == [] and rest and not reader.active


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_server_frames_are_what_wsproto_writes(size: int) -> None:
    server = Connection(ConnectionType.SERVER)
    text = ("é" * size)[:size]
    assert wsfast.encode_text(text) == server.send(TextMessage(data=text))
    data = os.urandom(size)
    assert wsfast.encode_binary(data) == server.send(Message(data=data))
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(wsfast.encode_text(text))
    assert "".join(e.data for e in client.events()) == text


def test_unmask_is_the_rfc_xor() -> None:
    for size in (0, 1, 3, 4, 5, 1000):
        mask, payload = os.urandom(4), os.urandom(size)
        expected = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert wsfast.unmask(mask, payload) == expected


def test_binary_messages_are_bytes_as_wsproto_gave_them() -> None:
    frames, _ = read_all([client_bytes(BytesMessage(data=b"\x00\x01binary"))])
    assert frames == [(2, b"\x00\x01binary")] and type(frames[0][1]) is bytes
