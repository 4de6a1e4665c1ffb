"""explain_reply / explain_command / explain_request, against named knowledge and real servers."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_session.errors import PlaygroundError
from smtp_session.knowledge import REPLY_CODES, explain_ehlo, normalize_after
from smtp_session.knowledge.explain import ExplainError, explain_command, explain_reply
from smtp_session.knowledge.explain_api import explain_request
from smtp_session.sandbox.server import SandboxServer
from smtp_session.wire.reply import Reply, ReplyParser, parse_reply
from tests.conftest import free_port


def explain(text: str, after: str | None = None) -> dict:
    return explain_reply(parse_reply(text), after)


# --- named knowledge ------------------------------------------------------------------


def test_550_5_1_1_after_rcpt() -> None:
    got = explain(
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown", "RCPT"
    )
    assert got["class"] == "permanent"
    assert got["enhanced"]["subject"] == "Addressing Status"
    assert got["enhanced"]["detail"] == "Bad destination mailbox address"
    assert got["text"] == "<nobody@example.com>: Recipient address rejected: User unknown"
    assert got["keys"] == [
        "reply:550",
        "reply:550:RCPT",
        "enhanced:5.1.1",
        "server:generic-user-unknown",
    ]


def test_451_4_7_1_is_transient_policy() -> None:
    got = explain("451 4.7.1 Greylisted, try again later", "RCPT")
    assert got["class"] == "transient"
    assert got["enhanced"]["detail"] == "Delivery not authorized, message refused"
    assert got["enhanced"]["class"] == "transient"


def test_550_5_7_26_multiple_authentication_checks() -> None:
    got = explain(
        "550-5.7.26 This mail is unauthenticated.\r\n550 5.7.26 See the guidelines.", "end-of-data"
    )
    assert got["enhanced"]["detail"] == "Multiple authentication checks failed"
    assert "RFC 7372 §3.4" in got["rfc"]


def test_unknown_enhanced_detail_falls_back() -> None:
    got = explain("450 4.7.99 Something new", "RCPT")
    assert got["enhanced"]["detail"] is None
    assert got["enhanced"]["subject"] == "Security or Policy Status"
    assert "enhanced:4.7.99" in got["keys"]


def test_250_after_rcpt_and_after_end_of_data_differ() -> None:
    rcpt = explain("250 2.1.5 Ok", "RCPT")
    queued = explain("250 2.0.0 Ok: queued as 4ABCDEF", "end-of-data")
    assert rcpt["meaning"] != queued["meaning"]
    assert "queued" in queued["meaning"]
    assert rcpt["keys"][:2] == ["reply:250", "reply:250:RCPT"]
    assert queued["keys"][:2] == ["reply:250", "reply:250:end-of-data"]


@pytest.mark.parametrize(
    "after, context",
    [("RCPT TO:<a@b>", "RCPT"), ("rcpt", "RCPT"), (".", "end-of-data"), ("Greeting", "greeting")]
    + [(None, None), ("", None)],
    ids=["full-line", "lower-case", "dot", "greeting", "none", "empty"],
)
def test_after_is_normalised(after: str | None, context: str | None) -> None:
    assert normalize_after(after) == context


def test_context_without_a_specific_meaning_uses_the_generic_one() -> None:
    got = explain("250 OK", "greeting")
    assert got["context"] is None and got["meaning"] == REPLY_CODES[250].meaning
    assert got["keys"] == ["reply:250"]


def test_220_greeting_and_220_after_starttls_differ() -> None:
    greeting = explain("220 mx.example.com ESMTP Postfix", "greeting")
    tls = explain("220 2.0.0 Ready to start TLS", "STARTTLS")
    assert greeting["meaning"] != tls["meaning"]
    assert greeting["facts"] == {"domain": "mx.example.com", "esmtp": True}
    assert "EHLO" in tls["next"]


def test_354_tells_how_to_end_the_message() -> None:
    got = explain("354 End data with <CR><LF>.<CR><LF>", "DATA")
    assert got["class"] == "intermediate"
    assert '"."' in got["next"]


@pytest.mark.parametrize(
    "text, challenge",
    [
        ("334 VXNlcm5hbWU6", "Username:"),
        ("334 UGFzc3dvcmQ6", "Password:"),
        (
            "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+",
            "<1896.697170952@postoffice.example.net>",
        ),
        ("334 ", ""),
    ],
    ids=["login-username", "login-password", "cram-md5", "empty"],
)
def test_334_challenge_is_decoded(text: str, challenge: str) -> None:
    got = explain(text, "AUTH")
    assert got["facts"]["challenge"] == challenge
    assert got["class"] == "intermediate"


def test_334_xoauth2_error_is_shown_as_json() -> None:
    error = {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    text = "334 " + base64.b64encode(json.dumps(error).encode()).decode()
    assert explain(text, "AUTH")["facts"]["oauth_error"] == error


def test_334_not_base64_is_reported_not_raised() -> None:
    got = explain("334 this is not base64!", "auth-response")
    assert got["facts"]["challenge"] is None and got["facts"]["challenge_error"]


@pytest.mark.parametrize(
    "text, queue_id",
    [
        ("250 2.0.0 Ok: queued as 4Z1bGm3Hq5z9tQ6", "4Z1bGm3Hq5z9tQ6"),
        ("250 OK id=1tXyZa-000AbC-1x", "1tXyZa-000AbC-1x"),
        ("250 2.0.0 3BHJ8p9X012345 Message accepted for delivery", "3BHJ8p9X012345"),
        (
            "250 2.0.0 OK  1711111111 d9443c01a7336-1e0bb0b2b2asm12345plj.42 - gsmtp",
            "d9443c01a7336-1e0bb0b2b2asm12345plj.42",
        ),
        ("250 ok 1711111111 qp 12345", "12345"),
        ("250 OK", None),
        ("250 Message accepted", None),
    ],
    ids=["postfix", "exim", "sendmail", "gmail", "qmail", "aiosmtpd", "no-id"],
)
def test_queue_id_after_end_of_data(text: str, queue_id: str | None) -> None:
    assert explain(text, "end-of-data")["facts"]["queue_id"] == queue_id


def test_queue_id_only_after_end_of_data() -> None:
    assert "queue_id" not in explain("250 OK id=123", "RCPT")["facts"]


EHLO = "\r\n".join(
    [
        "250-mx.google.com at your service, [192.0.2.1]",
        "250-SIZE 35882577",
        "250-8BITMIME",
        "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
        "250-AUTH=LOGIN PLAIN",
        "250-X-WIDGETS frob",
        "250-ENHANCEDSTATUSCODES",
        "250 SMTPUTF8",
    ]
)


def test_ehlo_capabilities_are_listed_with_facts() -> None:
    got = explain(EHLO, "EHLO")
    caps = {c["keyword"]: c for c in got["facts"]["capabilities"]}
    assert got["facts"]["domain"] == "mx.google.com"
    assert caps["SIZE"]["facts"]["limit"] == "35,882,577 bytes (34.2 MiB)"
    assert caps["X-WIDGETS"]["known"] is False and caps["X-WIDGETS"]["params"] == ["frob"]
    mechs = {m["name"]: m["known"] for m in caps["AUTH"]["facts"]["mechanisms"]}
    assert mechs["XOAUTH2"] and mechs["PLAIN"] and not mechs["PLAIN-CLIENTTOKEN"]
    assert [m["name"] for m in caps["AUTH=LOGIN"]["facts"]["mechanisms"]] == ["LOGIN", "PLAIN"]
    assert caps["AUTH=LOGIN"]["registered"] is False
    assert {"ext:SIZE", "ext:AUTH", "ext:SMTPUTF8"} <= set(got["keys"])
    assert "ext:X-WIDGETS" not in got["keys"]


def test_explain_ehlo_keeps_every_line_in_order() -> None:
    caps = explain_ehlo(parse_reply(EHLO))
    assert [c.keyword for c in caps] == [
        "SIZE", "8BITMIME", "AUTH", "AUTH=LOGIN", "X-WIDGETS", "ENHANCEDSTATUSCODES", "SMTPUTF8",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "line, limit", [("SIZE", "no fixed limit"), ("SIZE 0", "no fixed limit"), ("SIZE lots", None)],
    ids=["no-number", "zero", "not-a-number"],
)  # fmt: skip
def test_size_without_a_limit(line: str, limit: str | None) -> None:
    (cap,) = explain_ehlo(parse_reply(f"250-host\r\n250 {line}"))
    assert cap.facts["limit"] == limit and cap.facts["limit_bytes"] is None


def test_single_line_ehlo_has_no_capabilities() -> None:
    assert explain("250 host.example", "EHLO")["facts"]["capabilities"] == []


ALL_CONTEXTS = [(code, None) for code in sorted(REPLY_CODES)] + [
    (code, ctx) for code, entry in sorted(REPLY_CODES.items()) for ctx in entry.contexts
]


@pytest.mark.parametrize(
    "code, after", ALL_CONTEXTS, ids=[f"{c}-{a or 'generic'}" for c, a in ALL_CONTEXTS]
)
def test_every_code_and_context_explains_with_an_rfc(code: int, after: str | None) -> None:
    got = explain(f"{code} text", after)
    assert got["known"] and got["summary"] and got["meaning"] and got["next"] and got["rfc"]
    assert got["context"] == after
    json.dumps(got)


@pytest.mark.parametrize(
    "code, klass, topic",
    [
        (239, "positive", "unspecified"),
        (299, "positive", "a category SMTP does not define"),
        (456, "transient", "the mail system"),
        (517, "permanent", "information"),
    ],
    ids=str,
)
def test_unknown_code_falls_back_to_its_digits(code: int, klass: str, topic: str) -> None:
    got = explain(f"{code} something")
    assert (got["class"], got["known"]) == (klass, False)
    assert topic in got["meaning"] and got["rfc"] == ["RFC 5321 §4.2.1"]


# --- malformed replies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["hello", "", "25O OK", "250 a\r\n250 b", "999 nope", "250-never ends"],
    ids=[
        "no-code",
        "empty",
        "letter-in-code",
        "two-replies",
        "out-of-range",
        "unfinished",
    ],
)
def test_malformed_reply_is_explained_with_raw_lines(text: str) -> None:
    reply = parse_reply(text)
    got = explain_reply(reply, "RCPT")
    assert got["summary"] == "Malformed reply" and got["malformed"]
    assert got["facts"]["lines"] == list(reply.lines)
    assert got["keys"] == ["reply:malformed"]


def test_bare_lf_line_endings_are_noted() -> None:
    assert explain("250 OK\n", "NOOP")["facts"]["line_endings"] == "LF"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), after=st.one_of(st.none(), st.text(max_size=20)))
def test_arbitrary_text_never_raises(text: str, after: str | None) -> None:
    got = explain_reply(parse_reply(text), after)
    assert set(got) >= {
        "code",
        "class",
        "summary",
        "meaning",
        "next",
        "rfc",
        "text",
        "enhanced",
        "malformed",
        "facts",
        "keys",
    }
    json.dumps(got)


@settings(max_examples=200, deadline=None)
@given(
    code=st.one_of(st.none(), st.integers(-1000, 10_000)),
    lines=st.lists(st.text(max_size=40), max_size=4),
    enhanced=st.one_of(st.none(), st.text(max_size=10)),
)
def test_arbitrary_reply_objects_never_raise(
    code: int | None, lines: list[str], enhanced: str | None
) -> None:
    json.dumps(explain_reply(Reply(code=code, lines=tuple(lines), enhanced=enhanced), "EHLO"))


@settings(max_examples=300, deadline=None)
@given(line=st.text(max_size=200))
def test_arbitrary_command_never_raises(line: str) -> None:
    json.dumps(explain_command(line))


# --- commands -------------------------------------------------------------------------


def test_mail_with_parameters() -> None:
    got = explain_command("MAIL FROM:<a@b> SIZE=100 BODY=8BITMIME")
    assert (got["verb"], got["address"], got["params"]) == (
        "MAIL",
        "a@b",
        {"SIZE": "100", "BODY": "8BITMIME"},
    )
    body = next(p for p in got["parameters"] if p["name"] == "BODY")
    assert body["value_meaning"] and body["rfc"] == ["RFC 6152 §2", "RFC 3030 §3"]
    assert got["keys"] == ["command:MAIL", "param:SIZE", "param:BODY"]
    assert got["rfc"][0] == "RFC 5321 §4.1.1.2"


def test_rcpt_with_dsn_parameters() -> None:
    got = explain_command("RCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d")
    assert [p["name"] for p in got["parameters"]] == ["NOTIFY", "ORCPT"]
    assert all(p["known"] and p["commands"] == ["RCPT"] for p in got["parameters"])


def test_unknown_parameter_is_kept() -> None:
    got = explain_command("MAIL FROM:<a@b> XYZZY=1")
    assert got["parameters"] == [
        {"name": "XYZZY", "value": "1", "known": False, "meaning": got["parameters"][0]["meaning"]}
    ]
    assert got["keys"] == ["command:MAIL"]


def test_null_sender() -> None:
    assert explain_command("MAIL FROM:<>")["facts"] == {"null_sender": True}


def test_auth_explains_mechanism_without_decoding_the_password() -> None:
    secret = base64.b64encode(b"\0user\0hunter2").decode()
    got = explain_command(f"AUTH PLAIN {secret}")
    assert got["facts"]["mechanism"]["name"] == "PLAIN" and got["facts"]["initial_response"]
    assert "hunter2" not in json.dumps(got["facts"])
    assert got["keys"] == ["command:AUTH", "auth:PLAIN"]


def test_bdat_chunk() -> None:
    got = explain_command("BDAT 1000 LAST")
    assert got["facts"] == {"chunk_size": 1000, "last": True}
    assert got["extension"] == "CHUNKING"


def test_verbs_are_case_insensitive() -> None:
    assert explain_command("ehlo client.example")["facts"] == {"domain": "client.example"}


@pytest.mark.parametrize(
    "line", ["FROB x", "", "MAILFROM:<a@b>"], ids=["unknown", "empty", "glued"]
)
def test_unknown_verb(line: str) -> None:
    got = explain_command(line)
    assert got["known"] is False and got["keys"] == [] and got["summary"]


# --- explain_request ------------------------------------------------------------------


def test_request_for_a_reply() -> None:
    got = explain_request({"reply": "550 5.1.1 no such user", "after": "RCPT"})
    assert (
        got["kind"] == "reply" and got["context"] == "RCPT" and got["enhanced"]["code"] == "5.1.1"
    )


def test_request_for_a_command() -> None:
    got = explain_request({"command": "RSET"})
    assert got["kind"] == "command" and got["verb"] == "RSET"


@pytest.mark.parametrize(
    "data",
    [
        [],
        "250 OK",
        {},
        {"after": "RCPT"},
        {"reply": "250 OK", "command": "NOOP"},
        {"reply": 250},
        {"command": ["NOOP"]},
        {"reply": "250 OK", "after": 5},
        {"reply": "250 OK", "after": "X" * 65},
        {"reply": "250 " + "x" * (64 * 1024)},
        {"command": "NOOP " + "é" * (33 * 1024)},
    ],
    ids=["list", "string", "empty", "only-after", "both", "reply-int", "command-list", "after-int"]
    + ["after-long", "reply-too-big", "command-too-big-in-bytes"],
)
def test_bad_requests_raise_explain_error(data: object) -> None:
    with pytest.raises(ExplainError) as info:
        explain_request(data)
    assert isinstance(info.value, PlaygroundError) and info.value.message and info.value.code


# --- against real servers on loopback -------------------------------------------------


class Conversation:
    """A raw SMTP client that returns each reply explained in the context it answered."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = ReplyParser()

    def read(self, after: str) -> dict:
        while True:
            replies = self.parser.feed(self.sock.recv(4096))
            if replies:
                return explain_reply(replies[0], after)

    def send(self, line: str, after: str | None = None) -> dict:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.read(after or line)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def conversation(sandbox: SandboxServer) -> Iterator[Conversation]:
    conv = Conversation(sandbox.config.port)
    yield conv
    conv.close()


def test_sandbox_session_explained_step_by_step(conversation: Conversation) -> None:
    greeting = conversation.read("greeting")
    assert greeting["keys"] == ["reply:220", "reply:220:greeting"] and greeting["facts"]["esmtp"]
    ehlo = conversation.send("EHLO client.example")
    keywords = {c["keyword"] for c in ehlo["facts"]["capabilities"]}
    assert {"SIZE", "STARTTLS", "ENHANCEDSTATUSCODES"} <= keywords
    assert conversation.send("MAIL FROM:<me@client.example>")["context"] == "MAIL"
    refused = conversation.send("RCPT TO:<unknown@sandbox.test>")
    assert refused["enhanced"]["detail"] == "Bad destination mailbox address"
    assert conversation.send("RCPT TO:<someone@sandbox.test>")["keys"][1] == "reply:250:RCPT"
    assert conversation.send("DATA")["code"] == 354
    queued = conversation.send("Subject: hi\r\n\r\nhello\r\n.", after="end-of-data")
    assert queued["facts"]["queue_id"] and queued["facts"]["queue_id_form"] == "Postfix"
    # The sandbox keeps ENHANCEDSTATUSCODES' promise (RFC 2034 §3) on its goodbye too.
    assert conversation.send("QUIT")["keys"] == ["reply:221", "reply:221:QUIT", "enhanced:2.0.0"]


class _AcceptAll:
    """No handle_DATA: aiosmtpd answers the final dot with its bare "250 OK"."""


def test_plain_aiosmtpd_acceptance_has_no_queue_id() -> None:
    controller = Controller(_AcceptAll(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        conv = Conversation(controller.port)
        conv.read("greeting")
        conv.send("HELO client.example")
        conv.send("MAIL FROM:<a@client.example>")
        conv.send("RCPT TO:<b@example.com>")
        conv.send("DATA")
        queued = conv.send("hello\r\n.", after=".")
        conv.close()
    finally:
        controller.stop()
    assert (queued["code"], queued["context"], queued["facts"]["queue_id"]) == (
        250,
        "end-of-data",
        None,
    )
