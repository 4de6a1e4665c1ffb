"""Which targets a session may connect to: the guard against SSRF and relay abuse.

A name is resolved once, through the caller's resolver, and every address it returns is
checked; the caller connects only to the addresses :meth:`TargetPolicy.check` hands back, so a
second lookup (DNS rebinding) can never slip an internal address past the check.

Over 300 lines on purpose: every address rule of the policy sits in one place, to be read
as one guard.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from smtp_session.routing.addresses import (
    IPAddress,
    PolicyError,
    internal_range,
    normalise_host,
    parse_ip,
)

__all__ = [
    "ANY_PUBLIC",
    "CheckedHost",
    "NamedTarget",
    "PolicyError",
    "Resolver",
    "TargetPolicy",
    "normalise_host",
]

# RFC 5321 §4.5.4 (25), RFC 8314 §3.3 (465), RFC 6409 §3.1 (587); 2525 is the common alternative.
DEFAULT_PORTS = frozenset({25, 465, 587, 2525})
ANY_PUBLIC = "any-public"
ENV_ALLOWED = "PLAYGROUND_ALLOWED_TARGETS"
ENV_PORTS = "PLAYGROUND_ALLOWED_PORTS"
ENV_PRIVATE = "PLAYGROUND_ALLOW_PRIVATE"

Resolver = Callable[[str], list[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NamedTarget(NamedTuple):
    """A target known by name (the sandbox): connected to as is, without the checks."""

    address: str
    port: int


class CheckedHost(NamedTuple):
    """One MX host and the checked addresses to connect to, in the resolver's order."""

    name: str
    addresses: list[str]


@dataclass(frozen=True)
class TargetPolicy:
    """The configured targets, ports and internal ranges a session may reach."""

    allowed: Sequence[str] = ()
    ports: frozenset[int] = DEFAULT_PORTS
    allow_private: Sequence[str | Network] = ()
    named: Mapping[str, NamedTarget] = field(default_factory=dict)
    _names: frozenset[str] = field(init=False, repr=False)
    _suffixes: tuple[str, ...] = field(init=False, repr=False)
    _networks: tuple[Network, ...] = field(init=False, repr=False)
    _private: tuple[Network, ...] = field(init=False, repr=False)
    _any_public: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names, suffixes, networks = set(), [], []
        for pattern in self.allowed:
            kind, value = _parse_pattern(pattern)
            if kind == "name":
                names.add(value)
            elif kind == "suffix":
                suffixes.append(value)
            elif kind == "network":
                networks.append(ipaddress.ip_network(value))
        set_ = object.__setattr__  # frozen: the compiled forms are computed once, here
        set_(self, "_names", frozenset(names))
        set_(self, "_suffixes", tuple(suffixes))
        set_(self, "_networks", tuple(networks))
        set_(self, "_private", tuple(_parse_network(n, ENV_PRIVATE) for n in self.allow_private))
        set_(self, "_any_public", any(_is_any_public(p) for p in self.allowed))
        set_(self, "named", {normalise_host(k): v for k, v in self.named.items()})

    @classmethod
    def from_config(
        cls,
        allowed: str,
        ports: str = "",
        allow_private: str = "",
        named: Mapping[str, NamedTarget] | None = None,
    ) -> TargetPolicy:
        """Build a policy from the comma-separated PLAYGROUND_* environment strings."""
        return cls(
            allowed=_split(allowed),
            ports=_parse_ports(ports) if ports.strip() else DEFAULT_PORTS,
            allow_private=_split(allow_private),
            named=named or {},
        )

    def check(self, host: str, port: int, resolve: Resolver) -> list[str]:
        """Return the checked addresses to connect to for ``host:port``, or raise PolicyError."""
        name = normalise_host(host)
        if name in self.named:
            return [self._named_address(name, port)]
        self._check_port(port)
        ip = parse_ip(name)
        if ip is not None:
            return self._checked([ip], name, by_name=False)
        by_name = self._name_allowed(name)
        if not by_name and not self._may_allow_addresses():
            raise _not_allowed(name)
        return self._checked(_resolve_once(name, resolve), name, by_name)

    def precheck_mx(self, domain: str, port: int) -> None:
        """Refuse an MX route before any lookup when nothing could allow it (no DNS query leaks)."""
        name = normalise_host(domain)
        self._check_port(port)
        if not self._name_allowed(name) and not self._may_allow_addresses():
            raise _not_allowed(name)

    def check_mx_hosts(
        self, domain: str, mx_hosts: Sequence[tuple[str, Sequence[str]]], port: int
    ) -> list[CheckedHost]:
        """Check MX hosts and the addresses the MX lookup resolved for them; one inward refuses.

        ``mx_hosts`` is ``[(host, addresses), ...]`` as the MX lookup found them (for
        ``smtp_session.routing.mx``: ``[(c.host, c.addresses) for c in lookup.candidates]``);
        nothing is
        looked up again. A host without addresses stays in the list, empty, to be skipped.
        """
        name = normalise_host(domain)
        self._check_port(port)
        if [_mx_or_null(host) for host, _ in mx_hosts] == [""]:
            raise PolicyError(
                f"{name} publishes a null MX record: it accepts no mail (RFC 7505).",
                code="bad_host",
            )
        domain_ok = self._name_allowed(name)
        if not domain_ok and not self._may_allow_addresses():
            raise _not_allowed(name)
        checked = []
        for host, answers in mx_hosts:
            mx_name = normalise_host(host)
            ip = parse_ip(mx_name)
            addresses = [ip] if ip is not None else _parse_answers(mx_name, answers)
            by_name = domain_ok or self._name_allowed(mx_name)
            via = f"The MX record of {name} points to {mx_name}, which"
            checked.append(CheckedHost(mx_name, self._checked(addresses, mx_name, by_name, via)))
        return checked

    def _named_address(self, name: str, port: int) -> str:
        target = self.named[name]
        if port != target.port:
            raise PolicyError(
                f"The {name} target listens on port {target.port}, not {port}.", code="bad_port"
            )
        return target.address

    def _check_port(self, port: int) -> None:
        if port not in self.ports:
            shown = ", ".join(str(p) for p in sorted(self.ports))
            raise PolicyError(
                f"Port {port} is not one the playground connects to; the allowed ports are "
                f"{shown}. A trainer can change them in {ENV_PORTS}.",
                code="bad_port",
            )

    def _name_allowed(self, name: str) -> bool:
        return name in self._names or name.endswith(self._suffixes)

    def _may_allow_addresses(self) -> bool:
        return self._any_public or bool(self._networks or self._private)

    def _checked(
        self, addresses: Iterable[IPAddress], host: str, by_name: bool, via: str = ""
    ) -> list[str]:
        result: list[str] = []
        for ip in addresses:
            self._check_address(ip, host, by_name, via)
            if str(ip) not in result:
                result.append(str(ip))
        return result

    def _check_address(self, ip: IPAddress, host: str, by_name: bool, via: str) -> None:
        hit = internal_range(ip)
        if via:
            subject = f"{via} resolves to {ip}, which"
        else:
            subject = f"{host} resolves to {ip}, which" if host != str(ip) else str(ip)
        if hit is not None:
            row, embedded = hit
            if not (self._in(ip, self._private) or self._in(embedded, self._private)):
                raise PolicyError(
                    f"{subject} is {row.kind} ({row.source}). The playground does not connect to "
                    f"internal addresses; a trainer can allow one, such as a classroom mail "
                    f"server, in {ENV_PRIVATE}.",
                    code="internal_address",
                    address=str(ip),
                )
            return
        if not (by_name or self._any_public or self._in(ip, self._networks)):
            raise _not_allowed(host, ip)

    @staticmethod
    def _in(ip: IPAddress, networks: Iterable[Network]) -> bool:
        return any(ip.version == net.version and ip in net for net in networks)


def _mx_or_null(text: str) -> str:
    # RFC 7505 §3: a lone MX of "." means the domain accepts no mail at all.
    return "" if text.strip() in ("", ".") else normalise_host(text)


def _resolve_once(name: str, resolve: Resolver) -> list[IPAddress]:
    answers = resolve(name)  # the only lookup: what is checked is what is connected to
    if not answers:
        raise PolicyError(f"{name} has no address (no A or AAAA record).", code="bad_host")
    return _parse_answers(name, answers)


def _parse_answers(name: str, answers: Iterable[str]) -> list[IPAddress]:
    addresses = []
    for answer in answers:
        # getaddrinfo adds a zone id to link-local answers; the range check refuses those anyway.
        ip = parse_ip(answer.split("%", 1)[0])
        if ip is None:
            raise PolicyError(
                f"The resolver answered '{answer}' for {name}, which is not an address.",
                code="bad_host",
            )
        addresses.append(ip)
    return addresses


def _not_allowed(host: str, ip: IPAddress | None = None) -> PolicyError:
    what = f"{host} (address {ip})" if ip is not None and str(ip) != host else host
    parent = host.split(".", 1)[-1] if "." in host and ip is None else None
    example = f"'{host}', '*.{parent}'" if parent else f"'{ip or host}'"
    return PolicyError(
        f"{what} is not on this playground's list of allowed targets. A trainer can allow it "
        f"in {ENV_ALLOWED}, for example {example} or '{ANY_PUBLIC}'.",
        code="not_allowed",
        address=str(ip) if ip is not None else None,
    )


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _is_any_public(pattern: str) -> bool:
    return pattern.strip().lower() == ANY_PUBLIC


def _parse_pattern(pattern: str) -> tuple[str, str]:
    """Classify one PLAYGROUND_ALLOWED_TARGETS entry as any-public, name, suffix or network."""
    text = pattern.strip()
    if _is_any_public(text):
        return "any", ANY_PUBLIC
    if "/" in text:
        return "network", str(_parse_network(text, ENV_ALLOWED))
    try:
        host = normalise_host(text[2:] if text.startswith("*.") else text)
    except PolicyError:
        raise _config_error(
            ENV_ALLOWED, pattern, "a host, *.domain, IP, CIDR or any-public"
        ) from None
    if parse_ip(host) is not None:
        if text.startswith("*."):
            raise _config_error(ENV_ALLOWED, pattern, "a wildcard over a domain, not an address")
        return "network", str(ipaddress.ip_network(host))
    return ("suffix", "." + host) if text.startswith("*.") else ("name", host)


def _parse_network(value: str | Network, key: str) -> Network:
    if not isinstance(value, str):
        return value
    try:
        return ipaddress.ip_network(value.strip())
    except ValueError as error:
        raise _config_error(key, value, f"an IP address or CIDR network ({error})") from None


def _parse_ports(text: str) -> frozenset[int]:
    ports = set()
    for item in _split(text):
        if not item.isdigit() or not 0 < int(item) < 65536:
            raise _config_error(ENV_PORTS, item, "a port number from 1 to 65535")
        ports.add(int(item))
    return frozenset(ports)


def _config_error(key: str, value: str | Network, expected: str) -> PolicyError:
    return PolicyError(
        f"{key} contains '{value}', which is not {expected}. Entries are separated by commas.",
        code="bad_config",
    )
