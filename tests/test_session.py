"""SmtpSession against real loopback sockets: connecting, refusing bad lines, and closing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from smtp_session.errors import ConnectError, LineError, SessionClosed
from smtp_session.wire.events import CloseCode, Closed, Connected, ReplyReceived, Sent, SessionEvent
from smtp_session.wire.session import Limits, SmtpSession
from tests.hostile_server import EventLog, HostileServer, close, send, stall


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: new SYNs are dropped, so connecting times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    yield port
    filler.close()
    listener.close()


# -- connecting ---------------------------------------------------------------------------


def test_connection_refused(events: EventLog) -> None:
    port = unused_port()
    with pytest.raises(ConnectError) as caught:
        SmtpSession(events).connect("127.0.0.1", port)
    assert caught.value.code == "refused"
    assert caught.value.message == (
        f"Could not connect to 127.0.0.1 port {port}: "
        "connection refused (nothing listens on that port)."
    )
    assert events.events == []


def test_connect_timeout(events: EventLog, full_backlog: int) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectError) as caught:
        SmtpSession(events, Limits(connect_timeout=0.4)).connect("127.0.0.1", full_backlog)
    assert caught.value.code == "timeout" and "timed out" in caught.value.message
    assert 0.3 < time.monotonic() - started < 2.0


def test_every_address_is_tried_and_named(events: EventLog, server: HostileServer) -> None:
    smtp = SmtpSession(events, Limits(connect_timeout=1.0))
    smtp.connect("mx.example", server.port, addresses=["127.0.0.2", "127.0.0.1"])
    # 127.0.0.2 is loopback too on Linux, but the hostile server listens on 127.0.0.1 only.
    assert events.wait_for(Connected).address == "127.0.0.1"
    smtp.close()


def test_name_not_found(events: EventLog) -> None:
    with pytest.raises(ConnectError) as caught:
        SmtpSession(events).connect("no-such-host.invalid", 25)  # RFC 2606: never resolves
    assert caught.value.code == "name_not_found"
    assert caught.value.message.startswith("Could not find the address of no-such-host.invalid")


def test_reply_timeout_when_the_server_never_speaks(events: EventLog) -> None:
    with HostileServer(banner=[stall()]) as silent:
        smtp = SmtpSession(events, Limits(reply_timeout=0.3))
        smtp.connect("127.0.0.1", silent.port)
        closed = events.wait_for(Closed).fields()
    assert closed == {
        "reason": "the server took longer than 0.3 s to reply",
        "code": "reply_timeout",
    }
    assert not events.of(ReplyReceived)


def test_idle_timeout_when_nothing_is_owed(events: EventLog, server: HostileServer) -> None:
    smtp = SmtpSession(events, Limits(idle_timeout=0.3))
    smtp.connect("127.0.0.1", server.port)
    events.wait_for(ReplyReceived)
    assert events.wait_for(Closed).code == "idle_timeout"


# -- lines that must never reach the wire -------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["RCPT TO:<a@example.com>\r\nDATA", "MAIL FROM:<a@example.com>\n", "NOOP\rRSET", "VRFY a\x00b"],
    ids=["crlf", "lf", "cr", "nul"],
)
def test_cr_lf_nul_are_refused_and_nothing_is_sent(
    line: str, events: EventLog, server: HostileServer
) -> None:
    smtp = SmtpSession(events)
    smtp.connect("127.0.0.1", server.port)
    events.wait_for(ReplyReceived)
    with pytest.raises(LineError) as caught:
        smtp.send_lines(["NOOP", line])
    assert caught.value.code == "bad_line" and "RFC 5321 §2.3.8" in caught.value.message
    smtp.send_line("QUIT")
    events.wait_for(Closed)
    assert server.received == [b"QUIT\r\n"]
    assert [e.text for e in events.of(Sent)] == ["QUIT"]


def test_sending_before_connecting(events: EventLog) -> None:
    with pytest.raises(SessionClosed) as caught:
        SmtpSession(events).send_line("EHLO x")
    assert caught.value.code == "not_connected"


# -- closing --------------------------------------------------------------------------------


def test_close_is_idempotent_and_says_why_once(events: EventLog, server: HostileServer) -> None:
    smtp = SmtpSession(events)
    smtp.connect("127.0.0.1", server.port)
    events.wait_for(ReplyReceived)
    smtp.close("closed by the test", CloseCode.CLIENT_CLOSED)
    smtp.close("closed again", CloseCode.INTERNAL_ERROR)
    assert [e.fields() for e in events.of(Closed)] == [
        {"reason": "closed by the test", "code": "client_closed"}
    ]
    assert smtp.closed and smtp.close_reason == "closed by the test"
    assert smtp._reader is not None and not smtp._reader.is_alive()
    assert smtp._sock is not None and smtp._sock.fileno() == -1
    with pytest.raises(SessionClosed) as caught:
        smtp.send_line("NOOP")
    assert caught.value.code == "closed" and "closed by the test" in caught.value.message


def test_server_close_and_user_close_race_gives_one_reason() -> None:
    with HostileServer(banner=[send(b"421 4.3.2 going down\r\n"), close()]) as leaving:
        for _ in range(20):
            log = EventLog()
            smtp = SmtpSession(log)
            smtp.connect("127.0.0.1", leaving.port)
            closer = threading.Thread(target=smtp.close)
            closer.start()
            smtp.close("closed by the test")
            closer.join()
            log.wait_for(Closed)
            time.sleep(0.01)
            assert len(log.of(Closed)) == 1
            assert smtp._reader is not None and not smtp._reader.is_alive()


def test_a_failing_listener_does_not_kill_the_reader(server: HostileServer) -> None:
    seen: list[SessionEvent] = []

    def fragile(event: SessionEvent) -> None:
        seen.append(event)
        if isinstance(event, ReplyReceived):
            raise RuntimeError("the listener broke")

    smtp = SmtpSession(fragile)
    smtp.connect("127.0.0.1", server.port)
    smtp.send_line("NOOP")
    smtp.send_line("QUIT")
    deadline = time.monotonic() + 5
    while not smtp.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sum(isinstance(e, ReplyReceived) for e in seen) == 3
    assert isinstance(seen[-1], Closed) and seen[-1].code == "server_closed"


def test_close_from_another_thread_leaves_the_descriptor_to_the_reader(sandbox):
    """The reader closes its socket itself; a closer from outside only shuts it down."""
    events: list = []
    session = SmtpSession(events.append)
    session.connect("127.0.0.1", sandbox.config.port)
    reader = session._reader
    assert reader is not None and reader.is_alive()
    session.close("test", CloseCode.CLIENT_CLOSED)
    assert not reader.is_alive()
    assert session._sock is not None and session._sock.fileno() == -1
    assert sum(isinstance(e, Closed) for e in events) == 1


def test_maximum_duration_ends_a_busy_session_and_says_so(sandbox) -> None:
    log = EventLog()
    smtp = SmtpSession(log, Limits(max_duration=0.6, idle_timeout=None))
    smtp.connect("127.0.0.1", sandbox.config.port)
    deadline = time.monotonic() + 5
    while not smtp.closed and time.monotonic() < deadline:
        try:
            smtp.send_line("NOOP")  # busy, never idle
        except SessionClosed:
            break
        time.sleep(0.05)
    closed = log.wait_for(Closed)
    assert closed.code == "max_duration" and "0.6" in closed.reason


def test_a_line_is_announced_before_its_reply_even_when_the_listener_is_slow(sandbox) -> None:
    """The bytes leave before the ``sent`` event is made (the server works meanwhile), yet a
    listener slow to take that event still sees it before the reply: the reader waits."""
    log = EventLog()

    def slow(event: SessionEvent) -> None:
        if isinstance(event, Sent):
            time.sleep(0.02)  # the sandbox answers a NOOP well within this
        log(event)

    smtp = SmtpSession(slow)
    smtp.connect("127.0.0.1", sandbox.config.port)
    log.wait_for(ReplyReceived)  # the greeting
    for n in range(1, 11):
        smtp.send_line("NOOP")
        log.wait_for(ReplyReceived, n + 1)
    smtp.close("test", CloseCode.CLIENT_CLOSED)
    order = [type(e).__name__ for e in log.events if isinstance(e, Sent | ReplyReceived)]
    assert order == ["ReplyReceived"] + ["Sent", "ReplyReceived"] * 10
    assert [e.after for e in log.of(ReplyReceived)][1:] == ["NOOP"] * 10
