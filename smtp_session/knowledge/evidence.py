"""A reply's explanation built from layered evidence, most specific first.

Four layers can say something about a reply, each on its own terms:

1. ``enhanced``: the RFC 3463 code, read exactly, even when its class disagrees with the reply
   code (RFC 3463 §2 says they must agree; the reply code decides, RFC 5321 §4.2.1);
2. ``context``: the reply code in the context of what it answered (RFC 5321 §4.3.2 and the
   extensions' own lists), or the code's generic meaning when no context is known (``reply``);
3. ``server``: a recognisable text of a widely used server or provider (server_texts.json);
4. ``class``: the first digit alone (RFC 5321 §4.2.1), said plainly as the fallback.

The headline (``meaning``/``next``) follows the most specific layer that matched: a vendor's
documented words, then a registered enhanced detail, then a convention many servers share,
then the context; weak hints, the generic code and the class come last. Every layer that matched
is returned in ``evidence``; where two disagree, ``contradictions`` says so and which one won.
"""

from __future__ import annotations

from typing import Any

from smtp_session.knowledge.enhanced import ENHANCED_DETAILS, explain_enhanced
from smtp_session.knowledge.replies import FIRST_DIGIT, REPLY_CODES, reply_knowledge
from smtp_session.knowledge.server_texts import ServerText, match_server_text
from smtp_session.wire.reply import Reply

# Headline order: a lower rank wins.
_RANKS: dict[str, float] = {
    "context:defining": 0,
    "server:vendor": 1,
    "enhanced:specific": 2,
    "server:convention": 3,
    "enhanced:broad": 3.5,
    "context:command": 4,
    "enhanced:general": 5,
    "server:weak": 6,
    "reply:generic": 7,
    "class": 8,
}
CLASS_WORDS = {2: "success", 3: "intermediate", 4: "transient failure", 5: "permanent failure"}


# RFC 2034 §3: no enhanced code belongs on the greeting or the EHLO/HELO reply; one there
# is the server's own addition, and an address or mailbox subject cannot be about a session
# in which no address was sent yet.
_NO_ADDRESS_YET = ("greeting", "EHLO", "HELO")
# X.5.1 invalid command, X.5.2 syntax error, X.5.4 invalid arguments only restate what
# 500/501/503/504 already say; the command's context says more.
_RESTATES_THE_CODE = (1, 2, 4)
# X.7.1 is the catch-all most servers put on any policy refusal (RFC 3463 §3.8): a server's
# words that name the reason say more, the command's context says less.
_BROAD = {(7, 1)}


def _enhanced_layer(info: dict[str, Any], context: str | None) -> dict[str, Any]:
    klass, subject_n, detail_n = (int(part) for part in info["code"].split("."))
    registry = ENHANCED_DETAILS.get(f"X.{subject_n}.{detail_n}")
    if klass == 2:  # a 2.x.x code reports success (see enhanced._success)
        says = info["explanation"]
        strength = "general"
    else:
        says = info["explanation"]
        strength = "specific" if info["known"] and detail_n != 0 else "general"
        if subject_n == 5 and detail_n in _RESTATES_THE_CODE:
            strength = "general"
        elif (subject_n, detail_n) in _BROAD:
            strength = "broad"
        if context in _NO_ADDRESS_YET and subject_n in (1, 2):
            strength = "general"
            says += " (No address was sent yet, so here it only marks the failure's class.)"
    layer = {
        "layer": "enhanced",
        "key": f"enhanced:{info['code']}",
        "strength": strength,
        "says": says,
        "next": registry.next if registry and klass != 2 else None,
        "rfc": info["rfc"],
    }
    if registry is not None and registry.deprecated:
        layer["says"] += " (A deprecated registry entry.)"
    return layer


def _context_layer(code: int, context: str | None) -> dict[str, Any] | None:
    info = reply_knowledge(code, context)
    if not info["known"]:
        return None
    if info["context"]:
        key, kind = f"reply:{code}:{info['context']}", "context"
        says = f"In answer to {_context_name(info['context'])}: {info['meaning']}"
        defines = REPLY_CODES[code].contexts[info["context"]].defines
        strength = "defining" if defines else "command"
    else:
        key, kind, strength = f"reply:{code}", "reply", "generic"
        says = info["meaning"]
    return {
        "layer": kind,
        "key": key,
        "strength": strength,
        "says": says,
        "next": info["next"],
        "rfc": info["rfc"],
    }


def _context_name(context: str) -> str:
    return {"greeting": "the connection (greeting)", "end-of-data": "the final dot"}.get(
        context, "the answer to a challenge" if context == "auth-response" else context
    )


def _server_layer(entry: ServerText) -> dict[str, Any]:
    return {
        "layer": "server",
        "key": f"server:{entry.key}",
        "strength": entry.strength,
        "servers": list(entry.servers),
        "says": entry.meaning,
        "next": entry.next,
        "source": entry.source,
        "rfc": [entry.source] if entry.source.startswith("RFC ") else [],
    }


def _class_layer(code: int) -> dict[str, Any]:
    first = code // 100
    _, title, advice = FIRST_DIGIT.get(first, (None, "Not an SMTP reply class", "Odd."))
    info = reply_knowledge(code, None)
    return {
        "layer": "class",
        "key": f"class:{first}",
        # A code the table lacks: its two first digits are all there is (RFC 5321 §4.2.1).
        "says": f"{title}: {advice}" if info["known"] else info["meaning"],
        "next": advice,
        "rfc": ["RFC 5321 §4.2.1"],
    }


def _rank(layer: dict[str, Any]) -> float:
    name = layer["layer"]
    return _RANKS[f"{name}:{layer['strength']}" if "strength" in layer else name]


def _contradictions(
    code: int, context: str | None, layers: list[dict[str, Any]], server: ServerText | None
) -> list[str]:
    out: list[str] = []
    found = next((la for la in layers if la["layer"] == "enhanced"), None)
    if found is None:
        return out
    enhanced = found["key"].split(":", 1)[1]
    if int(enhanced[0]) != code // 100:
        out.append(
            f"The enhanced code {enhanced} is of class {enhanced[0]} "
            f"({CLASS_WORDS.get(int(enhanced[0]), '?')}) but the reply code {code} is a "
            f"{CLASS_WORDS.get(code // 100, '?')}; the reply code decides (RFC 5321 §4.2.1), "
            "so read the enhanced code only for its subject and detail."
        )
    generic = "X." + enhanced.split(".", 1)[1]
    if server is not None and generic in server.reuses:
        registry = ENHANCED_DETAILS.get(generic)
        out.append(
            f'The registry gives {enhanced} as "{registry.title if registry else "?"}", '
            f"but {', '.join(server.servers)} use it for something else; the server's own "
            "words are more specific, so this explanation follows them."
        )
    specific = any(
        la["layer"] == "enhanced" and la["strength"] in ("specific", "broad") for la in layers
    )
    entry = REPLY_CODES.get(code)
    ctx = entry.contexts.get(context) if entry and context else None
    if specific and ctx is not None and ctx.enhanced and generic not in ctx.enhanced:
        registry = ENHANCED_DETAILS.get(generic)
        out.append(
            f"In answer to {_context_name(context or '')}, {code} usually means: {ctx.meaning} "
            f'But the enhanced code {enhanced} says "{registry.title if registry else "?"}"; '
            "the enhanced code is more specific, so this explanation follows it."
        )
    return out


def layered(reply: Reply, context: str | None) -> dict[str, Any]:
    """Evidence, headline and contradictions for a reply with a readable code."""
    assert isinstance(reply.code, int)
    code = reply.code
    layers: list[dict[str, Any]] = []
    enhanced = explain_enhanced(reply.enhanced) if reply.enhanced else None
    if enhanced is not None:
        layers.append(_enhanced_layer(enhanced, context))
    ctx_layer = _context_layer(code, context)
    if ctx_layer is not None:
        layers.append(ctx_layer)
    server = match_server_text(code, "\n".join(reply.lines))
    if server is not None:
        layers.append(_server_layer(server))
    layers.append(_class_layer(code))
    best = min(layers, key=_rank)
    mismatch = enhanced is not None and int(enhanced["code"][0]) != code // 100
    for layer in layers:
        layer["used"] = layer is best
    # The headline's "what next" must fit the reply's class: a 550 with a 4.x.x code is
    # permanent, whatever the enhanced code's own advice assumes.
    own_advice_fits = not (mismatch and best["layer"] == "enhanced")
    next_step = best["next"] if best["next"] and own_advice_fits else None
    if next_step is None:
        fallback = ctx_layer if ctx_layer is not None and not mismatch else layers[-1]
        next_step = fallback["next"]
    return {
        "layer": best["key"],
        "specific": _rank(best) <= _RANKS["context:command"],
        "meaning": best["says"],
        "next": next_step,
        "evidence": layers,
        "contradictions": _contradictions(code, context, layers, server),
        "enhanced": enhanced,
    }
