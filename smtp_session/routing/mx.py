"""MX routing (RFC 5321 §5.1): which hosts take mail for a domain, in which order, and at
which addresses; then connecting to them in that order until one answers.

The DNS is asked through dnspython, either the system resolver or the servers in a
``ResolverConfig`` (``--dns-server`` / ``PLAYGROUND_DNS_SERVER``), never through a cache.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Any, TypeVar

import dns.exception
import dns.name
import dns.resolver
import dns.rrset

from smtp_session.errors import PlaygroundError
from smtp_session.routing.dns_errors import (
    AllFailedError,
    DnsTimeoutError,
    MxError,
    NoAddressError,
    NullMxError,
    NxDomainError,
    from_dns_exception,
)
from smtp_session.routing.dns_input import (
    ENV_DNS_SERVER,
    ResolverConfig,
    config_from_setting,
    domain_name,
    make_resolver,
    parse_dns_server,
    unicode_form,
)
from smtp_session.routing.dns_render import render_dig

__all__ = [
    "ENV_DNS_SERVER",
    "Candidate",
    "MxError",
    "MxLookup",
    "MxRecord",
    "ResolverConfig",
    "config_from_setting",
    "connect_candidates",
    "lookup_mx",
    "parse_dns_server",
]

T = TypeVar("T")
# IPv4 first: classroom and lab networks often have no IPv6 route, and RFC 5321 §5.1 leaves
# the order of one host's addresses to the client.
ADDRESS_TYPES = ("A", "AAAA")


@dataclass(frozen=True)
class MxRecord:
    """One MX record as the DNS returned it."""

    preference: int
    host: str
    ttl: int


@dataclass(frozen=True)
class Candidate:
    """A host to try, in order; ``error`` says why it has no addresses."""

    host: str
    preference: int
    addresses: list[str]
    ttl: int | None
    error: str | None = None
    error_code: str | None = None
    port: int | None = None  # None: the route's port (the built-in zone names the sandbox's)


@dataclass(frozen=True)
class MxLookup:
    """The outcome of routing one domain."""

    domain: str
    unicode_domain: str
    records: list[MxRecord]
    implicit: bool
    candidates: list[Candidate]
    server: str | None = None

    @property
    def dig(self) -> str:
        """A ``dig mx`` style rendering of the answer, for people who know dig."""
        return render_dig(self)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, with the dig text."""
        data = asdict(self)
        data["dig"] = self.dig
        return data


def lookup_mx(
    domain: str,
    config: ResolverConfig,
    rng: random.Random | None = None,
    resolver: Any = None,
) -> MxLookup:
    """Route mail for ``domain``: MX records, or the implicit MX, with addresses resolved.

    ``resolver`` replaces the DNS (``smtp_session.routing.sandbox_zone`` answers from its own zone).
    """
    name = domain_name(domain)
    resolver = resolver or make_resolver(config)
    answer = _resolve(resolver, name, "MX", config.timeout)
    server = f"{answer.nameserver}#{answer.port}" if answer.nameserver else None
    ascii_name = host_text(name)
    if answer.rrset is None:
        # RFC 5321 §5.1: no MX at all means the domain itself is the implicit MX (pref 0).
        candidate = _implicit_candidate(resolver, name, config.timeout)
        return MxLookup(ascii_name, unicode_form(name).lower(), [], True, [candidate], server)
    records = _mx_records(answer.rrset)
    usable = [r for r in records if r.host != "."]
    if not usable:
        # RFC 7505 §3: "MX 0 ." says the domain accepts no mail; stop, do not fall back to A.
        raise NullMxError(
            f"{ascii_name} publishes a null MX (MX 0 .): the domain accepts no mail at all, "
            "so there is no server to try (RFC 7505)."
        )
    ordered = order_records(usable, rng or random.Random())
    candidates = [_mx_candidate(resolver, record, config.timeout) for record in ordered]
    return MxLookup(ascii_name, unicode_form(name).lower(), records, False, candidates, server)


def host_text(name: dns.name.Name) -> str:
    """A DNS name as shown and passed on: no final dot, lower case."""
    # RFC 4343: case is not significant, and answers may echo the query's mixed case back.
    return name.to_text(omit_final_dot=True).lower()


def _mx_records(rrset: dns.rrset.RRset) -> list[MxRecord]:
    records = [MxRecord(r.preference, host_text(r.exchange), rrset.ttl) for r in rrset]
    return sorted(records, key=lambda r: (r.preference, r.host))


def order_records(records: list[MxRecord], rng: random.Random) -> list[MxRecord]:
    """Lowest preference first, equal preferences in random order (RFC 5321 §5.1)."""
    ordered: list[MxRecord] = []
    by_preference = sorted(records, key=lambda r: (r.preference, r.host))
    for _, group in groupby(by_preference, key=lambda r: r.preference):
        same = list(group)  # sorted by host first, so a seeded rng gives the same order
        rng.shuffle(same)
        ordered.extend(same)
    return ordered


def _resolve(
    resolver: dns.resolver.Resolver, name: dns.name.Name, rdtype: str, timeout: float
) -> dns.resolver.Answer:
    try:
        return resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.exception.DNSException as exc:
        query = f"{name.to_text(omit_final_dot=True)} {rdtype}"
        raise from_dns_exception(exc, query, timeout) from None


def _addresses(
    resolver: dns.resolver.Resolver, name: dns.name.Name, timeout: float
) -> tuple[list[str], int | None, MxError | None]:
    """A then AAAA addresses of one host, their lowest TTL, and the first error if none."""
    addresses: list[str] = []
    ttls: list[int] = []
    errors: list[MxError] = []
    for rdtype in ADDRESS_TYPES:
        try:
            answer = _resolve(resolver, name, rdtype, timeout)
        except MxError as error:
            errors.append(error)
            if isinstance(error, NxDomainError | DnsTimeoutError):
                break  # AAAA would fail the same way; a second timeout only doubles the wait
            continue
        if answer.rrset is not None:
            addresses.extend(rdata.address for rdata in answer.rrset)
            ttls.append(answer.rrset.ttl)
    if addresses:
        return addresses, min(ttls), None
    host = host_text(name)
    return [], None, errors[0] if errors else NoAddressError(f"{host} has no A or AAAA record")


def _implicit_candidate(
    resolver: dns.resolver.Resolver, name: dns.name.Name, timeout: float
) -> Candidate:
    addresses, ttl, error = _addresses(resolver, name, timeout)
    host = host_text(name)
    if isinstance(error, NoAddressError):
        raise NoAddressError(f"{host} has no MX record and no A or AAAA address to deliver to")
    if error is not None:
        raise error
    return Candidate(host, 0, addresses, ttl)


def _mx_candidate(resolver: dns.resolver.Resolver, record: MxRecord, timeout: float) -> Candidate:
    # RFC 5321 §5.1: an MX host that does not resolve is skipped at connect time; we keep it
    # with its error so the person sees why it was passed over.
    name = dns.name.from_text(record.host, origin=dns.name.root)
    addresses, ttl, error = _addresses(resolver, name, timeout)
    if error is not None:
        return Candidate(record.host, record.preference, [], None, error.message, error.code)
    return Candidate(record.host, record.preference, addresses, ttl)


def connect_candidates(
    lookup: MxLookup,
    port: int,
    connect: Callable[[str, str, int], T],
    on_attempt: Callable[[dict[str, object]], None],
) -> T:
    """``connect(host, address, port)`` to each candidate address in order; first success wins.

    Each failure (OSError or PlaygroundError from ``connect``) is reported to ``on_attempt`` as
    ``{host, address, preference, error}`` before moving on (RFC 5321 §5.1: try the next).
    """
    attempts: list[dict[str, object]] = []

    def report(candidate: Candidate, address: str | None, error: str) -> None:
        attempt: dict[str, object] = {
            "host": candidate.host,
            "address": address,
            "preference": candidate.preference,
            "error": error,
        }
        attempts.append(attempt)
        on_attempt(attempt)

    for candidate in lookup.candidates:
        if not candidate.addresses:
            report(candidate, None, candidate.error or "no address")
        for address in candidate.addresses:
            try:
                return connect(candidate.host, address, candidate.port or port)
            except (OSError, PlaygroundError) as exc:
                report(candidate, address, describe_connect_error(exc))
    raise AllFailedError(_all_failed_words(lookup.domain, port, attempts), attempts)


# Plain words for the socket errors a person meets when connecting.
_CONNECT_WORDS: dict[type[BaseException], str] = {
    ConnectionRefusedError: "connection refused (nothing listens on that port)",
    TimeoutError: "no answer (the connection timed out)",
    ConnectionResetError: "the connection was reset",
}


def describe_connect_error(exc: BaseException) -> str:
    """A short sentence for a failed connection attempt."""
    for cls, words in _CONNECT_WORDS.items():
        if isinstance(exc, cls):
            return words
    return str(exc) or type(exc).__name__


def _all_failed_words(domain: str, port: int, attempts: list[dict[str, object]]) -> str:
    if not attempts:
        return f"no mail server to try for {domain}"
    tried = "; ".join(
        f"{a['host']} [{a['address'] or 'no address'}]:{port}: {a['error']}" for a in attempts
    )
    return f"could not connect to any mail server for {domain}: {tried}"
