"""The knowledge document: every static text a frame used to carry, once, under keys.

Lean frames (docs/protocol.md v2) carry keys into this document plus the facts of their own
reply; the pages fetch it once from a content-hashed address (``/knowledge/<hash>.json``,
cached for good), the exports and tests resolve the same keys in Python
(``smtp_session.guide.lean``). Each entry is built by the very function that builds the full
explanation, so a key resolves to exactly the text a full frame would carry.

Sections: ``layers`` (evidence layers by key, ``@early`` for the variant read before any
address was sent), ``codes`` (a reply code's summary), ``enhanced`` (an enhanced code
explained), ``commands``, ``params``, ``extensions`` (EHLO keywords), ``mechanisms`` (SASL),
``warnings`` (str.format templates) with ``limits`` (the values every template may name) and
``guide`` (texts the guide itself says).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from smtp_session.guide.check_base import LIMITS, TEXTS
from smtp_session.guide.guide import GREET_FIRST
from smtp_session.knowledge import (
    AUTH_MECHANISMS,
    COMMANDS,
    ENHANCED_DETAILS,
    ENHANCED_SUBJECTS,
    EXTENSIONS,
    PARAMETERS,
    REPLY_CODES,
    explain_enhanced,
    reply_knowledge,
)
from smtp_session.knowledge.ehlo import explain_capability, mechanism_facts
from smtp_session.knowledge.evidence import (
    _class_layer,
    _context_layer,
    _enhanced_layer,
    _server_layer,
)
from smtp_session.knowledge.explain import explain_command
from smtp_session.knowledge.server_texts import SERVER_TEXTS

VERSION = 2
EARLY = "@early"  # the enhanced layer's variant on the greeting or the EHLO/HELO reply
_COMMAND_FIELDS = ("summary", "syntax", "allowed_when", "extension", "replies", "rfc")
UNKNOWN_COMMAND = "command-unknown"
UNKNOWN_PARAM = "param-unknown"
GREET_FIRST_KEY = "greet-first"


def _layer(layer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layer.items() if k != "used"}


def _enhanced_codes() -> list[str]:
    """Every enhanced code the registry can explain: each class with each known detail."""
    details = {key.split(".", 1)[1] for key in ENHANCED_DETAILS}
    details |= {f"{s}.0" for s in ENHANCED_SUBJECTS}
    return [f"{k}.{d}" for k in (2, 4, 5) for d in sorted(details)]


def _layers() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for code, entry in REPLY_CODES.items():
        for context in (None, *entry.contexts):
            layer = _context_layer(code, context)
            if layer is not None:
                out[layer["key"]] = _layer(layer)
        out.setdefault(f"class:{code // 100}", _class_layer(code))
    for server in SERVER_TEXTS:
        layer = _server_layer(server)
        out[layer["key"]] = layer
    for enhanced in _enhanced_codes():
        info = explain_enhanced(enhanced)
        assert info is not None
        out[f"enhanced:{enhanced}"] = _enhanced_layer(info, None)
        early = _enhanced_layer(info, "greeting")
        if early != out[f"enhanced:{enhanced}"]:
            out[f"enhanced:{enhanced}{EARLY}"] = early
    return out


def _commands() -> dict[str, dict[str, Any]]:
    out = {}
    for verb in COMMANDS:
        full = explain_command(verb)
        out[verb] = {k: full[k] for k in _COMMAND_FIELDS}
    return out


def _params() -> dict[str, dict[str, Any]]:
    return {
        name: {
            "syntax": p.syntax,
            "meaning": p.meaning,
            "commands": list(p.commands),
            "extension": p.extension,
            "values": dict(p.values),
            "rfc": list(p.rfc),
        }
        for name, p in PARAMETERS.items()
    }


_EXT_FIELDS = ("known", "registered", "title", "explanation", "rfc", "key")


def _extensions() -> dict[str, dict[str, Any]]:
    out = {}
    for keyword in EXTENSIONS:
        cap = explain_capability("AUTH=LOGIN" if keyword == "AUTH=LOGIN" else keyword)
        assert cap is not None
        data = cap.to_dict()
        out[keyword] = {k: data[k] for k in _EXT_FIELDS}
    return out


def _guide() -> dict[str, dict[str, Any]]:
    unknown_verb = explain_command("XNOSUCHVERB")
    unknown_param = explain_command("MAIL FROM:<a@b.example> XNOSUCH=1")["parameters"][0]
    return {
        GREET_FIRST_KEY: {"says": GREET_FIRST["meaning"], "next": GREET_FIRST["next"]},
        UNKNOWN_COMMAND: {k: unknown_verb[k] for k in ("summary", "rfc", "replies")},
        UNKNOWN_PARAM: {"meaning": unknown_param["meaning"]},
        "mechanism-unknown": {"summary": mechanism_facts(("XNOSUCH",))[0]["summary"]},
    }


@lru_cache(maxsize=1)
def knowledge_document() -> dict[str, Any]:
    """The whole document (built once per process; the data files do not change under it)."""
    return {
        "version": VERSION,
        "layers": _layers(),
        "codes": {
            str(code): {k: reply_knowledge(code, None)[k] for k in ("summary", "known")}
            for code in REPLY_CODES
        },
        "enhanced": {code: explain_enhanced(code) for code in _enhanced_codes()},
        "commands": _commands(),
        "params": _params(),
        "extensions": _extensions(),
        "mechanisms": {name: mechanism_facts((name,))[0] for name in AUTH_MECHANISMS},
        "warnings": {code: {"message": m, "fix": f, "rfc": r} for code, (m, f, r) in TEXTS.items()},
        "limits": dict(LIMITS),
        "guide": _guide(),
    }


@lru_cache(maxsize=1)
def document_bytes() -> bytes:
    """The document as served: compact JSON, keys sorted so its hash is stable."""
    text = json.dumps(knowledge_document(), sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def document_hash() -> str:
    """The first 16 hex digits of the document's SHA-256: its address changes with its text."""
    return hashlib.sha256(document_bytes()).hexdigest()[:16]


def document_path() -> str:
    """Where the pages fetch it: ``/knowledge/<hash>.json``."""
    return f"/knowledge/{document_hash()}.json"
