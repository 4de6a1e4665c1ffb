"""Pacing: the lines a user queued, released only when the server's reading of them is known.

A pasted session is a list of lines, but the server reads each one according to the replies
before it: after a 354 a line is message data, after a 334 an AUTH answer, after a refused DATA
a command. So lines leave one command at a time, each after the previous reply, unless the
server offered PIPELINING (then in RFC 2920 groups, :func:`~smtp_session.wire.dialogue.ends_group`),
and message lines only after the 354. Lines whose meaning a reply took away are held back,
never sent as something else:

- the message after a refused DATA, up to its lone "." (RFC 5321 §3.3: no data without 354);
- the AUTH answers queued for an exchange the server ended (RFC 4954 §4: only a 334 asks);
- everything queued after a refused STARTTLS (it was meant for the encrypted connection).

The pacer decides; :class:`~smtp_session.wire.session.SmtpSession` writes and emits the events.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from smtp_session.wire.dialogue import COMMAND, DATA, Dialogue, Outgoing, Pending, verb_of
from smtp_session.wire.reply import Reply

# A message queued before its 354 (a paste of many frames) leaves in writes of about one
# frame's size: one `sent` frame, and one transcript row, per batch, never one of 20 MB.
BATCH_BYTES = 900 * 1024

# Why lines were held back (the `held` event's `reason`), with the words the console shows.
HELD_REASONS = {
    "data-refused": "the server refused DATA, so it would have read the message as commands",
    "auth-ended": "the server ended the AUTH exchange, so it would have read the answers as "
    "commands (and stored or echoed the credentials)",
    "starttls-refused": "STARTTLS was refused; these lines were meant for the encrypted "
    "connection and would have travelled in clear",
    "limit": "a limit refused the line before them",
    "bdat-refused": "the server refused a BDAT chunk, and RFC 3030 §2 forbids sending more",
    "bdat-count": "a BDAT command's count did not match the octets after it",
    "closed": "the connection closed before they could be sent",
}


@dataclass(frozen=True)
class Chunk:
    """A BDAT chunk from the console's composer: ``BDAT <n> [LAST]`` and exactly n octets."""

    payload: bytes
    last: bool = False

    @property
    def command(self) -> str:
        """RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]."""
        return f"BDAT {len(self.payload)}" + (" LAST" if self.last else "")

    @property
    def lines(self) -> tuple[str, ...]:
        """The chunk as transcript lines (CRLF-separated; a last partial line is a line)."""
        parts = self.payload.decode("utf-8", "replace").split("\r\n")
        return tuple(parts[:-1] if parts and parts[-1] == "" else parts)


@dataclass(frozen=True)
class Unit:
    """What may leave next: one line, message lines written together (a batch), or a BDAT
    command with its chunk's octets."""

    lines: tuple[str, ...]
    kind: str  # how the server will read it: COMMAND, DATA or AUTH_RESPONSE
    chunk: Chunk | None = None  # for BDAT: the octets that follow the command line
    items: int = 0  # queue items it takes (default: one per line)
    error: str | None = None  # why it cannot be sent as it is (a BDAT count that is wrong)

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
        self.queue: deque[str | Chunk] = deque()
        # A refused DATA's message continues in the next `lines` frame: hold it to its ".".
        self.holding = False

    def add_chunk(self, chunk: Chunk) -> None:
        """Queue a BDAT chunk (the composer counts its octets; RFC 3030 §2)."""
        self.holding = False
        self.queue.append(chunk)

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
        head = self.queue[0]
        kind = dialogue.next_kind()
        is_bdat = isinstance(head, Chunk) or kind == COMMAND and verb_of(head) == "BDAT"
        if is_bdat and dialogue.bdat_failed:
            command = head.command if isinstance(head, Chunk) else head
            return Unit((command,), COMMAND, items=1, error=BDAT_AFTER_FAILURE)
        if isinstance(head, Chunk):
            return Unit((head.command,), COMMAND, chunk=head, items=1)
        if kind == COMMAND and verb_of(head) == "BDAT":
            return self._typed_bdat(head)
        if kind != DATA:
            return Unit((head,), kind)
        lines: list[str] = []
        size = 0
        for line in self.queue:  # the message up to its ".", in writes of at most BATCH_BYTES
            if isinstance(line, Chunk) or lines and size + len(line) > BATCH_BYTES:
                break
            lines.append(line)
            size += len(line) + 2
            if line == ".":
                break
        return Unit(tuple(lines), DATA)

    def _typed_bdat(self, command: str) -> Unit:
        """A typed "BDAT n": the lines after it are its chunk, and must be exactly n octets
        with their CRLFs, or the server would read the rest of a line as a command."""
        words = command.split()
        size = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
        if size is None or size == 0:
            return Unit((command,), COMMAND)  # BDAT 0 LAST, or a syntax error the server reads
        lines: list[str] = []
        total = 0
        for line in list(self.queue)[1:]:
            if isinstance(line, Chunk) or total >= size:
                break
            lines.append(line)
            total += len(line.encode("utf-8")) + 2
        if total != size:
            return Unit((command,), COMMAND, items=1, error=_bdat_mismatch(size, total))
        payload = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        chunk = Chunk(payload, "LAST" in (w.upper() for w in words[2:]))
        return Unit((command,), COMMAND, chunk=chunk, items=1 + len(lines))

    def take(self, unit: Unit) -> Outgoing:
        """Remove ``unit`` from the queue and classify it (it is being sent)."""
        for _ in range(unit.items or len(unit.lines)):
            self.queue.popleft()
        if unit.kind == DATA:
            return self.dialogue.classify_message(list(unit.lines))
        return self.dialogue.classify(unit.text)

    def skip(self, unit: Unit) -> None:
        """Drop ``unit`` unsent (an empty line is no command; a limit refused it)."""
        for _ in range(unit.items or len(unit.lines)):
            self.queue.popleft()

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
            lines = tuple(str(self.queue.popleft()) for _ in range(count))
            return [Held(lines, "auth-ended", owed.after, reply.code)]
        if owed.after == "STARTTLS" and reply.code != 220:
            return self.drop("starttls-refused", owed.after, reply.code)
        if owed.after == "BDAT" and (reply.code or 500) >= 400:
            return self._hold_chunks(owed.after, reply.code)
        return []

    def _hold_chunks(self, after: str, code: int | None) -> list[Held]:
        """RFC 3030 §2: after a 4xx/5xx to a chunk "the sender-SMTP MUST NOT send any
        additional BDAT segments"; the queued ones are held back."""
        lines: list[str] = []
        while self.queue and (
            isinstance(self.queue[0], Chunk) or verb_of(str(self.queue[0])) == "BDAT"
        ):
            item = self.queue.popleft()
            lines.append(item.command if isinstance(item, Chunk) else item)
        return [Held(tuple(lines), "bdat-refused", after, code)] if lines else []

    def _hold_message(self, reason: str, after: str | None, code: int | None) -> list[Held]:
        lines: list[str] = []
        while self.queue and not isinstance(self.queue[0], Chunk):
            line = str(self.queue.popleft())
            lines.append(line)
            if line == ".":
                self.holding = False
                break
        else:
            self.holding = not self.queue  # the "." is still to come, in a later frame
        return [Held(tuple(lines), reason, after, code)] if lines else []

    def drop(self, reason: str, after: str | None = None, code: int | None = None) -> list[Held]:
        """Everything still queued, held back for ``reason``."""
        lines = tuple(i.command if isinstance(i, Chunk) else i for i in self.queue)
        self.queue.clear()
        self.holding = False
        return [Held(lines, reason, after, code)] if lines else []


def is_empty_command(unit: Unit) -> bool:
    """An empty (or blank) line where the server reads a command: not sent (RFC 5321 §4.1)."""
    return unit.kind == COMMAND and not unit.text.strip()


BDAT_AFTER_FAILURE = (
    "Not sent: the server refused the last chunk, and after that RFC 3030 §2 forbids more "
    "BDAT segments; the transaction's state is unknown. Send RSET, then start again."
)


def _bdat_mismatch(size: int, total: int) -> str:
    return (
        f"Not sent: BDAT {size} wants exactly {size} octets after it, and the lines that follow "
        f"make {total} with their CRLFs, so the server would read part of a line as a command "
        "(RFC 3030 §2). Use the chunk composer, which counts the octets for you."
    )
