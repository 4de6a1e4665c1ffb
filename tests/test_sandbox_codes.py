"""The sandbox speaks RFC 2034 as it promises, answers HELP per RFC 5321, and refuses DMARC
after the final dot. Driven with smtplib, a real foreign client, against the real sandbox."""

from __future__ import annotations

import re
import smtplib

import pytest

from smtp_session.guide.lessons import for_instance, instance_values, load_lessons
from smtp_session.sandbox.server import SandboxServer, with_enhanced_code
from smtp_session.wire.reply import parse_reply


def _client(sandbox: SandboxServer) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10)
    client.ehlo("client.example")
    return client


def _enhanced(code: int, text: bytes) -> str | None:
    return parse_reply(f"{code} {text.decode()}").enhanced


@pytest.mark.parametrize(
    ("command", "code", "enhanced"),
    [
        ("RSET", 250, "2.0.0"),
        ("NOOP", 250, "2.0.0"),
        ("RCPT TO:<bob@sandbox.test>", 503, "5.5.1"),  # no MAIL yet
        ("MAIL FROM:<a@client.example> SIZE=99999999", 552, "5.3.4"),  # RFC 1870 §6.1
        ("DATA", 503, "5.5.1"),
        ("XYZZY", 500, "5.5.2"),
        ("VRFY", 501, "5.5.4"),
    ],
    ids=["rset", "noop", "rcpt-first", "size", "data-first", "unknown", "vrfy-bare"],
)
def test_every_reply_carries_an_enhanced_code(sandbox, command, code, enhanced) -> None:
    client = _client(sandbox)
    try:
        got, text = client.docmd(command)
        assert (got, _enhanced(got, text)) == (code, enhanced)
    finally:
        client.close()


def test_greeting_ehlo_and_354_carry_none(sandbox) -> None:
    client = smtplib.SMTP(timeout=10)
    try:
        code, banner = client.connect("127.0.0.1", sandbox.config.port)
        assert code == 220 and _enhanced(code, banner) is None  # RFC 2034 §3: not the greeting
        code, ehlo = client.ehlo("client.example")
        lines = ehlo.decode().splitlines()
        assert code == 250 and not [x for x in lines if re.match(r"[245]\.\d+\.\d+ ", x)]
        assert client.docmd("MAIL FROM:<a@client.example>")[0] == 250
        assert client.docmd("RCPT TO:<bob@sandbox.test>")[0] == 250
        code, text = client.docmd("DATA")
        assert code == 354 and _enhanced(code, text) is None
        client.send(b"Subject: x\r\n\r\nhi\r\n.\r\n")
        code, text = client.getreply()
        assert code == 250 and _enhanced(code, text) == "2.0.0"
        code, text = client.docmd("QUIT")
        assert (code, _enhanced(code, text)) == (221, "2.0.0")
    finally:
        client.close()


def test_help_answers_214_and_504_for_an_unknown_topic(sandbox) -> None:
    client = _client(sandbox)
    try:
        assert client.docmd("HELP")[0] == 214  # RFC 5321 §4.1.1.8
        assert client.docmd("HELP MAIL")[0] == 214
        assert client.docmd("HELP FROBNICATE")[0] == 504  # RFC 5321 §4.3.2
    finally:
        client.close()


def test_dmarc_refusal_comes_after_the_final_dot(sandbox) -> None:
    client = _client(sandbox)
    try:
        assert client.docmd("MAIL FROM:<alice@client.example>")[0] == 250
        assert client.docmd("RCPT TO:<policy@sandbox.test>")[0] == 250  # accepted here
        assert client.docmd("DATA")[0] == 354
        client.send(b"From: alice@client.example\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        code, text = client.getreply()
        assert (code, _enhanced(code, text)) == (550, "5.7.26")
    finally:
        client.close()
    assert sandbox.mailbox.messages() == []  # refused, so not kept


def test_with_enhanced_code_keeps_a_code_already_there() -> None:
    assert with_enhanced_code("250 2.1.5 Ok") == "250 2.1.5 Ok"
    assert with_enhanced_code("250 OK") == "250 2.0.0 OK"
    assert (
        with_enhanced_code("503 Error: need MAIL command") == "503 5.5.1 Error: need MAIL command"
    )
    assert with_enhanced_code("354 End data") == "354 End data"


def test_lesson_texts_show_this_instances_ports() -> None:
    tls = next(lesson for lesson in load_lessons() if lesson.id == "starttls-and-implicit-tls")
    filled = for_instance(tls, instance_values({"SANDBOX_PORT": 3525, "SANDBOX_TLS_PORT": 3465}))
    text = " ".join([filled.summary, *(s.instructions for s in filled.steps)])
    assert "3525" in text and "3465" in text and "{" not in text and "2525" not in text


def test_api_lessons_fill_the_ports(client) -> None:  # type: ignore[no-untyped-def]
    lessons = client.get("/api/lessons").get_json()
    text = json_text(lessons)
    assert "{sandbox_port}" not in text and "{sandbox_tls_port}" not in text


def json_text(value: object) -> str:
    import json

    return json.dumps(value)
