"""Explain replies and commands from the knowledge base, as JSON-ready dicts.

The live panels, the replay page, the HTTP explain endpoint and the tests all call these, so
every explanation of a code or keyword comes from ``smtp_session.knowledge`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.knowledge import (
    AUTH_MECHANISMS,
    COMMANDS,
    PARAMETERS,
    explain_ehlo,
    explain_enhanced,
    normalize_after,
    parse_command,
    reply_knowledge,
)
from smtp_session.knowledge.command_line import CommandLine
from smtp_session.knowledge.ehlo import mechanism_facts
from smtp_session.knowledge.evidence import layered
from smtp_session.knowledge.facts import challenge_of, greeting_facts, queue_id_of
from smtp_session.wire.reply import CODE_CHANGES, Reply

# The HTTP API takes at most this much text, the same bound as one reply (reply.MAX_REPLY_BYTES).
MAX_REQUEST_BYTES = 64 * 1024
MAX_AFTER_CHARS = 64


class ExplainError(PlaygroundError):
    """An explain request that cannot be answered as given."""

    code = "bad_explain_request"


def _ehlo_facts(reply: Reply) -> dict[str, Any]:
    caps = explain_ehlo(reply)
    first = reply.texts[0].split() if reply.texts else []
    return {"domain": first[0] if first else None, "capabilities": [c.to_dict() for c in caps]}


# (code, contexts it applies to) -> what we can derive from the reply text.
_FACT_RULES: tuple[tuple[int, tuple[str, ...], Callable[[Reply], dict[str, Any]]], ...] = (
    (334, ("AUTH", "auth-response", ""), lambda r: challenge_of(r.texts[0] if r.texts else "")),
    (250, ("end-of-data", "BDAT"), lambda r: queue_id_of(r.text)),
    (250, ("EHLO",), _ehlo_facts),
    (220, ("greeting",), lambda r: greeting_facts(r.texts[0] if r.texts else "")),
)


# Replies whose facts are their own and never recur (a queue id per message): caching their
# explanations would only evict the ones that do repeat and pin memory that is never reused.
_ONE_OFF: frozenset[tuple[int, str]] = frozenset({(250, "end-of-data"), (250, "BDAT")})


def one_off(code: Any, after: str | None) -> bool:
    """True for a reply worth explaining afresh each time, never caching (see _ONE_OFF)."""
    context = normalize_after(after) if isinstance(after, str) else None
    return (code, context or "") in _ONE_OFF


def _facts(reply: Reply, context: str | None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for code, contexts, derive in _FACT_RULES:
        if reply.code == code and (context or "") in contexts:
            facts.update(derive(reply))
    if reply.line_endings != "CRLF":
        # RFC 5321 §2.3.8: lines end in CRLF; a bare LF or CR is a server bug worth showing.
        facts["line_endings"] = reply.line_endings
    return facts


def _keys(code: int, evidence: list[dict[str, Any]], facts: dict[str, Any]) -> list[str]:
    keys = [f"reply:{code}"]
    for layer in ("context", "enhanced", "server"):
        keys += [e["key"] for e in evidence if e["layer"] == layer]
    for cap in facts.get("capabilities", ()):
        if cap["key"]:
            keys.append(cap["key"])
    return keys


def explain_reply(reply: Reply, after: str | None = None) -> dict[str, Any]:
    """Explain a server reply, in the context of what it answered ("RCPT", "greeting", ...)."""
    context = normalize_after(after) if isinstance(after, str) else None
    readable = reply.malformed is None or reply.malformed == CODE_CHANGES
    if not readable or not isinstance(reply.code, int) or not 200 <= reply.code <= 599:
        return _explain_malformed(reply, context)
    info = reply_knowledge(reply.code, context)
    found = layered(reply, context)
    facts = _facts(reply, context)
    keys = _keys(reply.code, found["evidence"], facts)
    rfc = [r for e in found["evidence"] for r in e["rfc"]]
    if reply.malformed:
        keys.append("reply:malformed")
        rfc.append("RFC 5321 §4.2.1")
    return {
        "code": reply.code,
        "class": reply.reply_class,
        "summary": info["summary"],
        "meaning": found["meaning"],
        "next": found["next"],
        "rfc": list(dict.fromkeys(rfc)),
        "known": info["known"],
        "context": info["context"],
        "text": reply.text,
        "lines": list(reply.lines),
        "enhanced": found["enhanced"],
        "malformed": reply.malformed,
        "facts": facts,
        "layer": found["layer"],
        "specific": found["specific"],
        "evidence": found["evidence"],
        "contradictions": found["contradictions"],
        "keys": keys,
    }


def _explain_malformed(reply: Reply, context: str | None) -> dict[str, Any]:
    problem = reply.malformed or "the reply has no three-digit code"
    meaning = f"The server's reply breaks the SMTP reply grammar: {problem}."
    code = reply.code if isinstance(reply.code, int) else None
    if code is not None and 200 <= code <= 599:
        meaning += f" Read loosely, {code} would mean: {reply_knowledge(code, context)['summary']}."
    return {
        "code": code,
        "class": reply.reply_class if code is not None else None,
        "summary": "Malformed reply",
        "meaning": meaning,
        "next": "Treat the server's answer with suspicion; QUIT if it keeps happening.",
        "rfc": ["RFC 5321 §4.2", "RFC 5321 §4.5.3.1.5"],
        "known": False,
        "context": context,
        "text": "\n".join(reply.lines),
        "lines": list(reply.lines),
        "enhanced": None,
        "malformed": problem,
        "facts": {"lines": list(reply.lines), "truncated": reply.truncated},
        "layer": None,
        "specific": False,
        "evidence": [],
        "contradictions": [],
        "keys": ["reply:malformed"],
    }


def _explain_params(cmd: CommandLine) -> list[dict[str, Any]]:
    out = []
    for name, value in cmd.params.items():
        param = PARAMETERS.get(name)
        entry: dict[str, Any] = {"name": name, "value": value, "known": param is not None}
        if param is not None:
            entry.update(
                syntax=param.syntax,
                meaning=param.meaning,
                commands=list(param.commands),
                extension=param.extension,
                value_meaning=param.values.get((value or "").upper()),
                rfc=list(param.rfc),
            )
        else:
            entry["meaning"] = (
                "A parameter this playground does not know; the server may refuse it (555)."
            )
        out.append(entry)
    return out


def _command_facts(cmd: CommandLine) -> dict[str, Any]:
    words = cmd.words
    if cmd.verb in ("EHLO", "HELO"):
        return {"domain": words[0] if words else None}
    if cmd.verb == "AUTH" and words:
        # Never decode the initial response: it carries the password.
        mech = mechanism_facts(words[:1])[0]
        return {"mechanism": mech, "initial_response": len(words) > 1}
    if cmd.verb == "BDAT":
        size = words[0] if words else ""
        return {
            "chunk_size": int(size) if size.isdigit() else None,
            "last": len(words) > 1 and words[1].upper() == "LAST",
        }
    if cmd.verb == "MAIL" and cmd.address == "":
        return {"null_sender": True}  # RFC 5321 §4.5.5: <> is for bounces and notifications
    return {}


def explain_command(line: str) -> dict[str, Any]:
    """Explain a command line: verb, address, parameters, and what the command does."""
    cmd = parse_command(line)
    known = COMMANDS.get(cmd.verb)
    params = _explain_params(cmd)
    facts = _command_facts(cmd) if known else {}
    keys = [f"command:{cmd.verb}"] if known else []
    keys += [f"param:{p['name']}" for p in params if p["known"]]
    mech = facts.get("mechanism")
    if mech and mech["name"] in AUTH_MECHANISMS:
        keys.append(f"auth:{mech['name']}")
    result: dict[str, Any] = {
        "line": cmd.raw,
        "verb": cmd.verb,
        "known": known is not None,
        "argument": cmd.argument,
        "address": cmd.address,
        "params": dict(cmd.params),
        "parameters": params,
        "facts": facts,
        "keys": keys,
    }
    if known is None:
        result.update(summary="Not an SMTP command this playground knows.", rfc=[], replies=[])
        return result
    data = known.to_dict()
    result.update(
        {k: data[k] for k in ("summary", "syntax", "allowed_when", "extension", "replies", "rfc")}
    )
    return result


# Warnings that hold whatever the session's state: the API sees a command on its own, so it
# leaves out those about order (RCPT before MAIL...) and about what a server offered.
_CONTEXT_FREE = (
    "syntax:",
    "verb:",
    "line:",
    "auth:not-base64",
    "auth:plain-format",
    "auth:missing-mechanism",
    "param:bad-value",
    "param:missing-value",
    "param:repeated",
    "param:wrong-command",
    "bdat:bad-count",
)


def command_warnings(line: str) -> list[dict[str, Any]]:
    """The mistakes a command line shows by itself (syntax, spelling, length), with the fix."""
    from smtp_session.guide.checker import (
        check_command,  # the checker builds on this module's tables
    )
    from smtp_session.guide.transaction import Transaction

    warnings = check_command(line, Transaction(), sandbox=False)
    return [w.to_dict() for w in warnings if w.code.startswith(_CONTEXT_FREE)]


__all__ = [
    "command_warnings",
    "ExplainError",
    "explain_command",
    "explain_ehlo",
    "explain_enhanced",
    "explain_reply",
]
