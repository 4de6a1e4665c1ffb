"""What the web layer shares across requests: settings, targets, the inbox, the store."""

from __future__ import annotations

import atexit
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtp_session.guide.guide import Guide
from smtp_session.guide.lessons import Lesson, for_instance, instance_values, load_lessons
from smtp_session.routing.dns_input import config_from_setting
from smtp_session.routing.policy import TargetPolicy
from smtp_session.routing.sandbox_zone import SandboxZone
from smtp_session.sandbox.mailbox import Mailbox
from smtp_session.sandbox.scenario_format import Scenario, from_settings, with_ports
from smtp_session.wire.certs import CertPair, ensure_sandbox_cert
from smtp_session.wire.events import TlsMode
from smtp_session.wire.session import Limits
from smtp_session.wire.tlsinfo import client_context
from transcripts.journal import recover
from transcripts.process import local_process_is_alive
from transcripts.store import Store
from transcripts.writer import Writer
from web.live.admission import Admission
from web.live.bus import make_bus
from web.live.captured import CaptureWriter
from web.live.frames import FrameError
from web.live.limits import make_limits
from web.live.quota import Quota
from web.live.recorder import Recorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """A server the console may connect to."""

    name: str
    host: str
    port: int
    tls_mode: TlsMode | None = None  # IMPLICIT: TLS from the first byte (RFC 8314 §3)
    label: str = ""
    sandbox: bool = False
    named: bool = False  # configured by the operator, so not subject to the target policy

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "tls_mode": None if self.tls_mode is None else self.tls_mode.value,
            "label": self.label or self.name,
            "sandbox": self.sandbox,
        }


class Services:
    """Built once per app by ``create_app``; reached through ``app.extensions``."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        data_dir = Path(config["DATA_DIR"])
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.mailbox = Mailbox(data_dir / "sandbox")
        self.sandbox_cert: CertPair = ensure_sandbox_cert(data_dir / "tls")
        self.policy = TargetPolicy.from_config(
            config["ALLOWED_TARGETS"], config["ALLOWED_PORTS"], config["ALLOW_PRIVATE"]
        )
        self.limiter = make_limits(config["REDIS_URL"])
        # Live updates between processes: captured sessions, classes (web/live/bus.py).
        self.bus = make_bus(config["REDIS_URL"])
        self.resolver_config = config_from_setting(config["DNS_SERVER"], {})
        values = instance_values(config)
        self.lessons: dict[str, Lesson] = {
            lesson.id: for_instance(lesson, values) for lesson in load_lessons()
        }
        # The sandbox's scenarios, validated now: a bad trainer file stops the start
        # (ScenarioError lists "file: path: what" for each problem).
        found, self.scenario_ports = from_settings(
            config.get("SCENARIOS_DIR"), config.get("SANDBOX_SCENARIO_PORTS") or ""
        )
        self.scenarios: list[Scenario] = with_ports(found, self.scenario_ports)
        self.targets: dict[str, Target] = {t.name: t for t in self._named_targets()}
        # mx:sandbox.test and names under it, answered offline and routed to the sandbox.
        self.sandbox_zone = (
            SandboxZone(config["SANDBOX_HOST"], config["SANDBOX_PORT"], config["SANDBOX_TLS_PORT"])
            if config["SANDBOX_ZONE"]
            else None
        )
        self.store = Store.open(config["DATABASE_URL"] or f"sqlite:///{data_dir / 'playground.db'}")
        # What a process that died (SIGKILL, power cut) journaled is stored, and the
        # transcripts it left live become interrupted.
        journal = data_dir / "journal"
        recover(self.store, journal)
        self.store.mark_interrupted(local_process_is_alive)
        self.writer = Writer(self.store, journal, config["COMMIT_INTERVAL"])
        atexit.register(self.writer.stop)
        self.sandbox: Any = None  # a SandboxServer, when this process runs the sandbox
        self.capture: Any = None  # its capture sink (web/live/captured.py), when CAPTURE is on
        self.classroom: Any = None  # web/classroom/hub.py ClassHub, set by init_classroom
        self._tls_contexts: dict[tuple[str, bool], ssl.SSLContext] = {}  # tls_context_for

    def start_sandbox(self) -> None:
        """Start the built-in sandbox SMTP server in this process (stopped at exit)."""
        from smtp_session.sandbox.server import SandboxServer  # aiosmtpd: only here

        capture = capture_sink(self.config, self.store, self.bus)
        sandbox = SandboxServer(sandbox_config(self.config, self.data_dir, capture))
        try:
            sandbox.start()
        except OSError as exc:
            sandbox.stop()
            if capture is not None:
                capture.stop()
            log.warning("sandbox not started (%s); is another instance running it?", exc)
            return
        self.sandbox, self.capture = sandbox, capture
        if capture is not None:
            atexit.register(capture.stop)  # atexit runs last-in first: after sandbox.stop
        atexit.register(sandbox.stop)

    def _named_targets(self) -> list[Target]:
        host = self.config["SANDBOX_HOST"]
        return [*self._sandbox_targets(host), *parse_targets(self.config["TARGETS"])]

    def _sandbox_targets(self, host: str) -> list[Target]:
        return [
            Target(
                "sandbox",
                host,
                self.config["SANDBOX_PORT"],
                label=f"Sandbox — plain + STARTTLS ({host}:{self.config['SANDBOX_PORT']})",
                sandbox=True,
                named=True,
            ),
            Target(
                "sandbox-tls",
                host,
                self.config["SANDBOX_TLS_PORT"],
                tls_mode=TlsMode.IMPLICIT,
                label=f"Sandbox — implicit TLS ({host}:{self.config['SANDBOX_TLS_PORT']})",
                sandbox=True,
                named=True,
            ),
        ]

    def resolve_target(self, frame: dict[str, Any]) -> Target:
        """The target a connect frame asks for, if the configuration allows it."""
        name = frame.get("target", "sandbox")
        if not isinstance(name, str):
            raise FrameError("'target' must be the name of a configured target.", "bad_field")
        target = self.targets.get(name)
        if target is None:
            known = ", ".join(sorted(self.targets))
            raise FrameError(f"Unknown target {name!r}; configured targets: {known}.", "bad_target")
        return target

    def admission_for(self, client: str, user: str | None = None) -> Admission:
        subjects = [f"addr:{client}"] + ([f"user:{user}"] if user else [])
        return Admission(self.limiter, subjects, self.config)

    def quota_for(self, target: Target) -> Quota:
        cfg = self.config
        return Quota(
            sandbox=target.sandbox,
            max_recipients=cfg["MAX_RECIPIENTS"],
            max_messages=cfg["MAX_MESSAGES"],
            max_bytes=cfg["MAX_SESSION_BYTES"],
        )

    def limits(self) -> Limits:
        cfg = self.config
        return Limits(
            connect_timeout=cfg["CONNECT_TIMEOUT"],
            reply_timeout=cfg["REPLY_TIMEOUT"],
            idle_timeout=cfg["IDLE_TIMEOUT"],
            max_duration=cfg["MAX_DURATION"],
            tls_timeout=cfg["TLS_TIMEOUT"],
        )

    def tls_context_for(
        self, target: Target, accept_unverified: bool = False, check_hostname: bool = True
    ) -> ssl.SSLContext:
        """Pinned trust for the sandbox; system CAs (or an explicit opt-out) elsewhere.

        One context of each kind for the whole process, made on first use and shared by every
        session (a context holds trust settings, no connection's state; OpenSSL lets many
        connections use one at once): made per session, the sandbox's pinned context cost
        ~17 KB per open console and the system CAs' ~830 KB per session. Never change a
        context this returns; ask for the kind needed (``check_hostname=False``: names the
        certificate does not carry, proved by the pin instead).
        """
        kind = "pinned" if target.sandbox else "unverified" if accept_unverified else "system"
        key = (kind, check_hostname)
        context = self._tls_contexts.get(key)
        if context is None:
            if target.sandbox:
                context = self.sandbox_cert.pinned_client_context()
            else:
                context = client_context(verify=not accept_unverified)
            if not check_hostname:
                context.check_hostname = False
            context = self._tls_contexts.setdefault(key, context)
        return context

    def recorder_for(self, target: Target, owner: str | None = None) -> Recorder:
        return Recorder.start(self.store, target.public(), owner, writer=self.writer)

    def guide_for(self, target: Target | None) -> Guide:
        return Guide(sandbox=target.sandbox if target else True)

    def lesson(self, lesson_id: Any) -> Lesson | None:
        """The lesson a lesson frame names (None stops following one)."""
        if lesson_id is None:
            return None
        if not isinstance(lesson_id, str) or lesson_id not in self.lessons:
            known = ", ".join(sorted(self.lessons))
            raise FrameError(f"Unknown lesson {lesson_id!r}; lessons: {known}.", "bad_lesson")
        return self.lessons[lesson_id]


def capture_sink(config: dict[str, Any], store: Store, bus: Any) -> CaptureWriter | None:
    """The sink the sandbox records every session into (None when CAPTURE is off)."""
    if not config["CAPTURE"]:
        return None
    return CaptureWriter(
        store, bus, max_sessions=config["CAPTURE_MAX_SESSIONS"], max_age=config["CAPTURE_MAX_AGE"]
    )


def sandbox_config(config: dict[str, Any], data_dir: Path, capture: Any) -> Any:
    """The sandbox's settings from the app's (this process's sandbox, or sandbox_main.py's)."""
    from smtp_session.sandbox.capture import CaptureLimits
    from smtp_session.sandbox.server import SandboxConfig

    # ScenarioError (every problem: file, path, what) if a trainer's file or a port is wrong.
    folder = config.get("SCENARIOS_DIR") or None
    _found, ports = from_settings(folder, config.get("SANDBOX_SCENARIO_PORTS") or "")
    return SandboxConfig(
        data_dir=data_dir,
        host=config["SANDBOX_HOST"],
        port=config["SANDBOX_PORT"],
        tls_port=config["SANDBOX_TLS_PORT"],
        auth_require_tls=config["SANDBOX_AUTH_REQUIRE_TLS"],
        capture=capture,
        capture_limits=CaptureLimits(config["CAPTURE_MAX_LINES"], config["CAPTURE_MAX_BYTES"]),
        scenarios_dir=Path(folder) if folder else None,
        scenario_ports=ports,
    )


def parse_targets(text: str) -> list[Target]:
    """Named targets from ``name=host:port[:tls],...`` (PLAYGROUND_TARGETS), e.g. a provider."""
    targets = []
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, _, rest = item.partition("=")
        fields = rest.split(":")
        tls = len(fields) == 3 and fields[2] == "tls"
        if not name.strip() or len(fields) not in (2, 3) or not fields[1].isdigit():
            raise ValueError(f"PLAYGROUND_TARGETS: {item!r} is not name=host:port[:tls]")
        if len(fields) == 3 and not tls:
            raise ValueError(f"PLAYGROUND_TARGETS: {item!r} may only end in ':tls'")
        host, port = fields[0], int(fields[1])
        label = f"{name.strip()} ({host}:{port}{', implicit TLS' if tls else ''})"
        mode = TlsMode.IMPLICIT if tls else None
        targets.append(Target(name.strip(), host, port, tls_mode=mode, label=label, named=True))
    return targets
