"""Frames for a recorded transcript, re-derived exactly as the live session produced them.

A transcript stores lines, replies and events with explanation keys only; the replay page and
the exports get the full explanations and the transaction state by running the entries through
the same :class:`~web.guide.Guide` the live session used (one source of truth).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smtp_session.dialogue import Dialogue
from smtp_session.reply import Reply
from smtp_session.session import Event

from .guide import Guide
from .recorder import EVENT_OF_FRAME

FRAME_OF_EVENT = {event: frame for frame, event in EVENT_OF_FRAME.items()}


def reply_of(entry: dict[str, Any]) -> Reply:
    """The Reply object a recorded reply entry describes."""
    return Reply(
        code=entry.get("code"),
        lines=tuple(entry.get("lines") or ()),
        enhanced=entry.get("enhanced"),
        malformed=entry.get("malformed"),
    )


def replay_frames(entries: Iterable[dict[str, Any]], sandbox: bool = False) -> list[dict[str, Any]]:
    """One frame per entry, with the explanation and state the live panels showed."""
    guide = Guide(sandbox=sandbox, redact=False)
    dialogue = Dialogue()
    frames = []
    for entry in entries:
        event = _event_of(entry, dialogue)
        frame = guide.frame_for(event) if event else {"type": entry["kind"]}
        frame.pop("original", None)
        frame.update(seq=entry["seq"], t=entry["t"])
        frames.append(frame)
    return frames


def _event_of(entry: dict[str, Any], dialogue: Dialogue) -> Event | None:
    kind = entry["kind"]
    if kind == "sent":
        dialogue.record_sent(entry["text"], entry["line_kind"])
        return Event("sent", {"text": entry["text"], "kind": entry["line_kind"]})
    if kind == "reply":
        reply = reply_of(entry)
        owed = dialogue.on_reply(reply)
        line = owed.line if owed else None
        data = {"reply": reply, "after": entry.get("after"), "line": line}
        return Event("reply", {**data, "answers": entry.get("answers")})
    if kind == "event":
        if entry["event"] == "connect":
            dialogue.expect_greeting()
        if entry["event"] == "tls" and (entry.get("data") or {}).get("mode") == "starttls":
            dialogue.reset_for_tls()
        return Event(
            FRAME_OF_EVENT.get(entry["event"], entry["event"]), dict(entry.get("data") or {})
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
