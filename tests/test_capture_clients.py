"""Captured sessions judge the client: each fault of #16, produced by a real client.

The broken clients are raw sockets that send exactly the faulty bytes (bare LF, pipelining
without PIPELINING, never QUIT...); the well-behaved ones are smtplib. Each test reads the
warnings the way a user does: from the captured transcript's replay (guide/replay.py).
"""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.capture_kit import Capturing, RawClient

MAIL = b"MAIL FROM:<app@example.org>\r\n"
RCPT = b"RCPT TO:<bob@example.org>\r\n"
HEADERS = (
    b"From: App <app@example.org>\r\nTo: bob@example.org\r\nSubject: hi\r\n"
    b"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\n"
)


@pytest.fixture(scope="module")
def cap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capturing]:
    capturing = Capturing(tmp_path_factory.mktemp("capture-clients") / "data")
    yield capturing
    capturing.close()


def session(cap: Capturing, *steps: tuple[bytes, int], quit: bool = True) -> list[str]:
    """Run a raw client through ``steps`` (bytes, replies to wait for); the replay's codes."""
    with cap.watch() as watch:
        client = RawClient(cap.port)
        for data, replies in steps:
            client.send(data, replies)
        if quit:
            client.send(b"QUIT\r\n")
        client.close()
        tid = watch.ended()["id"]
    return cap.codes(tid)


def client_codes(codes: list[str]) -> set[str]:
    return {c for c in codes if c.startswith("client:")}


def test_a_good_client_earns_no_client_warning(cap: Capturing) -> None:
    message = HEADERS + b"Hello.\r\n"
    with cap.watch() as watch:
        with smtplib.SMTP("127.0.0.1", cap.port) as smtp:
            smtp.sendmail("app@example.org", ["bob@example.org"], message)
        codes = cap.codes(watch.ended()["id"])
    assert codes == []


def test_bare_lf(cap: Capturing) -> None:
    codes = session(cap, (b"EHLO app.example\n", 1))
    assert "client:bare-lf" in codes


def test_bare_cr(cap: Capturing) -> None:
    codes = session(cap, (b"EHLO app.example\r\n", 1), (b"NOOP\rNOOP\r\n", 1))
    assert "client:bare-cr" in codes


def test_missing_crlf_before_the_final_dot(cap: Capturing) -> None:
    # "body\n.\r\n" is one line to the server: the message goes on, and the client, which
    # thinks it ended it, waits; here it ends it properly afterwards.
    codes = session(
        cap,
        (b"EHLO app.example\r\n", 1),
        (MAIL + RCPT, 2),
        (b"DATA\r\n", 1),
        (HEADERS + b"body\n.\r\n", 0),
        (b".\r\n", 1),
    )
    assert "client:no-crlf-before-dot" in codes
    assert "client:bare-lf" in codes


def test_eight_bit_without_body_8bitmime(cap: Capturing) -> None:
    body = "Grüße\r\n".encode()
    codes = session(
        cap,
        (b"EHLO app.example\r\n", 1),
        (MAIL + RCPT, 2),
        (b"DATA\r\n", 1),
        (HEADERS + body + b".\r\n", 1),
    )
    assert client_codes(codes) == {"client:8bit-without-body"}
    declared = session(
        cap,
        (b"EHLO app.example\r\n", 1),
        (b"MAIL FROM:<app@example.org> BODY=8BITMIME\r\n" + RCPT, 2),
        (b"DATA\r\n", 1),
        (HEADERS + body + b".\r\n", 1),
    )
    assert client_codes(declared) == set()


def test_utf8_address_without_smtputf8(cap: Capturing) -> None:
    codes = session(
        cap, (b"EHLO app.example\r\n", 1), ("MAIL FROM:<jörg@example.org>\r\n".encode(), 1)
    )
    # Once: the client's judge and the console's checker both know this fact.
    assert codes.count("client:utf8-without-smtputf8") == 1


def test_pipelining_without_pipelining(cap: Capturing) -> None:
    # HELO offers no extension (RFC 5321 §4.1.1.1), so not PIPELINING either.
    codes = session(cap, (b"HELO app.example\r\n", 1), (MAIL + RCPT, 2))
    assert client_codes(codes) == {"client:pipelining-not-offered"}


def test_pipelining_within_rfc_2920_groups_is_fine(cap: Capturing) -> None:
    codes = session(
        cap, (b"EHLO app.example\r\n", 1), (MAIL + RCPT + b"DATA\r\n", 3), (HEADERS + b".\r\n", 1)
    )
    assert client_codes(codes) == set()


def test_breaking_rfc_2920_groups(cap: Capturing) -> None:
    codes = session(cap, (b"EHLO app.example\r\n", 1), (b"NOOP\r\n" + MAIL, 2))
    assert client_codes(codes) == {"client:pipelining-group"}


def test_message_before_the_354(cap: Capturing) -> None:
    codes = session(
        cap, (b"EHLO app.example\r\n", 1), (MAIL + RCPT + b"DATA\r\n" + HEADERS + b".\r\n", 4)
    )
    assert client_codes(codes) == {"client:data-before-354"}


def test_auth_before_tls(cap: Capturing) -> None:
    plain = base64.b64encode(b"\0demo\0demo-password")
    codes = session(cap, (b"EHLO app.example\r\n", 1), (b"AUTH PLAIN " + plain + b"\r\n", 1))
    assert "security:auth-before-tls" in codes


def test_no_ehlo_retry_after_a_5xx_to_ehlo(cap: Capturing) -> None:
    codes = session(cap, (b"EHLO\r\n", 1), (MAIL, 1))
    assert "client:no-helo-after-ehlo-error" in codes
    retried = session(cap, (b"EHLO\r\n", 1), (b"HELO app.example\r\n", 1), (MAIL, 1))
    assert "client:no-helo-after-ehlo-error" not in retried


def test_lines_over_998_octets(cap: Capturing) -> None:
    long_line = b"x" * 1500 + b"\r\n"
    codes = session(
        cap,
        (b"EHLO app.example\r\n", 1),
        (MAIL + RCPT, 2),
        (b"DATA\r\n", 1),
        (HEADERS + long_line + b".\r\n", 1),
    )
    assert "data:line-too-long" in codes


def test_missing_date_and_message_id(cap: Capturing) -> None:
    message = b"From: app@example.org\r\n\r\nHi\r\n"
    with cap.watch() as watch:
        with smtplib.SMTP("127.0.0.1", cap.port) as smtp:
            smtp.sendmail("app@example.org", ["bob@example.org"], message)
        frames = cap.frames(watch.ended()["id"])
    missing = [
        w["message"]
        for f in frames
        for w in f.get("warnings") or []
        if w["code"] == "data:missing-header"
    ]
    assert any("Date" in m for m in missing) and any("Message-ID" in m for m in missing)


def test_mail_parameters_the_server_did_not_offer(cap: Capturing) -> None:
    codes = session(
        cap, (b"EHLO app.example\r\n", 1), (b"MAIL FROM:<app@example.org> RET=HDRS\r\n", 1)
    )
    assert "param:not-offered" in codes


def test_commands_after_quit(cap: Capturing) -> None:
    codes = session(cap, (b"EHLO app.example\r\n", 1), (b"QUIT\r\nNOOP\r\n", 1), quit=False)
    assert "client:after-quit" in codes


def test_a_client_that_never_sends_quit(cap: Capturing) -> None:
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO app.example\r\n")
        client.close()
        ended = watch.ended()
    assert ended["summary"]["outcome"] == "dropped"
    frames = cap.frames(ended["id"])
    assert frames[-1]["type"] == "closed"
    assert [w["code"] for w in frames[-1]["warnings"]] == ["client:no-quit"]


def test_warnings_are_stored_as_keys_and_counted(cap: Capturing, tmp_path: Path) -> None:
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO app.example\n")
        client.close()
        ended = watch.ended()
    entries = cap.transcript(ended["id"]).entries
    keys = [k for e in entries for k in e.get("explain") or [] if k.startswith("warning:client:")]
    assert keys == ["warning:client:bare-lf", "warning:client:no-quit"]
    assert ended["summary"]["warnings"] == 2
    assert cap.store.list_captured(limit=1)[0]["warnings"] == 2


def test_every_client_warning_has_a_test_here() -> None:
    from smtp_session.guide.check_base import TEXTS

    source = Path(__file__).read_text()
    missing = [c for c in TEXTS if c.startswith("client:") and f'"{c}"' not in source]
    assert missing == []


def test_bdat_chunks_are_captured_as_message_data(cap: Capturing) -> None:
    chunk = HEADERS + b"Chunked.\r\n"
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO app.example\r\n")
        client.send(MAIL + RCPT, 2)
        replies = client.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        assert replies[0].code == 250
        client.send(b"QUIT\r\n")
        client.close()
        ended = watch.ended()
    assert ended["summary"]["outcome"] == "delivered"
    frames = cap.frames(ended["id"])
    data = [f["text"] for f in frames if f["type"] == "sent" and f["kind"] == "data"]
    assert data[-1] == "Chunked."
    bdat_reply = next(f for f in frames if f["type"] == "reply" and f.get("after") == "BDAT")
    assert bdat_reply["code"] == 250
    assert client_codes(cap.codes(ended["id"])) == set()


def test_bytes_pipelined_after_starttls_are_discarded(cap: Capturing) -> None:
    import ssl

    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO app.example\r\n")
        client.send(b"STARTTLS\r\nNOOP\r\n")  # RFC 3207 §4: STARTTLS ends the group
        context = ssl.create_default_context(cafile=str(cap.server.cert.cert))
        context.check_hostname = False
        tls = context.wrap_socket(client.sock, server_hostname="sandbox.test")
        secure = RawClient.__new__(RawClient)
        secure.sock, secure.parser, secure.got = tls, client.parser, []
        secure.send(b"EHLO app.example\r\n")
        secure.send(b"QUIT\r\n")
        tls.close()
        ended = watch.ended()
    frames = cap.frames(ended["id"])
    types = [f["type"] for f in frames]
    assert "discarded" in types and types.index("discarded") < types.index("tls")
    assert "client:pipelining-group" in cap.codes(ended["id"])
