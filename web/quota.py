"""Per-session budgets: recipients and messages toward real servers, bytes, frame rate.

These count what one live session does, so they live with the session (one process). Limits
that span sessions and processes (open sessions, new sessions per minute) are in limits.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from smtp_session.dialogue import Dialogue, verb_of

from .limits import LimitError


@dataclass
class Quota:
    """What one session may still send; ``charge`` raises LimitError naming the limit."""

    sandbox: bool
    max_recipients: int = 50
    max_messages: int = 10
    max_bytes: int = 64 * 1024 * 1024
    recipients: int = 0
    messages: int = 0
    bytes: int = 0

    def charge(self, lines: list[str], dialogue: Dialogue) -> None:
        """Account for lines about to be sent (all or none); refuse what goes over a limit."""
        size = len("".join(lines).encode("utf-8", "surrogatepass")) + 2 * len(lines)
        if self.bytes + size > self.max_bytes:
            raise LimitError(
                f"This session has sent {self.bytes:,} bytes; the limit is {self.max_bytes:,} "
                "bytes per session (PLAYGROUND_MAX_SESSION_BYTES).",
                "too_many_bytes",
                limit=self.max_bytes,
                current=self.bytes,
            )
        recipients, messages = self._count(lines, dialogue)
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
                self.messages + messages,
                self.max_messages,
                "messages in one session",
                "PLAYGROUND_MAX_MESSAGES",
            )
        # Only now, with every check passed, does anything change (a refused batch is not sent).
        self.bytes += size
        self.messages += messages
        self.recipients = recipients

    def _count(self, lines: list[str], dialogue: Dialogue) -> tuple[int, int]:
        """Recipients in the transaction after these lines, and messages they complete."""
        in_data = dialogue.in_data
        recipients, messages = self.recipients, 0
        i = 0
        while i < len(lines):
            if in_data:  # skip the message to its end (a paste: don't look at every line)
                try:
                    i = lines.index(".", i) + 1
                except ValueError:
                    break
                in_data, messages = False, messages + 1
                continue
            line = lines[i]
            i += 1
            verb = verb_of(line)
            if verb in ("MAIL", "RSET"):
                recipients = 0  # a new transaction (RFC 5321 §4.1.1.2, §4.1.1.5)
            elif verb == "RCPT":
                recipients += 1
            elif verb == "DATA":
                in_data = True
            elif verb == "BDAT" and "LAST" in line.upper().split()[2:]:
                messages += 1  # RFC 3030 §2: the chunk marked LAST ends the message
        return recipients, messages

    @staticmethod
    def _check(name: str, total: int, limit: int, words: str, setting: str) -> None:
        if total > limit:
            raise LimitError(
                f"The limit is {limit} {words} toward a real mail server ({setting}); "
                "the sandbox has no such limit.",
                f"too_many_{name}",
                limit=limit,
                current=total,
            )


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
