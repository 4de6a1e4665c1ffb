"""What a session did, read back from its entries, for the exports that reproduce it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from smtp_session.redact import user_in_marker
from transcripts.model import Entry, Transcript

# RFC 5321 §4.1.1.2/§4.1.1.3: MAIL FROM:<path> [params], RCPT TO:<path> [params]
_PATH = re.compile(r"^\s*(?:FROM|TO)\s*:\s*(?:<([^>]*)>|(\S*))", re.IGNORECASE)


_HOST_PORT = re.compile(r"([^\s()]+):(\d{1,5})\)?\s*$")


@dataclass
class Message:
    """One mail transaction: MAIL FROM, its RCPT TOs and, if it got that far, the DATA."""

    sender: str
    recipients: list[str] = field(default_factory=list)
    mail_params: list[str] = field(default_factory=list)  # RFC 5321 §4.1.1.2 Mail-parameters
    rcpt_params: list[list[str]] = field(default_factory=list)  # one list per recipient
    lines: list[str] | None = None  # None: DATA never started
    ended: bool = False  # the lone "." was sent

    @property
    def data(self) -> bytes | None:
        """The message as the server received it, dot-stuffing undone, CRLF line ends."""
        if self.lines is None:
            return None
        return "".join(line + "\r\n" for line in self.lines).encode("utf-8", "surrogateescape")


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


def _path(argument: str) -> str:
    m = _PATH.match(argument)
    if not m:
        return argument.strip()
    return m.group(1) if m.group(1) is not None else m.group(2)


def _params(argument: str) -> list[str]:
    """The esmtp-keyword[=value] words after the path (SIZE=1000, BODY=8BITMIME...)."""
    m = _PATH.match(argument)
    return argument[m.end() :].split() if m else []


def _target(target: str) -> tuple[str, int]:
    """Host and port from "host:port", "[v6]:port" or "name (host:port)"; a connect event wins."""
    m = _HOST_PORT.search(target)
    return (m.group(1).strip("[]"), int(m.group(2))) if m else (target, 25)


class _Reader:
    """Walks the entries once, noting what each command did."""

    def __init__(self, transcript: Transcript) -> None:
        self.facts = Facts(*_target(transcript.target))
        self.current: Message | None = None
        self.starttls_sent = False
        self.data_pending = False
        self.verbs: dict[str, Callable[[str, str], None]] = {
            "EHLO": self._hello,
            "HELO": self._hello,
            "LHLO": self._hello,
            "STARTTLS": lambda line, arg: setattr(self, "starttls_sent", True),
            "AUTH": self._auth,
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": self._data,
            "RSET": self._rset,
        }

    def read(self, entries: list[Entry]) -> Facts:
        for entry in entries:
            if entry["kind"] == "event" and entry.get("event") == "connect":
                self._connect(entry.get("data") or {})
            elif entry["kind"] == "event" and entry.get("event") == "tls":
                self._tls(entry.get("data") or {})
            elif entry["kind"] == "sent":
                self._sent(entry["text"], entry.get("line_kind", "command"))
            elif entry["kind"] == "reply" and self.data_pending:
                self._data_reply(entry.get("code"))
        return self.facts

    def _data_reply(self, code: int | None) -> None:
        # RFC 5321 §4.1.1.4: only a 354 opens the message; any other reply refuses DATA.
        self.data_pending = False
        if code == 354 and self.current is not None and self.current.lines is None:
            self.current.lines = []

    def _connect(self, data: dict[str, object]) -> None:
        if isinstance(data.get("host"), str):
            self.facts.host = str(data["host"])
        if isinstance(data.get("port"), int):
            self.facts.port = int(str(data["port"]))
        if isinstance(data.get("address"), str):
            self.facts.address = str(data["address"])

    def _tls(self, data: dict[str, object]) -> None:
        # The session reports how TLS began: "implicit" on connect (RFC 8314 §3.3) or after
        # STARTTLS (RFC 3207); transcripts recorded before tls_mode said "mode".
        mode = data.get("tls_mode", data.get("mode"))
        if mode == "implicit":
            self.facts.tls_on_connect = True
        elif self.starttls_sent or mode == "starttls":
            self.facts.starttls = True

    def _sent(self, text: str, line_kind: str) -> None:
        if line_kind == "auth-response":
            self.facts.auth_user = self.facts.auth_user or user_in_marker(text)
        elif line_kind == "data" and self.current is not None and self.current.lines is not None:
            self._data_line(text)
        elif line_kind == "command":
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb in self.verbs:
                self.facts.last_verb = verb
                self.verbs[verb](text, arg)

    def _data_line(self, text: str) -> None:
        assert self.current is not None and self.current.lines is not None
        for line in text.split("\n"):
            line = line.removesuffix("\r")
            if line == "." or self.current.ended:
                self.current.ended = True
                return
            # RFC 5321 §4.5.2: a line starting with a period had one more added; remove it.
            self.current.lines.append(line[1:] if line.startswith(".") else line)

    def _hello(self, line: str, arg: str) -> None:
        if self.facts.ehlo is None:
            self.facts.greeting_verb = line.split(" ", 1)[0].upper()
            self.facts.ehlo = arg.strip() or None

    def _auth(self, line: str, arg: str) -> None:
        self.facts.auth_mechanism = (arg.split() or [""])[0].upper() or None
        self.facts.auth_user = user_in_marker(line)

    def _mail(self, line: str, arg: str) -> None:
        self.current = Message(sender=_path(arg), mail_params=_params(arg))
        self.facts.messages.append(self.current)

    def _rcpt(self, line: str, arg: str) -> None:
        if self.current is not None:
            self.current.recipients.append(_path(arg))
            self.current.rcpt_params.append(_params(arg))

    def _data(self, line: str, arg: str) -> None:
        self.data_pending = True

    def _rset(self, line: str, arg: str) -> None:
        self.current = None


def facts_of(transcript: Transcript) -> Facts:
    """Where the session went and what it sent, from its entries."""
    return _Reader(transcript).read(transcript.entries)
