"""TLS end to end: STARTTLS and implicit TLS against the real sandbox, and the ways TLS fails.

Every server here is real: the aiosmtpd sandbox, or the hostile server on loopback presenting
certificates generated for the test. Nothing about the client is mocked.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer
from smtp_session.wire.events import (
    CloseCode,
    Closed,
    Connected,
    Discarded,
    HeldBack,
    ReplyReceived,
    Sent,
    SessionEvent,
    TlsMode,
    TlsUp,
)
from smtp_session.wire.session import Limits, SmtpSession
from smtp_session.wire.tlsinfo import CHAIN_NOTE, TlsError, client_context
from tests.hostile_server import (
    Action,
    EventLog,
    HostileServer,
    TlsFiles,
    make_tls,
    send,
    stall,
    starttls,
    tls_garbage,
)

FIXED_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def good_tls() -> TlsFiles:
    return make_tls("localhost", ("127.0.0.1",), days=3650, not_before=FIXED_START)


def hostile(*starttls_actions: Action) -> HostileServer:
    """A hostile server whose answer to STARTTLS is the given actions."""
    return HostileServer(commands={"STARTTLS": list(starttls_actions)})


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def session(events: EventLog) -> Iterator[SmtpSession]:
    smtp = SmtpSession(events, Limits(reply_timeout=5.0, tls_timeout=2.0))
    yield smtp
    smtp.close()


def upgrade(session: SmtpSession, events: EventLog) -> None:
    """EHLO, then STARTTLS; waits for the server's answer to STARTTLS."""
    events.wait_for(ReplyReceived)
    session.send_line("EHLO client.example")
    events.wait_for(ReplyReceived, 2)
    session.send_line("STARTTLS")
    events.wait_for(ReplyReceived, 3)


# -- the real sandbox ---------------------------------------------------------------------


def test_starttls_to_sandbox_gives_the_certificate_details(
    sandbox: SandboxServer, session: SmtpSession, events: EventLog
) -> None:
    cert = sandbox.cert
    session.connect(
        "127.0.0.1",
        sandbox.port,
        tls_context=cert.pinned_client_context(),
        pinned_fingerprint=cert.fingerprint,
    )
    upgrade(session, events)
    tls = events.wait_for(TlsUp).fields()
    assert session.tls_active
    assert tls["tls_mode"] == "starttls"
    assert tls["version"] in ("TLSv1.2", "TLSv1.3") and tls["bits"] >= 128 and tls["cipher"]
    assert tls["subject"] == "CN=SMTP Playground sandbox" == tls["issuer"]
    assert set(tls["san"]) == {"localhost", "sandbox.test", "127.0.0.1", "::1"}
    assert dt.datetime.fromisoformat(tls["not_before"]) < dt.datetime.now(dt.UTC)
    assert dt.datetime.fromisoformat(tls["not_after"]) > dt.datetime.now(dt.UTC)
    assert tls["certificate"]["sha256"] == cert.fingerprint
    pinned = f"sandbox certificate, trusted (pinned SHA-256 {cert.fingerprint[:11]}…)"
    assert tls["verification"] == pinned
    assert tls["accept_unverified"] is False and tls["verified"] is True
    assert [c["sha256"] for c in tls["chain"]] == [cert.fingerprint]
    assert tls["chain_complete"] is False and tls["chain_note"] == CHAIN_NOTE
    session.send_line("EHLO client.example")
    ehlo = events.wait_for(ReplyReceived, 4).reply
    assert ehlo.code == 250 and any("AUTH" in line for line in ehlo.lines)


def test_implicit_tls_to_sandbox(
    sandbox: SandboxServer, session: SmtpSession, events: EventLog
) -> None:
    cert = sandbox.cert
    assert sandbox.config.tls_port is not None
    session.connect(
        "127.0.0.1",
        sandbox.config.tls_port,
        tls_mode=TlsMode.IMPLICIT,
        tls_context=cert.pinned_client_context(),
        pinned_fingerprint=cert.fingerprint,
    )
    tls = events.wait_for(TlsUp).fields()
    assert tls["tls_mode"] == "implicit" and tls["certificate"]["sha256"] == cert.fingerprint
    greeting = events.wait_for(ReplyReceived).reply
    assert greeting.code == 220 and "sandbox" in greeting.text
    # The TLS event comes before the greeting: the panel knows the channel before the words.
    assert [type(e) for e in events.events][:3] == [Connected, TlsUp, ReplyReceived]


def test_implicit_tls_with_the_wrong_pin_is_refused(
    sandbox: SandboxServer, session: SmtpSession, events: EventLog
) -> None:
    assert sandbox.config.tls_port is not None
    wrong = ":".join(["AB"] * 32)
    with pytest.raises(TlsError) as caught:
        session.connect(
            "127.0.0.1",
            sandbox.config.tls_port,
            tls_mode=TlsMode.IMPLICIT,
            tls_context=sandbox.cert.pinned_client_context(),
            pinned_fingerprint=wrong,
        )
    assert caught.value.code == "tls_pin" and "AB:AB:AB:AB…" in caught.value.message
    assert events.wait_for(Closed).code == "tls_pin"
    assert not events.of(TlsUp) and not session.tls_active


def test_starttls_with_the_wrong_pin_closes_the_session(
    sandbox: SandboxServer, session: SmtpSession, events: EventLog
) -> None:
    session.connect(
        "127.0.0.1",
        sandbox.port,
        tls_context=client_context(verify=False),
        pinned_fingerprint=":".join(["00"] * 32),
    )
    upgrade(session, events)
    closed = events.wait_for(Closed).fields()
    assert closed["code"] == "tls_pin" and "pinned" in closed["reason"]
    assert not events.of(TlsUp)


# -- hostile servers --------------------------------------------------------------------


def test_injected_reply_after_220_is_discarded_and_reported(
    good_tls: TlsFiles, session: SmtpSession, events: EventLog
) -> None:
    reply = b"220 go ahead\r\n250 injected\r\n"
    with hostile(starttls(good_tls.context, reply=reply)) as server:
        session.connect("127.0.0.1", server.port, tls_context=good_tls.client_context())
        upgrade(session, events)
        discarded = events.wait_for(Discarded).fields()
        tls = events.wait_for(TlsUp).fields()
        session.send_line("EHLO client.example")
        after_tls = events.wait_for(ReplyReceived, 4).reply
    assert discarded["text"] == "250 injected\r\n" and discarded["bytes"] == 14
    assert "RFC 3207" in discarded["message"]
    assert all("injected" not in line for r in events.replies() for line in r["lines"])
    assert after_tls.code == 250 and after_tls.lines[0] == "250-hostile.test"
    assert tls["verification"] == "verified against the CA certificates given for 127.0.0.1"
    assert tls["not_before"] == "2026-01-01T00:00:00+00:00"
    assert tls["subject"] == "CN=localhost" and tls["san"] == ["localhost", "127.0.0.1"]


def test_454_to_starttls_keeps_plaintext_and_never_claims_tls(
    session: SmtpSession, events: EventLog
) -> None:
    refusal = send(b"454 4.7.0 TLS not available due to temporary reason\r\n")
    with hostile(refusal) as server:
        session.connect("127.0.0.1", server.port)
        upgrade(session, events)
        answer = events.replies()[-1]
        session.send_line("EHLO again.example")
        assert events.wait_for(ReplyReceived, 4).reply.code == 250
        assert not session.closed
    assert answer["code"] == 454 and answer["after"] == "STARTTLS"
    assert answer["enhanced"] == "4.7.0" and answer["class"] == "transient"
    assert not session.tls_active and not events.of(TlsUp)
    assert server.received[-1] == b"EHLO again.example\r\n" and not server.received_in_tls


def test_lines_after_starttls_wait_for_its_reply(session: SmtpSession, events: EventLog) -> None:
    with hostile(stall()) as server:
        session.connect("127.0.0.1", server.port)
        events.wait_for(ReplyReceived)
        session.send_lines(["STARTTLS", "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA=="])
        session.send_line("NOOP")
        # RFC 3207 §4: nothing after STARTTLS leaves before its reply (and the handshake).
        session.close()
    assert server.received == [b"STARTTLS\r\n"]
    held = events.wait_for(HeldBack).held
    assert held.reason == "closed" and len(held.lines) == 2


def test_lines_after_a_refused_starttls_are_held_back_not_sent_in_clear(
    session: SmtpSession, events: EventLog
) -> None:
    refusal = send(b"454 4.7.0 TLS not available due to temporary reason\r\n")
    with hostile(refusal) as server:
        session.connect("127.0.0.1", server.port)
        events.wait_for(ReplyReceived)
        session.send_lines(["STARTTLS", "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==", "NOOP"])
        held = events.wait_for(HeldBack).held
        session.send_line("NOOP")  # typed after the refusal: the user knows, it goes
        events.wait_for(ReplyReceived, 3)
    assert held.reason == "starttls-refused" and held.code == 454 and len(held.lines) == 2
    assert server.received == [b"STARTTLS\r\n", b"NOOP\r\n"]


def test_a_line_sent_as_soon_as_220_arrives_goes_over_tls(
    good_tls: TlsFiles, events: EventLog
) -> None:
    sent: list[str] = []

    def eager(event: SessionEvent) -> None:
        events(event)
        if (
            isinstance(event, ReplyReceived)
            and event.after == "STARTTLS"
            and event.reply.code == 220
        ):
            # From another thread, like the web layer reacting to the reply frame.
            send_now = threading.Thread(target=lambda: (smtp.send_line("EHLO x"), sent.append(1)))
            send_now.start()

    smtp = SmtpSession(eager, Limits(tls_timeout=2.0))
    with hostile(starttls(good_tls.context)) as server:
        smtp.connect("127.0.0.1", server.port, tls_context=good_tls.client_context())
        upgrade(smtp, events)
        events.wait_for(ReplyReceived, 4)
        smtp.close()
    assert sent == [1] and server.received_in_tls == [b"EHLO x\r\n"]


def test_garbage_instead_of_a_handshake(session: SmtpSession, events: EventLog) -> None:
    with hostile(tls_garbage()) as server:
        session.connect("127.0.0.1", server.port, tls_context=client_context(verify=False))
        upgrade(session, events)
        closed = events.wait_for(Closed).fields()
    assert closed["code"] == "tls_handshake"
    assert closed["reason"].startswith("The TLS handshake failed: the server did not complete it")
    assert not session.tls_active and not events.of(TlsUp)


@pytest.mark.parametrize(
    ("tls_args", "words"),
    [
        ({"name": "wrong.example", "ips": ()}, "127.0.0.1"),
        (
            {"days": 1, "not_before": dt.datetime.now(dt.UTC) - dt.timedelta(days=10)},
            "expired",
        ),
    ],
    ids=["hostname-mismatch", "expired"],
)
def test_bad_certificate_is_refused(
    tls_args: dict[str, Any], words: str, session: SmtpSession, events: EventLog
) -> None:
    bad = make_tls(**tls_args)
    with hostile(starttls(bad.context)) as server:
        session.connect("127.0.0.1", server.port, tls_context=bad.client_context())
        upgrade(session, events)
        closed = events.wait_for(Closed).fields()
    assert closed["code"] == "tls_verify"
    assert "could not be verified" in closed["reason"] and words in closed["reason"]
    assert not events.of(TlsUp) and not session.tls_active


def test_accepting_an_unverified_certificate_is_said_in_the_tls_event(
    session: SmtpSession, events: EventLog
) -> None:
    wrong = make_tls("wrong.example", ())
    with hostile(starttls(wrong.context)) as server:
        session.connect("127.0.0.1", server.port, tls_context=client_context(verify=False))
        upgrade(session, events)
        tls = events.wait_for(TlsUp).fields()
    assert tls["accept_unverified"] is True and tls["verified"] is False
    assert tls["verification"] == "NOT verified: you chose to accept an unverified certificate"
    assert tls["subject"] == "CN=wrong.example" and tls["san"] == ["wrong.example"]


def test_stalled_handshake_ends_within_tls_timeout(events: EventLog) -> None:
    smtp = SmtpSession(events, Limits(tls_timeout=0.5))
    with hostile(send(b"220 2.0.0 go ahead\r\n"), stall()) as server:
        smtp.connect("127.0.0.1", server.port, tls_context=client_context(verify=False))
        upgrade(smtp, events)
        started = time.monotonic()
        closed = events.wait_for(Closed).fields()
        took = time.monotonic() - started
    assert closed["code"] == "tls_timeout" and "timed out" in closed["reason"]
    assert 0.3 < took < 2.0


def test_close_during_a_stalled_handshake_is_prompt(events: EventLog) -> None:
    smtp = SmtpSession(events, Limits(tls_timeout=30.0))
    client_hello = threading.Event()
    with hostile(send(b"220 2.0.0 go ahead\r\n"), stall(client_hello)) as server:
        smtp.connect("127.0.0.1", server.port, tls_context=client_context(verify=False))
        upgrade(smtp, events)
        assert client_hello.wait(5)  # the reader is now inside the handshake
        started = time.monotonic()
        smtp.close("closed by the test", CloseCode.CLIENT_CLOSED)
        deadline = time.monotonic() + 1.0
        while not server.eof_times and time.monotonic() < deadline:
            time.sleep(0.02)
    assert server.eof_times and server.eof_times[0] - started < 1.0
    assert smtp._reader is not None and not smtp._reader.is_alive()
    assert [e.code for e in events.of(Closed)] == ["client_closed"]


def test_reading_and_writing_at_once_over_tls_loses_nothing(
    sandbox: SandboxServer, session: SmtpSession, events: EventLog
) -> None:
    """OpenSSL forbids SSL_read and SSL_write on one connection from two threads at once;
    300 pipelined NOOPs, written while their replies are being read, all get answered."""
    session.connect(
        "127.0.0.1",
        sandbox.port,
        tls_context=sandbox.cert.pinned_client_context(),
        pinned_fingerprint=sandbox.cert.fingerprint,
    )
    upgrade(session, events)
    events.wait_for(TlsUp)
    session.send_lines(["NOOP"] * 300)
    last = events.wait_for(ReplyReceived, 303, timeout=20).fields()
    assert last["after"] == "NOOP" and last["reply"].code == 250
    assert all(r["code"] == 250 for r in events.replies()[3:]) and not session.closed


@pytest.mark.parametrize("run", range(25))
def test_the_tls_event_always_comes_before_the_first_line_over_tls(
    sandbox: SandboxServer, run: int
) -> None:
    """Issue #12: an EHLO sent the moment the 220 to STARTTLS arrives (from another thread, as
    the browser does) was recorded before the ``tls`` entry in 4-5 runs of 10."""
    log = EventLog()
    order: list[str] = []
    threads: list[threading.Thread] = []

    def eager(event: SessionEvent) -> None:
        log(event)
        order.append(event.text if isinstance(event, Sent) else type(event).__name__)
        if (
            isinstance(event, ReplyReceived)
            and event.after == "STARTTLS"
            and event.reply.code == 220
        ):
            thread = threading.Thread(target=lambda: smtp.send_line("EHLO again.example"))
            threads.append(thread)
            thread.start()

    smtp = SmtpSession(eager, Limits(tls_timeout=5.0))
    smtp.connect(
        "127.0.0.1",
        sandbox.port,
        tls_context=sandbox.cert.pinned_client_context(),
        pinned_fingerprint=sandbox.cert.fingerprint,
    )
    upgrade(smtp, log)
    log.wait_for(ReplyReceived, 4)
    for thread in threads:
        thread.join(5)
    smtp.close()
    assert order.index("TlsUp") < order.index("EHLO again.example")


def test_a_paste_with_starttls_records_tls_before_the_ehlo_over_it(app, ws) -> None:
    for _ in range(10):
        ws.connect()
        ws.send(
            {"type": "lines", "lines": ["EHLO a.example", "STARTTLS", "EHLO b.example", "QUIT"]}
        )
        ws.wait_for("closed")
        transcript = [f for f in ws.frames if f["type"] == "session"][-1]["transcript"]
        entries = app.extensions["playground"].store.get(transcript).entries
        kinds = [e.get("text") or e.get("event") for e in entries if e["kind"] != "reply"]
        assert kinds.index("tls") < kinds.index("EHLO b.example")
        over_tls = [f for f in ws.frames if f["type"] == "reply" and f.get("after") == "EHLO"]
        assert over_tls[-1]["state"]["tls"] is True
