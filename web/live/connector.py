"""Opening a live session's connection: named targets, host/port under the policy, and MX.

What a connect frame may reach is decided here, before any packet leaves: named targets from
the configuration as they are; any other host only if the target policy allows it, resolved
once and connected to by checked address (no second lookup, so DNS rebinding cannot slip
through); ``mx:domain`` through an MX lookup shown like ``dig mx`` and RFC 5321 §5.1 failover.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.routing.mx import MxLookup, connect_candidates, lookup_mx
from smtp_session.routing.sandbox_zone import SandboxZone, in_zone
from smtp_session.wire.events import TlsMode
from smtp_session.wire.lines import resolve
from smtp_session.wire.session import SmtpSession
from web.live.frames import FrameError
from web.services import Services, Target

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Plan:
    """Where a connect frame leads: a target, and the MX domain when routing by MX."""

    target: Target
    mx_domain: str | None = None
    accept_unverified: bool = False
    # Routed through the built-in sandbox.test zone (smtp_session.routing.sandbox_zone).
    zone: bool = False


def plan_connect(services: Services, frame: dict[str, Any]) -> Plan:
    """Validate a connect frame into a plan (FrameError / PolicyError say what is wrong)."""
    unverified = frame.get("accept_unverified", False)
    if not isinstance(unverified, bool):
        raise FrameError("'accept_unverified' must be true or false.", "bad_field")
    if "host" in frame:
        return Plan(_custom_target(frame), accept_unverified=unverified)
    name = frame.get("target", "sandbox")
    if isinstance(name, str) and name.lower().startswith("mx:"):
        port, domain = _port(frame.get("port", 25)), name[3:].strip()
        zone = services.sandbox_zone is not None and in_zone(domain)
        # The zone's hosts are the sandbox: trusted by its pinned certificate like the sandbox.
        target = Target(name, domain, port, tls_mode=_tls_mode(frame), sandbox=zone)
        return Plan(target, mx_domain=domain, accept_unverified=unverified, zone=zone)
    return Plan(services.resolve_target(frame), accept_unverified=unverified)


def _custom_target(frame: dict[str, Any]) -> Target:
    host = frame["host"]
    if not isinstance(host, str) or not host.strip() or len(host) > 253:
        raise FrameError("'host' must be a host name or an address.", "bad_field")
    port = _port(frame.get("port", 25))
    return Target(f"{host}:{port}", host.strip(), port, tls_mode=_tls_mode(frame))


def _port(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise FrameError("'port' must be a number from 1 to 65535.", "bad_field")
    return value


def _tls_mode(frame: dict[str, Any]) -> TlsMode | None:
    """``tls_mode``: "implicit" (TLS from the first byte, port 465 style) or null for plain."""
    if "tls_mode" not in frame and "tls" in frame:
        return _legacy_tls(frame["tls"])
    value = frame.get("tls_mode")
    if value is None:
        return None
    if value != TlsMode.IMPLICIT.value:
        raise FrameError(
            "'tls_mode' must be \"implicit\" (TLS from the first byte, port 465 style) or "
            "null (plain; STARTTLS can upgrade later).",
            "bad_field",
        )
    return TlsMode.IMPLICIT


def _legacy_tls(value: Any) -> TlsMode | None:
    # Before tls_mode, a connect frame said "tls": true for implicit TLS; scripts still may.
    if not isinstance(value, bool):
        raise FrameError("'tls' must be true (implicit TLS, port 465 style) or false.", "bad_field")
    return TlsMode.IMPLICIT if value else None


def open_connection(services: Services, plan: Plan, smtp: SmtpSession, emit: Emit) -> None:
    """Connect ``smtp`` as the plan says; raises PlaygroundError with words on failure."""
    target = plan.target
    context = services.tls_context_for(target, plan.accept_unverified)
    if plan.mx_domain is not None:
        _connect_mx(services, plan, smtp, emit)
        return
    if target.named:
        addresses = None  # configured by the operator: trusted as is
    else:
        addresses = services.policy.check(target.host, target.port, _resolve_once)
    smtp.connect(
        target.host,
        target.port,
        addresses=addresses,
        tls_mode=target.tls_mode,
        tls_context=context,
        pinned_fingerprint=services.sandbox_cert.fingerprint if target.sandbox else None,
    )


def _route(services: Services, plan: Plan, zone: SandboxZone | None, emit: Emit) -> MxLookup:
    """The MX lookup for the plan, shown as an ``mx`` frame; the policy trims its addresses."""
    domain, port = plan.mx_domain or "", plan.target.port
    if zone is None:
        services.policy.precheck_mx(domain, port)
    try:
        if zone is not None:
            lookup = zone.lookup(domain, tls=plan.target.tls_mode == TlsMode.IMPLICIT)
        else:
            lookup = lookup_mx(domain, services.resolver_config)
    except PlaygroundError as exc:
        emit({"type": "mx", "domain": domain, "error": exc.message, "code": exc.code})
        raise
    emit({"type": "mx", **lookup.to_dict()})
    if zone is None:  # the zone leads only to the sandbox: nothing for the policy to refuse
        checked = services.policy.check_mx_hosts(
            lookup.domain, [(c.host, c.addresses) for c in lookup.candidates], port
        )
        allowed = {host.name: host.addresses for host in checked}
        for candidate in lookup.candidates:
            candidate.addresses[:] = allowed.get(candidate.host, [])
    return lookup


def _connect_mx(services: Services, plan: Plan, smtp: SmtpSession, emit: Emit) -> None:
    zone = services.sandbox_zone if plan.zone else None
    lookup = _route(services, plan, zone, emit)
    pin = services.sandbox_cert.fingerprint if plan.target.sandbox else None

    def attempt(host: str, address: str, port: int) -> None:
        # The zone's names are not in the sandbox's certificate; the pin (the exact
        # certificate, checked after the handshake) is what proves it is the sandbox.
        context = services.tls_context_for(
            plan.target, plan.accept_unverified, check_hostname=zone is None
        )
        with zone.port_for(host, port) if zone else nullcontext(port) as real_port:
            smtp.connect(
                host,
                real_port,
                addresses=[address],
                tls_mode=plan.target.tls_mode,
                tls_context=context,
                pinned_fingerprint=pin,
            )

    def report(failure: dict[str, object]) -> None:
        emit({"type": "mx_attempt", **failure})

    connect_candidates(lookup, plan.target.port, attempt, report)


def _resolve_once(host: str) -> list[str]:
    """Every address of ``host``, looked up once (the policy checks them all)."""
    return resolve(host)
