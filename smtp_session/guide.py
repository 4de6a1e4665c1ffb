"""Turns session events into frames carrying what the guide panels show.

One :class:`Guide` per live session keeps the server-side transaction state (driven by real
replies only), the message checks while DATA is open, and the credential redactor. Each frame
gets the explanation from the knowledge base (``smtp_session.explain``) and the state after
the event; the recorder keeps only the explanation keys, so a replay re-derives the same text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, assert_never

from .checker import check_auth_response, check_command
from .dialogue import AUTH_RESPONSE, COMMAND, END_OF_DATA, GREETING
from .events import (
    Closed,
    Connected,
    Discarded,
    MessageSent,
    ReplyReceived,
    Sent,
    SessionEvent,
    TlsUp,
)
from .explain import explain_command, explain_reply
from .lessons import Lesson, LessonProgress
from .message_lines import MessageState, check_data_line, check_data_lines
from .redact import Redactor
from .transaction import Transaction

Frame = dict[str, Any]

# Explanations depend only on the reply (or command line) and what it answered, and sessions
# repeat themselves (NOOP, 250 Ok): computed once, shared read-only by every frame.
_explain_reply = lru_cache(maxsize=4096)(explain_reply)
_explain_command = lru_cache(maxsize=4096)(explain_command)


class Guide:
    """Per-session teaching state: attaches explanations, warnings and state to frames."""

    def __init__(self, sandbox: bool, redact: bool = True) -> None:
        self.sandbox = sandbox
        self.redact = redact  # False on replay: recorded lines are already redacted
        self.tx = Transaction()
        self.redactor = Redactor()
        self.message: MessageState | None = None
        self.lesson: LessonProgress | None = None
        self.extra: list[Frame] = []  # frames an event caused besides its own (lesson progress)

    def frame_for(self, event: SessionEvent) -> Frame:
        """The frame for one event (type first, then the event's fields and the guide's)."""
        match event:
            case Connected():
                data = self._connected(event)
            case Sent():
                data = self._sent(event)
            case MessageSent():
                data = self._message_sent(event)
            case ReplyReceived():
                data = self._reply(event)
            case TlsUp():
                data = self._tls(event)
            case Closed():
                data = self._closed(event)
            case Discarded():
                data = event.fields()
            case _:
                assert_never(event)  # a new kind of event needs its frame here
        return {"type": event.frame_type, **data}

    def start_lesson(self, lesson: Lesson | None) -> Frame:
        """Follow a lesson from now on (None stops); returns the lesson frame to send."""
        self.lesson = LessonProgress(lesson) if lesson else None
        return self.lesson_frame([])

    def lesson_frame(self, passed: list[str]) -> Frame:
        """Where the lesson stands; ``passed`` are the steps this event passed."""
        if self.lesson is None:
            return {"type": "lesson", "lesson": None, "lesson_id": None, "passed": []}
        state = self.lesson.to_dict()
        return {
            "type": "lesson",
            "lesson": state,
            "lesson_id": state["lesson"],
            "passed": passed,
            "complete": state["finished"],
        }

    def observe_lookup(self, frame: Frame) -> None:
        """A frame the web layer made before the session (an MX lookup): lessons may wait for it."""
        self._lesson_event(str(frame["type"]), frame)

    def _lesson_event(self, name: str, data: dict[str, Any]) -> None:
        if self.lesson is not None:
            passed = self.lesson.observe_event(name, data)
            if passed:
                self.extra.append(self.lesson_frame(passed))

    def _with_state(self, data: dict[str, Any]) -> Frame:
        return {**data, "step": self.tx.step, "state": self.tx.to_dict()}

    def _connected(self, event: Connected) -> Frame:
        self.tx.observe_connect()
        data = event.fields()
        self._lesson_event(event.frame_type, data)
        return self._with_state(data)

    def _sent(self, event: Sent) -> Frame:
        text, kind = event.text, event.kind
        stored = self.redactor.feed(text, kind, self.tx.last_reply) if self.redact else text
        frame: Frame = {**event.fields(), "text": stored, "step": self.tx.step}
        if stored != text:
            frame["original"] = text  # the live browser only; never recorded
            frame["redacted"] = True
        warnings, explain = self._check_sent(text, kind, event.verb)
        frame["warnings"] = [w.to_dict() for w in warnings]
        frame["explain"] = explain
        frame["keys"] = explain.get("keys", []) if explain else []
        return frame

    def _message_sent(self, event: MessageSent) -> Frame:
        # Message lines are never credentials: the redactor only watches command mode.
        warnings = self._check_message_lines(event.lines)
        frame: Frame = {**event.fields(), "step": self.tx.step}
        frame.update(warnings=[w.to_dict() for w in warnings], explain=None, keys=[])
        return frame

    def _check_sent(
        self, text: str, kind: str, verb: str | None
    ) -> tuple[list[Any], dict[str, Any] | None]:
        if kind == COMMAND:
            if verb == "DATA":
                self.message = MessageState(caps=set(self.tx.capabilities))
            return check_command(text, self.tx, sandbox=self.sandbox), _explain_command(text)
        if kind == AUTH_RESPONSE:
            return check_auth_response(text), None
        state = self.message or MessageState(caps=set(self.tx.capabilities))
        self.message = None if text == "." else state
        return check_data_line(text, state), None

    def _check_message_lines(self, lines: list[str]) -> list[Any]:
        state = self.message or MessageState(caps=set(self.tx.capabilities))
        warnings = check_data_lines(lines, state)
        self.message = None if lines and lines[-1] == "." else state
        return warnings

    def _reply(self, event: ReplyReceived) -> Frame:
        reply, after, line = event.reply, event.after, event.line
        kind = after if after in (GREETING, AUTH_RESPONSE, END_OF_DATA) else "command"
        if after is not None:
            self.tx.observe(line, kind, reply)
            if self.lesson is not None:
                passed = self.lesson.observe(line, kind, reply, self.tx)
                if passed:
                    self.extra.append(self.lesson_frame(passed))
        explain = _explain_reply(reply, after)
        return {
            "after": after,
            **reply.to_dict(),
            "explain": explain,
            "keys": explain.get("keys", []),
            "step": self.tx.step,
            "state": self.tx.to_dict(),
        }

    def _tls(self, event: TlsUp) -> Frame:
        self.tx.observe_tls(event.tls_mode)
        data = event.fields()
        self._lesson_event(event.frame_type, data)
        return self._with_state(data)

    def _closed(self, event: Closed) -> Frame:
        self.tx.observe_closed()
        return self._with_state(event.fields())
