"""Bounce messages: each recipient's outcome, from a DSN or from the NDR text MTAs write.

A DSN (RFC 3464) carries a ``message/delivery-status`` part: per-message fields
(Reporting-MTA, Arrival-Date) then one group per recipient (Final-Recipient, Action, Status,
Remote-MTA, Diagnostic-Code). Support teams also paste the human part alone, so the texts of
Postfix, Exim, qmail, Gmail and Exchange non-delivery reports are read too, and flufl.bounce
(which knows many more MTAs' formats) finds failed recipients the rest missed. Each
recipient's diagnostic reply is explained like any other reply (``explain.explain_reply``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_string
from email.message import Message
from email.policy import compat32

from flufl.bounce import all_failures

# RFC 3464 §2.3.3: what the reporting MTA did for this recipient.
ACTIONS = {
    "failed": "The message could not be delivered to this recipient, and will not be.",
    "delayed": "Not delivered yet; the reporting MTA keeps trying (this is a warning).",
    "delivered": "Delivered to this recipient.",
    "relayed": "Passed on to a system that sends no further status.",
    "expanded": "Delivered, and forwarded on to several addresses (a list or alias).",
}
# What the diagnostic answered, from the words NDRs use ("in reply to RCPT TO command").
_AFTER = (
    (re.compile(r"end of data|after I sent the message|DATA command", re.I), "end-of-data"),
    (re.compile(r"RCPT|does not like recipient", re.I), "RCPT"),
    (re.compile(r"MAIL", re.I), "MAIL"),
    (re.compile(r"greeting|banner|refused to talk", re.I), "greeting"),
    (re.compile(r"EHLO|HELO", re.I), "EHLO"),
)
_ADDR = r"[^\s<>()\"';,]+@[^\s<>()\"';,]+"
# Postfix: "<a@b>: host mx[1.2.3.4] said: 550 ... (in reply to RCPT TO command)"
_POSTFIX = re.compile(
    rf"<?({_ADDR})>?:\s+host\s+(\S+?)\[[^\]]*\]\s+(?:said|refused to talk to me):\s+"
    r"(.+?)\s*(?:\(in reply to (.+?) command\)|\n\s*\n|\Z)",
    re.S,
)
# Exim: "  a@b" / "    host mx [1.2.3.4]" / "    SMTP error from remote mail server after
# RCPT TO:<a@b>:" / "    550 ..."
_EXIM = re.compile(
    rf"^\s*({_ADDR})\s*\n\s+host\s+(\S+)\s+\[[^\]]*\]\s*\n\s+SMTP error from remote mail "
    r"server after ([^\n]*?):\s*\n(.+?)(?=\n\s*\n|\n\S|\Z)",
    re.M | re.S,
)
# qmail: "<a@b>:\n1.2.3.4 does not like recipient.\nRemote host said: 550 ..."
_QMAIL = re.compile(
    rf"^<({_ADDR})>:\s*\n(?:(?!Remote host said:).*\n)*?(.*?)\n?"
    r"Remote host said: (.+?)(?=\n\s*\n|\Z)",
    re.M | re.S,
)
# Sendmail's transcript: ">>> RCPT To:<a@b>" then the server's "<<< 550 ..." lines
_SENDMAIL = re.compile(
    rf">>> (RCPT To|MAIL From|DATA)\s*:?\s*<?({_ADDR})?>?[^\n]*\n((?:<<< [^\n]*(?:\n|$))+)",
    re.I,
)
# Gmail: "... to a@b ... The response from the remote server was:\n550 5.1.1 ..."
_GMAIL = re.compile(
    r"(?:The response from the remote server was|The error that the other server returned "
    r"was):?\s*\n?\s*(\d{3}[ -].+?)(?=\n\s*\n|\Z)",
    re.S,
)
# Exchange: "a@b\nRemote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; ...'"
_EXCHANGE = re.compile(r"Remote Server returned '([^']+)'", re.S)


@dataclass
class Outcome:
    """What happened to one recipient, as the bounce tells it."""

    recipient: str
    found_by: str
    action: str | None = None
    status: str | None = None
    remote_mta: str | None = None
    diagnostic: str | None = None
    after: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def reply_lines(diagnostic: str) -> str:
    """Rebuild a reply's lines from a diagnostic that an NDR folded onto one line."""
    text = re.sub(r"^\s*smtp\s*;\s*", "", diagnostic.strip(), flags=re.I)
    text = re.sub(r"\s*\n\s*", " ", text)
    m = re.match(r"(\d{3})[ -]", text)
    if not m:
        return text
    parts = re.split(rf"\s+(?={m.group(1)}[ -])", text)
    if len(parts) > 1 and parts[-1][3:4] == "-":
        parts[-1] = parts[-1][:3] + " " + parts[-1][4:]
    return "\r\n".join(parts)


def _after(words: str | None) -> str | None:
    for pattern, context in _AFTER:
        if words and pattern.search(words):
            return context
    return None


def _dsn_groups(msg: Message) -> list[Message]:
    groups: list[Message] = []
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            groups += (
                [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
            )
    return groups


def _text_groups(text: str) -> list[Message]:
    """RFC 3464 fields pasted as plain text (no MIME): split at blank lines, keep field blocks."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    keep = [b for b in blocks if re.search(r"^(Final-Recipient|Reporting-MTA):", b, re.I | re.M)]
    return [message_from_string(b.strip() + "\n\n", policy=compat32) for b in keep]


def _from_dsn(groups: list[Message]) -> tuple[dict[str, str], list[Outcome]]:
    per_message: dict[str, str] = {}
    out: list[Outcome] = []
    for group in groups:
        fields = {k.lower(): " ".join(str(v).split()) for k, v in group.items()}
        final = fields.get("final-recipient") or fields.get("original-recipient")
        if not final:
            per_message.update(fields)
            continue
        diagnostic = fields.get("diagnostic-code")
        out.append(
            Outcome(
                recipient=final.split(";", 1)[-1].strip(),
                found_by="dsn",
                action=(fields.get("action") or "").lower() or None,
                status=(fields.get("status") or "").split()[0] if fields.get("status") else None,
                remote_mta=(fields.get("remote-mta") or "").split(";", 1)[-1].strip() or None,
                diagnostic=diagnostic.split(";", 1)[-1].strip() if diagnostic else None,
                fields=fields,
            )
        )
    return per_message, out


def _from_text(text: str) -> list[Outcome]:
    text = text.replace("\r\n", "\n")
    out = [
        Outcome(
            m.group(1),
            "postfix",
            remote_mta=m.group(2),
            diagnostic=m.group(3),
            after=_after(m.group(4) or ""),
        )
        for m in _POSTFIX.finditer(text)
    ]
    out += [
        Outcome(
            m.group(1),
            "exim",
            remote_mta=m.group(2),
            diagnostic=m.group(4),
            after=_after(m.group(3)),
        )
        for m in _EXIM.finditer(text)
    ]
    out += [
        Outcome(m.group(1), "qmail", diagnostic=m.group(3), after=_after(m.group(2)))
        for m in _QMAIL.finditer(text)
    ]
    for m in _SENDMAIL.finditer(text):
        lines = "\r\n".join(line[4:] for line in m.group(3).splitlines())
        out.append(
            Outcome(
                m.group(2) or "(not named)", "sendmail", diagnostic=lines, after=_after(m.group(1))
            )
        )
    for pattern, name in ((_GMAIL, "gmail"), (_EXCHANGE, "exchange")):
        for m in pattern.finditer(text):
            before = re.findall(_ADDR, text[: m.start()])
            out.append(
                Outcome(
                    before[-1].strip(".") if before else "(not named)", name, diagnostic=m.group(1)
                )
            )
    return out


def _by_flufl(msg: Message, known: set[str]) -> list[Outcome]:
    if msg.get("From") is None:
        return []  # a pasted NDR text, not a message: its detectors read the headers
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - its detectors raise on input they do not know
        return []
    out = []
    for action, found in (("delayed", temporary), ("failed", permanent)):
        for raw in sorted(found):
            address = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            if address.lower() not in known:
                out.append(Outcome(address, "flufl.bounce", action=action))
    return out


def parse_bounce(text: str) -> tuple[dict[str, str], list[Outcome]]:
    """Per-message DSN fields and every recipient's outcome found in a bounce."""
    msg = message_from_string(text, policy=compat32)
    per_message, outcomes = _from_dsn(_dsn_groups(msg) or _text_groups(text))
    if not outcomes:
        outcomes = _from_text(text)
    known = {o.recipient.lower() for o in outcomes}
    outcomes += _by_flufl(msg, known)
    return per_message, outcomes
