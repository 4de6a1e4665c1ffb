"""The server-side SMTP state as the client can know it: driven only by the replies it gave.

A command changes nothing until the server answers it: "MAIL FROM" opens a transaction only on
a 250, "RCPT TO" adds a recipient only on a 2xx. Transitions and resets are named methods (as
aiosmtpd's ``_set_rset_state()``) and replies are dispatched by tables, not if-chains.

Over 300 lines: one state machine, its reply tables and its named transitions; split, its
transitions would no longer read as one protocol.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.knowledge import COMMANDS
from smtp_session.knowledge.ehlo import parse_capabilities
from smtp_session.knowledge.paths import parse_path
from smtp_session.wire.dialogue import verb_of
from smtp_session.wire.events import TlsMode
from smtp_session.wire.reply import Reply

# The "Where you are" panel, in the order a session normally goes.
STEPS: tuple[tuple[str, str], ...] = (
    ("connect", "connect"),
    ("greeting", "greeting"),
    ("ehlo", "EHLO"),
    ("starttls", "STARTTLS"),
    ("auth", "AUTH"),
    ("mail", "MAIL FROM"),
    ("rcpt", "RCPT TO"),
    ("data", "DATA"),
    ("message", "message"),
    ("end-of-data", "end of data"),
    ("quit", "QUIT"),
)
_ORDER = [step_id for step_id, _ in STEPS]
_ORDER_LAST_FIRST = tuple(reversed(_ORDER))
ENVELOPE_STEPS = frozenset({"mail", "rcpt", "data", "message", "end-of-data"})
KINDS = ("greeting", "command", "auth-response", "end-of-data")
# The step a verb moves the session to, for the panel's "next" marks.
VERB_STEP = {
    "EHLO": "ehlo",
    "HELO": "ehlo",
    "STARTTLS": "starttls",
    "AUTH": "auth",
    "MAIL": "mail",
    "RCPT": "rcpt",
    "DATA": "data",
    "BDAT": "message",
    "QUIT": "quit",
}
_BASIC = ("NOOP", "RSET", "QUIT")
# The verbs that make sense in each phase; offers (STARTTLS, AUTH, CHUNKING) are filtered after.
PHASE_COMMANDS: dict[str, tuple[str, ...]] = {
    "idle": (),
    "closed": (),
    "greeting": (),  # RFC 5321 §3.1: the client waits for the 220 before it speaks
    "tls": (),  # RFC 3207 §4: after "220 Ready" the next bytes are the TLS handshake
    "data": (),
    "auth": (),
    "refused": ("QUIT",),  # RFC 5321 §3.1: after a 554 greeting only QUIT is useful
    "hello": ("EHLO", "HELO", *_BASIC, "HELP"),
    "ready": ("MAIL", "STARTTLS", "AUTH", "EHLO", "VRFY", "HELP", *_BASIC),
    "mail": ("RCPT", *_BASIC),
    "rcpt": ("RCPT", "DATA", "BDAT", *_BASIC),
}
# A verb only makes sense if EHLO offered this keyword (and the session is not past it).
# The EHLO keyword each extension command needs, from commands.json (RFC 5321 §4.1.1.1).
_NEEDS_OFFER = {verb: c.extension for verb, c in COMMANDS.items() if c.extension}
PHASE_EXPECT = {"idle": "none", "closed": "none", "greeting": "greeting", "tls": "tls"}
PHASE_EXPECT |= {"data": "data", "auth": "auth-response"}


# States shared by every session in the same place (1,000 idle consoles just greeted hold one
# state, not 1,000 copies of ~1.7 KB): by a hashable form of the fingerprint, for sessions
# with no message sent yet (``messages`` holds dicts). Read-only, as every to_dict() result.
_SHARED_SIZE = 256
_SHARED_STATES: dict[tuple[Any, ...], tuple[tuple[Any, ...], dict[str, Any]]] = {}


def _shared_key(key: tuple[Any, ...], tx: Transaction) -> tuple[Any, ...]:
    """The fingerprint, hashable: its capability parameters frozen, its (empty) messages left
    out. By identity, not position, so a field added to the fingerprint is never dropped."""
    params, messages = tx.capability_params, tx.messages
    frozen = tuple(sorted((k, tuple(v)) for k, v in params.items()))
    return tuple(frozen if v is params else v for v in key if v is not messages)


class TransactionError(PlaygroundError):
    """The transaction was fed something it cannot place (an unknown reply kind)."""

    code = "transaction"


@dataclass(frozen=True)
class Rejection:
    """A recipient the server refused, with its reply."""

    address: str
    code: int | None
    enhanced: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "code": self.code, "enhanced": self.enhanced}


def path_of(args: str) -> str:
    """The address in "FROM:<a@b> SIZE=1" or "TO: a@b", without the angle brackets."""
    return parse_path(args).address or ""


def _args_of(command: str) -> str:
    parts = command.strip().split(None, 1)
    return parts[1] if len(parts) > 1 else ""


def _is_2xx(reply: Reply) -> bool:
    return reply.code is not None and 200 <= reply.code < 300


class Transaction:
    """What the server holds for this connection: greeting, EHLO offers, TLS, AUTH, envelope."""

    def __init__(self) -> None:
        self._set_initial_state()

    # -- named resets -------------------------------------------------------------------------

    def _set_initial_state(self) -> None:
        self.connected = False
        self.closed = False
        self.greeted = False
        self.refused = False
        self.awaiting_tls = False
        self.tls = False
        self.tls_mode: TlsMode | None = None
        self.messages_sent = 0
        self.messages: list[dict[str, Any]] = []
        self.last_reply: Reply | None = None
        self._reached: set[str] = set()
        self._set_hello_lost_state()

    def _set_hello_lost_state(self) -> None:
        """Forget EHLO and AUTH, as after a STARTTLS upgrade (RFC 3207 §4.2)."""
        self.hello: str | None = None
        self.capabilities: set[str] = set()
        self.capability_params: dict[str, list[str]] = {}
        self.authenticated = False
        self.in_auth = False
        self._reached -= {"ehlo", "auth"}
        self._set_rset_state()

    def _set_rset_state(self) -> None:
        """Clear the envelope, as RSET, EHLO and a new MAIL do (RFC 5321 §4.1.1.5, §4.1.4)."""
        self._clear_envelope()
        self._reached -= ENVELOPE_STEPS

    def _clear_envelope(self) -> None:
        self.mail_from: str | None = None
        self.mail_smtputf8 = False  # RFC 6531 §3.4: MAIL FROM carried SMTPUTF8
        self.accepted_recipients: list[str] = []
        self.rejected_recipients: list[Rejection] = []
        self.in_data = False

    def _set_closed_state(self) -> None:
        self.closed = True
        self.awaiting_tls = False
        self.in_data = False
        self.in_auth = False

    # -- events that are not replies ----------------------------------------------------------

    def observe_connect(self) -> None:
        """A new connection: everything starts again, in the clear until a TLS handshake."""
        self._set_initial_state()
        self.connected = True
        self._reached.add("connect")

    def observe_tls(self, mode: TlsMode) -> None:
        """A TLS handshake finished: implicit TLS (RFC 8314 §3) before anything was said, or
        STARTTLS, after which EHLO must be sent again (RFC 3207 §4.2)."""
        self.awaiting_tls = False
        self.tls = True
        self.tls_mode = mode
        if mode is TlsMode.STARTTLS:
            self._set_hello_lost_state()
            self._reached.add("starttls")

    def observe_closed(self) -> None:
        """The connection is gone, whoever closed it."""
        self._set_closed_state()

    # -- replies ------------------------------------------------------------------------------

    def observe(self, command: str | None, kind: str, reply: Reply) -> None:
        """Apply one reply; ``kind`` says what it answered, ``command`` the line for commands."""
        handler = _KIND_HANDLERS.get(kind)
        if handler is None:
            raise TransactionError(f"unknown reply kind {kind!r}; expected one of {KINDS}")
        self.last_reply = reply
        if reply.code == 421:
            # RFC 5321 §3.8: 421 means the server is closing the transmission channel.
            self._set_closed_state()
            return
        handler(self, command, reply)

    def _on_greeting(self, _command: str | None, reply: Reply) -> None:
        self.greeted = reply.code is not None
        self.refused = reply.code == 554  # RFC 5321 §3.1: "554 No SMTP service here"
        self._reached.add("greeting")

    def _on_command(self, command: str | None, reply: Reply) -> None:
        if not command:
            return  # an unsolicited reply other than 421 changes nothing we track
        handler = _VERB_HANDLERS.get(verb_of(command))
        if handler is not None:
            handler(self, _args_of(command), reply)

    def _on_auth_response(self, _command: str | None, reply: Reply) -> None:
        self._after_auth(reply)

    def _on_end_of_data(self, _command: str | None, reply: Reply) -> None:
        self._finish_message(delivered=_is_2xx(reply))

    def _finish_message(self, *, delivered: bool) -> None:
        """RFC 5321 §4.1.1.4: end of data consumes the envelope whether it succeeds or not."""
        if delivered:
            self.messages_sent += 1
            self.messages.append({"from": self.mail_from, "to": list(self.accepted_recipients)})
        self._clear_envelope()
        self._reached |= {"message", "end-of-data"}

    # -- per verb -----------------------------------------------------------------------------

    def _on_ehlo(self, args: str, reply: Reply) -> None:
        if reply.code != 250:
            return
        self._set_rset_state()
        self.hello = "EHLO"
        self.capabilities, self.capability_params = parse_capabilities(reply)
        self._reached.add("ehlo")

    def _on_helo(self, args: str, reply: Reply) -> None:
        if reply.code != 250:
            return
        self._set_rset_state()
        self.hello = "HELO"
        self.capabilities, self.capability_params = set(), {}
        self._reached.add("ehlo")

    def _on_starttls(self, args: str, reply: Reply) -> None:
        self.awaiting_tls = reply.code == 220

    def _on_auth(self, args: str, reply: Reply) -> None:
        self._after_auth(reply)

    def _after_auth(self, reply: Reply) -> None:
        # RFC 4954 §4: 334 asks for more, 235 ends in success, anything else ends in failure.
        self.in_auth = reply.code == 334
        if reply.code == 235:
            self.authenticated = True
        if self.in_auth or self.authenticated:
            self._reached.add("auth")
        else:
            self._reached.discard("auth")

    def _on_mail(self, args: str, reply: Reply) -> None:
        if reply.code != 250:
            return
        self._set_rset_state()
        self.mail_from = path_of(args)
        self.mail_smtputf8 = "SMTPUTF8" in parse_path(args).param_dict
        self._reached.add("mail")

    def _on_rcpt(self, args: str, reply: Reply) -> None:
        address = path_of(args)
        if _is_2xx(reply):  # RFC 5321 §4.1.1.3: 250, or 251 "will forward"
            self.accepted_recipients.append(address)
            self._reached.add("rcpt")
        elif self._refuses_recipient(reply):
            rejection = Rejection(address, reply.code, reply.enhanced, reply.text)
            self.rejected_recipients.append(rejection)

    def _refuses_recipient(self, reply: Reply) -> bool:
        """A 4xx/5xx that judged the recipient, not the order of commands."""
        # RFC 5321 §4.1.4: RCPT needs an open transaction; 503 "bad sequence" means the
        # command never reached recipient evaluation, so nobody was refused.
        if self.mail_from is None or reply.code is None or reply.code == 503:
            return False
        return reply.code >= 400

    def _on_data(self, args: str, reply: Reply) -> None:
        # RFC 5321 §3.3: message data is sent only after a 354; 503/554 leave the envelope.
        if reply.code == 354:
            self.in_data = True
            self._reached |= {"data", "message"}

    def _on_bdat(self, args: str, reply: Reply) -> None:
        # RFC 3030 §2: the chunk marked LAST ends the message like the final dot.
        if "LAST" in args.upper().split():
            self._finish_message(delivered=_is_2xx(reply))

    def _on_rset(self, args: str, reply: Reply) -> None:
        if reply.code == 250:
            self._set_rset_state()

    def _on_quit(self, args: str, reply: Reply) -> None:
        if reply.code == 221:
            self._reached.add("quit")
            self._set_closed_state()

    def projected(self, in_flight: Iterable[tuple[str, str]]) -> Transaction:
        """The state once the lines still owed a reply, (kind, line) oldest first, succeed.

        RFC 2920 §3.1: only MAIL, RCPT, RSET (and a message's end) may be followed by another
        command before their replies, so those are all a pipelined group can hold here.
        """
        tx = copy.copy(self)
        tx.accepted_recipients = list(self.accepted_recipients)
        for kind, line in in_flight:
            verb = verb_of(line) if kind == "command" else None
            if kind == "data" or verb == "RSET":
                tx._clear_envelope()  # RFC 5321 §4.1.1.4: the end of data consumes it
            elif verb == "MAIL" and tx.mail_from is None:
                tx.mail_from = path_of(_args_of(line))
            elif verb == "RCPT" and tx.mail_from is not None:
                tx.accepted_recipients.append(path_of(_args_of(line)))
        return tx

    # -- views --------------------------------------------------------------------------------

    @property
    def phase(self) -> str:
        """A coarse name for where the session is; keys PHASE_COMMANDS."""
        checks = (
            (self.closed, "closed"),
            (not self.connected, "idle"),
            (not self.greeted, "greeting"),
            (self.refused, "refused"),
            (self.awaiting_tls, "tls"),
            (self.in_data, "data"),
            (self.in_auth, "auth"),
            (self.hello is None, "hello"),
            (self.mail_from is None, "ready"),
            (not self.accepted_recipients, "mail"),
        )
        return next((name for hit, name in checks if hit), "rcpt")

    @property
    def expect(self) -> str:
        """What the next line is: command, data, auth-response, or greeting / tls / none."""
        return PHASE_EXPECT.get(self.phase, "command")

    @property
    def auth_mechanisms(self) -> set[str]:
        """The SASL mechanisms EHLO offered (RFC 4954 §3)."""
        return {m.upper() for m in self.capability_params.get("AUTH", [])}

    @property
    def step(self) -> str | None:
        """The id of the furthest step reached, None before connecting."""
        for step_id in _ORDER_LAST_FIRST:  # read several times a round trip
            if step_id in self._reached:
                return step_id
        return None

    def next_commands(self) -> list[str]:
        """The verbs that make sense now, most useful first."""
        return [verb for verb in PHASE_COMMANDS[self.phase] if self._offered(verb)]

    def _offered(self, verb: str) -> bool:
        keyword = _NEEDS_OFFER.get(verb)
        if keyword is None:
            return True
        done = {"STARTTLS": self.tls, "AUTH": self.authenticated}.get(verb, False)
        return keyword in self.capabilities and not done

    def _next_steps(self) -> set[str]:
        phase = self.phase
        special = {"idle": {"connect"}, "greeting": {"greeting"}, "data": {"end-of-data"}}
        if phase in special:
            return special[phase]
        steps = {VERB_STEP[v] for v in self.next_commands() if v in VERB_STEP}
        if phase != "refused" and not self.messages_sent:
            steps.discard("quit")  # always possible, only worth pointing at once mail went
        if self.hello is not None:
            steps.discard("ehlo")  # allowed again, but not a step forward
        return steps

    def steps(self) -> list[dict[str, str]]:
        """Each step with status done / current / next / skipped / pending."""
        current = self.step
        cur_index = _ORDER.index(current) if current else -1
        upcoming = self._next_steps()
        out = []
        for index, (step_id, name) in enumerate(STEPS):
            if step_id == "starttls" and self.tls_mode is TlsMode.IMPLICIT:
                status = "skipped"  # TLS from the first byte: there is nothing to upgrade
            elif step_id == current:
                status = "current"
            elif step_id in upcoming:
                status = "next"
            elif step_id in self._reached:
                status = "done"
            elif index < cur_index or self.closed:
                status = "skipped"
            else:
                status = "pending"
            out.append({"id": step_id, "name": name, "status": status})
        return out

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything ``to_dict`` reads, by value (a copy of what changes in place), so
        equal fingerprints mean equal states. ``capability_params`` is only ever replaced,
        and ``messages`` only grows (its length) or is replaced (compared by value)."""
        return (
            self.connected, self.closed, self.greeted, self.refused, self.awaiting_tls,
            self.tls, self.tls_mode, self.hello, self.authenticated, self.in_auth,
            self.in_data, self.mail_from, self.mail_smtputf8, self.messages_sent,
            frozenset(self._reached),
            frozenset(self.capabilities), self.capability_params,
            tuple(self.accepted_recipients), tuple(self.rejected_recipients),
            len(self.messages), self.messages,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Everything the panels show, JSON-ready. A reply that changes nothing (NOOP) gets
        the same dict as the one before: callers read it, never change it (a round trip
        spent ~20 % of the guide's time rebuilding it, docs/production.md)."""
        key = self.fingerprint()
        cached = self.__dict__.get("_state_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        shared = None if self.messages else _shared_key(key, self)
        entry = _SHARED_STATES.get(shared) if shared is not None else None
        if entry is None:
            entry = (key, self._state())
            if shared is not None:
                if len(_SHARED_STATES) >= _SHARED_SIZE:
                    _SHARED_STATES.clear()
                _SHARED_STATES[shared] = entry
        self._state_cache = entry
        return entry[1]

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "steps": self.steps(),
            "phase": self.phase,
            "expect": self.expect,
            "next_commands": self.next_commands(),
            "connected": self.connected,
            "closed": self.closed,
            "greeted": self.greeted,
            "hello": self.hello,
            "capabilities": sorted(self.capabilities),
            "capability_params": {k: list(v) for k, v in self.capability_params.items()},
            "tls": self.tls,
            "tls_mode": None if self.tls_mode is None else self.tls_mode.value,
            "authenticated": self.authenticated,
            "in_data": self.in_data,
            "mail_from": self.mail_from,
            "accepted_recipients": list(self.accepted_recipients),
            "rejected_recipients": [r.to_dict() for r in self.rejected_recipients],
            "messages_sent": self.messages_sent,
            "messages": [dict(m) for m in self.messages],
        }


_Handler = Callable[[Transaction, str | None, Reply], None]
_KIND_HANDLERS: dict[str, _Handler] = {
    "greeting": Transaction._on_greeting,
    "command": Transaction._on_command,
    "auth-response": Transaction._on_auth_response,
    "end-of-data": Transaction._on_end_of_data,
}
_VERB_HANDLERS: dict[str, Callable[[Transaction, str, Reply], None]] = {
    "EHLO": Transaction._on_ehlo,
    "HELO": Transaction._on_helo,
    "STARTTLS": Transaction._on_starttls,
    "AUTH": Transaction._on_auth,
    "MAIL": Transaction._on_mail,
    "RCPT": Transaction._on_rcpt,
    "DATA": Transaction._on_data,
    "BDAT": Transaction._on_bdat,
    "RSET": Transaction._on_rset,
    "QUIT": Transaction._on_quit,
}
