"""Turns session events into frames carrying what the guide panels show.

One :class:`Guide` per live session keeps the server-side transaction state (driven by real
replies only), the message checks while DATA is open, and the credential redactor. Each frame
gets the explanation from the knowledge base (``smtp_session.knowledge.explain``) and the
state after the event; the recorder keeps only the explanation keys, so a replay re-derives
the same text.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Any, assert_never

from smtp_session.guide.checker import check_auth_response, check_command
from smtp_session.guide.lessons import Lesson, LessonProgress
from smtp_session.guide.message_lines import MessageState, check_data_line, check_data_lines
from smtp_session.guide.redact import Redactor
from smtp_session.guide.transaction import Transaction
from smtp_session.knowledge.explain import explain_command, explain_reply, one_off
from smtp_session.wire.dialogue import AUTH_RESPONSE, COMMAND, DATA, END_OF_DATA, GREETING
from smtp_session.wire.events import (
    Closed,
    Connected,
    Discarded,
    HeldBack,
    MessageSent,
    Refused,
    ReplyReceived,
    Sent,
    SessionEvent,
    TlsUp,
)
from smtp_session.wire.reply import Reply

Frame = dict[str, Any]

# Explanations depend only on the reply (or command line) and what it answered, and sessions
# repeat themselves (NOOP, 250 Ok): computed once, shared read-only by every frame. 512, not
# more: a reply carrying a queue id or a timestamp never repeats, and each one kept cost ~4 KB
# (explanation and its lean form), ~17 MB at 4,096 in a worker that had seen as many. The
# commonest such reply, end of data's "queued as", is not cached at all (one_off).
_explain_reply = lru_cache(maxsize=512)(explain_reply)
_explain_command = lru_cache(maxsize=512)(explain_command)


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
        # Lines sent and still owed a reply, oldest first: with PIPELINING a command leaves
        # before the replies to the ones ahead of it, and is judged as the server will read it.
        self._in_flight: deque[tuple[str, str]] = deque()
        self._checked: dict[str, tuple[tuple[Any, ...], list[Any]]] = {}

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
            case HeldBack():
                data = self._held(event)
            case Refused():
                data = event.fields()
            case _:
                assert_never(event)  # a new kind of event needs its frame here
        return {"type": event.frame_type, **data}

    def advance(self, event: SessionEvent) -> None:
        """What ``frame_for`` does to the transaction, without the frame (the exports'
        facts read the transaction only; a replay without explanations is ~5x cheaper)."""
        match event:
            case Connected():
                self._in_flight.clear()
                self.tx.observe_connect()
            case ReplyReceived(after=after) if after is not None:
                kind = after if after in (GREETING, AUTH_RESPONSE, END_OF_DATA) else "command"
                self.tx.observe(event.line, kind, event.reply)
            case TlsUp():
                self._in_flight.clear()
                self.tx.observe_tls(event.tls_mode)
            case Closed():
                self.tx.observe_closed()

    def start_lesson(self, lesson: Lesson | None) -> Frame:
        """Follow a lesson from now on (None stops); returns the lesson frame to send."""
        self.lesson = LessonProgress(lesson) if lesson else None
        return self.lesson_frame([])

    def follow(self, progress: LessonProgress | None) -> None:
        """Go on with a lesson begun on an earlier connection of the same console."""
        self.lesson = progress

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
        self._in_flight.clear()
        self.tx.observe_connect()
        data = event.fields()
        self._lesson_event(event.frame_type, data)
        return self._with_state(data)

    def _sent(self, event: Sent) -> Frame:
        text, kind = event.text, event.kind
        stored = self.redactor.feed(text, kind, self.tx.last_reply) if self.redact else text
        # event.fields() but its line number "n" (the web layer maps that to a seq), built
        # directly: dataclasses.fields() per line was ~1 % of a round trip.
        frame: Frame = {"text": stored, "kind": kind, "verb": event.verb, "step": self.tx.step}
        if stored != text:
            frame["original"] = text  # the live browser only; never recorded
            frame["redacted"] = True
        warnings, explain = self._check_sent(text, kind, event.verb)
        if kind != DATA or text == ".":
            self._in_flight.append((kind, text))
        frame["warnings"] = [w.to_dict() for w in warnings]
        frame["explain"] = explain
        frame["keys"] = explain.get("keys", []) if explain else []
        return frame

    def _message_sent(self, event: MessageSent) -> Frame:
        # A BDAT chunk is octets, not DATA lines: no dot rules, and a chunk needs no headers.
        warnings = [] if event.chunk else self._check_message_lines(event.lines)
        frame: Frame = {**event.fields(), "step": self.tx.step}
        del frame["n"]
        if self.redact:  # SASL PLAIN credentials pasted into a message are not stored either
            lines = self.redactor.feed_message(event.lines)
            frame.update(lines=lines, text=lines[0] if lines else "")
        if event.lines and event.lines[-1] == "." and not event.chunk:
            self._in_flight.append((DATA, "."))
        frame.update(warnings=[w.to_dict() for w in warnings], explain=None, keys=[])
        return frame

    def _check_sent(
        self, text: str, kind: str, verb: str | None
    ) -> tuple[list[Any], dict[str, Any] | None]:
        if kind == COMMAND:
            # The state the server will be in when it reads this line: the commands still
            # owed a reply are taken as accepted (RFC 2920 §3.1 lets only MAIL, RCPT, RSET
            # and a message's end come before another command in a group).
            tx = self.tx.projected(self._in_flight) if self._in_flight else self.tx
            if verb == "DATA":
                self.message = MessageState(caps=set(tx.capabilities))
            return self._command_warnings(text, tx), _explain_command(text)
        if kind == AUTH_RESPONSE:
            return check_auth_response(text), None
        state = self.message or MessageState(caps=set(self.tx.capabilities))
        self.message = None if text == "." else state
        return check_data_line(text, state), None

    def _command_warnings(self, text: str, tx: Transaction) -> list[Any]:
        """check_command's warnings, kept per line while the state they read is the same:
        a NOOP sent again in an unchanged state gets the same (read-only) warnings."""
        state = tx.fingerprint()
        known = self._checked.get(text)
        if known is not None and known[0] == state:
            return known[1]
        warnings = check_command(text, tx, sandbox=self.sandbox)
        if len(self._checked) >= 64:
            self._checked.clear()
        self._checked[text] = (state, warnings)
        return warnings

    def _check_message_lines(self, lines: list[str]) -> list[Any]:
        state = self.message or MessageState(caps=set(self.tx.capabilities))
        base = state.index
        warnings = check_data_lines(lines, state)
        self.message = None if lines and lines[-1] == "." else state
        # Labelled with the batch's own line: line i of the frame is its seq + i.
        return [w.at(w.line - base if w.line is not None else None) for w in warnings]

    def _reply(self, event: ReplyReceived) -> Frame:
        reply, after, line = event.reply, event.after, event.line
        kind = after if after in (GREETING, AUTH_RESPONSE, END_OF_DATA) else "command"
        if self.redact:
            reply = self.redactor.scrub_reply(reply)  # a server echoing a secret back
            if after is not None and after != self.redactor.scrub_text(after):
                after = "[redacted]"  # the "verb" of a credential line the server refused
        hello = self.tx.hello
        if after is not None:
            if after != GREETING and self._in_flight:
                self._in_flight.popleft()
            self.tx.observe(line, kind, reply)
            if self.lesson is not None:
                passed = self.lesson.observe(line, kind, reply, self.tx)
                if passed:
                    self.extra.append(self.lesson_frame(passed))
        explained = (
            explain_reply(reply, after)
            if one_off(reply.code, after)
            else (_explain_reply(reply, after))
        )
        explain = guidance(explained, reply, after, hello)
        return {
            "after": after,
            "answers": event.answers,
            **reply.to_dict(),
            "explain": explain,
            "keys": explain.get("keys", []),
            "step": self.tx.step,
            "state": self.tx.to_dict(),
        }

    def _tls(self, event: TlsUp) -> Frame:
        self._in_flight.clear()
        self.tx.observe_tls(event.tls_mode)
        data = event.fields()
        self._lesson_event(event.frame_type, data)
        return self._with_state(data)

    def _closed(self, event: Closed) -> Frame:
        self.tx.observe_closed()
        data = event.fields()
        self._lesson_event(event.frame_type, data)  # a lesson may wait for a hang-up
        return self._with_state(data)

    def _held(self, event: HeldBack) -> Frame:
        """Lines the pacer did not send: told in words; their text for the live browser only."""
        held = event.held
        count = len(held.lines)
        noun = "line was" if count == 1 else "lines were"
        after = f" ({held.code} to {held.after})" if held.after and held.code else ""
        return {
            "count": count,
            "reason": held.reason,
            "after": held.after,
            "code": held.code,
            "message": f"{count} {noun} not sent: {held.words}{after}.",
            "lines": self.redactor.feed_message(list(held.lines)),  # never recorded
            "step": self.tx.step,
        }


# Where the server's words depend on the state, not only on what the reply answered:
# RFC 5321 §4.1.4 wants HELO/EHLO before MAIL, RCPT and DATA, so a 503 before any greeting
# says "greet first" whatever the command was.
GREET_FIRST = {
    "meaning": "The server has not been greeted yet: it wants HELO or EHLO before any "
    "transaction command.",
    "next": "Send EHLO client.example first, then MAIL FROM, RCPT TO and DATA.",
}


def guidance(
    explain: dict[str, Any], reply: Reply, after: str | None, hello: str | None
) -> dict[str, Any]:
    """The reply's explanation, corrected where the state decides what it means."""
    if reply.code == 503 and hello is None and after in ("MAIL", "RCPT", "DATA", "BDAT"):
        return {**explain, **GREET_FIRST}
    return explain
