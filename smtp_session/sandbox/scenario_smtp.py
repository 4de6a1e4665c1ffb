"""The scenario engine on the wire: aiosmtpd with a gate in front of every command.

Each command the client sends passes :meth:`ScenarioSMTP._gate` first: the command is counted
(``max_commands``), the address or EHLO name it carries selects scenarios, and the rules for
its stage say whether to wait, to answer in aiosmtpd's place, to trickle the answer one byte
at a time (a tarpit) or to hang up. The greeting goes through the same rules (stages
``connect`` and ``greeting``), and the final dot through ``end_of_data``, which the handler
calls. A size limit is aiosmtpd's own (``data_size_limit``), so SIZE in the EHLO reply, the
552 to ``MAIL ... SIZE=`` and the 552 after too big a message all follow it.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

from smtp_session.sandbox.chunking import ChunkingSMTP
from smtp_session.sandbox.scenario_engine import Outcome, ScenarioEngine, ScenarioSession

# Which stage each verb is; the others (NOOP, RSET, VRFY, QUIT, HELP...) are only counted.
STAGE_OF = {
    "EHLO": "EHLO",
    "HELO": "EHLO",
    "STARTTLS": "STARTTLS",
    "AUTH": "AUTH",
    "MAIL": "MAIL",
    "RCPT": "RCPT",
    "DATA": "DATA",
    "BDAT": "BDAT",
}
_PATH = re.compile(r"^(?:FROM|TO):\s*<([^>]*)>", re.IGNORECASE)
_BDAT = re.compile(r"^(\d{1,10})(?: +(LAST))?$", re.IGNORECASE)


def _path_of(arg: str | None) -> str | None:
    """The address in ``FROM:<a@b>`` / ``TO:<a@b>``, lower-cased; None when unparsable."""
    m = _PATH.match((arg or "").strip())
    return m.group(1).strip().lower() if m else None


class ScenarioSMTP(ChunkingSMTP):
    """aiosmtpd (with BDAT) whose answers the session's scenarios may change."""

    def __init__(
        self,
        handler: Any,
        *,
        engine: ScenarioEngine | None = None,
        listening_port: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.engine = engine
        self.listening_port = listening_port  # a port in SANDBOX_SCENARIO_PORTS selects one
        self.scenarios: ScenarioSession | None = None
        self._tarpit = 0.0
        self._close_after = False
        self._scenario_greeted = False
        super().__init__(handler, **kwargs)
        self._smtp_methods = {
            verb: self._gate(verb, method) for verb, method in self._smtp_methods.items()
        }

    # -- the greeting and every reply ------------------------------------------------------------

    async def push(self, status: Any) -> Any:
        if not self._scenario_greeted:
            self._scenario_greeted = True
            try:
                return await self._greet(status)
            except asyncio.CancelledError:
                # The client left during a delayed or tarpitted greeting: aiosmtpd closes
                # the connection only for what happens after the greeting, so close it here.
                self._hang_up()
                raise
        return await self._write(status)

    async def _greet(self, greeting: Any) -> Any:
        if self.engine is None:
            return await self._write(greeting)
        assert self.session is not None
        peer = self.session.peer
        client = str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
        self.scenarios = self.engine.session(client, self.listening_port)
        outcome = self.scenarios.at("connect")
        if not outcome.answers:
            later = self.scenarios.at("greeting")
            delay, tarpit = outcome.delay + later.delay, later.tarpit or outcome.tarpit
            outcome = Outcome(later.lines, later.close, delay, tarpit)
        self._apply_limits()
        return await self._answer(outcome, greeting)

    async def _answer(self, outcome: Outcome, usual: Any = None) -> Any:
        """Wait, then send the scenario's lines (or ``usual``), tarpitted, then maybe hang up."""
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        self._tarpit = outcome.tarpit
        try:
            if outcome.lines:
                self._close_after = outcome.close
                return await self._write("\r\n".join(outcome.lines))
            if outcome.close:
                self._hang_up()
                return None
            return await self._write(usual) if usual is not None else None
        finally:
            self._tarpit = 0.0

    async def _write(self, status: Any) -> Any:
        if self.transport is None or self.transport.is_closing():
            return None  # a scenario hung up: nothing more goes out
        try:
            if not self._tarpit:
                return await super().push(status)
            data = status.encode("utf-8") if isinstance(status, str) else bytes(status)
            for byte in data + b"\r\n":  # RFC 5321 §4.5.3.2: the client waits minutes
                self._writer.write(bytes([byte]))
                await self._writer.drain()
                await asyncio.sleep(self._tarpit)
            return None
        finally:
            if self._close_after:
                self._close_after = False
                self._hang_up()

    def _hang_up(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _apply_limits(self) -> None:
        """A scenario's size limit becomes aiosmtpd's: EHLO's SIZE, 552 at MAIL and the dot."""
        if self.scenarios is not None and self.scenarios.size_limit is not None:
            self.data_size_limit = self.scenarios.size_limit

    # -- commands ------------------------------------------------------------------------------

    def _gate(
        self, verb: str, method: Callable[[Any], Awaitable[Any]]
    ) -> Callable[[Any], Awaitable[Any]]:
        @functools.wraps(method)  # keeps the @syntax marks HELP reads
        async def gated(arg: Any) -> Any:
            session = self.scenarios
            if session is None:
                return await method(arg)
            outcome = session.command() or self._at(session, verb, arg)
            self._apply_limits()
            if outcome.answers:
                if verb == "BDAT":
                    await self._discard_chunk(arg)
                return await self._answer(outcome)
            if outcome.delay:
                await asyncio.sleep(outcome.delay)
            self._tarpit = outcome.tarpit
            try:
                return await method(arg)
            finally:
                self._tarpit = 0.0
                if verb == "RSET":
                    session.end_transaction()

        return gated

    def _at(self, session: ScenarioSession, verb: str, arg: Any) -> Outcome:
        stage = STAGE_OF.get(verb)
        if stage is None:
            return Outcome()
        address = None
        if verb in ("EHLO", "HELO") and arg:
            session.on_ehlo(str(arg).strip())
        elif verb == "MAIL" and (address := _path_of(arg)) is not None:
            session.on_mail(address)
        elif verb == "RCPT" and (address := _path_of(arg)) is not None:
            session.on_rcpt(address)
        return session.at(stage, address, tls=self._is_tls, auth=self._is_authenticated)

    @property
    def _is_tls(self) -> bool:
        return self._tls_protocol is not None or bool(getattr(self, "implicit_tls", False))

    @property
    def _is_authenticated(self) -> bool:
        return bool(self.session is not None and self.session.authenticated)

    async def _discard_chunk(self, arg: Any) -> None:
        """A refused BDAT's octets still follow it: read them, or they would be commands."""
        match = _BDAT.match(str(arg or "").strip())
        if match is None:
            return
        remaining = int(match.group(1))
        while remaining:
            remaining -= len(await self._reader.readexactly(min(remaining, 64 * 1024)))
        if match.group(2):
            self._set_post_data_state()
            if self.scenarios is not None:
                self.scenarios.end_transaction()
        elif self.envelope is not None:
            # The rest of this message is discarded too (554, as after any failed chunk).
            self.envelope.chunks = self.envelope.chunks or bytearray()
            self.envelope.chunk_error = "refused by the scenario"

    async def end_of_data(self) -> str | None:
        """The rules at the final dot (DATA or BDAT LAST): a refusal to send, or None.

        The sender and recipient scenarios end with the message, whatever the answer.
        """
        session = self.scenarios
        if session is None:
            return None
        outcome = session.at("end-of-data", tls=self._is_tls, auth=self._is_authenticated)
        session.end_transaction()
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        self._tarpit = max(self._tarpit, outcome.tarpit)  # the gate resets it after the answer
        if outcome.lines:
            self._close_after = outcome.close
            return "\r\n".join(outcome.lines)
        if outcome.close:
            self._hang_up()
            return "421 4.3.0 Closing the connection"  # unsent: the connection is closed
        return None
