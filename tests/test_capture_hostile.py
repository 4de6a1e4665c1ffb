"""A hostile or broken client is captured bounded like any other, and never breaks the sandbox.

Random bytes (Hypothesis), a huge line, abrupt disconnects in the middle of a message, TLS
garbage on the implicit-TLS port, many clients at once: each session that said anything is
stored within its caps and replays, and the sandbox goes on serving the next client.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import struct
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtp_session.sandbox.capture import MAX_LINE_CHARS, CaptureLimits
from tests.capture_kit import Capturing, RawClient

MAX_LINES = 200
MAX_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def cap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capturing]:
    limits = CaptureLimits(max_lines=MAX_LINES, max_bytes=MAX_BYTES)
    capturing = Capturing(tmp_path_factory.mktemp("capture-hostile") / "data", limits)
    yield capturing
    capturing.close()


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0): the rudest way a client can leave."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def assert_bounded(cap: Capturing, tid: str) -> None:
    transcript = cap.transcript(tid)
    assert transcript.status == "closed"
    # Every line and its reply, the connect, greeting, limit and closed events at most.
    assert len(transcript.entries) <= 2 * MAX_LINES + 8
    assert all(len(e.get("text", "")) <= MAX_LINE_CHARS + 40 for e in transcript.entries)
    assert transcript.entries[-1]["event"] == "closed"
    cap.frames(tid)  # and it replays


def still_serving(cap: Capturing) -> None:
    with cap.watch() as watch:
        with smtplib.SMTP("127.0.0.1", cap.port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250
        assert watch.ended()["summary"]["outcome"] == "quit"


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=6),
    rude=st.booleans(),
)
def test_random_bytes_are_captured_bounded(cap: Capturing, chunks: list[bytes], rude: bool) -> None:
    with cap.watch() as watch:
        sock = socket.create_connection(("127.0.0.1", cap.port), timeout=10)
        sock.recv(1000)  # the greeting
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the sandbox closed on us (STARTTLS and garbage, too many errors...)
        if rude:
            reset(sock)
        else:
            sock.close()
        tid = watch.ended()["id"]
    assert_bounded(cap, tid)


def test_a_huge_line_is_cut_and_counted(cap: Capturing) -> None:
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.sock.sendall(b"EHLO " + b"x" * (4 << 20) + b"\r\n")
        client.send(b"QUIT\r\n", replies=2)
        client.close()
        ended = watch.ended()
    transcript = cap.transcript(ended["id"])
    limit = [e for e in transcript.entries if e.get("event") == "limit"]
    assert limit and limit[0]["data"]["code"] == "capture_bytes"
    assert_bounded(cap, ended["id"])
    still_serving(cap)


def test_a_client_vanishing_in_the_middle_of_a_message(cap: Capturing) -> None:
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO app.example\r\n")
        client.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n", replies=2)
        client.send(b"DATA\r\n")
        client.send(b"Subject: half\r\n\r\nthe first half of", replies=0)
        reset(client.sock)
        ended = watch.ended()
    assert ended["summary"]["outcome"] == "dropped"
    closed = cap.transcript(ended["id"]).entries[-1]
    assert closed["event"] == "closed" and "warning:client:no-quit" in closed["explain"]
    assert_bounded(cap, ended["id"])
    assert cap.server.mailbox.messages() == []
    still_serving(cap)


def test_tls_garbage_on_the_implicit_port_leaves_it_serving(cap: Capturing) -> None:
    for garbage in (b"\x16\x03\x01\x02\x00" + b"\xff" * 600, b"EHLO plain-text.example\r\n"):
        sock = socket.create_connection(("127.0.0.1", cap.tls_port), timeout=10)
        sock.sendall(garbage)
        sock.settimeout(10)
        try:
            sock.recv(100)  # the sandbox answers with a TLS alert, or just closes
        except OSError:
            pass
        sock.close()
    context = ssl.create_default_context(cafile=str(cap.server.cert.cert))
    context.check_hostname = False
    with cap.watch() as watch:
        with smtplib.SMTP_SSL("127.0.0.1", cap.tls_port, context=context, timeout=10) as smtp:
            smtp.ehlo("tls.example")
        ended = watch.ended()
    # The failed handshakes never reached SMTP: the next session is this one.
    frames = cap.frames(ended["id"])
    assert frames[1]["type"] == "tls" and frames[1]["tls_mode"] == "implicit"
    assert ended["summary"]["ehlo"] == "tls.example"


def test_many_clients_at_once(cap: Capturing) -> None:
    clients = 12
    failures: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", cap.port, timeout=20) as smtp:
                smtp.ehlo(f"c{i}.example")
                smtp.sendmail("a@example.org", ["b@example.org"], b"Subject: many\r\n\r\nhi\r\n")
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    with cap.watch() as watch:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        ended = [watch.ended(timeout=30) for _ in range(clients)]
        for thread in threads:
            thread.join(30)
    assert failures == []
    names = {e["summary"]["ehlo"] for e in ended}
    assert names == {f"c{i}.example" for i in range(clients)}
    assert {e["summary"]["outcome"] for e in ended} == {"delivered"}
    for message in ended:
        assert cap.transcript(message["id"]).entries[-1]["event"] == "closed"


def test_a_full_queue_drops_records_but_every_session_still_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cap = Capturing(tmp_path / "data", queue_size=3)
    try:
        for _ in range(3):
            with cap.watch() as watch:
                client = RawClient(cap.port)
                client.send(b"NOOP\r\n" * 300, replies=300)
                client.close()
                ended = watch.ended()
            assert cap.transcript(ended["id"]).status == "closed"
        assert cap.writer.dropped > 0
        assert [s["status"] for s in cap.store.list_captured()] == ["closed"] * 3
    finally:
        cap.close()
