"""Transaction: the server-side state follows real replies, across RSET, TLS, AUTH, errors."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_session.guide.transaction import Transaction, TransactionError
from smtp_session.wire.events import TlsMode
from smtp_session.wire.reply import ReplyParser, parse_reply

# Replies as aiosmtpd 1.4.6 words them, with the sandbox's handler codes (2.1.0, 2.1.5...).
GREETING = "220 sandbox.test ESMTP SMTP Playground sandbox"
EHLO_PLAIN = (
    "250-sandbox.test\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP"
)
EHLO_TLS = (
    "250-sandbox.test\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    "250-AUTH CRAM-MD5 LOGIN PLAIN\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP"
)
MAIL_OK = "250 2.1.0 Ok"
RCPT_OK = "250 2.1.5 Ok"
DATA_GO = "354 End data with <CR><LF>.<CR><LF>"
QUEUED = "250 2.0.0 Ok: queued as 7"
BYE = "221 Bye"

# One scenario = a list of moves; ("cmd", line, reply) or ("kind", None, reply) or an event.
HELLO = [("greeting", None, GREETING), ("command", "EHLO client.example", EHLO_PLAIN)]
ENVELOPE = [
    ("command", "MAIL FROM:<alice@client.example>", MAIL_OK),
    ("command", "RCPT TO:<bob@sandbox.test>", RCPT_OK),
]
MESSAGE = [("command", "DATA", DATA_GO), ("end-of-data", ".", QUEUED)]
TLS = [("command", "STARTTLS", "220 Ready to start TLS"), ("tls",)]
AUTHED = [*HELLO, *TLS, ("command", "EHLO client.example", EHLO_TLS)]

SCENARIOS: list[tuple[str, list[tuple[Any, ...]], dict[str, Any], dict[str, str]]] = [
    (
        "happy-path",
        [*HELLO, *ENVELOPE, *MESSAGE, ("command", "QUIT", BYE)],
        {"messages_sent": 1, "closed": True, "expect": "none", "next_commands": []},
        {"end-of-data": "done", "quit": "current", "starttls": "skipped", "auth": "skipped"},
    ),
    (
        "rset-mid-transaction",
        [*HELLO, *ENVELOPE, ("command", "RSET", "250 OK")],
        {"mail_from": None, "accepted_recipients": [], "hello": "EHLO", "step": "ehlo"},
        {"ehlo": "current", "mail": "next", "rcpt": "pending", "starttls": "next"},
    ),
    (
        "second-message",
        [*HELLO, *ENVELOPE, *MESSAGE, *ENVELOPE, *MESSAGE],
        {"messages_sent": 2, "mail_from": None, "step": "end-of-data", "in_data": False},
        {"end-of-data": "current", "mail": "next", "quit": "next", "data": "done"},
    ),
    (
        "rejected-then-accepted",
        [
            *HELLO,
            ("command", "MAIL FROM:<alice@client.example>", MAIL_OK),
            ("command", "RCPT TO:<unknown@sandbox.test>", "550 5.1.1 <unknown@sandbox.test>: User"),
            ("command", "RCPT TO:<bob@sandbox.test>", RCPT_OK),
        ],
        {
            "accepted_recipients": ["bob@sandbox.test"],
            "rejected_recipients": [
                {"address": "unknown@sandbox.test", "code": 550, "enhanced": "5.1.1"}
            ],
            "phase": "rcpt",
        },
        {"rcpt": "current", "data": "next", "mail": "done"},
    ),
    (
        "rejected-only-keeps-mail",
        [
            *HELLO,
            ("command", "MAIL FROM:<>", MAIL_OK),
            (
                "command",
                "RCPT TO:<full@sandbox.test>",
                "452 4.2.2 <full@sandbox.test>: Mailbox full",
            ),
        ],
        {"mail_from": "", "accepted_recipients": [], "phase": "mail", "step": "mail"},
        {"mail": "current", "rcpt": "next", "data": "pending"},
    ),
    (
        "data-no-recipients-554",
        [
            *HELLO,
            ("command", "MAIL FROM:<alice@client.example>", MAIL_OK),
            ("command", "RCPT TO:<unknown@sandbox.test>", "550 5.1.1 no such user"),
            ("command", "DATA", "554 5.5.1 Error: no valid recipients"),
        ],
        {"in_data": False, "expect": "command", "mail_from": "alice@client.example"},
        {"data": "pending", "message": "pending", "rcpt": "next"},
    ),
    (
        "data-no-recipients-503",
        [*HELLO, ("command", "DATA", "503 Error: need RCPT command")],
        {"in_data": False, "expect": "command", "messages_sent": 0, "phase": "ready"},
        {"ehlo": "current", "data": "pending"},
    ),
    (
        "message-refused",
        [*HELLO, *ENVELOPE, ("command", "DATA", DATA_GO), ("end-of-data", ".", "554 5.7.1 spam")],
        {"messages_sent": 0, "mail_from": None, "accepted_recipients": [], "expect": "command"},
        {"end-of-data": "current", "mail": "next"},
    ),
    (
        "in-data",
        [*HELLO, *ENVELOPE, ("command", "DATA", DATA_GO)],
        {"in_data": True, "expect": "data", "next_commands": []},
        {"data": "done", "message": "current", "end-of-data": "next"},
    ),
    (
        "starttls-resets-ehlo",
        [*HELLO, ("command", "MAIL FROM:<a@b.example>", MAIL_OK), *TLS],
        {"hello": None, "capabilities": [], "tls": True, "mail_from": None, "expect": "command"},
        {"starttls": "current", "ehlo": "next", "mail": "pending", "auth": "pending"},
    ),
    (
        "ehlo-after-tls",
        AUTHED,
        {
            "tls": True,
            "next_commands": ["MAIL", "AUTH", "EHLO", "VRFY", "HELP", "NOOP", "RSET", "QUIT"],
        },
        {"starttls": "current", "ehlo": "done", "auth": "next", "mail": "next"},
    ),
    (
        "awaiting-handshake",
        [*HELLO, ("command", "STARTTLS", "220 Ready to start TLS")],
        {"expect": "tls", "next_commands": [], "tls": False},
        {"ehlo": "current"},
    ),
    (
        "shutdown-421",
        [
            *HELLO,
            ("command", "MAIL FROM:<a@b.example>", MAIL_OK),
            ("command", "RCPT TO:<c@d>", "421 4.3.2 Shutting down"),
        ],
        {"closed": True, "expect": "none", "next_commands": [], "accepted_recipients": []},
        {"mail": "current", "rcpt": "skipped", "quit": "skipped"},
    ),
    (
        "auth-login-success",
        [
            *AUTHED,
            ("command", "AUTH LOGIN", "334 VXNlcm5hbWU6"),
            ("auth-response", "ZGVtbw==", "334 UGFzc3dvcmQ6"),
            ("auth-response", "ZGVtby1wYXNzd29yZA==", "235 2.7.0 Authentication successful"),
        ],
        {"authenticated": True, "expect": "command", "step": "auth"},
        {"auth": "current", "mail": "next", "starttls": "done"},
    ),
    (
        "auth-mid-exchange",
        [*AUTHED, ("command", "AUTH LOGIN", "334 VXNlcm5hbWU6")],
        {"authenticated": False, "expect": "auth-response", "next_commands": []},
        {"auth": "current"},
    ),
    (
        "auth-failure",
        [
            *AUTHED,
            (
                "command",
                "AUTH PLAIN AGRlbW8Ad3Jvbmc=",
                "535 5.7.8 Authentication credentials invalid",
            ),
        ],
        {"authenticated": False, "expect": "command"},
        {"auth": "next", "starttls": "current", "ehlo": "done"},
    ),
    (
        "helo-offers-nothing",
        [("greeting", None, GREETING), ("command", "helo client.example", "250 sandbox.test")],
        {
            "hello": "HELO",
            "capabilities": [],
            "next_commands": ["MAIL", "EHLO", "VRFY", "HELP", "NOOP", "RSET", "QUIT"],
        },
        {"ehlo": "current", "starttls": "pending"},
    ),
    (
        "greeting-554",
        [("greeting", None, "554 5.7.1 No SMTP service here")],
        {"greeted": True, "next_commands": ["QUIT"]},
        {"greeting": "current", "quit": "next", "ehlo": "pending"},
    ),
    (
        "waiting-for-greeting",
        [],
        {"expect": "greeting", "connected": True, "step": "connect"},
        {"connect": "current", "greeting": "next"},
    ),
    (
        "bdat-last",
        [
            ("greeting", None, GREETING),
            ("command", "EHLO c.example", "250-s.example\r\n250-CHUNKING\r\n250 PIPELINING"),
            *ENVELOPE,
            ("command", "BDAT 12 LAST", "250 2.0.0 queued"),
        ],
        {"messages_sent": 1, "mail_from": None, "capabilities": ["CHUNKING", "PIPELINING"]},
        {"end-of-data": "current", "data": "skipped", "mail": "next"},
    ),
    (
        "old-style-auth-keyword",
        [
            ("greeting", None, GREETING),
            ("command", "EHLO c", "250-s\r\n250-AUTH=LOGIN PLAIN\r\n250 AUTH LOGIN"),
        ],
        {"capabilities": ["AUTH"], "capability_params": {"AUTH": ["LOGIN", "PLAIN"]}},
        {"auth": "next"},
    ),
]


def play(moves: list[tuple[Any, ...]], *, implicit_tls: bool = False) -> Transaction:
    """Drive a fresh Transaction through moves, the way the live session feeds it."""
    tx = Transaction()
    tx.observe_connect()
    if implicit_tls:
        tx.observe_tls(TlsMode.IMPLICIT)  # RFC 8314 §3: the handshake before the greeting
    for move in moves:
        if move == ("tls",):
            tx.observe_tls(TlsMode.STARTTLS)
        else:
            kind, command, text = move
            tx.observe(command, kind, parse_reply(text))
    return tx


@pytest.mark.parametrize(
    ("moves", "expected", "statuses"),
    [pytest.param(m, e, s, id=name) for name, m, e, s in SCENARIOS],
)
def test_scenario(
    moves: list[tuple[Any, ...]], expected: dict[str, Any], statuses: dict[str, str]
) -> None:
    tx = play(moves)
    state = json.loads(json.dumps(tx.to_dict()))  # must survive JSON unchanged
    assert {key: state[key] for key in expected} == expected
    steps = {s["id"]: s["status"] for s in tx.steps()}
    assert {key: steps[key] for key in statuses} == statuses
    assert sum(status == "current" for status in steps.values()) == 1


def test_before_connect_only_connect_is_next() -> None:
    tx = Transaction()
    assert tx.step is None and tx.expect == "none"
    assert [s["status"] for s in tx.steps()][:2] == ["next", "pending"]


def test_implicit_tls_skips_starttls_and_offers_auth() -> None:
    greeting_and_ehlo = [("greeting", None, GREETING), ("command", "EHLO c.example", EHLO_TLS)]
    tx = play(greeting_and_ehlo, implicit_tls=True)
    steps = {s["id"]: s["status"] for s in tx.steps()}
    assert tx.tls and "STARTTLS" not in tx.next_commands() and "AUTH" in tx.next_commands()
    assert tx.to_dict()["tls_mode"] == "implicit" and tx.step == "ehlo"
    assert steps["starttls"] == "skipped" and steps["auth"] == "next"
    assert tx.auth_mechanisms == {"CRAM-MD5", "LOGIN", "PLAIN"}


def test_reconnect_forgets_everything() -> None:
    tx = play([*HELLO, *ENVELOPE, *MESSAGE])
    tx.observe_connect()
    assert tx.messages_sent == 0 and tx.hello is None and tx.step == "connect"


def test_closed_by_peer_stops_expecting_lines() -> None:
    tx = play([*HELLO, *ENVELOPE, ("command", "DATA", DATA_GO)])
    tx.observe_closed()
    assert tx.closed and not tx.in_data and tx.expect == "none"
    steps = {s["id"]: s["status"] for s in tx.steps()}
    assert (steps["message"], steps["end-of-data"], steps["quit"]) == (
        "current",
        "skipped",
        "skipped",
    )


def test_unknown_reply_kind_is_an_error() -> None:
    tx = play(HELLO)
    with pytest.raises(TransactionError) as err:
        tx.observe("NOOP", "banner", parse_reply("250 OK"))
    assert err.value.code == "transaction" and "banner" in err.value.message


# -- against a real aiosmtpd server on loopback ---------------------------------------------


class _Handler:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def aiosmtpd_port() -> Any:
    controller = Controller(_Handler(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port
    controller.stop()


def test_real_aiosmtpd_session(aiosmtpd_port: int) -> None:
    tx = Transaction()
    parser = ReplyParser()
    with socket.create_connection(("127.0.0.1", aiosmtpd_port), timeout=5) as sock:
        tx.observe_connect()

        def reply() -> Any:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                got = parser.feed(sock.recv(4096))
                if got:
                    return got[0]
            raise AssertionError("no reply")

        tx.observe(None, "greeting", reply())
        lines = [
            ("command", "EHLO client.example"),
            ("command", "RCPT TO:<early@example.org>"),
            ("command", "MAIL FROM:<alice@example.org>"),
            ("command", "RCPT TO:<bob@example.org>"),
            ("command", "DATA"),
            ("end-of-data", "Subject: hi\r\n\r\nhello\r\n."),
            ("command", "QUIT"),
        ]
        for kind, line in lines:
            sock.sendall(line.encode() + b"\r\n")
            tx.observe(line, kind, reply())
            if line.startswith("RCPT TO:<early"):
                assert tx.last_reply is not None and tx.last_reply.code == 503
                assert tx.accepted_recipients == [] and tx.mail_from is None
    assert tx.messages_sent == 1 and tx.closed
    assert tx.messages == [{"from": "alice@example.org", "to": ["bob@example.org"]}]
    assert {"SIZE", "8BITMIME", "SMTPUTF8", "HELP"} <= tx.capabilities


def _greeted_with_ehlo(ehlo: str) -> Transaction:
    tx = Transaction()
    tx.observe_connect()
    tx.observe(None, "greeting", parse_reply("220 sandbox.test ESMTP\r\n"))
    tx.observe("EHLO client.example", "command", parse_reply(ehlo))
    return tx


def test_sessions_in_the_same_place_share_one_state_and_part_when_one_moves() -> None:
    ehlo = "250-sandbox.test\r\n250-SIZE 1000\r\n250 PIPELINING\r\n"
    a, b = _greeted_with_ehlo(ehlo), _greeted_with_ehlo(ehlo)
    assert a.to_dict() is b.to_dict()  # 1,000 idle consoles: one state, not 1,000
    before = json.dumps(b.to_dict())
    a.observe("MAIL FROM:<a@example.org>", "command", parse_reply("250 2.1.0 Ok\r\n"))
    assert a.to_dict()["mail_from"] == "a@example.org"
    assert json.dumps(b.to_dict()) == before and b.to_dict()["mail_from"] is None
    # capability parameters are part of the place: another SIZE is another state
    c = _greeted_with_ehlo("250-sandbox.test\r\n250-SIZE 2000\r\n250 PIPELINING\r\n")
    assert c.to_dict() is not b.to_dict()
    assert c.to_dict()["capability_params"] != b.to_dict()["capability_params"]


def test_a_session_that_sent_a_message_keeps_its_own_state() -> None:
    ehlo = "250-sandbox.test\r\n250 PIPELINING\r\n"
    states = []
    for _ in range(2):
        tx = _greeted_with_ehlo(ehlo)
        tx.observe("MAIL FROM:<a@example.org>", "command", parse_reply("250 Ok\r\n"))
        tx.observe("RCPT TO:<b@example.org>", "command", parse_reply("250 Ok\r\n"))
        tx.observe("DATA", "command", parse_reply("354 go\r\n"))
        tx.observe(".", "end-of-data", parse_reply("250 Ok: queued as X1\r\n"))
        states.append(tx.to_dict())
    assert states[0] == states[1] and states[0] is not states[1]


_STEPS = [
    (None, "greeting", "220 sandbox.test ESMTP\r\n"),
    ("EHLO c.example", "command", "250-sandbox.test\r\n250-SIZE 100\r\n250 AUTH PLAIN\r\n"),
    ("EHLO c.example", "command", "250-sandbox.test\r\n250 STARTTLS\r\n"),
    ("HELO c.example", "command", "250 sandbox.test\r\n"),
    ("STARTTLS", "command", "220 2.0.0 Ready\r\n"),
    ("AUTH PLAIN AGEAYg==", "command", "235 2.7.0 Ok\r\n"),
    ("AUTH LOGIN", "command", "334 VXNlcm5hbWU6\r\n"),
    ("MAIL FROM:<a@example.org>", "command", "250 2.1.0 Ok\r\n"),
    ("MAIL FROM:<a@example.org>", "command", "503 5.5.1 Error\r\n"),
    ("RCPT TO:<b@example.org>", "command", "250 2.1.5 Ok\r\n"),
    ("RCPT TO:<c@example.org>", "command", "550 5.1.1 No\r\n"),
    ("DATA", "command", "354 go\r\n"),
    (".", "end-of-data", "250 2.0.0 Ok: queued as Q1\r\n"),
    ("RSET", "command", "250 Ok\r\n"),
    ("NOOP", "command", "250 Ok\r\n"),
    ("QUIT", "command", "221 Bye\r\n"),
    ("NOOP", "command", "421 4.3.2 Closing\r\n"),
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(_STEPS) - 1), max_size=14), st.booleans())
def test_the_cached_and_shared_state_is_always_the_state_worked_out_afresh(
    picks: list[int], tls_first: bool
) -> None:
    others = [Transaction() for _ in range(2)]  # sessions beside it, sharing states
    tx = Transaction()
    for t in (tx, *others):
        t.observe_connect()
        if tls_first:
            t.observe_tls(TlsMode.IMPLICIT)
    for i in picks:
        command, kind, text = _STEPS[i]
        tx.observe(command, kind, parse_reply(text))
        others[i % 2].observe(command, kind, parse_reply(text))
        for t in (tx, *others):
            assert t.to_dict() == t._state()
    tx.observe_closed()
    assert tx.to_dict() == tx._state()
