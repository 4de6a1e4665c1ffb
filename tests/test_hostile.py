"""Hostile servers, driven through SmtpSession directly and through the WebSocket.

For every fault the user must get words (a closed frame naming what happened, or a reply with
``malformed`` set), the session must be cleaned up (reader thread ended, socket closed: threads
and /proc/self/fd back to where they were) and nothing may raise out of a thread.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from smtp_session.errors import PlaygroundError
from smtp_session.wire.events import Closed, ReplyReceived
from smtp_session.wire.session import Limits, SmtpSession
from tests.conftest import WsDriver
from tests.hostile_server import (
    Action,
    EventLog,
    HostileServer,
    close,
    endless,
    make_tls,
    read_lines,
    reset,
    send,
    stall,
    starttls,
    tls_garbage,
    trickle,
)
from web.services import Target

BANNER = send(b"220 hostile.test ESMTP\r\n")


@dataclass(frozen=True)
class Case:
    """A fault, what the client sends into it, and the words the user must get back."""

    banner: tuple[Action, ...] = (BANNER,)
    commands: dict[str, list[Action]] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    closed: str | None = None  # the close code; None: the session stays open
    reason: str = ""  # words the close reason must contain
    malformed: str | None = None  # words some reply's ``malformed`` must contain
    replies: int = 1  # replies to wait for when the session stays open
    check: Callable[[list[dict[str, Any]]], bool] = lambda replies: True
    reply_timeout: float = 3.0
    ws: bool = True  # also drive it through the WebSocket


CASES: dict[str, Case] = {
    "no-banner": Case(
        banner=(stall(),), closed="reply_timeout", reason="took longer than", reply_timeout=0.5
    ),
    "banner-trickled-past-the-reply-timeout": Case(
        banner=(trickle(b"220 " + b"s" * 100 + b"\r\n", 0.02),),
        closed="reply_timeout",
        reason="took longer than 0.5 s",
        malformed="before the reply's last line",
        reply_timeout=0.5,
    ),
    "banner-trickled-in-time": Case(
        banner=(trickle(b"220 trickle.example ESMTP\r\n", 0.005),),
        check=lambda r: r[0]["code"] == 220 and r[0]["lines"] == ["220 trickle.example ESMTP"],
    ),
    "lf-only": Case(
        banner=(send(b"220-lf.example\n220 ready\n"),),
        check=lambda r: r[0]["code"] == 220 and r[0]["line_endings"] == "LF",
    ),
    "cr-only": Case(
        banner=(send(b"220-cr.example\r220 ready\r"), stall()),
        # Complete (not flushed at the timeout): the last CR ends the reply after a short grace.
        check=lambda r: (
            r[0]["code"] == 220 and r[0]["line_endings"] == "CR" and r[0]["malformed"] is None
        ),
    ),
    "no-final-line-then-close": Case(
        banner=(send(b"220-first\r\n220-second\r\n"), close()),
        closed="server_closed",
        reason="closed the connection",
        malformed="before the reply's last line",
    ),
    "endless-multi-line-reply": Case(
        commands={"EHLO": [endless()]},
        lines=("EHLO client.example",),
        closed="reply_too_long",
        reason="more than 512 lines",
        malformed="multi-line reply longer",
    ),
    "non-numeric-code": Case(
        banner=(send(b"Welcome, friend\r\n"),),
        malformed="three-digit code",
        check=lambda r: r[0]["code"] is None,
    ),
    "ansi-and-script-in-banner": Case(
        banner=(send(b"220 \x1b[31mred\x1b[0m <script>alert(1)</script>\r\n"),),
        check=lambda r: r[0]["lines"] == ["220 \x1b[31mred\x1b[0m <script>alert(1)</script>"],
    ),
    "script-in-reply": Case(
        commands={"NOOP": [send(b"250 <img src=x onerror=alert(1)>\x1b]0;title\x07\r\n")]},
        lines=("NOOP",),
        replies=2,
        check=lambda r: r[1]["text"] == "<img src=x onerror=alert(1)>\x1b]0;title\x07",
    ),
    "disconnect-mid-data": Case(
        commands={"DATA": [send(b"354 go ahead\r\n"), read_lines(1), close()]},
        lines=("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA", "Subject: hi"),
        closed="server_closed",
        reason="closed the connection",
    ),
    "connection-reset": Case(
        commands={"EHLO": [reset()]},
        lines=("EHLO client.example",),
        closed="connection_lost",
        reason="connection reset by the server",
    ),
    "421-then-close": Case(
        commands={"EHLO": [send(b"421 4.3.2 Service shutting down\r\n"), close()]},
        lines=("EHLO client.example",),
        closed="server_closed",
        reason="closed the connection",
        check=lambda r: r[-1]["code"] == 421 and r[-1]["enhanced"] == "4.3.2",
    ),
    "garbage-instead-of-tls": Case(
        commands={"STARTTLS": [tls_garbage()]},
        lines=("STARTTLS",),
        closed="tls_handshake",
        reason="TLS handshake failed",
    ),
    "tls-handshake-stalls": Case(
        commands={"STARTTLS": [send(b"220 2.0.0 go ahead\r\n"), stall()]},
        lines=("STARTTLS",),
        closed="tls_timeout",
        reason="TLS handshake timed out",
    ),
    "scripted-reply": Case(
        commands={"MAIL": [send(b"552 5.3.4 Message size exceeds fixed limit\r\n")]},
        lines=("MAIL FROM:<a@example.com> SIZE=999999999",),
        replies=2,
        check=lambda r: r[1]["code"] == 552 and r[1]["enhanced"] == "5.3.4",
    ),
}


@dataclass
class Outcome:
    """What the user saw: replies (as the dicts frames carry), the close, error frames."""

    replies: list[dict[str, Any]]
    closed: dict[str, Any] | None
    errors: list[str] = field(default_factory=list)


def open_fds() -> list[str]:
    """What each open descriptor points at, leaving out the transcript store's SQLite files:
    its connection pool grows with concurrency (up to its pool size) and is no leak of ours."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, already closed
            continue
        if "playground.db" not in target:
            targets.append(target.split("[")[0])
    return targets


def fd_count() -> int:
    # werkzeug's run_wsgi leaves one DefaultSelector (an epoll descriptor) per request for the
    # cyclic garbage collector to close; count what is held, not what awaits collection.
    # Collecting may finalise an earlier test's garbage: its warnings are not this test's (a
    # leak here shows in the count itself).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    return len(open_fds())


def settle(threads: int, fds: int, timeout: float = 5.0) -> tuple[int, int]:
    """Wait for threads and descriptors to come back down; returns where they ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if threading.active_count() <= threads and fd_count() <= fds:
            break
        time.sleep(0.05)
    return threading.active_count(), fd_count()


@pytest.fixture
def thread_errors() -> Iterator[list[threading.ExceptHookArgs]]:
    """Every exception that escapes any thread during the test (there must be none)."""
    caught: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = caught.append
    yield caught
    threading.excepthook = previous
    assert caught == []


# -- the two drivers --------------------------------------------------------------------------


def drive_direct(case: Case, port: int) -> Outcome:
    log = EventLog()
    smtp = SmtpSession(log, Limits(reply_timeout=case.reply_timeout, tls_timeout=1.0))
    smtp.connect("127.0.0.1", port)
    errors: list[str] = []
    if case.lines:
        log.wait_for(ReplyReceived)
        try:
            smtp.send_lines(case.lines)
        except PlaygroundError as exc:  # the server may be gone before the last line
            errors.append(exc.code)
    if case.closed is None:
        log.wait_for(ReplyReceived, case.replies)
        smtp.close("closed by the test")
    closed = log.wait_for(Closed, timeout=8).fields()
    assert smtp._reader is not None
    smtp._reader.join(2)
    assert not smtp._reader.is_alive()
    assert smtp._sock is not None and smtp._sock.fileno() == -1
    return Outcome(log.replies(), closed if case.closed else None, errors)


def drive_ws(case: Case, port: int, app: Any, ws: WsDriver) -> Outcome:
    app.extensions["playground"].targets["hostile"] = Target(
        "hostile", "127.0.0.1", port, named=True
    )
    app.config["REPLY_TIMEOUT"] = case.reply_timeout
    app.config["TLS_TIMEOUT"] = 1.0
    start = len(ws.frames)  # frames of earlier sessions on this socket are not this case's
    ws.send({"type": "connect", "target": "hostile"})
    transcript = ws.wait_for("session")["transcript"]
    if case.lines:
        ws.wait_for("reply")
        ws.send({"type": "lines", "lines": list(case.lines)})
    if case.closed is None:
        while sum(f["type"] == "reply" for f in ws.frames[start:]) < case.replies:
            ws.next()
        ws.send({"type": "close"})
    closed = ws.wait_for("closed", timeout=8)
    replies = [f for f in ws.frames[start:] if f["type"] == "reply"]
    errors = [f["code"] for f in ws.frames[start:] if f["type"] == "error"]
    check_transcript(app, transcript, replies, closed)
    return Outcome(replies, closed if case.closed else None, errors)


def check_transcript(app: Any, transcript: str, replies: list[dict[str, Any]],
                     closed: dict[str, Any]) -> None:  # fmt: skip
    """The transcript keeps what the user saw: every reply as it came, and why it ended."""
    entries = app.extensions["playground"].store.get(transcript).entries
    stored = [(e["lines"], e.get("malformed")) for e in entries if e["kind"] == "reply"]
    assert stored == [(r["lines"], r["malformed"]) for r in replies]
    ends = [e["data"] for e in entries if e["kind"] == "event" and e["event"] == "closed"]
    assert ends and ends[-1]["code"] == closed["code"] and ends[-1]["reason"] == closed["reason"]


@pytest.fixture
def warm_ws(app: Any, ws: WsDriver) -> WsDriver:
    """The WebSocket after one full session, so lazily opened files count in the baseline."""
    ws.connect()
    ws.send({"type": "close"})
    ws.wait_for("closed")
    # The session's entries reach the database through the writer's thread, which opens its
    # journal segment and connection as they come: wait for that to be done, not for a time.
    assert app.extensions["playground"].writer.flush(10)
    return ws


def check_outcome(case: Case, outcome: Outcome) -> None:
    if case.closed is not None:
        assert outcome.closed is not None
        assert outcome.closed["code"] == case.closed and case.reason in outcome.closed["reason"]
    if case.malformed is not None:
        flagged = [r["malformed"] for r in outcome.replies if r["malformed"]]
        assert any(case.malformed in words for words in flagged), outcome.replies
    assert case.check(outcome.replies), outcome.replies


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_hostile_server_directly(name: str, thread_errors: list[Any]) -> None:
    case = CASES[name]
    threads, fds = threading.active_count(), fd_count()
    with HostileServer(banner=case.banner, commands=case.commands) as server:
        outcome = drive_direct(case, server.port)
    check_outcome(case, outcome)
    assert server.handler_errors == []
    end_threads, end_fds = settle(threads, fds)
    assert end_threads <= threads and end_fds <= fds


WS_CASES = [name for name, case in CASES.items() if case.ws]


@pytest.mark.parametrize("name", WS_CASES, ids=WS_CASES)
def test_hostile_server_through_the_websocket(
    name: str, app: Any, warm_ws: WsDriver, thread_errors: list[Any]
) -> None:
    case = CASES[name]
    threads, fds = threading.active_count(), fd_count()
    with HostileServer(banner=case.banner, commands=case.commands) as server:
        outcome = drive_ws(case, server.port, app, warm_ws)
    check_outcome(case, outcome)
    assert server.handler_errors == []
    end_threads, end_fds = settle(threads, fds)
    assert end_threads <= threads and end_fds <= fds


def test_injection_after_starttls_is_discarded_through_the_websocket(
    app: Any, warm_ws: WsDriver, thread_errors: list[Any]
) -> None:
    tls = make_tls()
    inject = starttls(tls.context, reply=b"220 go ahead\r\n250 injected\r\n")
    with HostileServer(commands={"STARTTLS": [inject]}) as server:
        app.extensions["playground"].targets["hostile"] = Target(
            "hostile", "127.0.0.1", server.port, named=True
        )
        start = len(warm_ws.frames)
        warm_ws.connect("hostile", accept_unverified=True)
        assert warm_ws.command("STARTTLS")["code"] == 220
        discarded = warm_ws.wait_for("discarded")
        tls_frame = warm_ws.wait_for("tls")
        assert warm_ws.ehlo()["lines"][0] == "250-hostile.test"
    assert discarded["text"] == "250 injected\r\n" and "RFC 3207" in discarded["message"]
    assert tls_frame["accept_unverified"] is True
    assert tls_frame["verification"].startswith("NOT verified")
    replies = [f for f in warm_ws.frames[start:] if f["type"] == "reply"]
    assert all("injected" not in line for f in replies for line in f["lines"])


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.mark.slow
def test_200_dropped_browser_sessions_leave_nothing_behind(
    app: Any, live: Any, thread_errors: list[Any]
) -> None:
    """Browsers that vanish (closing politely or just dropping TCP) free their SMTP side."""
    # The admission limits are not under test here: 50 tabs at once from one address.
    app.config.update(MAX_SESSIONS=1000, SESSIONS_PER_MINUTE=100_000)
    with HostileServer(banner=[BANNER, stall()]) as server:
        app.extensions["playground"].targets["hostile"] = Target(
            "hostile", "127.0.0.1", server.port, named=True
        )
        warm = WsDriver(live.ws_url)
        warm.connect("hostile")
        warm.close()
        assert wait_for(lambda: len(server.eof_times) == 1, 2.0)
        assert app.extensions["playground"].writer.flush(10)  # lazily opened files count now
        threads, fds = threading.active_count(), fd_count()
        before = open_fds()
        late: list[float] = []
        for batch in range(4):
            browsers = [WsDriver(live.ws_url) for _ in range(50)]
            for browser in browsers:
                assert browser.connect("hostile")["code"] == 220
            for i, browser in enumerate(browsers):
                seen = len(server.eof_times)
                dropped = time.monotonic()
                if i % 2:
                    browser.ws.shutdown()  # the tab crashed: no close frame, just gone
                else:
                    browser.close()
                assert wait_for(lambda n=seen: len(server.eof_times) > n, 3.0), (batch, i)
                late.append(server.eof_times[seen] - dropped)
        end_threads, end_fds = settle(threads, fds)
    assert len(late) == 200 and max(late) < 1.0, sorted(late)[-5:]
    assert end_threads <= threads
    assert end_fds <= fds, Counter(open_fds()) - Counter(before)
