"""Lean frames read back (docs/protocol.md v2): keys resolved, the state kept from changes.

:class:`FrameReader` is one receiver's view (the test client, the exports' checks); the
browser's twin is ``static/js/knowledge.js``, and the browser tests check the two agree. The
encoder is ``smtp_session/guide/lean.py``.
"""

from __future__ import annotations

from typing import Any

from smtp_session.guide.document import UNKNOWN_COMMAND, UNKNOWN_PARAM, knowledge_document

Frame = dict[str, Any]
STATE_FRAMES = ("connected", "reply", "tls", "closed")  # the frames that carry ``state``
FULL_STATE = ("connected", "state")  # a whole state, not changes
_RFC_MALFORMED = "RFC 5321 §4.2.1"


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
            out["state"] = self.state  # shared until it changes: read it, do not change it
        if isinstance(frame.get("explain"), dict):
            out["explain"] = self.explanation(frame)
        if "warnings" in frame:
            out["warnings"] = [resolve_warning(self.doc, w) for w in frame["warnings"]]
        return out

    def explanation(self, frame: Frame) -> Frame:
        """A lean frame's explanation, resolved."""
        if frame.get("type") == "reply":
            return resolve_reply_explain(self.doc, frame["explain"], frame)
        return resolve_command_explain(self.doc, frame["explain"], frame)


def read_frames(frames: list[Frame], doc: dict[str, Any] | None = None) -> list[Frame]:
    """A replay's lean frames (``?frames=lean``) read back in order, as the replay page reads
    them: the exports word their explanations from these, so all three say the same."""
    reader = FrameReader(doc)
    # The encoder shares one lean explanation between the frames of one full explanation (and
    # so of one reply): each is resolved once, and the frames share the result, as they shared
    # the full one.
    shared: dict[int, tuple[Any, Any]] = {}
    out = []
    for frame in frames:
        lean = frame.get("explain")
        if not isinstance(lean, dict):
            out.append(reader.read(frame))
            continue
        hit = shared.get(id(lean))
        if hit is None or hit[0] is not lean:  # frames hold ``lean``: its id is not reused
            hit = shared[id(lean)] = (lean, reader.explanation(frame))
        out.append({**reader.read({**frame, "explain": None}), "explain": hit[1]})
    return out
