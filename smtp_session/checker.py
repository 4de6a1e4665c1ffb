"""The mistake checker: warns about a line before it is sent. Warnings teach, they never block.

Commands are judged against the :class:`~smtp_session.transaction.Transaction` (what the server
has accepted so far); message lines against the headers/body rules of RFC 5322 and the
transparency rules of RFC 5321. Every warning has a stable ``code`` the front end can key on.
"""

from __future__ import annotations

import base64
import binascii
import difflib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .dialogue import verb_of
from .knowledge import COMMANDS
from .redact import is_marker
from .transaction import Transaction

MAX_COMMAND_OCTETS = 512  # RFC 5321 §4.5.3.1.4: command line, CRLF included
MAX_TEXT_LINE = 998  # RFC 5322 §2.1.1: characters per line, CRLF excluded


@dataclass(frozen=True)
class CheckWarning:
    """One warning: a stable code, what is wrong, how to fix it, and the rule's source."""

    code: str
    message: str
    fix: str
    rfc: str
    line: int | None = None  # index of the message line, for message checks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# code: (message, fix, source). Texts are str.format templates.
TEXTS: dict[str, tuple[str, str, str]] = {
    "line:too-long": (
        "This command is {size} octets with its CRLF; servers may refuse a command over 512.",
        "Shorten the line.",
        "RFC 5321 §4.5.3.1.4",
    ),
    "line:empty": (
        "An empty line is not a command.",
        "Type a command, e.g. NOOP.",
        "RFC 5321 §4.1",
    ),
    "verb:misspelt": (
        "{verb} is not an SMTP command: did you mean {suggestion}?",
        "Type {suggestion}.",
        "RFC 5321 §4.1",
    ),
    "verb:unknown": (
        "{verb} is not an SMTP command; the server will answer 500 or 502.",
        "Type HELP to see what the server knows.",
        "RFC 5321 §4.2.4",
    ),
    "order:before-greeting": (
        "The server has not greeted you yet; many servers drop clients that talk first.",
        "Wait for the 220 greeting.",
        "RFC 5321 §3.1",
    ),
    "order:mail-before-hello": (
        "MAIL before EHLO: the server does not know who you are yet and will answer 503.",
        "Send EHLO your.host.name first.",
        "RFC 5321 §4.1.4",
    ),
    "order:mail-in-transaction": (
        "A transaction is already open (MAIL FROM was accepted); a second MAIL gets 503.",
        "Carry on with RCPT TO, or send RSET to start again.",
        "RFC 5321 §4.1.1.2",
    ),
    "order:rcpt-before-mail": (
        "RCPT before MAIL: there is no open transaction, the server will answer 503.",
        "Send MAIL FROM:<you@example.org> first.",
        "RFC 5321 §4.1.1.3",
    ),
    "order:data-without-recipient": (
        "DATA with no accepted recipient: the server will answer 503 or 554.",
        "Get a 250 on at least one RCPT TO first.",
        "RFC 5321 §3.3",
    ),
    "order:ehlo-needed": (
        "{verb} is an extension: it only exists after EHLO offered it.",
        "Send EHLO your.host.name first.",
        "RFC 5321 §4.1.4",
    ),
    "security:auth-before-tls": (
        "AUTH without TLS sends your password in base64, which anyone on the path can read.",
        "Send STARTTLS first (port 587) or connect with implicit TLS (port 465).",
        "RFC 8314 §3, RFC 4954 §14",
    ),
    "auth:not-offered": (
        "EHLO did not offer AUTH here; the server will refuse it.",
        "Look for an AUTH line in the EHLO reply (often only after STARTTLS).",
        "RFC 4954 §3",
    ),
    "auth:mechanism-not-offered": (
        "The server offered AUTH {offered}, not {mechanism}; expect 504.",
        "Pick one of: {offered}.",
        "RFC 4954 §4",
    ),
    "auth:missing-mechanism": (
        "AUTH needs a mechanism.",
        "Type e.g. AUTH PLAIN or AUTH LOGIN.",
        "RFC 4954 §4",
    ),
    "auth:already": (
        "You are already authenticated; a second AUTH gets 503.",
        "Go on with MAIL FROM.",
        "RFC 4954 §4",
    ),
    "auth:in-transaction": (
        "AUTH is not allowed during a mail transaction.",
        "Send RSET first, or finish the message.",
        "RFC 4954 §4",
    ),
    "auth:not-base64": (
        "This is not valid base64; the server will answer 501.",
        "Encode it, e.g. printf 'demo' | base64. Send * to cancel.",
        "RFC 4954 §4",
    ),
    "auth:clear-text": (
        "This is valid base64 by chance, but it decodes to binary: did you type it in clear?",
        "Send the base64 form, e.g. printf 'demo' | base64 gives ZGVtbw==.",
        "RFC 4954 §4",
    ),
    "auth:plain-format": (
        "AUTH PLAIN wants base64 of authzid NUL user NUL password (two NUL bytes).",
        "Encode it with: printf '\\0user\\0password' | base64",
        "RFC 4616 §2",
    ),
    "starttls:not-offered": (
        "EHLO did not offer STARTTLS; expect 502 or 454.",
        "Use a port that offers it (587), or implicit TLS on 465.",
        "RFC 3207 §4",
    ),
    "starttls:already-tls": (
        "The connection is already encrypted; a second STARTTLS is an error.",
        "Go on with EHLO or AUTH.",
        "RFC 3207 §4.2",
    ),
    "syntax:hello-without-domain": (
        "{verb} needs your host name or address literal.",
        "Type {verb} client.example.org",
        "RFC 5321 §4.1.1.1",
    ),
    "syntax:missing-keyword": (
        "{verb} needs the word {keyword}: before the address.",
        "Type {verb} {keyword}:<address>",
        "RFC 5321 §4.1.1.{section}",
    ),
    "syntax:missing-colon": (
        "The colon after {keyword} is missing.",
        "Type {verb} {keyword}:<address>",
        "RFC 5321 §4.1.2",
    ),
    "syntax:space-before-colon": (
        "No space is allowed between {keyword} and the colon.",
        "Type {verb} {keyword}:<address>",
        "RFC 5321 §4.1.2",
    ),
    "syntax:space-after-colon": (
        "A space after the colon is forbidden by the grammar, though many servers accept it.",
        "Type {verb} {keyword}:<address> with no space.",
        "RFC 5321 §4.1.2",
    ),
    "syntax:missing-brackets": (
        "The address must be in angle brackets; strict servers answer 501.",
        "Type {verb} {keyword}:<{address}>",
        "RFC 5321 §4.1.2",
    ),
    "syntax:empty-recipient": (
        "RCPT TO:<> is not a recipient; only MAIL FROM may be empty (for bounces).",
        "Put an address between the brackets.",
        "RFC 5321 §4.1.1.3",
    ),
    "data:leading-dot": (
        "The line starts with a dot: the server removes the first dot of any such line.",
        "Double the dot (dot stuffing) to keep one.",
        "RFC 5321 §4.5.2",
    ),
    "data:dot-ends-message": (
        "A line with only a dot ends the message; what follows is read as commands.",
        "Use .. to keep a lone dot in the text.",
        "RFC 5321 §4.1.1.4",
    ),
    "data:looks-like-command": (
        "You are writing the message: {text} will be part of it, not a command.",
        "End the message with a line holding only a dot first.",
        "RFC 5321 §4.1.1.4",
    ),
    "data:no-headers": (
        "The message does not start with headers (Name: value lines).",
        "Start with From:, To:, Subject:, Date:, then an empty line, then the text.",
        "RFC 5322 §2.1",
    ),
    "data:no-blank-line": (
        "This is not a header, but no empty line separated the headers from the body.",
        "Send an empty line after the last header.",
        "RFC 5322 §2.1",
    ),
    "data:missing-header": (
        "The message has no {header} header.",
        "Add {example} before the empty line ({note}).",
        "RFC 5322 §3.6",
    ),
    "data:8bit-without-8bitmime": (
        "This line holds non-ASCII text, but the server did not offer 8BITMIME.",
        "Encode the body (quoted-printable or base64 MIME) or keep to ASCII.",
        "RFC 6152 §3",
    ),
    "data:line-too-long": (
        "This line is {size} characters; the limit is 998.",
        "Break the line.",
        "RFC 5322 §2.1.1",
    ),
}


def _octets(text: str) -> int:
    """Length on the wire; "surrogatepass" so text from a browser can never make this raise."""
    return len(text.encode("utf-8", "surrogatepass"))


def make_warning(code: str, line: int | None = None, /, **values: object) -> CheckWarning:
    """Build the warning ``code`` with its texts filled in."""
    message, fix, rfc = (text.format(**values) for text in TEXTS[code])
    return CheckWarning(code, message, fix, rfc, line)


# -- commands ---------------------------------------------------------------------------------

_VerbCheck = Callable[[str, str, Transaction, bool], list[CheckWarning]]


def check_command(line: str, tx: Transaction, *, sandbox: bool) -> list[CheckWarning]:
    """Warnings for a line about to be sent in the current state of ``tx``."""
    if tx.expect == "data":
        return []  # any text is message data; see check_data_line
    if tx.expect == "auth-response":
        return check_auth_response(line)
    out: list[CheckWarning] = []
    size = _octets(line) + 2
    if size > MAX_COMMAND_OCTETS:
        out.append(make_warning("line:too-long", size=size))
    if not line.strip():
        return out + [make_warning("line:empty")]
    verb = verb_of(line.strip())
    if verb not in COMMANDS:
        return out + [_unknown_verb(verb)]
    parts = line.strip().split(None, 1)
    args = parts[1] if len(parts) > 1 else ""
    if tx.connected and not tx.greeted and not tx.closed:
        out.append(make_warning("order:before-greeting"))
    check = _VERB_CHECKS.get(verb)
    return out + (check(verb, args, tx, sandbox) if check else [])


def _unknown_verb(verb: str) -> CheckWarning:
    close = difflib.get_close_matches(verb, list(COMMANDS), n=1, cutoff=0.5)
    if close:
        return make_warning("verb:misspelt", verb=verb, suggestion=close[0])
    return make_warning("verb:unknown", verb=verb)


def _live(tx: Transaction) -> bool:
    """Order checks only mean something on an open connection past the greeting."""
    return tx.connected and tx.greeted and not tx.closed


def _check_hello(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    return [] if args.strip() else [make_warning("syntax:hello-without-domain", verb=verb)]


def _check_mail(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    out = _path_syntax(verb, args, "FROM")
    if not _live(tx):
        return out
    if tx.hello is None:
        return [make_warning("order:mail-before-hello"), *out]
    if tx.mail_from is not None:
        return [make_warning("order:mail-in-transaction"), *out]
    return out


def _check_rcpt(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    out = _path_syntax(verb, args, "TO")
    if _live(tx) and tx.mail_from is None:
        return [make_warning("order:rcpt-before-mail"), *out]
    return out


def _check_data(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    if _live(tx) and not tx.accepted_recipients:
        return [make_warning("order:data-without-recipient")]
    return []


def _check_starttls(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    if tx.tls:
        return [make_warning("starttls:already-tls")]
    if not _live(tx):
        return []
    if tx.hello is None:
        return [make_warning("order:ehlo-needed", verb=verb)]
    return [] if "STARTTLS" in tx.capabilities else [make_warning("starttls:not-offered")]


def _check_auth(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
    words = args.split()
    if not words:
        return [make_warning("auth:missing-mechanism")]
    out = _auth_initial_response(words)
    if not _live(tx):
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


def _path_syntax(verb: str, args: str, keyword: str) -> list[CheckWarning]:
    """RFC 5321 §4.1.2: "MAIL FROM:<reverse-path>" / "RCPT TO:<forward-path>", no spaces."""
    names = {"verb": verb, "keyword": keyword}
    if not args.upper().startswith(keyword):
        section = "2" if keyword == "FROM" else "3"
        return [make_warning("syntax:missing-keyword", section=section, **names)]
    rest = args[len(keyword) :]
    if not rest.lstrip().startswith(":"):
        return [make_warning("syntax:missing-colon", **names)]
    out = []
    if rest != rest.lstrip():
        out.append(make_warning("syntax:space-before-colon", **names))
    path = rest.lstrip()[1:]
    if path != path.lstrip():
        out.append(make_warning("syntax:space-after-colon", **names))
    path = path.strip()
    if not (path.startswith("<") and ">" in path):
        address = path.split(" ", 1)[0].strip("<>")
        out.append(make_warning("syntax:missing-brackets", address=address, **names))
    elif keyword == "TO" and path.startswith("<>"):
        out.append(make_warning("syntax:empty-recipient"))
    return out


_VERB_CHECKS: dict[str, _VerbCheck] = {
    "EHLO": _check_hello,
    "HELO": _check_hello,
    "MAIL": _check_mail,
    "RCPT": _check_rcpt,
    "DATA": _check_data,
    "STARTTLS": _check_starttls,
    "AUTH": _check_auth,
}
