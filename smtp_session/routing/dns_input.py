"""What a person types for MX routing: the DNS server to ask, and the domain to route to."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from smtp_session.routing.dns_errors import BadDnsServerError, BadDomainError, ResolverError

ENV_DNS_SERVER = "PLAYGROUND_DNS_SERVER"
DNS_PORT = 53  # RFC 1035 §4.2
DEFAULT_TIMEOUT = 5.0
RETRY_AFTER = 2.0
# RFC 6761 §6.3: "localhost" is loopback without asking any DNS server.
_LOCAL_NAMES = {"localhost": "127.0.0.1"}
_BRACKETED = re.compile(r"^\[(?P<host>[^\]]+)\](?::(?P<port>[^:]*))?$")
# RFC 1035 §2.3.1 and RFC 5321 §4.1.2 (sub-domain = Let-dig [Ldh-str]): letters, digits and
# inner hyphens, 1 to 63 octets per label (RFC 1035 §2.3.4).
_LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# UTS #46 / IDNA 2008 the way browsers read names, so "Bücher.test" works as typed.
_IDNA = dns.name.IDNA_2008_Practical if dns.name.have_idna_2008 else dns.name.IDNA_2003


@dataclass(frozen=True)
class ResolverConfig:
    """Which DNS servers to ask (None: the system resolver) and how long to wait."""

    nameservers: list[tuple[str, int]] | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise BadDnsServerError(f"the DNS timeout must be positive, not {self.timeout!r}")


def parse_dns_server(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]`` or ``[IPv6]:PORT`` as (address, port)."""
    value = text.strip()
    if not value:
        raise BadDnsServerError("no DNS server given; write HOST or HOST:PORT, e.g. 127.0.0.1:5353")
    host, port_text = _split_host_port(value)
    host = _LOCAL_NAMES.get(host.lower(), host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise BadDnsServerError(
            f"DNS server {host!r} is not an IP address; a resolver must be given by address "
            "(there is no DNS yet to look its name up), e.g. 192.0.2.53:53"
        ) from None
    return host, _parse_port(port_text, value)


def _split_host_port(value: str) -> tuple[str, str | None]:
    if value.startswith("["):
        match = _BRACKETED.match(value)
        if match is None:
            raise BadDnsServerError(f"{value!r}: write IPv6 as [ADDRESS] or [ADDRESS]:PORT")
        return match["host"], match["port"]
    if value.count(":") > 1:
        # Several colons: a bare IPv6 address. A port needs brackets (RFC 3986 §3.2.2 style).
        return value, None
    host, sep, port = value.partition(":")
    return host, (port if sep else None)


def _parse_port(port_text: str | None, value: str) -> int:
    if port_text is None:
        return DNS_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadDnsServerError(f"{value!r}: the port must be a number from 1 to 65535")
    return int(port_text)


def config_from_setting(
    cli_value: str | None, environ: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT
) -> ResolverConfig:
    """``--dns-server`` if given, else ``PLAYGROUND_DNS_SERVER``; servers comma-separated."""
    value = cli_value if cli_value else environ.get(ENV_DNS_SERVER, "")
    parts = [part for part in value.split(",") if part.strip()]
    if not parts:
        return ResolverConfig(None, timeout)
    return ResolverConfig([parse_dns_server(part) for part in parts], timeout)


def make_resolver(config: ResolverConfig) -> dns.resolver.Resolver:
    """A dnspython resolver for ``config``: no cache, no search list, one overall timeout."""
    if config.nameservers is None:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise ResolverError(
                "this machine has no DNS resolver configured; give one with --dns-server HOST:PORT"
            ) from None
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(host, port) for host, port in config.nameservers
        ]
    # A classroom wants to see each lookup happen, so nothing is answered from a cache.
    resolver.cache = None
    # Each try waits at most RETRY_AFTER so one lost UDP datagram is retried in the lifetime.
    resolver.timeout = min(config.timeout, RETRY_AFTER)
    resolver.lifetime = config.timeout
    return resolver


def domain_name(text: str) -> dns.name.Name:
    """The absolute, IDNA-encoded DNS name for a typed domain; BadDomainError if invalid."""
    value = text.strip()
    if not value:
        raise BadDomainError("the domain is empty")
    if value.startswith("["):
        # RFC 5321 §5.1: an address literal is used as is; there is nothing to look up.
        raise BadDomainError(f"{value} is an address literal, not a domain: connect to it directly")
    if "@" in value:
        raise BadDomainError(f"{value!r} looks like an address; give only the part after the @")
    if value.endswith(".") and not value.endswith(".."):
        value = value[:-1]  # "example.com." is the same name written absolutely
    try:
        name = dns.name.from_unicode(value, idna_codec=_IDNA)
        name.to_unicode(idna_codec=_IDNA)  # rejects bogus "xn--" labels
    except dns.exception.DNSException as exc:
        raise BadDomainError(f"{value!r} is not a valid domain: {_idna_words(exc)}") from None
    _check_labels(name, value)
    return name


def _idna_words(exc: dns.exception.DNSException) -> str:
    words = {
        dns.name.EmptyLabel: "it has an empty label (two dots in a row, or a leading dot)",
        dns.name.LabelTooLong: "a label is longer than 63 octets (RFC 1035 §2.3.4)",
        dns.name.NameTooLong: "the name is longer than 255 octets (RFC 1035 §2.3.4)",
    }
    return words.get(type(exc), f"it cannot be encoded for the DNS ({exc})")


def _check_labels(name: dns.name.Name, value: str) -> None:
    for label in name.labels[:-1]:
        text = label.decode("ascii", "backslashreplace")
        if not _LDH_LABEL.match(text):
            raise BadDomainError(
                f"{value!r} is not a valid domain: label {text!r} may only hold letters, digits "
                "and hyphens, not at its start or end (RFC 5321 §4.1.2)"
            )


def unicode_form(name: dns.name.Name) -> str:
    """The name as a person reads it (U-labels), without the final dot."""
    return name.to_unicode(omit_final_dot=True, idna_codec=_IDNA)
