"""Lean frames (docs/protocol.md v2): keys into the knowledge document, state as changes.

The Guide builds every frame in full (the recorder, the exports and ``"frames": "full"``
read that); :class:`LeanEncoder` turns one receiver's frames into the lean shape just before
they leave, and :class:`FrameReader` turns them back (the tests, the exports' check; the
browser's twin is ``static/js/knowledge.js``). A lean explanation is verified once against
the full one it came from: what cannot be said in keys travels whole (``{"full": ...}``), so a
lean frame always resolves to exactly the full frame.

Explanations are cached shared objects (guide.py), so their lean forms are cached by identity,
each entry holding the explanation itself so that its id cannot be reused while cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from smtp_session.guide.document import (
    EARLY,
    GREET_FIRST_KEY,
    UNKNOWN_COMMAND,
    UNKNOWN_PARAM,
    document_path,
    knowledge_document,
)

Frame = dict[str, Any]
STATE_FRAMES = ("connected", "reply", "tls", "closed")  # the frames that carry ``state``
FULL_STATE = ("connected", "state")  # a whole state, not changes
_RFC_MALFORMED = "RFC 5321 §4.2.1"
_CACHE_SIZE = 4096


# -- resolving: keys -> texts --------------------------------------------------------------


def _pick(section: dict[str, Any], ref: Any) -> Any:
    """A reference resolved: a string names an entry; anything else travelled inline."""
    return section[ref] if isinstance(ref, str) else ref


def _mechanism(doc: dict[str, Any], ref: Any) -> Any:
    return _pick(doc["mechanisms"], ref)


def _reply_facts(doc: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    if "capabilities" not in facts:
        return facts
    caps = []
    for cap in facts["capabilities"]:
        out = {k: v for k, v in cap.items() if k != "ext"}
        out.update(_pick(doc["extensions"], cap["ext"]))
        if "mechanisms" in cap["facts"]:
            mechs = [_mechanism(doc, m) for m in cap["facts"]["mechanisms"]]
            out["facts"] = {**cap["facts"], "mechanisms": mechs}
        caps.append(out)
    return {**facts, "capabilities": caps}


def resolve_reply_explain(doc: dict[str, Any], lean: dict[str, Any], frame: Frame) -> Frame:
    """A reply's lean explanation and the reply's own facts -> the full explanation."""
    if "full" in lean:
        return dict(lean["full"])
    layers = doc["layers"]
    evidence = [
        {**_pick(layers, ref), "used": i == lean["used"]} for i, ref in enumerate(lean["evidence"])
    ]
    best = evidence[lean["used"]]
    head = doc["guide"][lean["head"]] if "head" in lean else None
    rfc = [r for layer in evidence for r in layer["rfc"]]
    if frame.get("malformed"):
        rfc.append(_RFC_MALFORMED)
    summary = _pick(doc["codes"], lean.get("summary", str(frame.get("code"))))
    enhanced = lean["enhanced"] if "enhanced" in lean else frame.get("enhanced")
    return {
        "code": frame.get("code"),
        "class": frame.get("class"),
        "summary": summary["summary"],
        "meaning": head["says"] if head else best["says"],
        "next": head["next"] if head else evidence[lean["next"]]["next"],
        "rfc": list(dict.fromkeys(rfc)),
        "known": summary["known"],
        "context": lean["context"],
        "text": frame.get("text"),
        "lines": list(frame.get("lines") or []),
        "enhanced": _pick(doc["enhanced"], enhanced) if enhanced is not None else None,
        "malformed": frame.get("malformed"),
        "facts": _reply_facts(doc, lean.get("facts", {})),
        "layer": best["key"],
        "specific": lean["specific"],
        "evidence": evidence,
        "contradictions": lean.get("contradictions", []),
        "keys": lean.get("keys", frame.get("keys")),
    }


def _param(doc: dict[str, Any], lean: dict[str, Any]) -> dict[str, Any]:
    out = {"name": lean["name"], "value": lean["value"], "known": lean["known"]}
    if not lean["known"]:
        return {**out, **doc["guide"][UNKNOWN_PARAM]}
    entry = doc["params"][lean["name"]]
    out.update({k: v for k, v in entry.items() if k != "values"})
    out["value_meaning"] = entry["values"].get(lean["value_key"])
    return out


def resolve_command_explain(doc: dict[str, Any], lean: dict[str, Any], frame: Frame) -> Frame:
    """A command's lean explanation -> the full one."""
    if "full" in lean:
        return dict(lean["full"])
    out = {k: v for k, v in lean.items() if k != "command"}
    out.setdefault("keys", frame.get("keys"))
    out["parameters"] = [_param(doc, p) for p in lean["parameters"]]
    if "mechanism" in lean["facts"]:
        out["facts"] = {**lean["facts"], "mechanism": _mechanism(doc, lean["facts"]["mechanism"])}
    verb = lean["command"]
    out.update(doc["commands"][verb] if verb is not None else doc["guide"][UNKNOWN_COMMAND])
    return out


def resolve_warning(doc: dict[str, Any], lean: dict[str, Any]) -> dict[str, Any]:
    """A lean warning ({code, values, line}) -> {code, message, fix, rfc, line}."""
    if "full" in lean:
        return dict(lean["full"])
    texts = doc["warnings"][lean["code"]]
    values = {**doc["limits"], **lean["values"]}
    out = {"code": lean["code"]}
    out.update({k: texts[k].format(**values) for k in ("message", "fix", "rfc")})
    out["line"] = lean["line"]
    return out


class FrameReader:
    """One receiver's view: lean frames in, frames of today's full shape out (state kept)."""

    def __init__(self, doc: dict[str, Any] | None = None, lean: bool = True) -> None:
        self.doc = doc if doc is not None else knowledge_document()
        self.lean = lean  # a ``session`` frame says which (its ``frames``)
        self.state: dict[str, Any] = {}

    def read(self, frame: Frame) -> Frame:
        """The full-shaped frame a lean frame stands for (a full frame passes unchanged)."""
        kind = frame.get("type")
        if kind == "session":
            self.lean = frame.get("frames") == "lean"
        if not self.lean:
            if frame.get("state") is not None:
                self.state = frame["state"]
            return frame
        out = dict(frame)
        if frame.get("state") is not None:
            base = {} if kind in FULL_STATE else self.state
            self.state = {**base, **frame["state"]}
        if kind in STATE_FRAMES:
            out["state"] = dict(self.state)
        explain = frame.get("explain")
        if isinstance(explain, dict):
            if kind == "reply":
                out["explain"] = resolve_reply_explain(self.doc, explain, frame)
            else:
                out["explain"] = resolve_command_explain(self.doc, explain, frame)
        if "warnings" in frame:
            out["warnings"] = [resolve_warning(self.doc, w) for w in frame["warnings"]]
        return out


# -- encoding: texts -> keys ---------------------------------------------------------------


def _ref(section: dict[str, Any], key: str, value: Any) -> Any:
    """``key`` when the document holds exactly ``value`` under it, else the value inline."""
    return key if section.get(key) == value else value


def _layer_ref(doc: dict[str, Any], layer: dict[str, Any]) -> Any:
    plain = {k: v for k, v in layer.items() if k != "used"}
    for ref in (layer["key"], layer["key"] + EARLY):
        if doc["layers"].get(ref) == plain:
            return ref
    return plain


def _lean_facts(doc: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    if "capabilities" not in facts:
        return facts
    caps = []
    for cap in facts["capabilities"]:
        ext = {k: cap[k] for k in ("known", "registered", "title", "explanation", "rfc", "key")}
        table = cap["key"].split(":", 1)[1] if cap["key"] else ""
        out = {k: cap[k] for k in ("line", "keyword", "params", "facts")}
        out["ext"] = _ref(doc["extensions"], table, ext)
        if "mechanisms" in cap["facts"]:
            mechs = [_ref(doc["mechanisms"], m["name"], m) for m in cap["facts"]["mechanisms"]]
            out["facts"] = {**cap["facts"], "mechanisms": mechs}
        caps.append(out)
    return {**facts, "capabilities": caps}


def lean_reply_explain(doc: dict[str, Any], full: dict[str, Any], frame: Frame) -> dict[str, Any]:
    """The keys and facts that resolve to ``full`` (or ``{"full": full}`` if none do)."""
    evidence = full.get("evidence") or []
    used = next((i for i, layer in enumerate(evidence) if layer.get("used")), None)
    if used is None:
        return {"full": full}
    lean: dict[str, Any] = {
        "evidence": [_layer_ref(doc, layer) for layer in evidence],
        "used": used,
        "context": full["context"],
        "specific": full["specific"],
    }
    # What the frame itself says is left out: its code names the summary, its enhanced
    # code the enhanced entry, its keys the keys; empty facts and contradictions too.
    summary = {"summary": full["summary"], "known": full["known"]}
    if _ref(doc["codes"], str(full["code"]), summary) != str(frame.get("code")):
        lean["summary"] = summary
    enhanced = full["enhanced"]
    ref = None if enhanced is None else _ref(doc["enhanced"], enhanced["code"], enhanced)
    if ref != frame.get("enhanced"):
        lean["enhanced"] = ref
    if full["facts"]:
        lean["facts"] = _lean_facts(doc, full["facts"])
    if full["contradictions"]:
        lean["contradictions"] = full["contradictions"]
    if full["keys"] != frame.get("keys"):
        lean["keys"] = full["keys"]
    head = doc["guide"][GREET_FIRST_KEY]
    if full["meaning"] == head["says"] and full["next"] == head["next"]:
        lean["head"] = GREET_FIRST_KEY
    else:
        nexts = [layer["next"] for layer in evidence]
        lean["next"] = nexts.index(full["next"]) if full["next"] in nexts else -1
    return lean if _resolves(doc, lean, full, frame) else {"full": full}


def _resolves(
    doc: dict[str, Any], lean: dict[str, Any], full: dict[str, Any], frame: Frame
) -> bool:
    if lean.get("next") == -1:
        return False
    try:
        return resolve_reply_explain(doc, lean, frame) == full
    except (KeyError, IndexError, TypeError):
        return False


def lean_command_explain(doc: dict[str, Any], full: dict[str, Any], frame: Frame) -> dict[str, Any]:
    """A command's explanation as keys (the verb's entry, each parameter's) and its facts."""
    keep = ("line", "verb", "known", "argument", "address", "params", "facts")
    lean: dict[str, Any] = {k: full[k] for k in keep}
    if full["keys"] != frame.get("keys"):
        lean["keys"] = full["keys"]
    lean["command"] = full["verb"] if full["known"] else None
    params = []
    for p in full["parameters"]:
        entry = {"name": p["name"], "value": p["value"], "known": p["known"]}
        if p["known"]:
            entry["value_key"] = (p["value"] or "").upper()
        params.append(entry)
    lean["parameters"] = params
    mech = full["facts"].get("mechanism")
    if mech is not None:
        lean["facts"] = {**full["facts"], "mechanism": _ref(doc["mechanisms"], mech["name"], mech)}
    try:
        ok = resolve_command_explain(doc, lean, frame) == full
    except (KeyError, TypeError):
        ok = False
    return lean if ok else {"full": full}


def lean_warning(doc: dict[str, Any], warning: dict[str, Any]) -> dict[str, Any]:
    """{code, values, line} when the template and values give the same words."""
    values = getattr(warning, "filled", None)
    if values is None:
        return {"full": dict(warning)}
    lean = {"code": warning["code"], "values": dict(values), "line": warning["line"]}
    try:
        ok = resolve_warning(doc, lean) == dict(warning)
    except (KeyError, IndexError, ValueError):
        ok = False
    return lean if ok else {"full": dict(warning)}


class _IdentityCache:
    """Lean forms of shared explanation objects, by identity, bounded (oldest dropped)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, int], tuple[Any, Any]] = OrderedDict()

    def get(self, kind: str, obj: Any, make: Any) -> Any:
        key = (kind, id(obj))
        hit = self._items.get(key)
        if hit is not None and hit[0] is obj:
            self._items.move_to_end(key)
            return hit[1]
        value = make()
        self._items[key] = (obj, value)  # holding obj keeps its id from being reused
        if len(self._items) > _CACHE_SIZE:
            self._items.popitem(last=False)
        return value


_CACHE = _IdentityCache()


def lean_explain_of(frame: Frame, doc: dict[str, Any] | None = None) -> Any:
    """The lean form of a frame's explanation (cached per shared explanation object)."""
    explain = frame.get("explain")
    if explain is None:
        return None
    doc = doc if doc is not None else knowledge_document()
    if frame["type"] == "reply":
        # The reply's own facts (code, class, text, lines) are part of a reply explanation;
        # the same explanation object always goes with the same reply (guide.py's cache).
        return _CACHE.get("reply", explain, lambda: lean_reply_explain(doc, explain, frame))
    return _CACHE.get("command", explain, lambda: lean_command_explain(doc, explain, frame))


class LeanEncoder:
    """One receiver's frames made lean: keys for texts, the state as changes."""

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.doc = doc if doc is not None else knowledge_document()
        self._state: dict[str, Any] | None = None

    def encode(self, frame: Frame) -> Frame:
        """The lean frame for ``frame`` (a new dict; the full frame is left as it was)."""
        kind = frame.get("type")
        if kind not in ("sent", "reply", "connected", "tls", "closed"):
            return frame
        out = dict(frame)
        if kind in ("sent", "reply"):
            out["explain"] = lean_explain_of(frame, self.doc)
            if "warnings" in frame:
                out["warnings"] = [lean_warning(self.doc, w) for w in frame["warnings"]]
        if "state" in frame:
            diff = self.state_change(frame["state"], kind == "connected")
            if diff is None:
                del out["state"]
            else:
                out["state"] = diff
        return out

    def state_change(self, state: dict[str, Any], whole: bool = False) -> dict[str, Any] | None:
        """The fields of ``state`` that changed since the last one sent (all when ``whole``);
        None when nothing did."""
        base = self._state
        self._state = state
        if whole or base is None:
            return dict(state)
        diff = {k: v for k, v in state.items() if base.get(k, diff_sentinel) != v}
        return diff or None

    def whole_state(self, state: dict[str, Any]) -> Frame:
        """The answer to a ``{"type": "state"}`` frame: the whole state, the new base."""
        self._state = state
        return {"type": "state", "state": dict(state)}


diff_sentinel = object()


def lean_frames(frames: Iterable[Frame]) -> Frame:
    """A replay's frames as the live browser got them (``?frames=lean``): one encoder, in order,
    so each state is the change from the frame before; the document's address with them."""
    encoder = LeanEncoder()
    return {"frames": [encoder.encode(f) for f in frames], "knowledge": document_path()}
