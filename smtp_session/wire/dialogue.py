"""How the server reads each line: commands, message lines and AUTH answers, and what each reply
answers.

This is the one model of the conversation the whole playground reads (the pacer, the quota, the
redactor, the checks): a line is message data only once the server said 354 to DATA, an AUTH
answer only once it said 334, and a reply is attributed to the oldest line that is owed one.
It also knows which commands end an RFC 2920 group, so the pacer never sends a line whose
meaning depends on a reply that has not arrived.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from smtp_session.wire.reply import Reply

# What a reply can answer, as the knowledge base keys it.
GREETING = "greeting"
AUTH_RESPONSE = "auth-response"
END_OF_DATA = "end-of-data"

# Kinds of outgoing lines.
COMMAND = "command"
DATA = "data"

# RFC 2920 §3.1: "RSET, MAIL FROM, SEND FROM, SOML FROM, SAML FROM, and RCPT TO can all appear
# anywhere in a pipelined command group"; EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP only last,
# and so does any command of another extension unless it says otherwise: STARTTLS (RFC 3207 §4:
# "the STARTTLS command must be the last command in a group") and AUTH (RFC 4954 says nothing,
# and its 334 decides what the next line is). BDAT chunks may follow each other (RFC 3030 §4.2's
# pipelined example); the LAST one waits for its reply, like any command that ends a message.
ANYWHERE_IN_GROUP = frozenset({"RSET", "MAIL", "SEND", "SOML", "SAML", "RCPT"})


@dataclass(frozen=True)
class Outgoing:
    """A line about to be sent, classified."""

    text: str
    kind: str  # COMMAND, DATA or AUTH_RESPONSE
    verb: str | None  # upper-cased command verb for commands, else None
    expects_reply: bool
    n: int = 0  # its number among the lines sent on this connection (0 = the first)


@dataclass(frozen=True)
class Pending:
    """A reply the server owes us."""

    after: str  # GREETING, a verb, AUTH_RESPONSE or END_OF_DATA
    line: str | None
    ends_group: bool = True  # nothing more may be sent before this reply (RFC 2920 §3.1)
    n: int | None = None  # the sent line it answers (None for the greeting)


def verb_of(line: str) -> str:
    """The command verb of a line, upper-cased (verbs are case-insensitive, RFC 5321 §2.4).
    Cached by the line's first 32 characters when the verb ends within them: the pacer, the
    quota and the dialogue ask nine times a round trip, and a cache keyed by whole lines
    would keep up to 1,024 lines of up to a frame's size alive."""
    head = line[:_HEAD]
    if len(line) <= _HEAD or " " in head or ":" in head:
        return _verb_of_head(head)
    return _verb(line)


_HEAD = 32


def _verb(line: str) -> str:
    return line.split(" ", 1)[0].split(":", 1)[0].upper()


_verb_of_head = lru_cache(maxsize=1024)(_verb)


def is_bdat_last(line: str) -> bool:
    """RFC 3030 §2: "BDAT <size> LAST" ends the message."""
    return "LAST" in line.upper().split()[2:]


def ends_group(line: str) -> bool:
    """Whether a command must be the last of an RFC 2920 group (wait for its reply)."""
    verb = verb_of(line)
    if verb == "BDAT":
        return is_bdat_last(line)
    return verb not in ANYWHERE_IN_GROUP


# How many lines each SASL mechanism asks for after AUTH, without and with an initial response
# (RFC 4954 §4). Unknown mechanisms: one, and any further 334 asks for more.
_AUTH_ANSWERS = {
    "PLAIN": (1, 0),  # RFC 4616
    "LOGIN": (2, 1),  # draft-murchison-sasl-login: username, then password
    "CRAM-MD5": (1, 1),  # RFC 2195: no initial response is possible
    "XOAUTH2": (1, 0),
}


def auth_answers_expected(line: str) -> int:
    """How many lines the user means as answers to the server's 334 prompts after this AUTH.

    RFC 4954 §4: "=" is an empty initial response; a line pasted after "AUTH PLAIN =" was
    still meant as the credentials, so it counts as no initial response here.
    """
    parts = line.split()
    if len(parts) < 2:
        return 0
    without, with_initial = _AUTH_ANSWERS.get(parts[1].upper(), (1, 0))
    return with_initial if len(parts) > 2 and parts[2] != "=" else without


def capabilities_of(reply: Reply) -> set[str]:
    """EHLO keywords, upper-cased; line one is the server's name (RFC 5321 §4.1.1.1)."""
    return {text.split()[0].upper() for text in reply.texts[1:] if text.split()}


class Dialogue:
    """The wire-level conversation: how the server reads the next line, and the owed replies."""

    def __init__(self) -> None:
        self.pending: deque[Pending] = deque()
        self.in_data = False  # after a 354 to DATA, until the lone "." (RFC 5321 §4.1.1.4)
        self.auth_prompted = False  # a 334 arrived: the next line answers it (RFC 4954 §4)
        # Answers the AUTH exchange in progress still expects by the mechanism's rules: lines
        # queued to answer it are held back if the exchange ends first.
        self.auth_expected = 0
        self.capabilities: set[str] = set()  # from the last 250 to EHLO
        self.sent = 0  # lines sent on this connection
        self.chunk_left = 0  # replay: octets of a BDAT chunk still to come (RFC 3030 §2)
        # RFC 3030 §2: after a 4xx/5xx to BDAT the state is indeterminate and no more chunks
        # may be sent; RSET (or a new MAIL, EHLO) must clear the transaction first.
        self.bdat_failed = False

    @property
    def pipelining(self) -> bool:
        """RFC 2920 §3: the server offered PIPELINING in its reply to EHLO."""
        return "PIPELINING" in self.capabilities

    def expect_greeting(self) -> None:
        self.pending.append(Pending(GREETING, None))

    def next_kind(self) -> str:
        """How the server will read the next line, given the replies so far."""
        if self.in_data:
            return DATA
        if self.auth_prompted and not self.pending:
            return AUTH_RESPONSE
        return COMMAND

    def may_send(self) -> bool:
        """Whether the next line's meaning is known now (else it waits for a reply)."""
        if self.in_data:
            return True  # message lines owe no reply until the "."
        if not self.pending:
            return True
        # RFC 2920 §3.1: with PIPELINING, commands may follow ones that can be anywhere in a
        # group (and the message content, which may start one); nothing follows a group's last.
        return self.pipelining and not self.auth_prompted and not self.pending[-1].ends_group

    def classify(self, text: str) -> Outgoing:
        """Classify a line being sent now and record the reply it will be owed."""
        n = self.sent
        self.sent += 1
        if self.in_data:
            if text == ".":
                self.in_data = False
                # RFC 2920 §3.1: the message content may be the first "command" of a group.
                self.pending.append(Pending(END_OF_DATA, text, ends_group=False, n=n))
                return Outgoing(text, DATA, None, True, n)
            return Outgoing(text, DATA, None, False, n)
        if self.auth_prompted and not self.pending:
            self.auth_prompted = False
            self.auth_expected = max(0, self.auth_expected - 1)
            self.pending.append(Pending(AUTH_RESPONSE, text, n=n))
            return Outgoing(text, AUTH_RESPONSE, None, True, n)
        verb = verb_of(text)
        self.pending.append(Pending(verb, text, ends_group(text), n))
        if verb in ("RSET", "MAIL", "EHLO", "HELO"):
            self.bdat_failed = False
        if verb == "AUTH":
            self.auth_expected = auth_answers_expected(text)
        return Outgoing(text, COMMAND, verb, True, n)

    def classify_message(self, lines: list[str]) -> Outgoing:
        """``classify`` for message lines sent together (in DATA, at most one "." and only
        last); returns the outcome of the last line."""
        if not lines or not self.in_data or "." in lines[:-1]:
            raise ValueError("classify_message takes message lines ending at most with '.'")
        self.sent += len(lines) - 1
        return self.classify(lines[-1])

    def on_reply(self, reply: Reply) -> Pending | None:
        """Attribute a reply to the oldest owed one; None for an unsolicited reply (e.g. 421)."""
        owed = self.pending.popleft() if self.pending else None
        if owed is None:
            return None
        if owed.after == "DATA" and reply.code == 354:
            self.in_data = True  # RFC 5321 §3.3: message data only after a 354
        if owed.after in ("AUTH", AUTH_RESPONSE):
            # RFC 4954 §4: 334 asks for one more line; anything else ends the exchange.
            self.auth_prompted = reply.code == 334
            if not self.auth_prompted:
                self.auth_expected = 0
        if owed.after == "BDAT" and (reply.code or 500) >= 400:
            self.bdat_failed = True
        if owed.after == "EHLO" and reply.code == 250:
            self.capabilities = capabilities_of(reply)
        elif owed.after == "HELO" and reply.code == 250:
            self.capabilities = set()  # RFC 5321 §4.1.1.1: HELO offers no extensions
        return owed

    def reset_for_tls(self) -> None:
        """After a STARTTLS upgrade nothing owed or offered before the handshake still stands
        (RFC 3207 §4.2)."""
        self.pending.clear()
        self.in_data = False
        self.auth_prompted = False
        self.auth_expected = 0
        self.capabilities = set()

    def record_sent(self, text: str, kind: str) -> Outgoing:
        """A line as a transcript recorded it (replay): owe the reply it was owed then."""
        n = self.sent
        self.sent += 1
        if kind == DATA and self.chunk_left > 0:  # a line of a BDAT chunk: no reply owed
            self.chunk_left = max(0, self.chunk_left - len(text.encode("utf-8")) - 2)
            return Outgoing(text, DATA, None, False, n)
        if kind == DATA:
            self.in_data = text != "."
            if text == ".":
                self.pending.append(Pending(END_OF_DATA, text, ends_group=False, n=n))
            return Outgoing(text, DATA, None, text == ".", n)
        if kind == AUTH_RESPONSE:
            self.auth_prompted = False
            self.pending.append(Pending(AUTH_RESPONSE, text, n=n))
            return Outgoing(text, AUTH_RESPONSE, None, True, n)
        self.in_data = self.auth_prompted = False
        verb = verb_of(text)
        self.pending.append(Pending(verb, text, ends_group(text), n))
        words = text.split()
        if verb == "BDAT" and len(words) > 1 and words[1].isdigit():
            self.chunk_left = int(words[1])
        return Outgoing(text, COMMAND, verb, True, n)
