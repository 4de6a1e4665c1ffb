"""The client checker: judges a *client* the sandbox captured, from how its bytes arrived.

The live checks (checker.py, checker_paths.py, message_lines.py) judge a line's text against
the transaction, and they run on captured lines too (the same Guide). What only the server's
side can see is judged here, from the facts ``sandbox/capture.py`` records with each line: its
line ending, the read it arrived in and the replies still owed then (pipelining), the octets it
really had; and over the session: MAIL's parameters, QUIT, what followed a refused EHLO.

Warnings have stable ``client:*`` codes with their words in knowledge/data/warnings.json, like
every other check. A transcript stores them as ``warning:<code>`` explanation keys on the
entry they are about; :func:`recorded_warnings` turns the keys back into warnings on replay
(their texts name only the limits, so the key alone gives the same words).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smtp_session.guide.check_base import TEXTS, CheckWarning, make_warning
from smtp_session.wire.dialogue import ANYWHERE_IN_GROUP, AUTH_RESPONSE, DATA, END_OF_DATA, verb_of

PREFIX = "client:"
_KEY = f"warning:{PREFIX}"
# Commands that open or need a session's greeting: after a 5xx to EHLO, RFC 5321 §3.2 wants
# HELO (or EHLO again) before any of them.
_NEEDS_HELLO = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "AUTH", "STARTTLS"})


@dataclass
class ClientJudge:
    """One captured session's client, judged line by line (``line``, ``reply``, ``closed``)."""

    quit: bool = False
    mail_params: set[str] = field(default_factory=set)
    ehlo_refused: bool = False
    _once: set[str] = field(default_factory=set)  # codes said once per session
    _message: set[str] = field(default_factory=set)  # codes said once per message

    def line(self, fact: Mapping[str, Any]) -> list[CheckWarning]:
        """Warnings for one captured line (a ``line`` record's data)."""
        kind, text = fact.get("kind"), str(fact.get("text", ""))
        out = self._ending(fact)
        if self.quit:
            out += self._first(make_warning("client:after-quit"))
        if kind == DATA:
            out += self._data(fact, text)
        else:
            out += self._pipelined(fact)
            if kind != AUTH_RESPONSE:
                out += self._command(fact, text)
        return out

    def reply(self, after: str | None, code: int | None) -> None:
        """What a reply tells about the client's next duty."""
        if after == "EHLO":
            self.ehlo_refused = code is not None and code >= 500
        if after in (END_OF_DATA, "BDAT"):
            self._message.clear()

    def closed(self) -> list[CheckWarning]:
        """Warnings for the end of the session."""
        return [] if self.quit else [make_warning("client:no-quit")]

    def _ending(self, fact: Mapping[str, Any]) -> list[CheckWarning]:
        out = []
        if fact.get("bare_lf"):
            out.append(make_warning("client:bare-lf"))
        if fact.get("bare_cr"):
            out.append(make_warning("client:bare-cr"))
        if fact.get("loose_dot"):
            out.append(make_warning("client:no-crlf-before-dot"))
        return out

    def _data(self, fact: Mapping[str, Any], text: str) -> list[CheckWarning]:
        out = []
        if fact.get("owed") and fact.get("owed_after") == "DATA":
            out += self._per_message(make_warning("client:data-before-354"))
        # RFC 6152 §3: 8-bit message octets need BODY=8BITMIME (SMTPUTF8 implies it, RFC 6531).
        params = self.mail_params
        if fact.get("eight_bit") and not {"BODY=8BITMIME", "SMTPUTF8"} & params:
            out += self._per_message(make_warning("client:8bit-without-body"))
        if text == ".":
            self._message.clear()
        return out

    def _pipelined(self, fact: Mapping[str, Any]) -> list[CheckWarning]:
        """RFC 2920: a line that arrived while earlier lines were still owed their replies."""
        after = fact.get("owed_after")
        if not fact.get("owed") or after in (None, "greeting"):
            return []
        if not fact.get("pipelining"):
            return self._first(make_warning("client:pipelining-not-offered"))
        if after != END_OF_DATA and str(after).upper() not in ANYWHERE_IN_GROUP:
            return [make_warning("client:pipelining-group")]
        return []

    def _command(self, fact: Mapping[str, Any], text: str) -> list[CheckWarning]:
        verb = verb_of(text.strip())
        out: list[CheckWarning] = []
        if verb == "QUIT":
            self.quit = True
        if verb in ("EHLO", "HELO"):
            self.ehlo_refused = False
        elif verb in _NEEDS_HELLO and self.ehlo_refused:
            out += self._first(make_warning("client:no-helo-after-ehlo-error"))
        if verb == "MAIL":
            self.mail_params = _params(text)
        if verb in ("MAIL", "RCPT") and not text.isascii() and "SMTPUTF8" not in self.mail_params:
            out += self._first(make_warning("client:utf8-without-smtputf8"))
        return out

    def _first(self, warning: CheckWarning) -> list[CheckWarning]:
        """The warning, the first time in the session only."""
        if warning.code in self._once:
            return []
        self._once.add(warning.code)
        return [warning]

    def _per_message(self, warning: CheckWarning) -> list[CheckWarning]:
        """The warning, the first time in this message only."""
        if warning.code in self._message:
            return []
        self._message.add(warning.code)
        return [warning]


def _params(mail_line: str) -> set[str]:
    """MAIL FROM's parameters, upper-cased (``BODY=8BITMIME``, ``SMTPUTF8``), RFC 5321 §4.1.2."""
    _, _, rest = mail_line.partition(">")
    return {word.upper() for word in rest.split()}


def with_client(
    warnings: list[dict[str, Any]], client: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The Guide's warnings for a line, then the client's it does not already hold (the
    console's checker warns of a non-ASCII address too, so one fact is said once)."""
    seen = {w["code"] for w in warnings}
    return [*warnings, *(w for w in client if w["code"] not in seen)]


def recorded_warnings(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The client warnings a stored entry carries as ``warning:client:*`` keys, as dicts."""
    keys = entry.get("explain") or []
    codes = [k[len("warning:") :] for k in keys if isinstance(k, str) and k.startswith(_KEY)]
    return [make_warning(code).to_dict() for code in codes if code in TEXTS]
