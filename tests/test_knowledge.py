"""The knowledge tables: complete, consistent, and carrying their sources."""

from __future__ import annotations

import re

import pytest

from smtp_session.knowledge import (
    AUTH_MECHANISMS,
    COMMANDS,
    ENHANCED_CLASSES,
    ENHANCED_DETAILS,
    ENHANCED_SUBJECTS,
    EXTENSIONS,
    PARAMETERS,
    REPLY_CODES,
    SPECIAL_CONTEXTS,
    command,
    explain_enhanced,
    human_size,
    parse_command,
)

# A source is an RFC (with optional section), an Internet-Draft, or a named vendor/registry doc.
SOURCE = re.compile(
    r"^(RFC \d+( (§[\d.]+|Appendix [A-Z][\d.]*))?|draft-[a-z0-9-]+"
    r"|IANA |Google |Microsoft |Postfix )"
)

REQUIRED_COMMANDS = (
    "HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP STARTTLS AUTH ETRN ATRN BURL"
).split()
REQUIRED_REPLY_CODES = [
    # RFC 5321 §4.2
    *(211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455),
    *(500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555),
    # RFC 4954 §6, RFC 3207 §4, RFC 7504
    *(235, 334, 432, 454, 530, 534, 535, 538, 521, 556),
]
REGISTRY_KEYWORDS = (
    "SEND SOML SAML EXPN HELP TURN 8BITMIME SIZE VERB ONEX CHUNKING BINARYMIME CHECKPOINT "
    "DELIVERBY PIPELINING DSN ETRN ENHANCEDSTATUSCODES STARTTLS NO-SOLICITING MTRK ATRN AUTH BURL "
    "FUTURERELEASE CONPERM CONNEG SMTPUTF8 MT-PRIORITY RRVS REQUIRETLS LIMITS SUBMITTER"
).split()
# VRFY is a base command (RFC 5321 §3.5.3), never registered as an EHLO keyword.
UNREGISTERED_KEYWORDS = "VRFY X-EXPS XCLIENT XFORWARD X-LINK2STATE XEXCH50 AUTH=LOGIN".split()
DEPRECATED = {"SUBMITTER": "RFC 6686", "UTF8SMTP": "RFC 6531"}
# The IANA "Enumerated Status Codes" registry: highest detail per subject.
REGISTRY_DETAILS = {0: 0, 1: 10, 2: 4, 3: 6, 4: 7, 5: 6, 6: 10, 7: 30}
SUBJECT_TITLES = {
    0: "Other or Undefined Status",
    1: "Addressing Status",
    2: "Mailbox Status",
    3: "Mail System Status",
    4: "Network and Routing Status",
    5: "Mail Delivery Protocol Status",
    6: "Message Content or Media Status",
    7: "Security or Policy Status",
}


def _sources_ok(rfc: tuple[str, ...]) -> bool:
    return bool(rfc) and all(SOURCE.match(ref) for ref in rfc)


# --- commands -------------------------------------------------------------------------


def test_every_required_command_is_in_the_table() -> None:
    assert set(REQUIRED_COMMANDS) <= set(COMMANDS)


@pytest.mark.parametrize("verb", sorted(COMMANDS), ids=str)
def test_command_entry_is_complete(verb: str) -> None:
    cmd = COMMANDS[verb]
    assert cmd.verb == verb and cmd.syntax.upper().startswith(verb)
    assert cmd.summary and cmd.allowed_when and cmd.replies
    assert _sources_ok(cmd.rfc), cmd.rfc


@pytest.mark.parametrize("verb", sorted(COMMANDS), ids=str)
def test_command_replies_are_explained_reply_codes(verb: str) -> None:
    missing = set(COMMANDS[verb].replies) - set(REPLY_CODES)
    assert not missing


@pytest.mark.parametrize(
    "verb, needs",
    [("BDAT", "CHUNKING"), ("STARTTLS", "STARTTLS"), ("AUTH", "AUTH"), ("MAIL", None)],
    ids=["bdat-chunking", "starttls", "auth", "mail-base"],
)
def test_command_names_the_extension_it_needs(verb: str, needs: str | None) -> None:
    assert COMMANDS[verb].extension == needs
    assert needs is None or needs in EXTENSIONS


def test_command_lookup_is_case_insensitive() -> None:
    assert command(" rcpt ") is COMMANDS["RCPT"]
    assert command("FOO") is None


@pytest.mark.parametrize(
    "verb, code", [("DATA", 354), ("AUTH", 334), ("STARTTLS", 220), ("QUIT", 221)], ids=str
)
def test_command_expects_its_hallmark_reply(verb: str, code: int) -> None:
    assert code in COMMANDS[verb].replies


# --- AUTH mechanisms ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, source",
    [
        ("PLAIN", "RFC 4616"),
        ("LOGIN", "draft-murchison-sasl-login"),
        ("CRAM-MD5", "RFC 2195"),
        ("XOAUTH2", "Google XOAUTH2"),
    ],
    ids=str,
)
def test_auth_mechanism_cites_its_source(name: str, source: str) -> None:
    mech = AUTH_MECHANISMS[name]
    assert mech.summary and mech.how
    assert any(ref.startswith(source) for ref in mech.rfc)


@pytest.mark.parametrize("name", sorted(AUTH_MECHANISMS), ids=str)
def test_auth_mechanism_entry_is_complete(name: str) -> None:
    assert _sources_ok(AUTH_MECHANISMS[name].rfc)


def test_plain_text_mechanisms_are_marked_as_needing_tls() -> None:
    assert AUTH_MECHANISMS["PLAIN"].needs_tls and AUTH_MECHANISMS["LOGIN"].needs_tls
    assert not AUTH_MECHANISMS["CRAM-MD5"].needs_tls


# --- MAIL/RCPT parameters -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, on",
    [
        ("SIZE", "MAIL"),
        ("BODY", "MAIL"),
        ("SMTPUTF8", "MAIL"),
        ("RET", "MAIL"),
        ("ENVID", "MAIL"),
        ("NOTIFY", "RCPT"),
        ("ORCPT", "RCPT"),
        ("AUTH", "MAIL"),
        ("REQUIRETLS", "MAIL"),
    ],
    ids=str,
)
def test_required_parameter_belongs_to_its_command(name: str, on: str) -> None:
    assert PARAMETERS[name].commands == (on,)


@pytest.mark.parametrize("name", sorted(PARAMETERS), ids=str)
def test_parameter_entry_is_complete(name: str) -> None:
    param = PARAMETERS[name]
    assert param.syntax.startswith(name) and param.meaning
    assert param.extension in EXTENSIONS
    assert _sources_ok(param.rfc)


def test_body_values_are_explained() -> None:
    assert set(PARAMETERS["BODY"].values) == {"7BIT", "8BITMIME", "BINARYMIME"}


# --- reply codes ----------------------------------------------------------------------


@pytest.mark.parametrize("code", REQUIRED_REPLY_CODES, ids=str)
def test_required_reply_code_is_explained(code: int) -> None:
    entry = REPLY_CODES[code]
    assert entry.summary and entry.meaning and entry.next
    assert _sources_ok(entry.rfc)


@pytest.mark.parametrize(
    "code, source",
    [(235, "RFC 4954"), (334, "RFC 4954"), (535, "RFC 4954"), (454, "RFC 3207"), (521, "RFC 7504")]
    + [(556, "RFC 7504"), (555, "RFC 1869"), (354, "RFC 5321")],
    ids=str,
)
def test_reply_code_cites_the_rfc_that_defines_it(code: int, source: str) -> None:
    assert any(ref.startswith(source) for ref in REPLY_CODES[code].rfc)


CONTEXTS = [(code, ctx) for code, entry in sorted(REPLY_CODES.items()) for ctx in entry.contexts]


@pytest.mark.parametrize("code, context", CONTEXTS, ids=[f"{c}-{x}" for c, x in CONTEXTS])
def test_reply_context_is_a_command_or_special_context(code: int, context: str) -> None:
    assert context in COMMANDS or context in SPECIAL_CONTEXTS
    ctx = REPLY_CODES[code].contexts[context]
    assert ctx.meaning and ctx.next
    assert not ctx.rfc or _sources_ok(ctx.rfc)


@pytest.mark.parametrize(
    "code, context",
    [(250, "EHLO"), (250, "RCPT"), (250, "end-of-data"), (220, "greeting"), (220, "STARTTLS")]
    + [
        (334, "AUTH"),
        (334, "auth-response"),
        (354, "DATA"),
        (235, "auth-response"),
        (535, "auth-response"),
    ],
    ids=str,
)
def test_context_meanings_named_in_the_brief_exist(code: int, context: str) -> None:
    assert context in REPLY_CODES[code].contexts


# --- enhanced status codes ------------------------------------------------------------


def test_classes_and_subjects_carry_registry_titles() -> None:
    assert {k: v.title for k, v in ENHANCED_SUBJECTS.items()} == SUBJECT_TITLES
    assert {k: v.title for k, v in ENHANCED_CLASSES.items()} == {
        2: "Success",
        4: "Persistent Transient Failure",
        5: "Permanent Failure",
    }


REGISTRY_KEYS = [f"X.{s}.{d}" for s, top in REGISTRY_DETAILS.items() for d in range(top + 1)]


def test_detail_table_is_exactly_the_registry() -> None:
    assert sorted(ENHANCED_DETAILS) == sorted(REGISTRY_KEYS)


@pytest.mark.parametrize("key", REGISTRY_KEYS, ids=str)
def test_registry_detail_is_explained_with_a_source(key: str) -> None:
    detail = ENHANCED_DETAILS[key]
    assert detail.title and detail.explanation and detail.explanation != detail.title
    assert _sources_ok(detail.rfc)


@pytest.mark.parametrize(
    "key, title, rfc",
    [
        ("X.1.1", "Bad destination mailbox address", "RFC 3463"),
        ("X.2.2", "Mailbox full", "RFC 3463"),
        ("X.5.6", "Authentication Exchange line is too long", "RFC 4954"),
        ("X.7.1", "Delivery not authorized, message refused", "RFC 3463"),
        ("X.7.8", "Authentication credentials invalid", "RFC 4954"),
        ("X.7.10", "Encryption Needed", "RFC 5248"),
        ("X.7.15", "Priority Level is too low", "RFC 6710"),
        ("X.7.17", "Mailbox owner has changed", "RFC 7293"),
        ("X.7.23", "SPF validation failed", "RFC 7372"),
        ("X.7.26", "Multiple authentication checks failed", "RFC 7372"),
        ("X.7.27", "Sender address has null MX", "RFC 7505"),
        ("X.7.29", "ARC validation failure", "RFC 8617"),
        ("X.7.30", "REQUIRETLS support required", "RFC 8689"),
    ],
    ids=lambda v: v if v.startswith("X.") else "",
)
def test_named_registry_entries(key: str, title: str, rfc: str) -> None:
    detail = ENHANCED_DETAILS[key]
    assert detail.title == title
    assert any(ref.startswith(rfc) for ref in detail.rfc)


def test_explain_enhanced_names_class_subject_and_detail() -> None:
    got = explain_enhanced("5.1.1")
    assert got is not None
    assert (got["class"], got["subject"], got["detail"]) == (
        "permanent",
        "Addressing Status",
        "Bad destination mailbox address",
    )
    assert got["known"] and got["explanation"] and got["rfc"]


def test_explain_enhanced_falls_back_to_class_and_subject() -> None:
    got = explain_enhanced("4.7.99")
    assert got is not None
    assert (got["class"], got["subject"], got["detail"], got["known"]) == (
        "transient",
        "Security or Policy Status",
        None,
        False,
    )
    assert "not in the registry" in got["explanation"]


def test_explain_enhanced_unknown_subject_keeps_the_class() -> None:
    got = explain_enhanced("5.9.1")
    assert got is not None and got["class"] == "permanent" and got["subject"] is None


def test_explain_enhanced_normalises_leading_zeros() -> None:
    got = explain_enhanced("5.01.001")
    assert got is not None and got["code"] == "5.1.1" and got["known"]


@pytest.mark.parametrize(
    "garbage", ["", "5.1", "3.1.1", "abc", "5.1.1.1", "5.1.x", "55.1.1", "5.1234.1"], ids=repr
)
def test_explain_enhanced_rejects_garbage(garbage: str) -> None:
    assert explain_enhanced(garbage) is None


# --- EHLO keywords --------------------------------------------------------------------


@pytest.mark.parametrize("keyword", REGISTRY_KEYWORDS, ids=str)
def test_registry_keyword_is_explained(keyword: str) -> None:
    ext = EXTENSIONS[keyword]
    assert ext.registered and ext.title and ext.summary
    assert _sources_ok(ext.rfc)


@pytest.mark.parametrize("keyword", UNREGISTERED_KEYWORDS, ids=str)
def test_vendor_keyword_is_marked_unregistered(keyword: str) -> None:
    ext = EXTENSIONS[keyword]
    assert not ext.registered and ext.summary and _sources_ok(ext.rfc)


@pytest.mark.parametrize("keyword", sorted(DEPRECATED), ids=str)
def test_deprecated_keywords_say_so(keyword: str) -> None:
    assert EXTENSIONS[keyword].status in ("deprecated", "obsolete")


def test_x_6_10_is_the_deprecated_duplicate_of_x_6_8() -> None:
    old, new = ENHANCED_DETAILS["X.6.10"], ENHANCED_DETAILS["X.6.8"]
    assert old.deprecated and not new.deprecated and old.title == new.title
    assert "X.6.8" in old.explanation


def test_x_4_4_and_x_7_26_say_what_the_registry_says() -> None:
    assert "no MX" in ENHANCED_DETAILS["X.4.4"].explanation
    assert "A/AAAA" in ENHANCED_DETAILS["X.4.4"].explanation
    assert "DMARC" not in ENHANCED_DETAILS["X.7.26"].explanation
    assert "more than one" in ENHANCED_DETAILS["X.7.26"].explanation


@pytest.mark.parametrize("keyword", sorted(EXTENSIONS), ids=str)
def test_every_extension_entry_has_a_source(keyword: str) -> None:
    assert _sources_ok(EXTENSIONS[keyword].rfc)


# --- helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, text",
    [
        (35882577, "35,882,577 bytes (34.2 MiB)"),
        (512, "512 bytes"),
        (10240, "10,240 bytes (10.0 KiB)"),
        (5 * 1024**3, "5,368,709,120 bytes (5.0 GiB)"),
    ],
    ids=["gmail-size", "bytes", "kib", "gib"],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize(
    "line, verb, address, params",
    [
        (
            "MAIL FROM:<a@b> SIZE=100 BODY=8BITMIME",
            "MAIL",
            "a@b",
            {"SIZE": "100", "BODY": "8BITMIME"},
        ),
        ("mail from:<> smtputf8", "MAIL", "", {"SMTPUTF8": None}),
        ("MAIL FROM: <a@b>", "MAIL", "a@b", {}),
        ("RCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE", "RCPT", "c@d", {"NOTIFY": "SUCCESS,FAILURE"}),
        ("RCPT TO:c@d", "RCPT", "c@d", {}),
        ("RCPT c@d", "RCPT", None, {}),
        ("MAIL FROM:<broken", "MAIL", "broken", {}),
        ("EHLO client.example\r\n", "EHLO", None, {}),
        ("   ", "", None, {}),
    ],
    ids=["params", "null-sender", "space-after-colon", "notify", "no-brackets", "no-to", "unclosed"]
    + ["ehlo-crlf", "blank"],
)
def test_parse_command(line: str, verb: str, address: str | None, params: dict) -> None:
    cmd = parse_command(line)
    assert (cmd.verb, cmd.address, cmd.params) == (verb, address, params)
