"""Checks of MAIL FROM and RCPT TO: the path's grammar and size, and each ESMTP parameter.

The argument is parsed once, by :func:`smtp_session.knowledge.paths.parse_path`; each rule
names its source. Parameter values are checked against their extension's grammar, and against
what the server offered in its EHLO reply when the session knows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from smtp_session.guide.check_base import CheckWarning, live, make_warning
from smtp_session.guide.transaction import Transaction
from smtp_session.knowledge import PARAMETERS
from smtp_session.knowledge.limits import MAX_LOCAL_PART, MAX_PATH, octets
from smtp_session.knowledge.paths import PathArgument, parse_path

_SECTION = {"FROM": "2", "TO": "3"}  # RFC 5321 §4.1.1.2 MAIL, §4.1.1.3 RCPT

# name: (value grammar, what is allowed, an example, source)
_VALUES: dict[str, tuple[re.Pattern[str], str, str, str]] = {
    # RFC 1870 §3: size-value ::= 1*20DIGIT
    "SIZE": (re.compile(r"^\d{1,20}$"), "a number of octets", "12345", "RFC 1870 §3"),
    # RFC 6152 §2 and RFC 3030 §3: BODY=7BIT / 8BITMIME / BINARYMIME
    "BODY": (
        re.compile(r"^(7BIT|8BITMIME|BINARYMIME)$", re.I),
        "7BIT, 8BITMIME or BINARYMIME",
        "8BITMIME",
        "RFC 6152 §2, RFC 3030 §3",
    ),
    # RFC 3461 §4.3: RET=FULL / HDRS
    "RET": (re.compile(r"^(FULL|HDRS)$", re.I), "FULL or HDRS", "HDRS", "RFC 3461 §4.3"),
    # RFC 3461 §4.1: NOTIFY=NEVER, or a list of SUCCESS, FAILURE, DELAY
    "NOTIFY": (
        re.compile(r"^(NEVER|(SUCCESS|FAILURE|DELAY)(,(SUCCESS|FAILURE|DELAY))*)$", re.I),
        "NEVER, or a comma list of SUCCESS, FAILURE, DELAY",
        "FAILURE,DELAY",
        "RFC 3461 §4.1",
    ),
    # RFC 6710 §3: priority-value ::= [ "-" / "+" ] DIGIT, from -9 to 9
    "MT-PRIORITY": (re.compile(r"^[+-]?\d$"), "a number from -9 to 9", "3", "RFC 6710 §3"),
}
# The BODY values that need an extension of their own (RFC 6152 §3, RFC 3030 §3).
_BODY_NEEDS = {"8BITMIME": "8BITMIME", "BINARYMIME": "BINARYMIME"}


def _syntax(verb: str, path: PathArgument, keyword: str) -> list[CheckWarning]:
    """RFC 5321 §4.1.2: "MAIL FROM:<reverse-path>" / "RCPT TO:<forward-path>", no spaces."""
    names = {"verb": verb, "keyword": keyword}
    if path.keyword != keyword:
        return [make_warning("syntax:missing-keyword", section=_SECTION[keyword], **names)]
    if not path.colon:
        return [make_warning("syntax:missing-colon", **names)]
    out = []
    if path.space_before_colon:
        out.append(make_warning("syntax:space-before-colon", **names))
    if path.space_after_colon:
        out.append(make_warning("syntax:space-after-colon", **names))
    address = (path.address or "").lstrip("<")
    if not path.bracketed:
        out.append(make_warning("syntax:missing-brackets", address=address, **names))
    elif path.path.startswith("<<") or path.path.endswith(">>"):
        out.append(make_warning("syntax:extra-bracket", path=path.path, address=address, **names))
    elif keyword == "TO" and path.path == "<>":
        out.append(make_warning("syntax:empty-recipient"))
    return out + _mailbox(keyword, address, path)


def _mailbox(keyword: str, address: str, path: PathArgument) -> list[CheckWarning]:
    """The mailbox inside the brackets: one @, a domain, and the RFC 5321 §4.5.3.1 sizes."""
    if not address:
        return []
    out = []
    local = address.rsplit("@", 1)[0] if not address.startswith('"') else address
    if address.count("@") > 1 and not address.startswith('"'):
        out.append(make_warning("syntax:two-ats", address=address))
    elif "@" not in address and keyword == "TO" and address.lower() != "postmaster":
        # RFC 5321 §4.1.1.3: only "<Postmaster>" may omit the domain.
        out.append(make_warning("syntax:recipient-without-domain", address=address))
    if octets(local) > MAX_LOCAL_PART:
        out.append(make_warning("syntax:local-part-too-long", size=octets(local)))
    size = octets(path.path) if path.bracketed else octets(address) + 2
    if size > MAX_PATH:
        out.append(make_warning("syntax:path-too-long", size=size))
    return out


def _params(verb: str, path: PathArgument, tx: Transaction) -> list[CheckWarning]:
    out: list[CheckWarning] = []
    seen: set[str] = set()
    for name, value in path.params:
        if name in seen:
            out.append(make_warning("param:repeated", name=name))
            continue
        seen.add(name)
        out += _value(verb, name, value)
        out += _offer(name, value, tx)
    return out


def _value(verb: str, name: str, value: str | None) -> list[CheckWarning]:
    known = PARAMETERS.get(name)
    if known is not None and verb not in known.commands:
        return [
            make_warning(
                "param:wrong-command", name=name, verb=verb, commands=" or ".join(known.commands)
            )
        ]
    rule = _VALUES.get(name)
    if rule is None:
        return []
    pattern, allowed, example, rfc = rule
    values = {"name": name, "allowed": allowed, "example": example, "rfc": rfc}
    if value is None:
        return [make_warning("param:missing-value", **values)]
    if not pattern.match(value):
        return [make_warning("param:bad-value", value=value, **values)]
    return []


def _offer(name: str, value: str | None, tx: Transaction) -> list[CheckWarning]:
    """RFC 5321 §4.1.1.11: a parameter of an extension the server did not offer gets 555."""
    known = PARAMETERS.get(name)
    if known is None or not live(tx) or tx.hello != "EHLO":
        return []
    extension = known.extension
    shown = ""
    if name == "BODY":
        extension = _BODY_NEEDS.get((value or "").upper(), "")
        shown = f"={value}"
    if extension and extension not in tx.capabilities:
        return [
            make_warning(
                "param:not-offered",
                name=name,
                shown=shown,
                extension=extension,
                rfc=" ".join(known.rfc[:1]) or "RFC 5321 §4.1.1.11",
            )
        ]
    if name == "SIZE" and value and value.isdigit():
        return _size_limit(int(value), tx)
    return []


def _size_limit(size: int, tx: Transaction) -> list[CheckWarning]:
    limit = (tx.capability_params.get("SIZE") or [""])[0]
    if limit.isdigit() and int(limit) > 0 and size > int(limit):  # SIZE 0: no fixed limit
        return [make_warning("param:size-over-limit", size=size, limit=int(limit))]
    return []


def _check_path(keyword: str) -> Callable[[str, str, Transaction, bool], list[CheckWarning]]:
    def check(verb: str, args: str, tx: Transaction, sandbox: bool) -> list[CheckWarning]:
        path = parse_path(args)
        out = _syntax(verb, path, keyword)
        if path.keyword == keyword and path.colon:
            out += _params(verb, path, tx) + _utf8(verb, path, tx)
        return _order(verb, tx) + out

    return check


def _utf8(verb: str, path: PathArgument, tx: Transaction) -> list[CheckWarning]:
    """RFC 6531 §3.4: an envelope with a non-ASCII mailbox needs SMTPUTF8 on its MAIL FROM,
    which only a server that offered SMTPUTF8 accepts (without it, a server reading commands
    as ASCII refuses the whole line). A RCPT is warned when its transaction's MAIL FROM did
    not carry it; a MAIL FROM that names SMTPUTF8 unoffered has ``param:not-offered``."""
    if path.address is None or path.address.isascii():
        return []
    if verb == "MAIL" and "SMTPUTF8" not in path.param_dict:
        return [make_warning("client:utf8-without-smtputf8")]
    if verb == "RCPT" and live(tx) and tx.mail_from is not None and not tx.mail_smtputf8:
        return [make_warning("client:utf8-without-smtputf8")]
    return []


def _order(verb: str, tx: Transaction) -> list[CheckWarning]:
    if not live(tx):
        return []
    if verb == "RCPT" and tx.hello is None:  # the server's 503 will say "greet first"
        return [make_warning("order:hello-first", verb=verb)]
    if verb == "RCPT":
        return [make_warning("order:rcpt-before-mail")] if tx.mail_from is None else []
    if tx.hello is None:
        return [make_warning("order:mail-before-hello")]
    if tx.mail_from is not None:
        return [make_warning("order:mail-in-transaction")]
    return []


check_mail = _check_path("FROM")
check_rcpt = _check_path("TO")
