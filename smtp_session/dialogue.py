"""Which line is which: commands, message lines and AUTH answers, and what each reply answers.

The session needs this to attribute every reply to the line that caused it (the panels explain
"250 after RCPT" differently from "250 after the final dot"), to know when the user is typing
the message (no reply per line) and to know which lines carry credentials.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .reply import Reply

# What a reply can answer, as the knowledge base keys it.
GREETING = "greeting"
AUTH_RESPONSE = "auth-response"
END_OF_DATA = "end-of-data"

# Kinds of outgoing lines.
COMMAND = "command"
DATA = "data"


@dataclass(frozen=True)
class Outgoing:
    """A line about to be sent, classified."""

    text: str
    kind: str  # COMMAND, DATA or AUTH_RESPONSE
    verb: str | None  # upper-cased command verb for commands, else None
    expects_reply: bool


@dataclass(frozen=True)
class Pending:
    """A reply the server owes us."""

    after: str  # GREETING, a verb, AUTH_RESPONSE or END_OF_DATA
    line: str | None


def verb_of(line: str) -> str:
    """The command verb of a line, upper-cased (verbs are case-insensitive, RFC 5321 §2.4)."""
    return line.split(" ", 1)[0].split(":", 1)[0].upper()


# How many lines each SASL mechanism asks for after AUTH, without and with an initial response
# (RFC 4954 §4). Unknown mechanisms: one, and any further 334 asks for more.
_AUTH_ANSWERS = {
    "PLAIN": (1, 0),  # RFC 4616
    "LOGIN": (2, 1),  # draft-murchison-sasl-login: username, then password
    "CRAM-MD5": (1, 1),  # RFC 2195: no initial response is possible
    "XOAUTH2": (1, 0),
}


def auth_answers_expected(line: str) -> int:
    """How many lines will answer the server's 334 prompts after this AUTH command."""
    parts = line.split()
    if len(parts) < 2:
        return 0
    without, with_initial = _AUTH_ANSWERS.get(parts[1].upper(), (1, 0))
    return with_initial if len(parts) > 2 else without


class Dialogue:
    """Tracks the wire-level conversation: modes and the queue of owed replies (pipelining-safe)."""

    def __init__(self) -> None:
        self.pending: deque[Pending] = deque()
        self.in_data = False  # after DATA was sent, until the lone "." (RFC 5321 §4.1.1.4)
        self.data_lines: list[str] = []
        self.auth_continues = False  # the last reply was a 334: the next line answers it
        # Lines the AUTH mechanism will ask for, known when AUTH is sent, so that a pasted batch
        # (sent before any 334 arrives) is still recognised as credentials and redacted.
        self.auth_expected = 0

    def expect_greeting(self) -> None:
        self.pending.append(Pending(GREETING, None))

    def classify(self, text: str) -> Outgoing:
        """Classify a line the user is sending and record the reply it will be owed."""
        if self.in_data:
            if text == ".":
                self.in_data = False
                self.pending.append(Pending(END_OF_DATA, text))
                return Outgoing(text, DATA, None, True)
            self.data_lines.append(text)
            return Outgoing(text, DATA, None, False)
        if self.auth_continues or self.auth_expected > 0:
            self.auth_continues = False
            self.auth_expected = max(0, self.auth_expected - 1)
            self.pending.append(Pending(AUTH_RESPONSE, text))
            return Outgoing(text, AUTH_RESPONSE, None, True)
        verb = verb_of(text)
        self.pending.append(Pending(verb, text))
        if verb == "AUTH":
            self.auth_expected = auth_answers_expected(text)
        if verb == "DATA":
            # Optimistic: lines typed before the 354 arrives are the message. If DATA is
            # refused, on_reply turns them back into commands.
            self.in_data = True
            self.data_lines = []
        return Outgoing(text, COMMAND, verb, True)

    def classify_message(self, lines: list[str]) -> Outgoing:
        """``classify`` for message lines sent together (in DATA, at most one "." and only
        last); returns the outcome of the last line."""
        if not lines or not self.in_data or "." in lines[:-1]:
            raise ValueError("classify_message takes message lines ending at most with '.'")
        if lines[-1] == ".":
            self.data_lines += lines[:-1]
            return self.classify(".")
        self.data_lines += lines
        return Outgoing(lines[-1], DATA, None, False)

    def on_reply(self, reply: Reply) -> Pending | None:
        """Attribute a reply to the oldest owed one; None for an unsolicited reply (e.g. 421)."""
        owed = self.pending.popleft() if self.pending else None
        if owed is None:
            return None
        if owed.after == "DATA" and reply.code != 354 and self.in_data:
            # DATA refused: the server reads whatever we sent since as commands.
            self.in_data = False
            for line in self.data_lines:
                self.pending.append(Pending(verb_of(line), line))
            self.data_lines = []
        if reply.code != 334 and owed.after in ("AUTH", AUTH_RESPONSE):
            self.auth_expected = 0  # the exchange is over (235, 535...): no more answers
        # A 334 asks for one more line, unless that line was already sent (a pasted batch).
        self.auth_continues = (
            reply.code == 334 and owed.after in ("AUTH", AUTH_RESPONSE) and not self.pending
        )
        return owed

    def reset_for_tls(self) -> None:
        """After a STARTTLS upgrade nothing owed from before the handshake still stands."""
        self.pending.clear()
        self.in_data = False
        self.auth_continues = False
        self.auth_expected = 0
