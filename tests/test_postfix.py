"""The playground against a real MTA: Debian's Postfix on loopback (tests/postfix.py), via /ws.

Every test checks what Postfix itself received (the Maildir it delivered to, the log it wrote),
not only what the playground showed.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import pytest

from smtp_session.sandbox.cram import cram_response
from tests.conftest import WsDriver
from tests.postfix import DOMAIN, SASL_LOGIN, SASL_PASSWORD

BOB = f"bob@{DOMAIN}"
CAROL = f"carol@{DOMAIN}"


def token() -> str:
    """A subject unique to one test, to find its message among the others in a Maildir."""
    return f"playground-{secrets.token_hex(6)}"


def queue_id(reply: dict[str, Any]) -> str:
    """The queue id in Postfix's ``250 2.0.0 Ok: queued as 3E634210153``."""
    match = re.search(r"queued as ([0-9A-F]+)", reply["text"])
    assert match, reply
    return match.group(1)


def body(subject: str) -> list[str]:
    return [f"Subject: {subject}", "From: <alice@client.example>", "", "Hello from the playground."]


def test_seed_transaction_is_delivered_by_postfix(pws, postfix):
    greeting = pws.connect("postfix")
    assert greeting["code"] == 220 and "ESMTP Postfix" in greeting["text"]
    ehlo = pws.ehlo()
    assert ehlo["code"] == 250
    assert {"PIPELINING", "CHUNKING", "STARTTLS"} <= set(ehlo["state"]["capabilities"])
    subject = token()
    done = pws.send_message("alice@client.example", [BOB, CAROL], body(subject))
    assert done["code"] == 250 and done["after"] == "end-of-data"
    assert done["state"]["messages_sent"] == 1
    assert pws.command("QUIT")["code"] == 221

    qid = queue_id(done)
    for user in ("bob", "carol"):
        message = postfix.delivered(user, subject)
        # Postfix keeps mail with LF line ends and puts its trace headers on top.
        assert message.endswith(b"\n".join(line.encode() for line in body(subject)[2:]) + b"\n")
        assert f"Delivered-To: {user}@{DOMAIN}".encode() in message
        assert b"with ESMTP id " + qid.encode() in message
    log = postfix.queue_log(qid)
    assert "from=<alice@client.example>" in log
    assert f"to=<{BOB}>" in log and f"to=<{CAROL}>" in log
    assert "status=sent (delivered to maildir)" in log


def test_unknown_recipient_is_refused_by_postfix_and_logged(pws, postfix):
    pws.connect("postfix")
    pws.ehlo()
    assert pws.command("MAIL FROM:<alice@client.example>")["code"] == 250
    refused = pws.command(f"RCPT TO:<nobody@{DOMAIN}>")
    assert refused["code"] == 550 and refused["enhanced"] == "5.1.1"
    assert refused["state"]["rejected_recipients"]
    postfix.wait_for_log(f"reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <nobody@{DOMAIN}>")


def _plain(login: str, password: str) -> str:
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _auth_plain(pws: WsDriver) -> dict[str, Any]:
    return pws.command(f"AUTH PLAIN {_plain(SASL_LOGIN, SASL_PASSWORD)}")


def _auth_login(pws: WsDriver) -> dict[str, Any]:
    assert pws.command("AUTH LOGIN")["code"] == 334
    assert pws.command(_b64(SASL_LOGIN))["code"] == 334
    return pws.command(_b64(SASL_PASSWORD))


def _auth_cram(pws: WsDriver) -> dict[str, Any]:
    challenge = pws.command("AUTH CRAM-MD5")
    assert challenge["code"] == 334
    text = base64.b64decode(challenge["lines"][0][4:]).decode()
    return pws.command(_b64(cram_response(SASL_LOGIN, SASL_PASSWORD, text)))


@pytest.mark.parametrize(
    ("mechanism", "authenticate"),
    [("PLAIN", _auth_plain), ("LOGIN", _auth_login), ("CRAM-MD5", _auth_cram)],
    ids=["plain", "login", "cram-md5"],
)
def test_auth_mechanisms_against_cyrus_sasl(pws, postfix, mechanism, authenticate):
    pws.connect("postfix")
    pws.ehlo()
    ok = authenticate(pws)
    assert ok["code"] == 235 and ok["enhanced"] == "2.7.0"
    assert ok["state"]["authenticated"]
    subject = token()
    done = pws.send_message(SASL_LOGIN, [BOB], body(subject))
    assert done["code"] == 250
    qid = queue_id(done)
    log = postfix.queue_log(qid)
    assert f"sasl_method={mechanism}, sasl_username={SASL_LOGIN}" in log
    message = postfix.delivered("bob", subject)
    assert f"(Authenticated sender: {SASL_LOGIN})".encode() in message
    assert b"with ESMTPA id " + qid.encode() in message
    # What was typed reached Postfix, and the secret reached no frame the page stores.
    secrets_sent = (SASL_PASSWORD, _plain(SASL_LOGIN, SASL_PASSWORD), _b64(SASL_PASSWORD))
    for frame in (f for f in pws.frames if f["type"] == "sent"):
        assert not any(secret in frame["text"] for secret in secrets_sent), frame


def test_wrong_password_is_refused_by_cyrus_sasl(pws, postfix):
    pws.connect("postfix")
    pws.ehlo()
    refused = pws.command(f"AUTH PLAIN {_plain(SASL_LOGIN, 'not-the-password')}")
    assert refused["code"] == 535 and refused["enhanced"] == "5.7.8"
    assert not refused["state"]["authenticated"]
    postfix.wait_for_log("SASL PLAIN authentication failed")


def test_starttls_then_auth_then_mail(pws, postfix):
    pws.connect("postfix", accept_unverified=True)
    pws.ehlo()
    assert pws.command("STARTTLS")["code"] == 220
    tls = pws.wait_for("tls")
    assert tls["tls_mode"] == "starttls" and tls["version"].startswith("TLSv1.")
    assert tls["verified"] is False  # the fixture's self-signed certificate
    again = pws.ehlo()
    assert again["state"]["tls"] and "STARTTLS" not in again["state"]["capabilities"]
    assert _auth_plain(pws)["code"] == 235
    subject = token()
    done = pws.send_message(SASL_LOGIN, [CAROL], body(subject))
    assert done["code"] == 250
    qid = queue_id(done)
    message = postfix.delivered("carol", subject)
    assert f"(using {tls['version']} with cipher {tls['cipher']}".encode() in message
    assert b"with ESMTPSA id " + qid.encode() in message
    log = postfix.log()
    assert re.search(
        r"postfix/smtpd\[\d+\]: Anonymous TLS connection established from localhost", log
    )


def test_implicit_tls_port(pws, postfix):
    greeting = pws.connect("postfix-tls", accept_unverified=True)
    assert greeting["code"] == 220
    tls = next(f for f in pws.frames if f["type"] == "tls")
    assert tls["tls_mode"] == "implicit"
    assert tls["seq"] < greeting["seq"]  # TLS from the first byte: before the greeting
    ehlo = pws.ehlo()
    assert ehlo["state"]["tls"] and ehlo["state"]["tls_mode"] == "implicit"
    assert "STARTTLS" not in ehlo["state"]["capabilities"]
    subject = token()
    done = pws.send_message("alice@client.example", [BOB], body(subject))
    assert done["code"] == 250
    qid = queue_id(done)
    message = postfix.delivered("bob", subject)
    assert b"with ESMTPS id " + qid.encode() in message
    assert f"(using {tls['version']}".encode() in message
    assert re.search(
        r"postfix/smtps/smtpd\[\d+\]: Anonymous TLS connection established", postfix.log()
    )


def test_bare_port_offers_neither_pipelining_nor_chunking(pws, postfix):
    pws.connect("postfix-bare")
    capabilities = set(pws.ehlo()["state"]["capabilities"])
    assert "PIPELINING" not in capabilities and "CHUNKING" not in capabilities
    assert "STARTTLS" in capabilities
