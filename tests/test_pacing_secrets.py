"""Credentials and limits on the pacer's model, through /ws: what is counted and hidden is what
the server reads (issue #12, case 3)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WsDriver
from tests.hostile_server import HostileServer, read_lines, send, trickle
from transcripts.exports import FORMATS, export
from web.services import Target

PASSWORD = "Tr0ub4dor-and-3"
PLAIN = base64.b64encode(f"\0demo\0{PASSWORD}".encode()).decode()
LOGIN_PASSWORD = base64.b64encode(PASSWORD.encode()).decode()


def forbidden() -> list[str]:
    """Every form a credential could leak in: clear, base64, and base64 as a server echoes it."""
    return [PASSWORD, PLAIN, PLAIN.upper(), LOGIN_PASSWORD, LOGIN_PASSWORD.upper()]


def assert_nowhere(app: Any, data_dir: Path, transcript: str) -> None:
    """No credential in the stored transcript, any export, or any file the app wrote (the
    database, its WAL, the journal)."""
    stored = app.extensions["playground"].store.get(transcript)
    blobs: dict[str, bytes] = {"entries": repr(stored.entries).encode()}
    for fmt in FORMATS:
        body = export(stored, fmt)[0]
        blobs[f"export {fmt}"] = body if isinstance(body, bytes) else body.encode()
    for path in data_dir.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            blobs[str(path)] = path.read_bytes()
    for where, blob in blobs.items():
        for secret in forbidden():
            assert secret.encode() not in blob, f"{secret!r} found in {where}"


def named(app: Any, name: str, port: int) -> None:
    app.extensions["playground"].targets[name] = Target(name, "127.0.0.1", port, named=True)


def test_plain_after_a_slow_334_is_sent_as_the_answer_and_never_stored(app, ws, data_dir):
    slow = [trickle(b"334 \r\n", 0.05), read_lines(1), send(b"235 2.7.0 ok\r\n")]
    with HostileServer(commands={"AUTH": slow}) as server:
        named(app, "slow", server.port)
        ws.connect("slow")
        ws.ehlo()
        ws.send({"type": "lines", "lines": ["AUTH PLAIN =", PLAIN, "QUIT"]})
        ws.wait_for("closed")
    received = [line.decode().strip() for line in server.received]
    assert received[1:] == ["AUTH PLAIN =", PLAIN, "QUIT"]  # the answer waited for the 334
    answer = [f for f in ws.frames if f["type"] == "sent"][2]
    assert answer["kind"] == "auth-response" and answer["redacted"]
    assert [f["code"] for f in ws.frames if f["type"] == "reply"][-2:] == [235, 221]
    assert_nowhere(app, data_dir, ws.frames[0]["transcript"])


def test_auth_after_a_refused_data_is_held_back_and_never_stored(app, ws, sandbox, data_dir):
    ws.connect()
    ws.ehlo()
    ws.send({"type": "lines", "lines": ["MAIL FROM:<a@b.example>", "DATA", f"AUTH PLAIN {PLAIN}"]})
    held = ws.wait_for("held")
    ws.command("QUIT")
    ws.wait_for("closed")
    assert held["count"] == 1 and held["lines"] == [
        "AUTH PLAIN [credentials for user 'demo', redacted]"
    ]
    assert not [f for f in ws.frames if f["type"] == "sent" and "AUTH" in f["text"]]
    assert_nowhere(app, data_dir, ws.frames[0]["transcript"])


@pytest.mark.parametrize(
    "typed",
    [[PLAIN], ["*", PLAIN], [LOGIN_PASSWORD]],
    ids=["plain-after-538", "cancel-then-plain", "password-after-538"],
)
def test_credentials_typed_after_a_refused_auth_are_redacted_everywhere(
    app, ws, sandbox, data_dir, caplog, typed
):
    caplog.set_level(logging.INFO, logger="mail.log")
    ws.connect()
    ws.ehlo()
    assert ws.command("AUTH PLAIN")["code"] == 538  # the sandbox wants TLS first
    echoes = [ws.command(line) for line in typed]
    ws.command("QUIT")
    ws.wait_for("closed")
    assert echoes[-1]["code"] == 500
    for echo in echoes:  # the server's 500 quotes the line; the stored reply does not
        assert all(s not in line for s in forbidden() for line in echo["lines"])
    sent = [f for f in ws.frames if f["type"] == "sent"][-len(typed) - 1 : -1]
    assert sent[-1]["text"].startswith("[credentials") and sent[-1]["redacted"]
    assert_nowhere(app, data_dir, ws.frames[0]["transcript"])
    assert all(secret not in caplog.text for secret in forbidden())


def test_plain_credentials_inside_a_message_are_redacted_in_the_transcript(
    app, ws, sandbox, data_dir
):
    ws.connect()
    ws.ehlo()
    body = ["Subject: notes", "", f"my token is {PLAIN} oops", "."]
    assert ws.send_message("a@b.example", ["c@d.example"], body[:-1])["code"] == 250
    ws.command("QUIT")
    ws.wait_for("closed")
    assert_nowhere(app, data_dir, ws.frames[0]["transcript"])


@pytest.fixture
def real(app, sandbox):  # type: ignore[no-untyped-def]
    """The sandbox, configured as a real (named) server: the limits of docs/security.md apply."""
    app.config.update(MAX_RECIPIENTS=20, MAX_MESSAGES=5)
    named(app, "real", sandbox.config.port)
    return app


def test_rcpt_lines_after_a_refused_data_are_neither_sent_nor_counted(real, ws: WsDriver):
    ws.connect("real")
    ws.ehlo()
    rcpts = [f"RCPT TO:<r{i}@y.example>" for i in range(200)]
    ws.send({"type": "lines", "lines": ["MAIL FROM:<a@x.example>", "DATA", *rcpts]})
    held = ws.wait_for("held")
    assert held["count"] == 200 and held["reason"] == "data-refused"
    assert ws.command("NOOP")["code"] == 250
    assert not [f for f in ws.frames if f["type"] == "reply" and f["after"] == "RCPT"]
    assert not [f for f in ws.frames if f["type"] == "error"]


def test_recipients_per_transaction_are_limited_in_a_paste(real, ws: WsDriver):
    ws.connect("real")
    ws.ehlo()
    rcpts = [f"RCPT TO:<r{i}@y.example>" for i in range(50)]
    ws.send({"type": "lines", "lines": ["MAIL FROM:<a@x.example>", *rcpts, "DATA"]})
    error = ws.wait_for("error")
    held = ws.wait_for("held")
    assert error["code"] == "too_many_recipients" and error["limit"] is True
    assert held["reason"] == "limit" and held["count"] == 30  # the 21st RCPT on, and DATA
    accepted = [f for f in ws.frames if f["type"] == "reply" and f["after"] == "RCPT"]
    assert len(accepted) <= 20


def test_messages_per_session_are_limited_in_a_paste(real, ws: WsDriver, sandbox):
    ws.connect("real")
    ws.ehlo()
    one = ["MAIL FROM:<a@x.example>", "RCPT TO:<b@y.example>", "DATA", "Subject: x", "", "x", "."]
    ws.send({"type": "lines", "lines": one * 8})
    error = ws.wait_for("error", timeout=15)
    assert error["code"] == "too_many_messages" and "5" in error["message"]
    ws.wait_for("held")
    while len([f for f in ws.frames if f.get("after") == "end-of-data"]) < 5:
        ws.wait_for("reply")  # the fifth message's 250 may still be on its way
    assert len(sandbox.mailbox.messages()) == 5
    assert not [f for f in ws.frames if f["type"] == "sent" and f["text"] == "DATA"][5:]
