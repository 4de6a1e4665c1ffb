"""Lean frames (docs/protocol.md v2): keys into the knowledge document, state as changes.

The Guide builds every frame in full (the recorder, the exports and ``"frames": "full"``
read that); :class:`LeanEncoder` turns one receiver's frames into the lean shape just before
they leave, and ``lean_read.FrameReader`` turns them back. A lean explanation is verified once
against the full one it came from: what cannot be said in keys travels whole
(``{"full": ...}``), so a lean frame always resolves to exactly the full frame.

Explanations are cached shared objects (guide.py), so their lean forms are cached by identity,
each entry holding the explanation itself so that its id cannot be reused while cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from smtp_session.guide.document import EARLY, GREET_FIRST_KEY, document_path, knowledge_document
from smtp_session.guide.lean_read import (
    FrameReader,
    resolve_command_explain,
    resolve_reply_explain,
    resolve_warning,
)
from smtp_session.knowledge.explain import one_off

Frame = dict[str, Any]
_CACHE_SIZE = 512  # as guide.py's explanation caches, whose objects it is keyed by
__all__ = ["FrameReader", "LeanEncoder", "lean_frames"]


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
    # The same code and values always give the same words: checked once each.
    key = (id(doc), warning["code"], tuple(values.items()), warning["message"])
    ok = _WARNINGS_CHECKED.get(key)
    if ok is None:
        try:
            ok = resolve_warning(doc, lean) == dict(warning)
        except (KeyError, IndexError, ValueError):
            ok = False
        if len(_WARNINGS_CHECKED) >= _CACHE_SIZE:
            _WARNINGS_CHECKED.clear()
        _WARNINGS_CHECKED[key] = ok
    return lean if ok else {"full": dict(warning)}


_WARNINGS_CHECKED: dict[tuple[Any, ...], bool] = {}


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
        if one_off(frame.get("code"), frame.get("after")):
            return lean_reply_explain(doc, explain, frame)  # a fresh object each time
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
        if state is base:  # Transaction.to_dict gives the same dict for an unchanged state
            return None
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
