"""The offline DNS zone ``sandbox.test``: MX routing to the sandbox with no network at all.

A real zone (parsed by dnspython from zone-file text) whose mail hosts are the sandbox, so a
class in a room without internet can route ``mx:sandbox.test`` the way an MTA does
(RFC 5321 §5.1): several MX records with preferences, one dead host at the best preference to
show the failover, a null-MX domain (RFC 7505) and a domain with no MX (the implicit MX).
:class:`ZoneResolver` answers :func:`smtp_session.routing.mx.lookup_mx` like a DNS server would, so
ordering, null MX and errors are the same code as for real DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import dns.name
import dns.rdataset
import dns.resolver
import dns.zone

from smtp_session.routing.mx import MxLookup, ResolverConfig, lookup_mx

DOMAIN = "sandbox.test"
DEAD_HOST = f"mx-dead.{DOMAIN}"
# RFC 2606 §2 reserves .test for testing: no real DNS answers for it, so nothing is shadowed.
ZONE_TEXT = """\
$TTL 300
@        IN SOA  ns.sandbox.test. hostmaster.sandbox.test. 1 3600 600 86400 300
@        IN NS   ns
ns       IN A    {address}
; Lowest preference first (RFC 5321 §5.1): mx-dead is tried first and refuses every connection.
@        IN MX   5  mx-dead
@        IN MX   10 mx1
@        IN MX   20 mx2
mx-dead  IN A    {address}
mx1      IN A    {address}
mx2      IN A    {address}
; RFC 7505: "MX 0 ." says the domain accepts no mail at all.
nomail   IN MX   0 .
; No MX record: the domain itself is the implicit MX, preference 0 (RFC 5321 §5.1).
direct   IN A    {address}
"""
DESCRIPTION = "built-in zone sandbox.test (no network): its mail hosts are the sandbox, port {port}"


def in_zone(domain: str) -> bool:
    """Whether an MX route's domain is ``sandbox.test`` or a name under it."""
    name = domain.strip().rstrip(".").lower()
    return name == DOMAIN or name.endswith("." + DOMAIN)


@dataclass(frozen=True)
class ZoneAnswer:
    """What :func:`smtp_session.routing.mx.lookup_mx` reads from a dnspython answer."""

    rrset: dns.rdataset.Rdataset | None
    nameserver: str | None = None
    port: int = 53


class ZoneResolver:
    """Answers queries from the zone alone; a name the zone lacks is NXDOMAIN."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        self.zone = zone

    def resolve(
        self, qname: dns.name.Name, rdtype: str, search: bool = False, **_: object
    ) -> ZoneAnswer:
        if self.zone.get_node(qname) is None:
            raise dns.resolver.NXDOMAIN(qnames=[qname])
        return ZoneAnswer(self.zone.get_rdataset(qname, rdtype))


class SandboxZone:
    """``sandbox.test`` pointing at the sandbox at ``address``, plain and implicit-TLS ports."""

    def __init__(self, address: str, port: int, tls_port: int) -> None:
        self.address = _ip_of(address)
        self.port = port
        self.tls_port = tls_port
        text = ZONE_TEXT.format(address=self.address)
        self.zone = dns.zone.from_text(text, origin=DOMAIN + ".", relativize=False)

    def lookup(self, domain: str, tls: bool = False) -> MxLookup:
        """Route ``domain`` through the zone; each candidate carries the sandbox's port."""
        port = self.tls_port if tls else self.port
        lookup = lookup_mx(domain, ResolverConfig(), resolver=ZoneResolver(self.zone))
        candidates = [replace(c, port=port) for c in lookup.candidates]
        return replace(lookup, candidates=candidates, server=DESCRIPTION.format(port=port))

    @contextmanager
    def port_for(self, host: str, port: int) -> Iterator[int]:
        """The port to connect to for ``host``: the dead host's refuses, for as long as needed.

        A TCP port that is bound but not listening answers a SYN with a reset (connection
        refused) and no other program can take it meanwhile.
        """
        if host != DEAD_HOST:
            yield port
            return
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as closed:
            closed.bind((self.address, 0))
            yield int(closed.getsockname()[1])


def _ip_of(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
