"""What a session did, for the exports that reproduce it: read from the same replay (and so the
same Guide and Transaction) as the live panels and the replay page, never re-parsed here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from smtp_session.guide.redact import user_in_marker
from smtp_session.guide.replay import Step, replay
from smtp_session.guide.transaction import Transaction, path_of
from smtp_session.wire.dialogue import AUTH_RESPONSE, DATA, END_OF_DATA, verb_of
from smtp_session.wire.events import Connected, ReplyReceived, Sent, TlsMode, TlsUp
from transcripts.model import Transcript

_HOST_PORT = re.compile(r"([^\s()]+):(\d{1,5})\)?\s*$")


@dataclass
class Message:
    """One mail transaction: MAIL FROM, its RCPT TOs and, if it got that far, the DATA."""

    sender: str
    recipients: list[str] = field(default_factory=list)
    mail_params: list[str] = field(default_factory=list)  # RFC 5321 §4.1.1.2 Mail-parameters
    rcpt_params: list[list[str]] = field(default_factory=list)  # one list per recipient
    lines: list[str] | None = None  # None: DATA never started (no 354)
    ended: bool = False  # the lone "." was sent (or, with BDAT, the LAST chunk)
    delivered: bool = False  # the server accepted it at end of data (2xx)
    chunks: list[bytes] | None = None  # RFC 3030 BDAT: each chunk's octets; None: no BDAT

    @property
    def data(self) -> bytes | None:
        """The message as the server received it, dot-stuffing undone, CRLF line ends."""
        if self.chunks is not None:
            return b"".join(self.chunks)
        if self.lines is None:
            return None
        return "".join(line + "\r\n" for line in self.lines).encode("utf-8", "surrogateescape")


class _Chunk:
    """The octets of one BDAT chunk, gathered back from the lines the transcript keeps.

    The recorder splits a chunk at CRLF and drops a final empty part, so a chunk ending in
    CRLF and one ending without read back alike; the count in "BDAT <n>" tells them apart.
    """

    def __init__(self, size: int, last: bool) -> None:
        self.size, self.last = size, last
        self.lines: list[str] = []
        self.octets: bytes | None = b"" if size == 0 else None

    def add(self, line: str) -> None:
        self.lines.append(line)
        joined = "\r\n".join(self.lines).encode("utf-8", "surrogateescape")
        if len(joined) == self.size:
            self.octets = joined
        elif len(joined) + 2 == self.size:
            self.octets = joined + b"\r\n"


def _bdat(command: str) -> _Chunk | None:
    """RFC 3030 §2: "BDAT" SP chunk-size [ SP "LAST" ]."""
    words = command.split()
    if len(words) < 2 or not words[1].isdigit():
        return None
    return _Chunk(int(words[1]), "LAST" in (w.upper() for w in words[2:]))


@dataclass
class Facts:
    """The envelope of a session: where, how, who, and each transaction."""

    host: str
    port: int
    address: str | None = None  # the address connected to, when the transcript says
    tls_on_connect: bool = False
    starttls: bool = False
    greeting_verb: str = "EHLO"
    ehlo: str | None = None
    auth_mechanism: str | None = None
    auth_user: str | None = None
    messages: list[Message] = field(default_factory=list)
    last_verb: str | None = None


def _target(target: str) -> tuple[str, int]:
    """Host and port from "host:port", "[v6]:port" or "name (host:port)"; a connect event wins."""
    m = _HOST_PORT.search(target)
    return (m.group(1).strip("[]"), int(m.group(2))) if m else (target, 25)


def _params(command: str) -> list[str]:
    """The esmtp-keyword[=value] words after the path of a MAIL or RCPT line (SIZE=1000)."""
    args = command.partition(" ")[2]
    rest = args.split(":", 1)[1].strip() if ":" in args else args.strip()
    rest = rest.partition(">")[2] if rest.startswith("<") else rest.partition(" ")[2]
    return rest.split()


# The verb for the furthest step the Transaction reached (swaks --quit-after reads it).
_STEP_VERB = {
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "auth": "AUTH",
    "mail": "MAIL",
    "rcpt": "RCPT",
}
_HELLO = ("EHLO", "HELO", "LHLO")


class _Reader:
    """Follows the replayed session: each fact is what the Transaction made of a reply."""

    def __init__(self, transcript: Transcript) -> None:
        self.facts = Facts(*_target(transcript.target))
        self.current: Message | None = None
        self.auth_line: str | None = None  # the AUTH command of the exchange in progress
        self.auth_user: str | None = None
        self.delivered = 0  # messages the server accepted so far
        self.rcpt_params: dict[str, list[str]] = {}  # by recipient, from the accepted RCPTs
        self.chunks: list[_Chunk] = []  # BDAT chunks sent, not yet answered (pipelined)
        # Message lines sent after DATA but before its 354 came back (a pasted batch): the
        # message only if the 354 does come (RFC 5321 §3.3).
        self.early: list[str] = []

    def read(self, steps: Iterable[Step]) -> Facts:
        """The facts, reading each step's Transaction as the replay reaches it."""
        for step in steps:
            match step.event:
                case Connected(host=host, port=port, address=address) if host:
                    self.facts.host, self.facts.port = host, port
                    self.facts.address = address or None
                case TlsUp(tls_mode=TlsMode.IMPLICIT):
                    self.facts.tls_on_connect = True
                case TlsUp(tls_mode=TlsMode.STARTTLS):
                    self.facts.starttls = True
                case Sent():
                    self._sent(step.event)
                case ReplyReceived():
                    self._reply(step.event, step)
            self.facts.last_verb = _STEP_VERB.get(step.tx.step or "", self.facts.last_verb)
        return self.facts

    def _sent(self, event: Sent) -> None:
        message = self.current
        gathering = self.chunks and self.chunks[-1].octets is None
        if event.kind == DATA and gathering:  # the octets of a BDAT chunk
            self.chunks[-1].add(event.text)
        elif event.kind == DATA and (message is None or message.lines is None):
            self.early.append(event.text)
        elif event.kind == DATA:
            self._data_line(event.text)
        elif event.verb == "DATA":
            self.early = []
        elif verb_of(event.text) == "BDAT" and (chunk := _bdat(event.text)) is not None:
            self.chunks.append(chunk)
        elif event.kind == AUTH_RESPONSE or verb_of(event.text) == "AUTH":
            if event.kind != AUTH_RESPONSE:
                self.auth_line, self.auth_user = event.text, None
            self.auth_user = user_in_marker(event.text) or self.auth_user

    def _data_line(self, text: str) -> None:
        message = self.current
        if message is None or message.lines is None or message.ended:
            return
        if text == ".":
            message.ended = True
        else:  # RFC 5321 §4.5.2: a line starting with a period had one more added; remove it.
            message.lines.append(text[1:] if text.startswith(".") else text)

    def _reply(self, event: ReplyReceived, step: Step) -> None:
        tx, after, line = step.tx, event.after, event.line or ""
        if after in _HELLO and event.reply.code == 250 and self.facts.ehlo is None:
            self.facts.greeting_verb = after
            self.facts.ehlo = line.partition(" ")[2].strip() or None
        if tx.authenticated and self.facts.auth_mechanism is None and self.auth_line:
            self.facts.auth_mechanism = (self.auth_line.split()[1:] or [""])[0].upper() or None
            self.facts.auth_user = self.auth_user
        if after == "MAIL" and event.reply.code == 250 and tx.mail_from is not None:
            self.current = Message(sender=tx.mail_from, mail_params=_params(line))
            self.facts.messages.append(self.current)
            self.rcpt_params = {}
        if after == "RCPT" and line:
            self.rcpt_params[path_of(line.partition(" ")[2])] = _params(line)
        if after == "BDAT" and self.chunks:
            self._chunk_answered(self.chunks.pop(0), tx)
        self._follow_envelope(after, tx)

    def _chunk_answered(self, chunk: _Chunk, tx: Transaction) -> None:
        """A reply to BDAT: its chunk joins the message (replayed as sent, whatever the reply)."""
        message = self.current
        if message is None or chunk.octets is None:
            return
        message.chunks = [*(message.chunks or []), chunk.octets]
        message.recipients = list(tx.accepted_recipients) or message.recipients
        if chunk.last:
            message.ended = True
            message.delivered = tx.messages_sent > self.delivered
            self.delivered = tx.messages_sent
            self.current = None

    def _follow_envelope(self, after: str | None, tx: Transaction) -> None:
        message = self.current
        if message is None:
            return
        if after == END_OF_DATA:  # RFC 5321 §4.1.1.4: the envelope ends, delivered or not
            message.delivered = tx.messages_sent > self.delivered
            self.delivered = tx.messages_sent
            self.current = None
        elif tx.mail_from is None:  # RSET, a new EHLO, a 421: the envelope is gone
            self.current = None
        else:
            message.recipients = list(tx.accepted_recipients)
            message.rcpt_params = [self.rcpt_params.get(r, []) for r in message.recipients]
            if tx.in_data and message.lines is None:
                message.lines = []
                for text in self.early:
                    self._data_line(text)
        if after == "DATA":
            self.early = []


def facts_of(transcript: Transcript) -> Facts:
    """Where the session went and what it sent, as the guide's replay of its entries saw it."""
    return _Reader(transcript).read(replay(transcript.entries, frames=False))
