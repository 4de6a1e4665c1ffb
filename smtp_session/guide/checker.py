"""The mistake checker: warns about a line before it is sent. Warnings teach, they never block.

Commands are judged against the :class:`~smtp_session.guide.transaction.Transaction` (what
the server has accepted so far); message lines in :mod:`smtp_session.guide.message_lines`.
Every warning has a stable ``code`` the front end can key on; its words live in
``knowledge/data/warnings.json`` (a test checks that every code a check raises has them) and
numbers in them come from ``knowledge.limits``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Callable

from smtp_session.guide.check_base import TEXTS, CheckWarning, live, make_warning
from smtp_session.guide.checker_paths import check_mail, check_rcpt
from smtp_session.guide.redact import is_marker
from smtp_session.guide.transaction import Transaction
from smtp_session.knowledge import COMMANDS
from smtp_session.knowledge.limits import MAX_COMMAND_OCTETS, MAX_TEXT_LINE, octets
from smtp_session.wire.dialogue import verb_of

# Kept for the modules and tests that import them from here.
__all__ = [
    "MAX_COMMAND_OCTETS",
    "MAX_TEXT_LINE",
    "TEXTS",
    "CheckWarning",
    "check_auth_response",
    "check_command",
    "make_warning",
]


# -- commands ---------------------------------------------------------------------------------

_VerbCheck = Callable[[str, str, Transaction, bool], list[CheckWarning]]


def check_command(line: str, tx: Transaction, *, sandbox: bool) -> list[CheckWarning]:
    """Warnings for a line about to be sent in the current state of ``tx``."""
    if tx.expect == "data":
        return []  # any text is message data; see message_lines.check_data_line
    if tx.expect == "auth-response":
        return check_auth_response(line)
    out: list[CheckWarning] = []
    size = octets(line) + 2
    if size > MAX_COMMAND_OCTETS:
        out.append(make_warning("line:too-long", size=size))
    if not line.strip():
        return out + [make_warning("line:empty")]
    controls = _controls(line)
    if controls:
        out.append(make_warning("line:control-character", chars=controls))
    verb = verb_of(line.strip())
    if verb not in COMMANDS:
        return out + [_unknown_verb(verb)]
    parts = line.strip().split(None, 1)
    args = parts[1] if len(parts) > 1 else ""
    if tx.connected and not tx.greeted and not tx.closed:
        out.append(make_warning("order:before-greeting"))
    check = VERB_CHECKS.get(verb)
    return out + (check(verb, args, tx, sandbox) if check else [])


# C0 controls and DEL (CR, LF and NUL never leave: wire/lines.check_lines refuses them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NAMES = {"\t": "TAB", "\x1b": "ESC", "\x7f": "DEL", "\x08": "BS", "\x0c": "FF"}


def _controls(line: str) -> str:
    """The control characters in ``line``, named ("TAB (0x09), ESC (0x1B)"), or ""."""
    if not _CONTROL.search(line):
        return ""
    found = dict.fromkeys(_CONTROL.findall(line))
    names = [
        f"{_CONTROL_NAMES[c]} (0x{ord(c):02X})" if c in _CONTROL_NAMES else f"0x{ord(c):02X}"
        for c in found
    ]
    return ("the control character " if len(names) == 1 else "the control characters ") + (
        ", ".join(names)
    )


def _unknown_verb(verb: str) -> CheckWarning:
    close = difflib.get_close_matches(verb, list(COMMANDS), n=1, cutoff=0.5)
    if close:
        return make_warning("verb:misspelt", verb=verb, suggestion=close[0])
    return make_warning("verb:unknown", verb=verb)


# RFC 5321 §4.1.3: an IP address stands in brackets ("[192.0.2.1]", "[IPv6:2001:db8::1]").
_BARE_IP = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)$")


def _check_hello(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    domain = args.split()[0] if args.split() else ""
    if not domain:
        return [make_warning("syntax:hello-without-domain", verb=verb)]
    if _BARE_IP.match(domain):
        return [make_warning("syntax:address-literal", verb=verb, domain=domain)]
    return []


# RFC 5321 §4.1.1.4 DATA, §4.1.1.5 RSET, §4.1.1.10 QUIT; RFC 3207 §4 STARTTLS: no argument.
_NO_ARGUMENT = {
    "DATA": "RFC 5321 §4.1.1.4",
    "RSET": "RFC 5321 §4.1.1.5",
    "QUIT": "RFC 5321 §4.1.1.10",
    "STARTTLS": "RFC 3207 §4",
}
# RFC 5321 §4.1.1.6 VRFY and §4.1.1.7 EXPN need the string to look up.
_NEEDS_ARGUMENT = {
    "VRFY": ("a user name or mailbox", "postmaster", "RFC 5321 §4.1.1.6"),
    "EXPN": ("the name of a mailing list", "staff", "RFC 5321 §4.1.1.7"),
}


def _no_argument(verb: str, args: str) -> list[CheckWarning]:
    if args.strip() and verb in _NO_ARGUMENT:
        return [make_warning("syntax:takes-no-argument", verb=verb, rfc=_NO_ARGUMENT[verb])]
    return []


def _check_plain(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    if verb in _NEEDS_ARGUMENT and not args.strip():
        what, example, rfc = _NEEDS_ARGUMENT[verb]
        return [
            make_warning("syntax:needs-argument", verb=verb, what=what, example=example, rfc=rfc)
        ]
    return _no_argument(verb, args)


def _check_data(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    out = _no_argument(verb, args)
    if live(tx) and tx.hello is None:
        return [make_warning("order:hello-first", verb=verb), *out]
    if live(tx) and not tx.accepted_recipients:
        return [make_warning("order:data-without-recipient"), *out]
    return out


# RFC 3030 §2: bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ]; chunk-size ::= 1*DIGIT
_BDAT = re.compile(r"^\d+( +LAST)? *$", re.IGNORECASE)


def _check_bdat(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    out = [] if _BDAT.match(args.strip()) else [make_warning("bdat:bad-count")]
    if live(tx) and tx.hello is not None and "CHUNKING" not in tx.capabilities:
        out.insert(0, make_warning("bdat:not-offered"))
    return out


def _check_starttls(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    out = _no_argument(verb, args)
    if tx.tls:
        return [make_warning("starttls:already-tls"), *out]
    if not live(tx):
        return out
    if tx.hello is None:
        return [make_warning("order:ehlo-needed", verb=verb), *out]
    if tx.hello == "HELO":  # the offer, if any, came with an earlier EHLO that HELO undid
        return [make_warning("starttls:after-helo"), *out]
    offered = "STARTTLS" in tx.capabilities
    return out if offered else [make_warning("starttls:not-offered"), *out]


def _check_auth(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    words = args.split()
    if not words:
        return [make_warning("auth:missing-mechanism")]
    out = _auth_initial_response(words)
    if not live(tx):
        return out
    order = (
        (tx.hello is None, "order:ehlo-needed"),
        (tx.authenticated, "auth:already"),
        (tx.mail_from is not None, "auth:in-transaction"),
    )
    for hit, code in order:
        if hit:
            return [make_warning(code, verb=verb), *out]
    if not tx.tls and not sandbox:
        out.insert(0, make_warning("security:auth-before-tls"))
    return out + _auth_offer(words[0].upper(), tx)


def _auth_offer(mechanism: str, tx: Transaction) -> list[CheckWarning]:
    if "AUTH" not in tx.capabilities:
        return [make_warning("auth:not-offered")]
    offered = tx.auth_mechanisms
    if mechanism not in offered:
        names = " ".join(sorted(offered)) or "(none)"
        return [make_warning("auth:mechanism-not-offered", offered=names, mechanism=mechanism)]
    return []


def _auth_initial_response(words: list[str]) -> list[CheckWarning]:
    """RFC 4954 §4: an initial response after the mechanism is base64 ("=" for empty)."""
    if len(words) < 2 or words[1] == "=":
        return []
    if is_marker(" ".join(words[1:])):
        return []  # a stored transcript's redacted response: what was sent is not known
    decoded = _b64(words[1])
    if decoded is None:
        return [make_warning("auth:not-base64")]
    if words[0].upper() == "PLAIN" and decoded.count(b"\0") != 2:
        return [make_warning("auth:plain-format")]
    return []


def check_auth_response(line: str) -> list[CheckWarning]:
    """Warnings for a line answering a 334 challenge: base64, or * to cancel (RFC 4954 §4)."""
    text = line.strip()
    if text == "*" or is_marker(text):
        return []  # a cancel, or a redacted response read back from a transcript
    decoded = _b64(text)
    if decoded is None:
        return [make_warning("auth:not-base64")]
    return [] if _is_text(decoded) else [make_warning("auth:clear-text")]


def _is_text(data: bytes) -> bool:
    """User names and passwords decode to text; "demo" typed as is decodes to binary."""
    try:
        return all(ch.isprintable() or ch == "\0" for ch in data.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        return None


VERB_CHECKS: dict[str, _VerbCheck] = {
    "EHLO": _check_hello,
    "HELO": _check_hello,
    "DATA": _check_data,
    "BDAT": _check_bdat,
    "RSET": _check_plain,
    "QUIT": _check_plain,
    "VRFY": _check_plain,
    "EXPN": _check_plain,
    "STARTTLS": _check_starttls,
    "AUTH": _check_auth,
    "MAIL": check_mail,
    "RCPT": check_rcpt,
}
