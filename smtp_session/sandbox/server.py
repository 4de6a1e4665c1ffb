"""The built-in sandbox SMTP server (aiosmtpd): accepts mail, keeps it, and fails on purpose.

It is what the playground talks to out of the box, so a class works with no mail server and
no network. Scenarios (files in ``scenarios/`` and the trainer's ``SCENARIOS_DIR``, selected
by an address, an EHLO name or a port) make it answer with the failures real servers give, so
the lessons on 4xx/5xx replies work offline (scenario_engine.py, scenario_smtp.py).

Over 300 lines: aiosmtpd's handler and its overrides (HELP, the enhanced codes, scenarios)
must sit in one class; BDAT lives apart in chunking.py.
"""

from __future__ import annotations

import hmac
import logging
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from smtp_session.guide.redact import redact_plain_anywhere
from smtp_session.knowledge import COMMANDS
from smtp_session.sandbox.capture import CaptureHooks, CaptureLimits, CaptureSink
from smtp_session.sandbox.mailbox import Mailbox
from smtp_session.sandbox.scenario_engine import ScenarioEngine
from smtp_session.sandbox.scenario_format import ScenarioError, load_scenarios
from smtp_session.sandbox.scenario_smtp import ScenarioSMTP
from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER, SANDBOX_HOSTNAME
from smtp_session.wire.certs import CertPair, ensure_sandbox_cert
from smtp_session.wire.dialogue import verb_of

log = logging.getLogger(__name__)


@dataclass
class SandboxConfig:
    """Where the sandbox listens and how it behaves."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 2525
    tls_port: int | None = 2465
    auth_require_tls: bool = True
    max_messages: int = 500
    data_size_limit: int = 32 * 1024 * 1024
    users: dict[str, str] = field(default_factory=lambda: {DEMO_USER: DEMO_PASSWORD})
    pipelining: bool = True  # RFC 2920: aiosmtpd reads pipelined commands in order
    scenarios_dir: Path | None = None  # the trainer's scenario files, beside the built-ins
    scenario_ports: dict[int, str] = field(default_factory=dict)  # extra port -> scenario id
    time_scale: float = 1.0  # multiplies every scenario wait (tests and quick demos shorten)
    # Where every session is recorded (capture.py); None: capture is off.
    capture: CaptureSink | None = None
    capture_limits: CaptureLimits = field(default_factory=CaptureLimits)


class SandboxHandler:
    """aiosmtpd handler: keep every accepted message (the scenarios refuse in front of it)."""

    def __init__(self, mailbox: Mailbox, pipelining: bool = True) -> None:
        self.mailbox = mailbox
        self.pipelining = pipelining

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        # We do implement RFC 2034 enhanced codes on our replies and RFC 3030 BDAT
        # (smtp_session/sandbox/chunking.py); say so, like real servers.
        # aiosmtpd answers pipelined commands in order and keeps its input on a failure
        # (RFC 2920 §3.2), so it may offer PIPELINING, and pipelining can be tried offline.
        offers = ["250-PIPELINING"] if self.pipelining else []
        extensions = [*offers, "250-ENHANCEDSTATUSCODES", "250-CHUNKING"]
        return responses[:-1] + [*extensions, responses[-1]]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if isinstance(server, ScenarioSMTP) and (refusal := await server.end_of_data()):
            return refusal  # e.g. a DMARC refusal: judged on the message, so after the dot
        raw = envelope.original_content or b""
        auth = session.auth_data
        msg = self.mailbox.add(
            raw,
            mail_from=envelope.mail_from or "",
            rcpt_tos=envelope.rcpt_tos,
            peer=str(session.peer[0]) if session.peer else "",
            tls=session.ssl is not None or getattr(server, "implicit_tls", False),
            auth_user=_login_of(auth),
            captured_transcript=getattr(getattr(server, "capture", None), "id", None),
        )
        return f"250 2.0.0 Ok: queued as {msg.id}"


def _login_of(auth: Any) -> str | None:
    login = getattr(auth, "login", None)
    return login.decode("utf-8", "replace") if isinstance(login, bytes) else login


# RFC 2034 §3: a server that offers ENHANCEDSTATUSCODES starts the text of every 2xx, 4xx and
# 5xx reply with a status code, except the greeting and the EHLO/HELO reply; 3xx carry none.
# aiosmtpd leaves many of its own replies without one; the classes come from RFC 3463/5248.
_ENHANCED_FOR = {
    211: "2.0.0",
    214: "2.0.0",
    221: "2.0.0",
    250: "2.0.0",
    252: "2.0.0",
    421: "4.3.0",
    454: "4.7.0",
    500: "5.5.2",  # X.5.2 syntax error
    501: "5.5.4",  # X.5.4 invalid command arguments
    502: "5.5.1",  # X.5.1 invalid command
    503: "5.5.1",
    504: "5.5.4",
    530: "5.7.0",
    552: "5.3.4",  # X.3.4 message too big for system (SIZE, RFC 1870 §6.1)
    553: "5.1.3",
    555: "5.5.4",
}
_REPLY_LINE = re.compile(r"^([245])(\d\d)([ -])(.*)$", re.DOTALL)
_HAS_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(\s|$)")


def with_enhanced_code(line: str) -> str:
    """Put an RFC 3463 code on a reply line that lacks one ("250 OK" -> "250 2.0.0 OK")."""
    m = _REPLY_LINE.match(line)
    if m is None or _HAS_ENHANCED.match(m.group(4)):
        return line
    code = int(m.group(1) + m.group(2))
    enhanced = _ENHANCED_FOR.get(code, f"{m.group(1)}.0.0")
    return f"{code}{m.group(3)}{enhanced} {m.group(4)}".rstrip()


class SandboxSMTP(ScenarioSMTP):
    """aiosmtpd with the prompts the classic tutorials show, CRAM-MD5, BDAT and RFC 2034 codes."""

    # draft-murchison-sasl-login: most servers prompt "Username:" and "Password:".
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(
        self, handler: Any, *, users: dict[str, str], implicit_tls: bool = False, **kwargs: Any
    ) -> None:
        self.users = users
        # aiosmtpd sets session.ssl only after STARTTLS; on the implicit-TLS listener
        # (RFC 8314) every byte was under TLS, which the inbox must say.
        self.implicit_tls = implicit_tls
        self._greeted = False  # the first 220 is the greeting, which carries no code
        self._hello_reply = False  # inside the EHLO/HELO reply, which carries none either
        self._in_help = False
        super().__init__(handler, authenticator=self._check_password, **kwargs)

    async def push(self, status: Any) -> bool:
        """Every reply leaves through here: add the enhanced code RFC 2034 §3 asks for."""
        if isinstance(status, str):
            status = self._reword(status)
        return await super().push(status)

    def _reword(self, line: str) -> str:
        if not self._greeted:
            self._greeted = True
            return line
        if self._hello_reply:
            return line
        if self._in_help:
            # RFC 5321 §4.1.1.8 and §4.3.2: HELP answers 211/214, or 504 for an unknown topic.
            line = re.sub(r"^250", "214", re.sub(r"^501", "504", line))
        return with_enhanced_code(line)

    async def smtp_EHLO(self, hostname: str) -> None:
        self._hello_reply = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._hello_reply = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._hello_reply = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._hello_reply = False

    async def smtp_HELP(self, arg: str) -> None:
        self._in_help = True
        try:
            await super().smtp_HELP(arg)
        finally:
            self._in_help = False

    async def handle_exception(self, error: Exception) -> str:
        """A client whose TLS handshake fails after STARTTLS is one line, not a traceback.

        It is the client's doing (it distrusts the sandbox's certificate, or speaks plain
        text after the 220): aiosmtpd closes the connection either way.
        """
        if not isinstance(error, TLSSetupException):
            return await super().handle_exception(error)
        peer = self.session.peer if self.session is not None else "?"
        log.warning("TLS handshake with %s failed: %s", _peer(peer), error.__cause__)
        return "454 4.7.0 TLS not available due to temporary reason"  # RFC 3207 §4; unsent

    def _check_password(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        expected = self.users.get(user)
        ok = expected is not None and hmac.compare_digest(expected.encode(), data.password)
        # handled=False on failure: aiosmtpd then answers 535 5.7.8 itself.
        return AuthResult(success=ok, auth_data=data if ok else None, handled=False)

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195: the server sends a unique challenge, the client answers user + HMAC-MD5."""
        from smtp_session.sandbox.cram import check_cram_response, make_challenge

        challenge = make_challenge(SANDBOX_HOSTNAME)
        answer = await self.challenge_auth(challenge)
        if not isinstance(answer, bytes):
            return AuthResult(success=False)
        user = check_cram_response(challenge, answer, self.users)
        if user is None:
            return AuthResult(success=False)
        return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))


class CapturingSMTP(CaptureHooks, SandboxSMTP):
    """The sandbox's protocol with every session recorded (smtp_session/sandbox/capture.py)."""


class _LoggedHandshake(ssl.SSLObject):
    """The implicit-TLS port's TLS object: a failed handshake is one WARNING line.

    asyncio's SSL transport drops a failed handshake silently (at DEBUG, and only in debug
    mode), so a client that distrusts the certificate on that port left no trace at all.
    """

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # the handshake's normal back and forth, not a failure
        except ssl.SSLError as exc:
            log.warning("TLS handshake on the implicit-TLS port failed: %s", exc)
            raise


def _implicit_tls_context(cert: CertPair) -> ssl.SSLContext:
    ctx = cert.server_context()
    ctx.sslobject_class = _LoggedHandshake
    return ctx


def _peer(peer: Any) -> str:
    """``host:port`` for the (host, port) tuple aiosmtpd keeps."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class _SandboxController(Controller):
    def __init__(self, handler: Any, smtp_kwargs: dict[str, Any], **kwargs: Any) -> None:
        self._smtp_kwargs = smtp_kwargs
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        kwargs = dict(self._smtp_kwargs)
        sink, limits = kwargs.pop("capture", None), kwargs.pop("capture_limits", None)
        if sink is None:
            return SandboxSMTP(self.handler, **kwargs)
        smtp = CapturingSMTP(self.handler, **kwargs)
        smtp.capture_sink, smtp.capture_limits = sink, limits or CaptureLimits()
        return smtp


class SandboxServer:
    """The plain/STARTTLS listener and the implicit-TLS listener, started and stopped together."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.mailbox = Mailbox(config.data_dir / "sandbox", config.max_messages)
        self.cert: CertPair = ensure_sandbox_cert(config.data_dir / "tls")
        self.handler = SandboxHandler(self.mailbox, config.pipelining)
        # ScenarioError (file, path, what) if a trainer's file or a port's scenario is wrong.
        scenarios = load_scenarios(config.scenarios_dir)
        for port, name in config.scenario_ports.items():
            if name not in scenarios:
                raise ScenarioError([f"SANDBOX_SCENARIO_PORTS: {port}={name}: no such scenario"])
        self.engine = ScenarioEngine(scenarios, config.scenario_ports, time_scale=config.time_scale)
        self._controllers: list[Controller] = []

    def start(self) -> None:
        """Start listening; raises OSError if a port is taken."""
        cfg = self.config
        install_log_filter()
        smtp_kwargs: dict[str, Any] = {
            "users": cfg.users,
            "hostname": SANDBOX_HOSTNAME,
            "ident": "ESMTP SMTP Playground sandbox",
            "data_size_limit": cfg.data_size_limit,
            "auth_require_tls": cfg.auth_require_tls,
            "tls_context": self.cert.server_context(),
            "engine": self.engine,
            "capture": cfg.capture,
            "capture_limits": cfg.capture_limits,
        }
        plain = _SandboxController(self.handler, smtp_kwargs, hostname=cfg.host, port=cfg.port)
        self._start(plain)
        for port in cfg.scenario_ports:  # plain + STARTTLS, each port in its scenario
            kwargs = {**smtp_kwargs, "listening_port": port}
            self._start(_SandboxController(self.handler, kwargs, hostname=cfg.host, port=port))
        if cfg.tls_port is not None:
            # aiosmtpd counts only STARTTLS as TLS; this listener is TLS from the first byte
            # (RFC 8314), so AUTH must not wait for a STARTTLS that can never come.
            implicit_kwargs = {
                **smtp_kwargs,
                "tls_context": None,
                "auth_require_tls": False,
                "implicit_tls": True,
            }
            implicit = _SandboxController(
                self.handler,
                implicit_kwargs,
                hostname=cfg.host,
                port=cfg.tls_port,
                ssl_context=_implicit_tls_context(self.cert),
            )
            self._start(implicit)

    def _start(self, controller: Controller) -> None:
        try:
            controller.start()
        except BaseException:
            # aiosmtpd leaves a controller that failed to start (port taken) with its thread
            # and event loop: stop and close them here, or the loop leaks its sockets.
            controller.stop(no_assert=True)
            if not controller.loop.is_running():
                controller.loop.close()
            self.stop()
            raise
        self._controllers.append(controller)

    @property
    def port(self) -> int:
        return self.config.port

    def stop(self) -> None:
        """Stop every listener (idempotent)."""
        while self._controllers:
            self._controllers.pop().stop()


class CredentialLogFilter(logging.Filter):
    """Keeps credentials out of aiosmtpd's log ("mail.log"), which logs every command line
    at INFO: a line that is no SMTP command (credentials typed after a refused AUTH) is not
    logged, and SASL PLAIN credentials anywhere are replaced by a marker."""

    _LINE_RECORDS = ("%r >> %r", "_handle_client readline: %r")

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.args, tuple):
            return True
        if record.msg in self._LINE_RECORDS or record.msg == "%r unrecognised: %s":
            record.args = tuple(_loggable(arg) for arg in record.args)
        return True


def _loggable(arg: object) -> object:
    if not isinstance(arg, bytes | str):
        return arg
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg
    if verb_of(text.strip()) not in COMMANDS:
        return "[not an SMTP command: not logged, it may hold credentials]"
    safe = redact_plain_anywhere(text)
    return arg if safe == text else safe


def install_log_filter() -> None:
    """Put the credential filter on aiosmtpd's logger once (idempotent)."""
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, CredentialLogFilter) for f in logger.filters):
        logger.addFilter(CredentialLogFilter())
