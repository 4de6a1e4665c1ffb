"""Errors of MX routing, and the translation of dnspython's exceptions into them."""

from __future__ import annotations

from collections.abc import Callable

import dns.exception
import dns.message
import dns.rcode
import dns.resolver

from smtp_session.errors import PlaygroundError


class MxError(PlaygroundError):
    """Mail for a domain cannot be routed; ``code`` says why."""

    code = "mx"


class BadDomainError(MxError):
    """The domain is not a syntactically valid host name."""

    code = "bad_domain"


class BadDnsServerError(MxError):
    """The configured DNS server is not a usable ``HOST:PORT``."""

    code = "bad_dns_server"


class NullMxError(MxError):
    """RFC 7505: the domain publishes ``MX 0 .``, it accepts no mail."""

    code = "null_mx"


class NxDomainError(MxError):
    """The domain does not exist in the DNS."""

    code = "nxdomain"


class ServFailError(MxError):
    """The DNS server answered SERVFAIL: it could not get an answer itself."""

    code = "servfail"


class RefusedError(MxError):
    """The DNS server answered REFUSED: it will not answer this question for us."""

    code = "refused"


class DnsTimeoutError(MxError):
    """No answer from the DNS server within the timeout."""

    code = "timeout"


class NoAddressError(MxError):
    """No MX and no A/AAAA: there is nowhere to deliver."""

    code = "no_address"


class ResolverError(MxError):
    """Any other resolver failure (no configuration, malformed answers, odd rcodes)."""

    code = "resolver_error"


class AllFailedError(MxError):
    """Every candidate address refused or failed the connection."""

    code = "all_failed"

    def __init__(self, message: str, attempts: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.attempts = attempts


# What a server meant by each failing rcode, for NoNameservers.
_RCODE_ERRORS: dict[int, tuple[type[MxError], str]] = {
    dns.rcode.SERVFAIL: (
        ServFailError,
        "the DNS server answered SERVFAIL for {query}: it could not find the answer itself",
    ),
    dns.rcode.REFUSED: (
        RefusedError,
        "the DNS server refused to answer {query} (REFUSED); it may not resolve for clients",
    ),
}


def _from_no_nameservers(exc: dns.exception.DNSException, query: str, timeout: float) -> MxError:
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        response = error[4] if len(error) > 4 else None
        if isinstance(response, dns.message.Message) and response.rcode() in _RCODE_ERRORS:
            cls, words = _RCODE_ERRORS[response.rcode()]
            return cls(words.format(query=query))
    details = "; ".join(f"{e[0]}: {e[3]}" for e in errors) or "no usable server"
    return ResolverError(f"no DNS server could answer {query} ({details})")


def _nxdomain(exc: dns.exception.DNSException, query: str, timeout: float) -> MxError:
    return NxDomainError(f"{query.split()[0]} does not exist (the DNS answered NXDOMAIN)")


def _timeout(exc: dns.exception.DNSException, query: str, timeout: float) -> MxError:
    return DnsTimeoutError(f"no answer from the DNS server for {query} within {timeout:g} s")


def _no_config(exc: dns.exception.DNSException, query: str, timeout: float) -> MxError:
    return ResolverError(
        "this machine has no DNS resolver configured; give one with --dns-server HOST:PORT"
    )


def _other(exc: dns.exception.DNSException, query: str, timeout: float) -> MxError:
    return ResolverError(f"the DNS lookup of {query} failed: {exc}")


_Translate = Callable[[dns.exception.DNSException, str, float], MxError]
# First matching class wins, so subclasses come before their bases.
_TRANSLATIONS: tuple[tuple[type[dns.exception.DNSException], _Translate], ...] = (
    (dns.resolver.NXDOMAIN, _nxdomain),
    (dns.exception.Timeout, _timeout),
    (dns.resolver.NoNameservers, _from_no_nameservers),
    (dns.resolver.NoResolverConfiguration, _no_config),
)


def from_dns_exception(exc: dns.exception.DNSException, query: str, timeout: float) -> MxError:
    """The MxError a person should see for a dnspython failure on ``query`` ("name TYPE")."""
    for cls, translate in _TRANSLATIONS:
        if isinstance(exc, cls):
            return translate(exc, query, timeout)
    return _other(exc, query, timeout)
