"""Layered evidence (issue #14): every example of the audit, and every (command, code) pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smtp_session.knowledge import REPLY_CODES, reply_knowledge
from smtp_session.knowledge.explain import explain_reply
from smtp_session.knowledge.server_texts import SERVER_TEXTS
from smtp_session.wire.reply import parse_reply

PAIRS = json.loads((Path(__file__).parent / "data" / "reply_pairs.json").read_text())


def explain(text: str, after: str | None = None) -> dict:
    return explain_reply(parse_reply(text), after)


def layers(got: dict) -> dict[str, dict]:
    return {e["layer"]: e for e in got["evidence"]}


# (reply, what it answered, the layer the headline must follow, words the meaning must hold)
EXAMPLES = [
    (
        "432 4.3.2 STOREDRV.Deliver; recipient thread limit exceeded",
        "end-of-data",
        "server:ms-storedrv-thread-limit",
        "busy",
    ),
    (
        "454 Throttling failure: Maximum sending rate exceeded.",
        "MAIL",
        "server:ses-throttling",
        "rate",
    ),
    (
        "452-4.2.2 The email account that you tried to reach is over quota.\r\n"
        "452 4.2.2 Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
        "RCPT",
        "server:gmail-over-quota",
        "full",
    ),
    (
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "RCPT",
        "server:ms-recipient-not-found",
        "no such recipient",
    ),
    (
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "RCPT",
        "server:dnsbl-spamhaus",
        "blocklist",
    ),
    (
        "534-5.7.9 Application-specific password required. Learn more at\r\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
        "auth-response",
        "server:gmail-app-password",
        "app password",
    ),
    (
        "503 5.5.1 Error: authentication not enabled",
        "AUTH",
        "server:postfix-auth-not-enabled",
        "does not offer AUTH",
    ),
    (
        "535 5.7.8 Error: authentication failed: no mechanism available",
        "AUTH",
        "server:postfix-no-mechanism",
        "mechanism",
    ),
    ("521 5.5.4 Syntax: BDAT count [LAST]", "BDAT", "server:postfix-bdat-syntax", "BDAT"),
    (
        "421 4.4.2 mail.example.org Error: timeout exceeded",
        "MAIL",
        "server:postfix-timeout",
        "idle",
    ),
    ("459 4.7.1 Node not allowed: example.net", "ETRN", "reply:459:ETRN", "may not"),
    ("250 2.1.0 Ok", "MAIL", "reply:250:MAIL", "Sender accepted"),
    ("235 2.7.0 Authentication successful", "AUTH", "reply:235:AUTH", "logged in"),
    ("550 4.4.7 QUEUE.Expired; message expired", "end-of-data", "server:ms-queue-expired", "queue"),
    ("550 No thanks", "EHLO", "reply:550:EHLO", "refuses to talk"),
    ("550 No thanks", "HELO", "reply:550:HELO", "refuses to talk"),
    ("502 5.5.1 HELP not implemented", "HELP", "reply:502:HELP", "HELP"),
    ("552 Too many recipients", "RCPT", "server:postfix-too-many-recipients", "recipients"),
    # aiosmtpd (the sandbox) without SMTPUTF8, to a line with an accented address.
    ("500 5.5.2 Error: strict ASCII mode", "MAIL", "server:aiosmtpd-strict-ascii", "ASCII only"),
]


@pytest.mark.parametrize(
    ("text", "after", "layer", "words"), EXAMPLES, ids=[e[2] for e in EXAMPLES]
)
def test_issue_examples(text: str, after: str, layer: str, words: str) -> None:
    got = explain(text, after)
    assert got["layer"] == layer
    assert words.lower() in got["meaning"].lower()
    assert [e["key"] for e in got["evidence"] if e["used"]] == [layer]


def test_success_enhanced_codes_say_success() -> None:
    for text, after in (("250 2.1.0 Ok", "MAIL"), ("235 2.7.0 Authentication successful", "AUTH")):
        got = explain(text, after)
        enhanced = layers(got)["enhanced"]
        assert enhanced["says"].startswith("Success") and not enhanced["used"]
        # the panel's enhanced block reads this explanation too
        assert got["enhanced"]["explanation"].startswith("Success")
        assert "caused" not in got["enhanced"]["explanation"]


def test_helo_and_help_502_do_not_advise_helo() -> None:
    for after in ("HELO", "HELP"):
        got = explain("502 5.5.1 Command not implemented", after)
        assert "instead of EHLO" not in got["next"] and "HELO instead" not in got["next"]


def test_452_with_4_2_2_follows_the_enhanced_code_and_shows_the_contradiction() -> None:
    got = explain("452 4.2.2 Mailbox over quota", "RCPT")
    assert got["layer"] in ("enhanced:4.2.2", "server:generic-mailbox-full")
    assert "quota" in got["meaning"].lower()
    [said] = got["contradictions"]
    assert "Too many recipients" in said and "4.2.2" in said


def test_552_5_2_2_at_rcpt_is_a_full_mailbox_not_too_many_recipients() -> None:
    got = explain("552 5.2.2 User is over the limit", "RCPT")
    assert got["layer"] == "enhanced:5.2.2" and "quota" in got["meaning"]
    assert got["contradictions"] and "452" in layers(got)["context"]["says"]


def test_code_change_takes_the_last_code_and_is_flagged() -> None:
    got = explain("220-laposte.net ESMTP\r\n421 4.2.1 Service refuse. Veuillez essayer plus tard.")
    assert got["code"] == 421 and got["class"] == "transient"
    assert got["malformed"] and "reply:malformed" in got["keys"]
    got = explain("220-laposte.net ESMTP\r\n421 4.2.1 Service refuse.", "greeting")
    assert got["layer"] == "reply:421:greeting"  # no mailbox was named yet: 4.2.1 is no reason


def test_class_mismatch_is_read_and_the_reply_code_decides() -> None:
    got = explain("550 4.4.7 QUEUE.Expired; message expired", "end-of-data")
    assert got["class"] == "permanent" and got["enhanced"]["code"] == "4.4.7"
    assert got["enhanced"]["detail"] == "Delivery time expired"
    assert any("reply code decides" in c for c in got["contradictions"])


def test_enhanced_class_mismatch_never_borrows_transient_advice() -> None:
    got = explain("550 4.2.2 mailbox full", "RCPT")
    assert "reply code decides" in " ".join(got["contradictions"])
    assert got["class"] == "permanent"


def test_vendor_reuse_of_a_registered_code_is_shown() -> None:
    got = explain("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found", "RCPT")
    assert any("null MX" in c for c in got["contradictions"])


def test_class_fallback_is_said_plainly() -> None:
    got = explain("456 something odd", "NOOP")
    assert got["layer"] == "class:4" and not got["specific"]
    assert [e["layer"] for e in got["evidence"]] == ["class"]


def test_evidence_layers_come_most_specific_first() -> None:
    got = explain("550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", "RCPT")
    assert [e["layer"] for e in got["evidence"]] == ["enhanced", "context", "server", "class"]
    assert all(e["says"] for e in got["evidence"])


@pytest.mark.parametrize(
    "pair", PAIRS, ids=[f"{p['after']}-{p['code']}-{p['source']}" for p in PAIRS]
)
def test_every_rfc_pair_has_its_own_explanation(pair: dict) -> None:
    got = reply_knowledge(pair["code"], pair["after"])
    assert got["context"] == pair["after"], "explained only generically"
    entry = REPLY_CODES[pair["code"]]
    assert entry.contexts[pair["after"]].meaning != entry.meaning
    explained = explain(f"{pair['code']} text", pair["after"])
    assert explained["specific"] or explained["layer"].startswith("server:")


def test_every_server_text_has_a_public_source_and_own_words() -> None:
    keys = [t.key for t in SERVER_TEXTS]
    assert len(keys) == len(set(keys))
    for text in SERVER_TEXTS:
        assert text.source.startswith(("https://", "RFC ")), text.key
        assert text.meaning.endswith(".") and text.next and text.servers
        assert text.strength in ("vendor", "convention", "weak")


REQUIRED_KINDS = (
    "Gmail Microsoft Yahoo SES SendGrid Mailgun Postfix Exim Sendmail qmail Proofpoint "
    "Mimecast IronPort Barracuda Spamhaus SpamCop BRBL Exchange"
).split()


@pytest.mark.parametrize("kind", REQUIRED_KINDS)
def test_server_texts_cover_the_widely_used_servers(kind: str) -> None:
    assert any(kind.lower() in " ".join(t.servers).lower() for t in SERVER_TEXTS)
