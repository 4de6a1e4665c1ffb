"""The scenario engine: which scenarios a session is in, and what their rules say at each stage.

It knows nothing of sockets or aiosmtpd (smtp_session/sandbox/scenario_smtp.py applies its
answers on the wire), so the same session facts always give the same answer. Nothing in it is
random: what a rule does depends only on the stage, the addresses, the EHLO name, the attempt
count and, for greylisting, the time since the first attempt, so a whole class sees the same
thing run after run. Attempt counts and greylisting live in the engine (one per sandbox),
keyed by the scenario's ``key`` (the client's address, the sender and the recipient unless
the file says otherwise), so they carry over from one connection to the next as a real
server's do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from smtp_session.sandbox.scenario_format import Action, Reply, Rule, Scenario

# The wording of a refusal when the scenario file gives none (RFC 3207 §4, RFC 4954 §6,
# RFC 6647 §2.1, and the 421 of RFC 5321 §3.8).
DEFAULT_REPLIES = {
    "tls": Reply(530, "5.7.0", ("Must issue a STARTTLS command first",)),
    "auth": Reply(530, "5.7.0", ("Authentication required",)),
    "greylist": Reply(451, "4.7.1", ("Greylisted, please try again in {seconds} seconds",)),
    "max_commands": Reply(421, "4.7.0", ("Too many commands, closing the connection",)),
}


# Attempt counts and greylisting entries kept at most: past it the oldest are forgotten (as a
# real greylist expires its entries), so a sandbox open for weeks holds a bounded amount.
MAX_ENTRIES = 100_000


def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
    table.pop(key, None)  # re-inserted last: the newest
    table[key] = value
    while len(table) > MAX_ENTRIES:
        del table[next(iter(table))]


@dataclass(frozen=True)
class Outcome:
    """What the wire does at a stage: wait, then answer with ``lines`` (or as usual), maybe
    one byte at a time, maybe hang up."""

    lines: tuple[str, ...] = ()
    close: bool = False
    delay: float = 0.0
    tarpit: float = 0.0

    @property
    def answers(self) -> bool:
        """True when the scenario answers instead of the server (or hangs up)."""
        return bool(self.lines) or self.close


def _matches(patterns: tuple[str, ...], value: str | None) -> bool:
    return value is not None and any(fnmatchcase(value.lower(), p) for p in patterns)


class ScenarioEngine:
    """The sandbox's scenarios, and the attempt counts and greylisting they share."""

    def __init__(
        self,
        scenarios: Mapping[str, Scenario],
        ports: Mapping[int, str] | None = None,
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenarios = dict(scenarios)
        self.ports = dict(ports or {})
        # Multiplies every wait (delay, tarpit, greylisting): a demo or a test may shorten them.
        self.time_scale = time_scale
        self.clock = clock
        self.attempts: dict[tuple[object, ...], int] = {}
        self.greylist: dict[tuple[object, ...], tuple[float, int]] = {}
        # Each sandbox listener runs its own event loop thread; they share these counts.
        self.lock = threading.Lock()

    def reset(self) -> None:
        """Forget every attempt and greylisting entry (a fresh start)."""
        with self.lock:
            self.attempts.clear()
            self.greylist.clear()

    def seconds(self, value: float) -> float:
        return value * self.time_scale

    def session(self, client: str, port: int | None = None) -> ScenarioSession:
        """The scenario state of one connection from ``client`` to sandbox port ``port``."""
        by_port = self.scenarios.get(self.ports.get(port, "")) if port is not None else None
        return ScenarioSession(self, client, [by_port] if by_port else [])

    def triggered(self, kind: str, value: str) -> list[Scenario]:
        """The scenarios whose trigger of ``kind`` (recipient, sender, ehlo) matches ``value``."""
        return [s for s in self.scenarios.values() if _matches(s.trigger.get(kind, ()), value)]


class ScenarioSession:
    """One connection: its scenarios (by port, EHLO name, sender, recipients) and limits."""

    def __init__(self, engine: ScenarioEngine, client: str, by_port: list[Scenario]) -> None:
        self.engine = engine
        self.client = client
        self.by_port = by_port
        self.by_ehlo: list[Scenario] = []
        self.by_transaction: list[Scenario] = []  # by sender and recipients: until RSET/the dot
        self.ehlo: str | None = None
        self.sender: str | None = None
        self.recipients: list[str] = []
        self.commands = 0
        self.size_limit: int | None = None
        self.max_commands: tuple[int, int, Reply] | None = None  # (last allowed, N, wording)

    @property
    def active(self) -> list[Scenario]:
        """The scenarios in force, in the order they were chosen."""
        return [*self.by_port, *self.by_ehlo, *self.by_transaction]

    # -- what selects scenarios ----------------------------------------------------------------

    def on_ehlo(self, name: str) -> None:
        self.ehlo = name
        self.by_ehlo = self.engine.triggered("ehlo", name)
        self.end_transaction()  # EHLO resets the transaction (RFC 5321 §4.1.4)

    def on_mail(self, sender: str) -> None:
        self.end_transaction()
        self.sender = sender
        self._add(self.engine.triggered("sender", sender))

    def on_rcpt(self, recipient: str) -> None:
        self.recipients.append(recipient)
        self._add(self.engine.triggered("recipient", recipient))

    def end_transaction(self) -> None:
        """RSET, a new EHLO or the end of a message: sender and recipient scenarios end."""
        self.by_transaction = []
        self.sender = None
        self.recipients = []

    def _add(self, scenarios: list[Scenario]) -> None:
        self.by_transaction += [s for s in scenarios if s not in self.by_transaction]

    # -- what the rules say --------------------------------------------------------------------

    def command(self) -> Outcome | None:
        """Count a command; past a ``max_commands`` limit, the 421 that ends the connection."""
        self.commands += 1
        if self.max_commands is None or self.commands <= self.max_commands[0]:
            return None
        _last, limit, reply = self.max_commands
        return Outcome(lines=tuple(reply.lines(self._values(None, limit=limit))), close=True)

    def at(
        self, stage: str, address: str | None = None, *, tls: bool = False, auth: bool = False
    ) -> Outcome:
        """What the rules of the active scenarios do at ``stage`` (in order, until one answers)."""
        with self.engine.lock:
            return self._at(stage, address, tls=tls, auth=auth)

    def _at(self, stage: str, address: str | None, *, tls: bool, auth: bool) -> Outcome:
        delay = tarpit = 0.0
        for scenario, index, rule in self._rules(stage, address):
            action = rule.action
            delay += self.engine.seconds(action.delay)
            tarpit = max(tarpit, self.engine.seconds(action.tarpit))
            key = (scenario.id, index, *self._key(scenario, stage, address))
            self._settings(action)
            refusal = self._refusal(action, key, address, tls=tls, auth=auth)
            close = action.disconnect and (refusal is not None or not self._conditional(action))
            if refusal is not None or close:
                close = close or stage in ("connect", "greeting")
                return Outcome(refusal or (), close, delay, tarpit)
        return Outcome(delay=delay, tarpit=tarpit)

    def _rules(self, stage: str, address: str | None) -> Iterator[tuple[Scenario, int, Rule]]:
        """Rules at ``stage`` whose address, EHLO name and attempt number match."""
        for scenario in self.active:
            for index, rule in enumerate(scenario.rules):
                if rule.stage != stage or not self._where(rule, stage, address):
                    continue
                key = ("attempt", scenario.id, index, *self._key(scenario, stage, address))
                count = self.engine.attempts.get(key, 0) + 1
                _remember(self.engine.attempts, key, count)
                if rule.attempts is None:
                    yield scenario, index, rule
                    continue
                first, last = rule.attempts
                if count >= first and (last is None or count <= last):
                    yield scenario, index, rule

    def _where(self, rule: Rule, stage: str, address: str | None) -> bool:
        if rule.ehlo and not _matches(rule.ehlo, self.ehlo):
            return False
        if not rule.address:
            return True
        if stage in ("MAIL", "RCPT"):
            return _matches(rule.address, address)
        # DATA, BDAT, the final dot: the transaction's sender or any of its recipients.
        return any(_matches(rule.address, a) for a in [self.sender, *self.recipients])

    def _key(self, scenario: Scenario, stage: str, address: str | None) -> tuple[str, ...]:
        recipient = address if stage == "RCPT" else ",".join(sorted(self.recipients))
        parts = {
            "client": self.client,
            "sender": (address if stage == "MAIL" else self.sender) or "",
            "recipient": (recipient or "").lower(),
            "ehlo": (self.ehlo or "").lower(),
        }
        return tuple(parts[p] for p in scenario.key)

    def _settings(self, action: Action) -> None:
        if action.size_limit is not None:
            self.size_limit = action.size_limit
        if action.max_commands is not None and self.max_commands is None:
            # N commands from this one (included) on; the one after them gets the 421.
            wording = action.reply or DEFAULT_REPLIES["max_commands"]
            last = self.commands - 1 + action.max_commands
            self.max_commands = (last, action.max_commands, wording)

    @staticmethod
    def _conditional(action: Action) -> bool:
        """Whether the action refuses only sometimes (a requirement, greylisting, a limit)."""
        return bool(action.require or action.greylist or action.max_commands)

    def _refusal(
        self, action: Action, key: tuple[object, ...], address: str | None, *, tls: bool, auth: bool
    ) -> tuple[str, ...] | None:
        values = self._values(address)
        if action.require is not None:
            met = tls if action.require == "tls" else auth
            wording = action.reply or DEFAULT_REPLIES[action.require]
            return None if met else tuple(wording.lines(values))
        if action.greylist is not None:
            attempts, seconds = action.greylist
            if self._greylisted(key, attempts, self.engine.seconds(seconds)):
                wording = action.reply or DEFAULT_REPLIES["greylist"]
                return tuple(wording.lines({**values, "seconds": f"{seconds:g}"}))
            return None
        if action.max_commands is not None or action.reply is None:
            return None
        return tuple(action.reply.lines(values))

    def _greylisted(self, key: tuple[object, ...], attempts: int, seconds: float) -> bool:
        """RFC 6647 §2.1: refuse the first ``attempts`` tries and any before ``seconds`` pass."""
        now = self.engine.clock()
        first, refused = self.engine.greylist.get(key, (now, 0))
        if refused >= attempts and now - first >= seconds:
            return False
        _remember(self.engine.greylist, key, (first, refused + 1))
        return True

    def _values(self, address: str | None, **more: object) -> dict[str, object]:
        values: dict[str, object] = {"address": address or "", "ehlo": self.ehlo or ""}
        if self.size_limit is not None:
            values["limit"] = self.size_limit
        return {**values, **more}
