"""Explain a whole bounce message: each recipient's outcome, its status and its reply."""

from __future__ import annotations

from typing import Any

from smtp_session.knowledge import explain_enhanced
from smtp_session.knowledge.bounces import ACTIONS, Outcome, parse_bounce, reply_lines
from smtp_session.knowledge.explain import explain_reply
from smtp_session.wire.reply import parse_reply


def _recipient(outcome: Outcome) -> dict[str, Any]:
    reply = None
    if outcome.diagnostic:
        lines = outcome.diagnostic
        if "\r\n" not in lines:
            lines = reply_lines(lines)
        parsed = parse_reply(lines)
        if isinstance(parsed.code, int):
            reply = explain_reply(parsed, outcome.after)
    status = explain_enhanced(outcome.status) if outcome.status else None
    if status is None and reply is not None:
        status = reply["enhanced"]
    action = outcome.action or _action_of(reply)
    return {
        "recipient": outcome.recipient,
        "found_by": outcome.found_by,
        "action": action,
        "action_meaning": ACTIONS.get(action or ""),
        "status": status,
        "remote_mta": outcome.remote_mta,
        "diagnostic": outcome.diagnostic,
        "after": outcome.after,
        "reply": reply,
        "summary": _summary(action, status, reply),
    }


def _action_of(reply: dict[str, Any] | None) -> str | None:
    """An NDR without DSN fields: a 5xx failed, a 4xx is still being retried."""
    if reply is None:
        return None
    return {"permanent": "failed", "transient": "delayed"}.get(reply["class"])


def _summary(
    action: str | None, status: dict[str, Any] | None, reply: dict[str, Any] | None
) -> str:
    if reply is not None:
        return str(reply["meaning"])
    if status is not None:
        return str(status["explanation"])
    return ACTIONS.get(action or "", "The bounce names this recipient but gives no reason.")


def explain_bounce(text: str) -> dict[str, Any]:
    """Every recipient's outcome in a bounce or DSN (RFC 3464), each explained."""
    per_message, outcomes = parse_bounce(text)
    recipients = [_recipient(o) for o in outcomes]
    return {
        "reporting_mta": (per_message.get("reporting-mta") or "").split(";", 1)[-1].strip() or None,
        "arrival_date": per_message.get("arrival-date"),
        "recipients": recipients,
        "found": bool(recipients),
        "rfc": ["RFC 3464 §2", "RFC 3463"],
        "keys": sorted({k for r in recipients if r["reply"] for k in r["reply"]["keys"]}),
    }
