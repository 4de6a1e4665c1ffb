"""Frames for a recorded transcript, re-derived exactly as the live session produced them.

A transcript stores lines, replies and events with explanation keys only; the replay page and
the exports get the full explanations and the transaction state by running the entries through
the same :class:`~smtp_session.guide.guide.Guide` the live session used (one source of truth).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from smtp_session.guide.client_checks import recorded_warnings
from smtp_session.guide.guide import Guide
from smtp_session.guide.transaction import Transaction
from smtp_session.wire.dialogue import GREETING, Dialogue
from smtp_session.wire.events import (
    CloseCode,
    Closed,
    Connected,
    Discarded,
    ReplyReceived,
    Sent,
    SessionEvent,
    TlsMode,
    TlsUp,
    tls_mode_of,
)
from smtp_session.wire.reply import Reply

# Frame type -> transcript event name, for frames that are events rather than lines
# (docs/transcript-format.md); the recorder writes these names, the replay reads them back.
EVENT_OF_FRAME = {
    "connected": "connect",
    "tls": "tls",
    "discarded": "discarded",
    "closed": "closed",
    "error": "error",
    "mx": "mx",
    "mx_attempt": "mx",
    "lesson": "lesson",
    "limit": "limit",
    "held": "held",
}
FRAME_OF_EVENT = {event: frame for frame, event in EVENT_OF_FRAME.items()}


def reply_of(entry: dict[str, Any]) -> Reply:
    """The Reply object a recorded reply entry describes."""
    return Reply(
        code=entry.get("code"),
        lines=tuple(entry.get("lines") or ()),
        enhanced=entry.get("enhanced"),
        malformed=entry.get("malformed"),
    )


@dataclass(frozen=True)
class Step:
    """One entry replayed: the session event it records (None for mx, error...), the frame
    the live panels showed for it, and the guide's transaction (live: read it before the next
    step)."""

    entry: dict[str, Any]
    event: SessionEvent | None
    frame: dict[str, Any]
    tx: Transaction


def replay(entries: Iterable[dict[str, Any]], sandbox: bool = False) -> Iterator[Step]:
    """Run recorded entries through the Guide the live session used, one step per entry.

    The replay page, ``?frames=1`` and the exports' facts all read this walk, so none of
    them can disagree with another, or with what the live panels showed.
    """
    guide = Guide(sandbox=sandbox, redact=False)
    dialogue = Dialogue()
    for entry in entries:
        event = _event_of(entry, dialogue)
        data = dict(entry.get("data") or {}) if entry["kind"] == "event" else {}
        if event is not None:
            frame = {**guide.frame_for(event), **data}  # what was recorded is what was shown
        else:
            frame = {"type": FRAME_OF_EVENT.get(entry.get("event", ""), entry["kind"]), **data}
        frame.pop("original", None)
        frame.update(seq=entry["seq"], t=entry["t"])
        client = recorded_warnings(entry)  # a captured client's, judged from its bytes
        if client:
            frame["warnings"] = [*(frame.get("warnings") or []), *client]
        guide.extra.clear()  # lesson progress is not replayed
        yield Step(entry, event, frame, guide.tx)


def replay_frames(entries: Iterable[dict[str, Any]], sandbox: bool = False) -> list[dict[str, Any]]:
    """One frame per entry, with the explanation and state the live panels showed."""
    return [step.frame for step in replay(entries, sandbox)]


def _event_of(entry: dict[str, Any], dialogue: Dialogue) -> SessionEvent | None:
    """The session event an entry records; None for entries the web layer made (mx, error)."""
    kind = entry["kind"]
    if kind == "sent":
        out = dialogue.record_sent(entry["text"], entry["line_kind"])
        return Sent(text=entry["text"], kind=entry["line_kind"], verb=out.verb)
    if kind == "reply":
        reply = reply_of(entry)
        owed = dialogue.on_reply(reply)
        line = owed.line if owed else None
        answers = entry.get("answers")
        return ReplyReceived(reply=reply, after=entry.get("after"), line=line, answers=answers)
    if kind == "event":
        return _recorded_event(entry["event"], dict(entry.get("data") or {}), dialogue)
    return None


# Transcripts recorded before ``tls_mode`` said ``mode``; imported ones may say neither.
_TLS_FIELDS = [f.name for f in dataclass_fields(TlsUp) if f.name != "tls_mode"]


def _mode_by_order(dialogue: Dialogue) -> TlsMode:
    """A TLS entry with no mode: before the greeting it can only be implicit TLS."""
    waiting = [p.after for p in dialogue.pending]
    return TlsMode.IMPLICIT if waiting[:1] == [GREETING] else TlsMode.STARTTLS


def _recorded_event(name: str, data: dict[str, Any], dialogue: Dialogue) -> SessionEvent | None:
    if name == "connect":
        dialogue.expect_greeting()
        port = data.get("port")
        return Connected(
            host=str(data.get("host", "")),
            port=port if isinstance(port, int) else 0,
            address=str(data.get("address", "")),
        )
    if name == "tls":
        mode = tls_mode_of(data.get("tls_mode", data.get("mode"))) or _mode_by_order(dialogue)
        if mode is TlsMode.STARTTLS:
            dialogue.reset_for_tls()
        known = {f: data[f] for f in _TLS_FIELDS if f in data}
        return TlsUp(tls_mode=mode, **known)
    if name == "closed":
        code = CloseCode.of(str(data.get("code", "")))
        return Closed(reason=str(data.get("reason", "")), code=code)
    if name == "discarded":
        return Discarded(
            bytes=int(data.get("bytes") or 0),
            text=str(data.get("text", "")),
            message=str(data.get("message", "")),
        )
    return None


def compact_frames(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The same frames, smaller: each distinct explanation once, state only where it changes.

    A 10,000-entry transcript's frames are ~13 MB in full (the same NOOP explanation and the
    same state 5,000 times); the replay page reads this form. ``explain_ref`` indexes
    ``explanations``; a frame without ``state`` has the state of the last frame that had one.
    """
    explanations: list[Any] = []
    refs: dict[int, int] = {}
    previous_state: Any = None
    out = []
    for frame in frames:
        slim = dict(frame)
        explain = slim.pop("explain", None)
        if explain is not None:
            # Cached explanations are shared objects, so identity finds the duplicates cheaply.
            ref = refs.setdefault(id(explain), len(explanations))
            if ref == len(explanations):
                explanations.append(explain)
            slim["explain_ref"] = ref
        state = slim.get("state")
        if state is not None and state == previous_state:
            del slim["state"]
        elif state is not None:
            previous_state = state
        out.append(slim)
    return {"frames": out, "explanations": explanations}
