"""Pacing: the lines a user queued, released only when the server's reading of them is known.

A pasted session is a list of lines, but the server reads each one according to the replies
before it: after a 354 a line is message data, after a 334 an AUTH answer, after a refused DATA
a command. So lines leave one command at a time, each after the previous reply, unless the
server offered PIPELINING (then in RFC 2920 groups, :func:`~smtp_session.dialogue.ends_group`),
and message lines only after the 354. Lines whose meaning a reply took away are held back,
never sent as something else:

- the message after a refused DATA, up to its lone "." (RFC 5321 §3.3: no data without 354);
- the AUTH answers queued for an exchange the server ended (RFC 4954 §4: only a 334 asks);
- everything queued after a refused STARTTLS (it was meant for the encrypted connection).

The pacer decides; :class:`~smtp_session.session.SmtpSession` writes and emits the events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .dialogue import COMMAND, DATA, Dialogue, Outgoing, Pending
from .reply import Reply

# Why lines were held back (the `held` event's `reason`), with the words the console shows.
HELD_REASONS = {
    "data-refused": "the server refused DATA, so it would have read the message as commands",
    "auth-ended": "the server ended the AUTH exchange, so it would have read the answers as "
    "commands (and stored or echoed the credentials)",
    "starttls-refused": "STARTTLS was refused; these lines were meant for the encrypted "
    "connection and would have travelled in clear",
    "limit": "a limit refused the line before them",
    "closed": "the connection closed before they could be sent",
}


@dataclass(frozen=True)
class Unit:
    """What may leave next: one line, or message lines written together (a batch)."""

    lines: tuple[str, ...]
    kind: str  # how the server will read it: COMMAND, DATA or AUTH_RESPONSE

    @property
    def text(self) -> str:
        return self.lines[0]

    @property
    def batch(self) -> bool:
        return self.kind == DATA and (len(self.lines) > 1 or self.lines != (".",))


@dataclass(frozen=True)
class Held:
    """Lines that were not sent, and why (see HELD_REASONS)."""

    lines: tuple[str, ...]
    reason: str
    after: str | None = None  # the command whose reply took their meaning away
    code: int | None = None  # that reply's code

    @property
    def words(self) -> str:
        return HELD_REASONS[self.reason]


class Pacer:
    """The queue of lines not sent yet, read against the dialogue's model."""

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self.queue: deque[str] = deque()
        # A refused DATA's message continues in the next `lines` frame: hold it to its ".".
        self.holding = False

    def add(self, lines: list[str], typed: bool = False) -> list[Held]:
        """Queue lines; ``typed`` for a line typed after the replies so far (a `line` frame),
        which ends the hold-back of a message pasted over several frames."""
        held: list[Held] = []
        if self.holding and typed:
            self.holding = False
            if lines == ["."]:
                return [Held((".",), "data-refused")]
        self.queue.extend(lines)
        if self.holding:
            held += self._hold_message("data-refused", None, None)
        return held

    def peek(self) -> Unit | None:
        """The next unit to send if the server's reading of it is known now, else None."""
        dialogue = self.dialogue
        if not self.queue or not dialogue.may_send():
            return None
        kind = dialogue.next_kind()
        if kind != DATA:
            return Unit((self.queue[0],), kind)
        lines = []
        for line in self.queue:  # the message up to its ".", in one write
            lines.append(line)
            if line == ".":
                break
        return Unit(tuple(lines), DATA)

    def take(self, unit: Unit) -> Outgoing:
        """Remove ``unit`` from the queue and classify it (it is being sent)."""
        for _ in unit.lines:
            self.queue.popleft()
        if unit.kind == DATA:
            return self.dialogue.classify_message(list(unit.lines))
        return self.dialogue.classify(unit.text)

    def skip(self) -> str:
        """Drop the next line unsent (an empty line is no command)."""
        return self.queue.popleft()

    def on_reply(self, owed: Pending | None, reply: Reply, auth_expected: int) -> list[Held]:
        """What a reply takes off the queue; ``auth_expected`` is what the AUTH exchange still
        expected before this reply ended it."""
        if owed is None:
            return []
        if owed.after == "DATA" and reply.code != 354:
            if not self.queue:
                return []  # typed on its own: nothing was meant as its message
            return self._hold_message("data-refused", owed.after, reply.code)
        ended_auth = owed.after in ("AUTH", "auth-response") and reply.code != 334
        if ended_auth and auth_expected and self.queue:
            count = min(auth_expected, len(self.queue))
            lines = tuple(self.queue.popleft() for _ in range(count))
            return [Held(lines, "auth-ended", owed.after, reply.code)]
        if owed.after == "STARTTLS" and reply.code != 220:
            return self.drop("starttls-refused", owed.after, reply.code)
        return []

    def _hold_message(self, reason: str, after: str | None, code: int | None) -> list[Held]:
        lines: list[str] = []
        while self.queue:
            line = self.queue.popleft()
            lines.append(line)
            if line == ".":
                self.holding = False
                break
        else:
            self.holding = True  # the "." is still to come, in a later frame
        return [Held(tuple(lines), reason, after, code)] if lines else []

    def drop(self, reason: str, after: str | None = None, code: int | None = None) -> list[Held]:
        """Everything still queued, held back for ``reason``."""
        lines = tuple(self.queue)
        self.queue.clear()
        self.holding = False
        return [Held(lines, reason, after, code)] if lines else []


def is_empty_command(unit: Unit) -> bool:
    """An empty (or blank) line where the server reads a command: not sent (RFC 5321 §4.1)."""
    return unit.kind == COMMAND and not unit.text.strip()
