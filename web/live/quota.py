"""Per-session budgets: recipients and messages toward real servers, bytes, frame rate.

These count what one live session does, so they live with the session (one process). Limits
that span sessions and processes (open sessions, new sessions per minute) are in limits.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from smtp_session.wire.dialogue import COMMAND, DATA, is_bdat_last, verb_of
from smtp_session.wire.pacing import Unit
from web.live.limits import LimitError


@dataclass
class Quota:
    """What one session may still send; each check raises LimitError naming the limit.

    Bytes are charged when a frame is queued (a frame over the budget is refused whole);
    recipients and messages when a line leaves, as the server will read it (the pacer's
    model, smtp_session/wire/dialogue.py): an RCPT counts only where the server reads a command,
    a message only when its end leaves after a 354 (or a BDAT LAST, RFC 3030 §2).
    """

    sandbox: bool
    max_recipients: int = 50
    max_messages: int = 10
    max_bytes: int = 64 * 1024 * 1024
    recipients: int = 0
    messages: int = 0
    bytes: int = 0
    # A MAIL was sent since the last end of a transaction: a second MAIL gets 503 and the
    # open transaction goes on (RFC 5321 §4.1.1.2), so it does not start the count again.
    mail_sent: bool = False

    def charge_bytes(self, lines: list[str]) -> None:
        """Account for a frame's lines about to be queued (all or none)."""
        size = len("".join(lines).encode("utf-8", "surrogatepass")) + 2 * len(lines)
        if self.bytes + size > self.max_bytes:
            raise LimitError(
                f"This session has sent {self.bytes:,} bytes; the limit is {self.max_bytes:,} "
                "bytes per session (PLAYGROUND_MAX_SESSION_BYTES).",
                "too_many_bytes",
                limit=self.max_bytes,
                current=self.bytes,
            )
        self.bytes += size

    def admit(self, unit: Unit) -> None:
        """Account for a unit about to leave; refuse one that goes over a limit."""
        recipients, messages = self._count(unit)
        # A DATA or BDAT would start a message the limit will not let end: refused before the
        # server is left waiting for message data.
        starts = unit.kind == COMMAND and verb_of(unit.text) in ("DATA", "BDAT")
        if not self.sandbox:
            self._check(
                "recipients",
                recipients,
                self.max_recipients,
                "recipients in one transaction",
                "PLAYGROUND_MAX_RECIPIENTS",
            )
            self._check(
                "messages",
                self.messages + max(messages, int(starts)),
                self.max_messages,
                "messages in one session",
                "PLAYGROUND_MAX_MESSAGES",
            )
        # Only now, with every check passed, does anything change (a refused unit is not sent).
        self.messages += messages
        self.recipients = recipients
        if messages or unit.kind == COMMAND and verb_of(unit.text) in _ENDS_TRANSACTION:
            self.mail_sent = False
        elif unit.kind == COMMAND and verb_of(unit.text) == "MAIL":
            self.mail_sent = True

    def _count(self, unit: Unit) -> tuple[int, int]:
        """Recipients in the transaction once this unit is sent, and messages it completes."""
        if unit.kind == DATA:
            return self.recipients, int(unit.lines[-1] == ".")
        if unit.kind != COMMAND:
            return self.recipients, 0  # an AUTH answer
        line = unit.text
        verb = verb_of(line)
        if verb in _ENDS_TRANSACTION or verb == "MAIL" and not self.mail_sent:
            return 0, 0
        if verb == "RCPT":
            return self.recipients + 1, 0
        if verb == "BDAT" and is_bdat_last(line):
            return self.recipients, 1  # RFC 3030 §2: the chunk marked LAST ends the message
        return self.recipients, 0

    @staticmethod
    def _check(name: str, total: int, limit: int, words: str, setting: str) -> None:
        if total > limit:
            raise LimitError(
                f"The limit is {limit} {words} toward a real mail server ({setting}); "
                "the sandbox has no such limit. The line was not sent.",
                f"too_many_{name}",
                limit=limit,
                current=total,
            )


# These clear the transaction: RSET (RFC 5321 §4.1.1.5), EHLO/HELO (§4.1.4).
_ENDS_TRANSACTION = frozenset({"RSET", "EHLO", "HELO"})


@dataclass
class FrameRate:
    """A token bucket for incoming frames: a burst is fine, a flood is refused."""

    per_second: float
    burst: float
    _tokens: float = field(default=0.0)
    _at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._tokens = self.burst

    def allow(self) -> bool:
        if self.per_second <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
