"""Host normalisation and the table of address ranges the playground never connects to.

Everything a user types as a target goes through :func:`normalise_host` before any check, so
that ``0x7f.1``, ``2130706433`` and ``::ffff:7f00:1`` are all seen as ``127.0.0.1``: the
resolver or socket layer would read them that way, so the policy must too.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from smtp_session.errors import PlaygroundError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 1035 §2.3.4: a name is at most 255 octets on the wire, 253 as dotted text.
MAX_NAME = 253
# RFC 1035 §2.3.1 (LDH rule, relaxed by RFC 1123 §2.1 to allow a leading digit).
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# WHATWG URL "ends in a number": such a name would be read as an IPv4 address by inet_aton.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 §2.1 well-known prefix


class PolicyError(PlaygroundError):
    """A target the playground will not connect to, or a host it cannot read."""

    code = "not_allowed"

    def __init__(self, message: str, code: str | None = None, address: str | None = None) -> None:
        super().__init__(message, code)
        self.address = address


class Blocked(NamedTuple):
    """One range of the table: the network, what it is in a trainer's words, and its source."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    kind: str
    source: str


def _table(rows: list[tuple[str, str, str]]) -> tuple[Blocked, ...]:
    return tuple(Blocked(ipaddress.ip_network(net), kind, src) for net, kind, src in rows)


# Order matters only for the words in a refusal: the first match names the range.
BLOCKED: tuple[Blocked, ...] = _table(
    [
        ("0.0.0.0/8", "an unspecified ('this network') address", "RFC 1122 §3.2.1.3"),
        ("10.0.0.0/8", "a private address", "RFC 1918"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address", "RFC 6598"),
        ("127.0.0.0/8", "a loopback address", "RFC 1122 §3.2.1.3"),
        ("169.254.0.0/16", "a link-local address, where cloud metadata services live", "RFC 3927"),
        ("172.16.0.0/12", "a private address", "RFC 1918"),
        ("192.0.0.0/24", "a reserved protocol-assignment address", "RFC 6890 §2.2.2"),
        ("192.0.2.0/24", "a reserved documentation address", "RFC 5737"),
        ("192.168.0.0/16", "a private address", "RFC 1918"),
        ("198.18.0.0/15", "a reserved benchmarking address", "RFC 2544"),
        ("198.51.100.0/24", "a reserved documentation address", "RFC 5737"),
        ("203.0.113.0/24", "a reserved documentation address", "RFC 5737"),
        ("224.0.0.0/4", "a multicast address", "RFC 5771"),
        ("255.255.255.255/32", "the broadcast address", "RFC 919 §7"),
        ("240.0.0.0/4", "a reserved address", "RFC 1112 §4"),
        ("::/128", "the unspecified address", "RFC 4291 §2.5.2"),
        ("::1/128", "the loopback address", "RFC 4291 §2.5.3"),
        ("::/8", "a reserved address (IPv4-compatible, NAT64 local-use)", "RFC 4291 §2.4"),
        ("100::/64", "a discard-only address", "RFC 6666"),
        ("2001::/32", "a Teredo address, which embeds an IPv4 address", "RFC 4380 §2.6"),
        ("2001::/23", "a reserved protocol-assignment address", "RFC 2928"),
        ("2001:db8::/32", "a reserved documentation address", "RFC 3849"),
        ("2002::/16", "a 6to4 address, which embeds an IPv4 address", "RFC 3056 §2"),
        ("3fff::/20", "a reserved documentation address", "RFC 9637"),
        ("fc00::/7", "a private (unique local) address", "RFC 4193"),
        ("fe80::/10", "a link-local address", "RFC 4291 §2.5.6"),
        ("fec0::/10", "a site-local address", "RFC 3879"),
        ("ff00::/8", "a multicast address", "RFC 4291 §2.7"),
    ]
)
# RFC 4291 §2.4: only 2000::/3 is global unicast; the rest of the IPv6 space is unassigned.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_UNASSIGNED = Blocked(ipaddress.IPv6Network("::/0"), "an unassigned (reserved) address", "RFC 4291")


def internal_range(ip: IPAddress) -> tuple[Blocked, IPAddress] | None:
    """The blocked range ``ip`` falls in (and the IPv4 address it embeds), or None if public."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return internal_range(embedded)
    for row in BLOCKED:
        if ip.version == row.network.version and ip in row.network:
            return row, ip
    if ip.version == 6 and ip not in _GLOBAL_UNICAST:
        return _UNASSIGNED, ip
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped, compatible or NAT64 IPv6 address stands for."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:  # RFC 4291 §2.5.5.2 ::ffff:a.b.c.d
        return ip.ipv4_mapped
    value = int(ip)
    if 1 < value < 2**32:  # RFC 4291 §2.5.5.1 ::a.b.c.d (deprecated), not :: or ::1
        return ipaddress.IPv4Address(value)
    if ip in _NAT64:  # RFC 6052 §2.2: the last 32 bits are the IPv4 address
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def normalise_host(text: str) -> str:
    """Return the canonical form of a host name or address literal, or raise PolicyError."""
    host = _strip_literal(text.strip())
    if ":" in host:
        return str(_parse_ipv6(host, text))
    ascii_host = _to_ascii(host, text)
    if ascii_host.endswith("."):  # RFC 1034 §3.1: the trailing dot only marks an absolute name
        ascii_host = ascii_host[:-1]
    if _NUMERIC_LABEL.fullmatch(ascii_host.rsplit(".", 1)[-1]):
        return str(parse_inet_aton(ascii_host, text))
    labels = ascii_host.split(".")
    if len(ascii_host) > MAX_NAME or not all(_LABEL.fullmatch(label) for label in labels):
        raise _bad_host(text)
    return ascii_host


def parse_ip(text: str) -> IPAddress | None:
    """The address ``text`` stands for after normalisation, or None if it is a name."""
    host = normalise_host(text)
    try:
        return _unwrap(ipaddress.ip_address(host))
    except ValueError:
        return None


def _strip_literal(host: str) -> str:
    # RFC 5321 §4.1.3: address literals are written [1.2.3.4] or [IPv6:...].
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if host[:5].lower() == "ipv6:":
            host = host[5:]
    return host


def _parse_ipv6(host: str, original: str) -> IPAddress:
    if "%" in host:
        # RFC 4007 §11: a zone id picks a local interface; it has no meaning for a remote server.
        raise PolicyError(
            f"'{original}' carries an IPv6 zone id (%...); zone ids name a local interface "
            "and are not accepted.",
            code="bad_host",
        )
    try:
        return _unwrap(ipaddress.IPv6Address(host))
    except ValueError:
        raise _bad_host(original) from None


def _unwrap(ip: IPAddress) -> IPAddress:
    """Mapped and compatible IPv6 forms are the IPv4 address they carry (not NAT64)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _NAT64:
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return embedded
    return ip


def _to_ascii(host: str, original: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        # RFC 3490 (IDNA 2003, the codec in the standard library); it also maps full-width
        # digits and dots, which is why the numeric check runs on its output.
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _bad_host(original) from None


def parse_inet_aton(host: str, original: str | None = None) -> ipaddress.IPv4Address:
    """Read ``host`` the way inet_aton(3) does: 1 to 4 parts, decimal, 0-octal or 0x-hex."""
    parts = host.split(".")
    if len(parts) > 4:
        raise _bad_host(original or host)
    try:
        values = [_aton_part(part) for part in parts]
    except ValueError:
        raise _bad_host(original or host) from None
    # inet_aton(3): the last part fills all the bytes the earlier parts did not.
    last_bits = 8 * (5 - len(parts))
    if any(v > 255 for v in values[:-1]) or values[-1] >= 2**last_bits:
        raise _bad_host(original or host)
    value = 0
    for v in values[:-1]:
        value = value << 8 | v
    return ipaddress.IPv4Address(value << last_bits | values[-1])


def _aton_part(part: str) -> int:
    # The regex first: int() alone would also take "+7", " 7" and "0_7".
    if not _NUMERIC_LABEL.fullmatch(part.lower()):
        raise ValueError(part)
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def _bad_host(original: str) -> PolicyError:
    shown = original if len(original) <= 80 else original[:77] + "..."
    return PolicyError(
        f"'{shown}' is not a host name or IP address the playground can read.", code="bad_host"
    )
