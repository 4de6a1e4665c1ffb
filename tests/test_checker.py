"""The mistake checker: each warning fires on its mistake and stays quiet on the correct line."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_session.guide.checker import TEXTS, check_auth_response, check_command, make_warning
from smtp_session.guide.message_lines import MessageState, check_data_line, check_message
from smtp_session.guide.transaction import Transaction
from tests.test_transaction import (
    DATA_GO,
    EHLO_TLS,
    ENVELOPE,
    GREETING,
    HELLO,
    MAIL_OK,
    TLS,
    play,
)

EHLO_AUTH_PLAIN_TEXT = "250-mx.example\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME"
STATES: dict[str, list[tuple[Any, ...]]] = {
    "before-greeting": [],
    "greeted": [("greeting", None, GREETING)],
    "helo": [("greeting", None, GREETING), ("command", "HELO c.example", "250 sandbox.test")],
    "mail-smtputf8": [*HELLO, ("command", "MAIL FROM:<a@c.example> SMTPUTF8", MAIL_OK)],
    "helo-mail": [  # HELO: no extension offered, SMTPUTF8 neither
        ("greeting", None, GREETING),
        ("command", "HELO c.example", "250 sandbox.test"),
        ("command", "MAIL FROM:<a@c.example>", "250 2.1.0 Ok"),
    ],
    "ehlo": HELLO,
    "ehlo-auth-cleartext": [
        ("greeting", None, GREETING),
        ("command", "EHLO c", EHLO_AUTH_PLAIN_TEXT),
    ],
    "mail": [*HELLO, ("command", "MAIL FROM:<a@c.example>", MAIL_OK)],
    "rcpt": [*HELLO, *ENVELOPE],
    "tls": [*HELLO, *TLS, ("command", "EHLO c.example", EHLO_TLS)],
    "tls-no-ehlo": [*HELLO, *TLS],
    "authed": [
        *HELLO,
        *TLS,
        ("command", "EHLO c.example", EHLO_TLS),
        (
            "command",
            "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==",
            "235 2.7.0 Authentication successful",
        ),
    ],
    "auth-prompt": [
        *HELLO,
        *TLS,
        ("command", "EHLO c.example", EHLO_TLS),
        ("command", "AUTH LOGIN", "334 VXNlcm5hbWU6"),
    ],
    "data": [*HELLO, *ENVELOPE, ("command", "DATA", DATA_GO)],
}
PLAIN_OK = base64.b64encode(b"\0demo\0demo-password").decode()
PLAIN_COLON = base64.b64encode(b"demo:demo-password").decode()

# (id, state, line, sandbox, the warning code expected)
FIRES = [
    ("line-too-long", "mail", "RCPT TO:<" + "a" * 520 + "@b.example>", True, "line:too-long"),
    ("empty-line", "ehlo", "   ", True, "line:empty"),
    ("misspelt-verb", "greeted", "EHOL client.example", True, "verb:misspelt"),
    ("unknown-verb", "ehlo", "XYZZY", True, "verb:unknown"),
    ("talking-before-greeting", "before-greeting", "EHLO c.example", True, "order:before-greeting"),
    ("mail-before-ehlo", "greeted", "MAIL FROM:<a@b.example>", True, "order:mail-before-hello"),
    ("mail-in-transaction", "mail", "MAIL FROM:<a@b.example>", True, "order:mail-in-transaction"),
    ("rcpt-before-mail", "ehlo", "RCPT TO:<b@sandbox.test>", True, "order:rcpt-before-mail"),
    ("rcpt-before-ehlo", "greeted", "RCPT TO:<b@sandbox.test>", True, "order:hello-first"),
    ("data-without-recipient", "mail", "DATA", True, "order:data-without-recipient"),
    ("auth-before-ehlo", "greeted", "AUTH PLAIN", True, "order:ehlo-needed"),
    ("auth-after-tls-without-ehlo", "tls-no-ehlo", "AUTH LOGIN", True, "order:ehlo-needed"),
    ("starttls-before-ehlo", "greeted", "STARTTLS", True, "order:ehlo-needed"),
    ("auth-in-cleartext", "ehlo-auth-cleartext", "AUTH LOGIN", False, "security:auth-before-tls"),
    ("auth-not-offered", "ehlo", "AUTH LOGIN", True, "auth:not-offered"),
    ("auth-not-offered-after-helo", "helo", "AUTH LOGIN", True, "auth:not-offered"),
    ("mechanism-not-offered", "tls", "AUTH XOAUTH2", True, "auth:mechanism-not-offered"),
    ("auth-without-mechanism", "tls", "AUTH", True, "auth:missing-mechanism"),
    ("auth-twice", "authed", "AUTH LOGIN", True, "auth:already"),
    ("auth-in-transaction", "mail", "AUTH LOGIN", True, "auth:in-transaction"),
    ("auth-initial-not-base64", "tls", "AUTH PLAIN demo:demo-password", True, "auth:not-base64"),
    ("auth-plain-without-nuls", "tls", f"AUTH PLAIN {PLAIN_COLON}", True, "auth:plain-format"),
    ("auth-answer-not-base64", "auth-prompt", "demo-password", True, "auth:not-base64"),
    ("auth-answer-in-clear", "auth-prompt", "demo", True, "auth:clear-text"),
    ("starttls-not-offered", "ehlo-auth-cleartext", "STARTTLS", True, "starttls:not-offered"),
    ("starttls-after-helo", "helo", "STARTTLS", True, "starttls:after-helo"),
    ("starttls-twice", "tls", "STARTTLS", True, "starttls:already-tls"),
    ("ehlo-without-domain", "greeted", "EHLO", True, "syntax:hello-without-domain"),
    ("mail-without-from", "ehlo", "MAIL <a@b.example>", True, "syntax:missing-keyword"),
    ("rcpt-without-to", "mail", "RCPT bob@sandbox.test", True, "syntax:missing-keyword"),
    ("missing-colon", "ehlo", "MAIL FROM <a@b.example>", True, "syntax:missing-colon"),
    ("space-before-colon", "ehlo", "MAIL FROM :<a@b.example>", True, "syntax:space-before-colon"),
    ("space-after-colon", "ehlo", "MAIL FROM: <a@b.example>", True, "syntax:space-after-colon"),
    ("missing-brackets", "mail", "RCPT TO:bob@sandbox.test", True, "syntax:missing-brackets"),
    ("empty-recipient", "mail", "RCPT TO:<>", True, "syntax:empty-recipient"),
    ("ehlo-bare-ipv4", "greeted", "EHLO 127.0.0.1", True, "syntax:address-literal"),
    ("data-with-argument", "rcpt", "DATA now", True, "syntax:takes-no-argument"),
    ("vrfy-without-argument", "ehlo", "VRFY", True, "syntax:needs-argument"),
    ("rcpt-without-domain", "mail", "RCPT TO:<bob>", True, "syntax:recipient-without-domain"),
    ("two-ats", "mail", "RCPT TO:<a@@b.example>", True, "syntax:two-ats"),
    ("extra-bracket", "mail", "RCPT TO:<<a@b.example>", True, "syntax:extra-bracket"),
    (
        "local-part-over-64",
        "mail",
        "RCPT TO:<" + "a" * 65 + "@b.example>",
        True,
        "syntax:local-part-too-long",
    ),
    (
        "path-over-256",
        "mail",
        "RCPT TO:<a@" + "b" * 250 + ".example>",
        True,
        "syntax:path-too-long",
    ),
    ("bad-size", "ehlo", "MAIL FROM:<a@b.example> SIZE=big", True, "param:bad-value"),
    ("size-without-value", "ehlo", "MAIL FROM:<a@b.example> SIZE", True, "param:missing-value"),
    ("repeated-param", "ehlo", "MAIL FROM:<a@b.example> SIZE=1 SIZE=2", True, "param:repeated"),
    ("notify-on-mail", "ehlo", "MAIL FROM:<a@b.example> NOTIFY=NEVER", True, "param:wrong-command"),
    (
        "binarymime-not-offered",
        "ehlo",
        "MAIL FROM:<a@b.example> BODY=BINARYMIME",
        True,
        "param:not-offered",
    ),
    (
        "size-over-limit",
        "ehlo",
        "MAIL FROM:<a@b.example> SIZE=40000000",
        True,
        "param:size-over-limit",
    ),
    ("bdat-not-offered", "rcpt", "BDAT 100 LAST", True, "bdat:not-offered"),
    ("control-character", "ehlo", "NOOP a\x1b[31mred", True, "line:control-character"),
    ("tab-in-command", "greeted", "EHLO\tclient.example", True, "line:control-character"),
    # RFC 6531 §3.4: a non-ASCII mailbox needs SMTPUTF8 on MAIL FROM, and a server offering it
    (
        "utf8-mail-without-smtputf8",
        "ehlo",
        "MAIL FROM:<jos\u00e9@b.example>",
        True,
        "client:utf8-without-smtputf8",
    ),
    (  # RFC 6531 §3.4: the server offers SMTPUTF8, but this MAIL FROM did not ask for it
        "utf8-rcpt-after-mail-without-smtputf8",
        "mail",
        "RCPT TO:<zo\u00eb@b.example>",
        True,
        "client:utf8-without-smtputf8",
    ),
    (
        "utf8-rcpt-server-without-smtputf8",
        "helo-mail",
        "RCPT TO:<zo\u00eb@b.example>",
        True,
        "client:utf8-without-smtputf8",
    ),
    ("bdat-bad-count", "rcpt", "BDAT many", True, "bdat:bad-count"),
]

# (id, state, line, sandbox): lines that are right where they are
QUIET = [
    ("lowercase-ehlo", "greeted", "ehlo client.example", True),
    ("helo", "greeted", "HELO client.example", True),
    ("mail-with-size", "ehlo", "MAIL FROM:<a@b.example> SIZE=1000", True),
    ("lowercase-mail-null-sender", "ehlo", "mail from:<>", True),
    ("rcpt-after-mail", "mail", "RCPT TO:<bob@sandbox.test>", True),
    ("second-rcpt", "rcpt", "rcpt to:<carol@sandbox.test>", True),
    ("data-after-rcpt", "rcpt", "DATA", True),
    ("starttls-offered", "ehlo", "STARTTLS", False),
    ("auth-plain-over-tls", "tls", f"AUTH PLAIN {PLAIN_OK}", False),
    ("auth-login-in-sandbox", "tls", "AUTH LOGIN", True),
    ("auth-plain-empty-initial", "tls", "AUTH PLAIN =", True),
    ("auth-answer-base64", "auth-prompt", "ZGVtbw==", True),
    ("auth-cancel", "auth-prompt", "*", True),
    ("quit-in-message-is-data", "data", "QUIT", True),
    ("noop", "rcpt", "NOOP", True),
    ("rset", "mail", "RSET", True),
    ("quit-before-ehlo", "greeted", "QUIT", True),
    ("mail-at-512-octets", "ehlo", "MAIL FROM:<a@b.example> XPAD=" + "x" * 481, True),
    ("rcpt-postmaster-without-domain", "mail", "RCPT TO:<Postmaster>", True),
    ("ehlo-address-literal", "greeted", "EHLO [127.0.0.1]", True),
    ("ehlo-ipv6-literal", "greeted", "EHLO [IPv6:2001:db8::1]", True),
    ("body-8bitmime-offered", "ehlo", "MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8", True),
    ("size-at-the-limit", "ehlo", "MAIL FROM:<a@b.example> SIZE=33554432", True),
    ("local-part-of-64", "mail", "RCPT TO:<" + "a" * 64 + "@b.example>", True),
    ("vrfy-with-argument", "ehlo", "VRFY postmaster", True),
    ("help-with-topic", "ehlo", "HELP MAIL", True),
    ("utf8-mail-with-smtputf8", "ehlo", "MAIL FROM:<jos\u00e9@b.example> SMTPUTF8", True),
    ("utf8-rcpt-after-mail-with-smtputf8", "mail-smtputf8", "RCPT TO:<zo\u00eb@b.example>", True),
    ("ascii-rcpt-server-without-smtputf8", "helo-mail", "RCPT TO:<zoe@b.example>", True),
]


def _state(name: str) -> Transaction:
    return play(STATES[name])


@pytest.mark.parametrize(
    ("state", "line", "sandbox", "code"),
    [pytest.param(s, line, sb, code, id=name) for name, s, line, sb, code in FIRES],
)
def test_warning_fires(state: str, line: str, sandbox: bool, code: str) -> None:
    warnings = check_command(line, _state(state), sandbox=sandbox)
    assert code in [w.code for w in warnings]
    warning = next(w for w in warnings if w.code == code)
    assert warning.message and warning.fix and warning.rfc.startswith("RFC ")
    assert warning.to_dict()["code"] == code


@pytest.mark.parametrize(
    ("state", "line", "sandbox"),
    [pytest.param(s, line, sb, id=name) for name, s, line, sb in QUIET],
)
def test_correct_line_is_quiet(state: str, line: str, sandbox: bool) -> None:
    assert [w.code for w in check_command(line, _state(state), sandbox=sandbox)] == []


def test_every_command_warning_has_a_case() -> None:
    # client:* codes judge a captured client's bytes: tests/test_capture_clients.py has theirs;
    # the console warns of one of them too, before the line leaves.
    command_codes = {code for code in TEXTS if not code.startswith(("data:", "client:"))}
    command_codes.add("client:utf8-without-smtputf8")
    assert command_codes == {case[-1] for case in FIRES}


def test_auth_before_tls_is_fine_in_the_sandbox() -> None:
    tx = _state("ehlo-auth-cleartext")
    assert check_command("AUTH LOGIN", tx, sandbox=True) == []


def test_misspelling_suggests_the_verb() -> None:
    (warning,) = check_command("EHOL client.example", _state("greeted"), sandbox=True)
    assert "did you mean EHLO?" in warning.message


def test_mechanism_warning_lists_the_offer() -> None:
    (warning,) = check_command("AUTH XOAUTH2", _state("tls"), sandbox=True)
    assert "CRAM-MD5 LOGIN PLAIN" in warning.message


def test_space_after_colon_alone_does_not_claim_missing_brackets() -> None:
    codes = [
        w.code for w in check_command("MAIL FROM: <a@b.example>", _state("ehlo"), sandbox=True)
    ]
    assert codes == ["syntax:space-after-colon"]


def test_check_auth_response_directly() -> None:
    assert check_auth_response("ZGVtby1wYXNzd29yZA==") == []
    assert [w.code for w in check_auth_response("demo-password")] == ["auth:not-base64"]


# -- message lines ----------------------------------------------------------------------------

GOOD = [
    "From: Alice <alice@client.example>",
    "To: Bob <bob@sandbox.test>",
    "Subject: Hello",
    "  folded onto a second line",
    "Date: Mon, 1 Jan 2024 10:00:00 +0000",
    "Message-ID: <1@client.example>",
    "",
    "Hi Bob.",
    "..a line that really starts with a dot, already stuffed",
    "",
    ".",
]
HEADERS = GOOD[:6]

MESSAGE_FIRES = [
    ("leading-dot", [*HEADERS, "", ".hidden"], set(), "data:leading-dot"),
    ("dot-in-the-middle", [*HEADERS, "", "one", ".", "two", "."], set(), "data:dot-ends-message"),
    ("no-headers", ["Hello Bob", "how are you?"], set(), "data:no-headers"),
    ("blank-first-line", ["", "Hello Bob"], set(), "data:no-headers"),
    ("no-blank-line", [*HEADERS, "Hello Bob"], set(), "data:no-blank-line"),
    ("missing-from", [*HEADERS[1:], "", "hi"], set(), "data:missing-header"),
    ("8bit-without-8bitmime", [*HEADERS, "", "Grüße"], {"SIZE"}, "data:8bit-without-8bitmime"),
    ("line-over-998", [*HEADERS, "", "x" * 999], set(), "data:line-too-long"),
    ("command-typed-in-message", [*HEADERS, "", "QUIT"], set(), "data:looks-like-command"),
    (
        "utf8-header-without-smtputf8",
        ["Subject: Grüße", *HEADERS, "", "hi"],
        {"8BITMIME"},
        "data:utf8-header-without-smtputf8",
    ),
    ("two-from-headers", [*HEADERS, "From: x@y.example", "", "hi"], set(), "data:duplicate-header"),
]


def test_good_message_is_quiet() -> None:
    assert check_message(GOOD, set()) == []


@pytest.mark.parametrize(
    ("lines", "caps", "code"),
    [pytest.param(lines, caps, code, id=name) for name, lines, caps, code in MESSAGE_FIRES],
)
def test_message_warning_fires(lines: list[str], caps: set[str], code: str) -> None:
    warnings = check_message(lines, caps)
    assert code in [w.code for w in warnings]
    assert all(w.rfc.startswith("RFC ") for w in warnings)


def test_every_message_warning_has_a_case() -> None:
    assert {c for c in TEXTS if c.startswith("data:")} == {case[-1] for case in MESSAGE_FIRES}


@pytest.mark.parametrize(
    ("missing", "header"),
    [
        pytest.param(0, "From", id="from"),
        pytest.param(4, "Date", id="date"),
        pytest.param(5, "Message-ID", id="message-id"),
    ],
)
def test_each_missing_header_is_named(missing: int, header: str) -> None:
    lines = [h for i, h in enumerate(HEADERS) if i != missing] + ["", "hi"]
    (warning,) = check_message(lines, set())
    assert warning.code == "data:missing-header" and f"no {header} header" in warning.message


@pytest.mark.parametrize(
    ("lines", "caps"),
    [
        pytest.param([*HEADERS, "", "x" * 998], set(), id="line-of-998"),
        pytest.param([*HEADERS, "", "Grüße", "Ça va"], {"8BITMIME"}, id="8bit-with-8bitmime"),
        pytest.param([*HEADERS, "", "..", "...."], set(), id="stuffed-dots"),
        pytest.param([*HEADERS, "", "Please QUIT smoking"], set(), id="command-word-in-text"),
    ],
)
def test_message_quiet_cases(lines: list[str], caps: set[str]) -> None:
    assert check_message(lines, caps) == []


def test_8bit_warns_once_per_message() -> None:
    codes = [w.code for w in check_message([*HEADERS, "", "Grüße", "Ça va", "Olá"], set())]
    assert codes.count("data:8bit-without-8bitmime") == 1


def test_warnings_point_at_the_line() -> None:
    warnings = check_message([*HEADERS, "", "fine", ".oops"], set())
    assert [(w.code, w.line) for w in warnings] == [("data:leading-dot", 8)]


def test_incremental_checker_warns_line_by_line_and_at_the_dot() -> None:
    state = MessageState(caps={"8BITMIME"})
    assert check_data_line("Subject: no sender", state) == []
    assert [w.code for w in check_data_line("body without a blank line", state)] == [
        "data:no-blank-line"
    ]
    at_end = check_data_line(".", state)
    assert state.ended
    assert [w.message for w in at_end] == [
        "The message has no From header.",
        "The message has no Date header.",
        "The message has no Message-ID header.",
    ]


# -- never raises -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(line=st.text(max_size=600), state=st.sampled_from(sorted(STATES)), sandbox=st.booleans())
def test_check_command_never_raises(line: str, state: str, sandbox: bool) -> None:
    for warning in check_command(line, _state(state), sandbox=sandbox):
        assert warning.code in TEXTS


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(max_size=1200), max_size=12), caps=st.sets(st.text(max_size=10)))
def test_check_message_never_raises(lines: list[str], caps: set[str]) -> None:
    for warning in check_message(lines, caps):
        assert warning.code in TEXTS


@pytest.mark.parametrize("verb", ["ETRN", "ATRN", "BURL"])
def test_extension_commands_are_known_not_misspelt(verb: str) -> None:
    from smtp_session.guide.transaction import Transaction

    codes = [w.code for w in check_command(f"{verb} example.org", Transaction(), sandbox=False)]
    assert not any(c.startswith("verb:") for c in codes)


EHLO_BARE = "250-mx.example\r\n250 PIPELINING"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("BODY", "9BIT"),
        ("RET", "ALL"),
        ("MT-PRIORITY", "12"),
    ],
)
def test_bad_mail_parameter_values(param: str, value: str) -> None:
    line = f"MAIL FROM:<a@b.example> {param}={value}"
    codes = [w.code for w in check_command(line, Transaction(), sandbox=False)]
    assert codes == ["param:bad-value"]


def test_bad_notify_value_on_rcpt() -> None:
    codes = [
        w.code
        for w in check_command(
            "RCPT TO:<a@b.example> NOTIFY=NEVER,FAILURE", Transaction(), sandbox=False
        )
    ]
    assert codes == ["param:bad-value"]


@pytest.mark.parametrize("param", ["BODY=8BITMIME", "SMTPUTF8"])
def test_parameter_of_an_extension_not_offered(param: str) -> None:
    tx = play([("greeting", None, GREETING), ("command", "EHLO c.example", EHLO_BARE)])
    warnings = check_command(f"MAIL FROM:<a@b.example> {param}", tx, sandbox=True)
    assert [w.code for w in warnings] == ["param:not-offered"]
    assert param.split("=")[-1] in warnings[0].message


@pytest.mark.parametrize("verb", ["RSET", "QUIT", "STARTTLS"])
def test_commands_without_arguments(verb: str) -> None:
    codes = [w.code for w in check_command(f"{verb} please", _state("ehlo"), sandbox=True)]
    assert "syntax:takes-no-argument" in codes


def test_expn_needs_a_list() -> None:
    codes = [w.code for w in check_command("EXPN", _state("ehlo"), sandbox=True)]
    assert codes == ["syntax:needs-argument"]


def test_two_date_headers() -> None:
    codes = [
        w.code
        for w in check_message([*HEADERS, "Date: Tue, 2 Jan 2024 10:00:00 +0000", "", "hi"], set())
    ]
    assert codes == ["data:duplicate-header"]


def test_limits_in_messages_come_from_the_constants() -> None:
    from smtp_session.knowledge.limits import MAX_COMMAND_OCTETS, MAX_LOCAL_PART, MAX_TEXT_LINE

    assert str(MAX_COMMAND_OCTETS) in make_warning("line:too-long", size=600).message
    assert str(MAX_TEXT_LINE) in make_warning("data:line-too-long", size=1200).message
    assert str(MAX_LOCAL_PART) in make_warning("syntax:local-part-too-long", size=70).message
    for message, fix, _ in TEXTS.values():  # a template names its limit, it never spells it
        assert not {"512", "998", "256"} & set(re.findall(r"\d+", message + fix))


def test_every_code_a_check_raises_has_its_texts() -> None:
    """Scan the checkers for every make_warning("code") and compare with warnings.json."""
    root = Path(__file__).resolve().parent.parent / "smtp_session" / "guide"
    names = ("checker.py", "checker_paths.py", "message_lines.py", "client_checks.py")
    sources = [root / n for n in names]
    raised = set()
    for src in sources:
        raised |= set(re.findall(r'make_warning\(\s*"([a-z0-9:-]+)"', src.read_text()))
        raised |= set(re.findall(r'\(\w+[^()]*, "([a-z]+:[a-z0-9-]+)"\)', src.read_text()))
    assert raised <= set(TEXTS), raised - set(TEXTS)
    assert set(TEXTS) <= raised, set(TEXTS) - raised


def test_control_characters_are_named_in_the_warning() -> None:
    warnings = check_command("NOOP a\tb\x01c\x1b[31mred", _state("ehlo"), sandbox=True)
    [warning] = [w for w in warnings if w.code == "line:control-character"]
    assert "TAB (0x09), 0x01, ESC (0x1B)" in warning.message
    # message text after 354 is not a command: a tab there is the message's own
    assert check_command("Subject:\tx\x1b", _state("data"), sandbox=True) == []
