"""Frames for a recorded transcript, re-derived exactly as the live session produced them.

A transcript stores lines, replies and events with explanation keys only; the replay page and
the exports get the full explanations and the transaction state by running the entries through
the same :class:`~smtp_session.guide.guide.Guide` the live session used (one source of truth).

Over 300 lines: the walk, the memo that makes a repeated exchange cheap (:class:`FrameMemo`)
and the entry-to-event reading share one notion of what a step's frame depends on; apart,
the memo's key could drift from what the walk reads.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from smtp_session.guide.client_checks import recorded_warnings, with_client
from smtp_session.guide.document import document_path
from smtp_session.guide.guide import Guide
from smtp_session.guide.lean import LeanEncoder
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

try:  # as web/live/jsonfast.py: orjson when installed (requirements.txt)
    _orjson: Any = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    _orjson = None

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


def replay(
    entries: Iterable[dict[str, Any]], sandbox: bool = False, frames: bool = True
) -> Iterator[Step]:
    """Run recorded entries through the Guide the live session used, one step per entry.

    The replay page, ``?frames=1`` and the exports' facts all read this walk, so none of
    them can disagree with another, or with what the live panels showed. ``frames=False``
    moves the transaction only (``Guide.advance``): each step's frame is then empty.
    """
    guide = Guide(sandbox=sandbox, redact=False)
    dialogue = Dialogue()
    for entry in entries:
        event = _event_of(entry, dialogue)
        if not frames:
            if event is not None:
                guide.advance(event)
            yield Step(entry, event, {}, guide.tx)
            continue
        yield Step(entry, event, _frame_of(entry, event, guide), guide.tx)


def _frame_of(entry: dict[str, Any], event: SessionEvent | None, guide: Guide) -> dict[str, Any]:
    """The frame the live panels showed for a recorded entry (its event given to ``guide``)."""
    data = dict(entry.get("data") or {}) if entry["kind"] == "event" else {}
    if event is not None:
        frame = {**guide.frame_for(event), **data}  # what was recorded is what was shown
    else:
        frame = {"type": FRAME_OF_EVENT.get(entry.get("event", ""), entry["kind"]), **data}
    frame.pop("original", None)
    frame.update(seq=entry["seq"], t=entry["t"])
    client = recorded_warnings(entry)  # a captured client's, judged from its bytes
    if client:
        frame["warnings"] = with_client(frame.get("warnings") or [], client)
    guide.extra.clear()  # lesson progress is not replayed
    return frame


def replay_frames(entries: Iterable[dict[str, Any]], sandbox: bool = False) -> list[dict[str, Any]]:
    """One frame per entry, with the explanation and state the live panels showed: those
    ``replay`` makes, through :class:`FrameMemo` (a long transcript repeats its exchanges)."""
    return list(FrameMemo(sandbox).frames(entries))


def _entry_key(entry: dict[str, Any]) -> bytes:
    """An entry but for its seq and time, as JSON: equal keys, equal entries (entries are
    JSON values, as the store and imports give them). orjson writes it in ~0.5 µs; what it
    refuses (a lone surrogate, an integer beyond 64 bits) is keyed by its repr instead."""
    blank = {**entry, "seq": 0, "t": 0}
    if _orjson is not None:
        try:
            return bytes(_orjson.dumps(blank))
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return b"repr:" + repr(blank).encode("utf-8", "surrogatepass")


class FrameMemo:
    """``replay``'s frames, each exchange worked out once per state it meets.

    What the Guide makes of an entry is fully determined by the entry (but for its seq and
    time, copied into the frame) and the replay's whole state: the Guide (transaction,
    message checks, lines in flight, its caches) and the Dialogue. That state is pickled:
    equal bytes are equal states (a state that pickles differently only misses). A hit gives
    the frame made the first time and the state after it, as bytes, unpickled only when a
    later entry misses. The replay reads no line numbers (a reply entry says what it
    answers), so the Dialogue's count of lines sent is kept at 0: each NOOP exchange of a
    long run is then the same state. Frames made from one share their nested values (read
    them, do not change them). tests/test_replay_memo.py checks every frame against
    ``replay``'s.
    """

    SIZE = 4096  # remembered (state, entry) pairs; all forgotten when full
    # An entry that keeps missing (a MAIL FROM with one message more each time, a message
    # line in a growing message) is no longer looked up: a miss costs more than the work.
    TRIES = 8

    def __init__(self, sandbox: bool) -> None:
        self.guide = Guide(sandbox=sandbox, redact=False)
        self.dialogue = Dialogue()
        self.memo: dict[tuple[bytes, bytes], tuple[dict[str, Any], bytes]] = {}
        self.tally: dict[bytes, list[int]] = {}  # by entry met before: [hits, misses]
        self.missed: bytes | None = None  # the entry just looked up, if it missed
        self.state: bytes | None = None  # the state after the last entry, when pickled
        self.live = True  # whether guide and dialogue are that state (not after a hit)
        self.hits = 0

    def frames(self, entries: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The frame for each entry, in order."""
        for entry in entries:
            key = _entry_key(entry)
            found = self._recalled(key)
            if found is None:
                yield self._worked_out(entry, key, looked_up=self.missed == key)
                continue
            frame = dict(found)
            frame.update(seq=entry["seq"], t=entry["t"])  # in place: the key order is kept
            yield frame

    def _recalled(self, key: bytes) -> dict[str, Any] | None:
        """The frame made before for this entry in this state (None: work it out)."""
        tally = self.tally.get(key)
        if tally is None:  # met for the first time: nothing to recall
            self.tally[key] = [0, 0]
            return None
        if tally[1] > self.TRIES and tally[1] > 2 * tally[0]:
            return None
        if self.state is None:
            self.state = self._pickled()
        hit = self.memo.get((self.state, key))
        if hit is None:
            tally[1] += 1
            self.missed = key
            return None
        tally[0] += 1
        self.hits += 1
        frame, self.state = hit
        self.live = False
        return frame

    def _worked_out(self, entry: dict[str, Any], key: bytes, looked_up: bool) -> dict[str, Any]:
        if not self.live:
            assert self.state is not None  # a hit left it
            self.guide, self.dialogue = pickle.loads(self.state)  # bytes made here, never read in
            self.live = True
        before, self.state = self.state, None
        self.missed = None
        frame = _frame_of(entry, _event_of(entry, self.dialogue), self.guide)
        self.dialogue.sent = 0
        if looked_up and before is not None:  # and missed: remember it
            if len(self.memo) >= self.SIZE:
                self.memo.clear()
            self.state = self._pickled()
            self.memo[(before, key)] = (dict(frame), self.state)  # the caller's is its own
        return frame

    def _pickled(self) -> bytes:
        return pickle.dumps((self.guide, self.dialogue), protocol=pickle.HIGHEST_PROTOCOL)


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


LEAN_KINDS = ("sent", "reply", "connected", "tls", "closed")  # what LeanEncoder encodes


def lean_replay(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """``lean.lean_frames(frames)`` for a replay's frames, each distinct frame encoded once.

    A lean frame depends on the frame and on the state the encoder sent last. Frames from
    :class:`FrameMemo` share their values, so one made from the same memo entry, after the
    same state, has the same values by identity (all frames are alive here, so no id is
    reused): its lean form is the one made before, with its own seq and time.
    """
    encoder: LeanEncoder | None = None
    known: dict[tuple[Any, ...], dict[str, Any]] = {}
    base: Any = None  # the state the encoder sent last (None: none yet)
    out = []
    for frame in frames:
        key = (id(base), *[id(v) for k, v in frame.items() if k != "seq" and k != "t"], *frame)
        lean = known.get(key)
        if lean is None:
            if encoder is None or base is None:
                encoder = LeanEncoder()
            if base is not None:
                encoder.state_change(base, whole=True)  # where this frame's encoding starts
            lean = encoder.encode(frame)
            known[key] = lean
        else:
            lean = dict(lean)
            lean.update(seq=frame["seq"], t=frame["t"])
        if "state" in frame and frame.get("type") in LEAN_KINDS:
            base = frame["state"]
        out.append(lean)
    return {"frames": out, "knowledge": document_path()}
