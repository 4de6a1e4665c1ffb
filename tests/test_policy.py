"""Target policy: odd host forms, every blocked range, patterns, ports, resolve-once, MX."""

from __future__ import annotations

import ipaddress
import string

import dns.resolver
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from smtp_session.routing.addresses import BLOCKED, normalise_host, parse_inet_aton
from smtp_session.routing.policy import NamedTarget, PolicyError, TargetPolicy
from tests.dns_server import DnsServer

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800::1"
ANY = TargetPolicy(allowed=["any-public"])


def no_lookup(name: str) -> list[str]:
    raise AssertionError(f"an address literal must not be looked up, got {name}")


class CountingResolver:
    """A resolver that answers from a script, one answer list per call, and counts calls."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, name: str) -> list[str]:
        self.calls.append(name)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def refusal(policy: TargetPolicy, host: str, port: int = 25, resolve=no_lookup) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        policy.check(host, port, resolve)
    return caught.value


# ---------------------------------------------------------------- normalisation

ODD_LOOPBACK = {
    "decimal": "2130706433",
    "hex": "0x7f000001",
    "hex-two-parts": "0x7f.1",
    "octal-first-part": "0177.0.0.1",
    "two-parts": "127.1",
    "three-parts": "127.0.1",
    "zero-padded-octal": "0177.0000.0000.0001",
    "upper-hex": "0X7F.0.0.1",
    "trailing-dot": "127.0.0.1.",
    "bracketed-literal": "[127.0.0.1]",
    "mapped-dotted": "::ffff:127.0.0.1",
    "mapped-hex": "::ffff:7f00:1",
    "compatible": "::7f00:1",
    "smtp-ipv6-literal": "[IPv6:::ffff:127.0.0.1]",
    "fullwidth-digits": "１２７.０.０.１",
    "ideographic-dots": "127。0。0。1",
}


@pytest.mark.parametrize("text", ODD_LOOPBACK.values(), ids=ODD_LOOPBACK.keys())
def test_odd_numeric_forms_normalise_to_loopback_and_are_refused(text: str) -> None:
    assert normalise_host(text) == "127.0.0.1"
    error = refusal(ANY, text)
    assert error.code == "internal_address" and error.address == "127.0.0.1"
    assert "127.0.0.1" in error.message and "loopback" in error.message


NAMES = {
    "case-and-trailing-dot": ("Smtp.Example.COM.", "smtp.example.com"),
    "idna": ("bücher.example", "xn--bcher-kva.example"),
    "numeric-label-not-last": ("123.example.com", "123.example.com"),
    "ipv6-compressed": ("2606:2800:0:0:0:0:0:1", "2606:2800::1"),
    "mapped-public-unwrapped": ("::ffff:5db8:d822", PUBLIC_V4),
    "nat64-kept": ("64:ff9b::5db8:d822", "64:ff9b::5db8:d822"),
}


@pytest.mark.parametrize(("text", "expected"), NAMES.values(), ids=NAMES.keys())
def test_normalise_host(text: str, expected: str) -> None:
    assert normalise_host(text) == expected


GARBAGE = {
    "empty": "",
    "zone-id": "fe80::1%eth0",
    "zone-id-bracketed": "[fe80::1%25eth0]",
    "octet-too-big": "256.1.1.1",
    "last-part-too-big": "1.16777216",
    "five-parts": "1.2.3.4.5",
    "bad-octal": "08.0.0.1",
    "numeric-tld": "example.123",
    "hex-tld": "example.0x1",
    "empty-label": "a..b",
    "space-inside": "exa mple.com",
    "underscore-in-number": "0_7.0.0.1",
    "signed-part": "+1.2.3.4",
    "bad-ipv6": "::ffff::1",
    "label-too-long": "a" * 64 + ".com",
    "name-too-long": ".".join(["a" * 63] * 4) + ".com",
    "nul-byte": "mail\x00.example.com",
    "huge-decimal": "9" * 5000,
}


@pytest.mark.parametrize("text", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_a_bad_host(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        normalise_host(text)
    assert caught.value.code == "bad_host"


def test_inet_aton_fills_the_last_part() -> None:
    assert str(parse_inet_aton("10.65535")) == "10.0.255.255"
    assert str(parse_inet_aton("1.2.65535")) == "1.2.255.255"
    assert str(parse_inet_aton("0x")) == "0.0.0.0"


# ---------------------------------------------------------------- blocked ranges

BLOCKED_SAMPLES = {
    "this-network": "0.1.2.3",
    "unspecified-v4": "0.0.0.0",
    "private-10": "10.0.0.1",
    "private-10-top": "10.255.255.255",
    "private-172": "172.16.0.1",
    "private-172-top": "172.31.255.255",
    "private-192-168": "192.168.1.1",
    "loopback-127": "127.0.0.1",
    "loopback-127-top": "127.255.255.254",
    "link-local": "169.254.1.1",
    "cloud-metadata": "169.254.169.254",
    "cgnat": "100.64.0.1",
    "cgnat-top": "100.127.255.255",
    "ietf-protocol": "192.0.0.8",
    "test-net-1": "192.0.2.10",
    "test-net-2": "198.51.100.10",
    "test-net-3": "203.0.113.10",
    "benchmark": "198.19.255.1",
    "multicast-v4": "224.0.0.1",
    "multicast-v4-top": "239.255.255.255",
    "reserved-240": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "unspecified-v6": "::",
    "loopback-v6": "::1",
    "unique-local": "fd00::1",
    "unique-local-fc": "fc00::1",
    "link-local-v6": "fe80::1",
    "site-local-v6": "fec0::1",
    "multicast-v6": "ff02::1",
    "documentation-v6": "2001:db8::1",
    "documentation-v6-3fff": "3fff::1",
    "discard-only": "100::1",
    "unassigned-v6": "4000::1",
    "mapped-private": "::ffff:10.0.0.1",
    "mapped-metadata": "::ffff:a9fe:a9fe",
    "mapped-cgnat": "::ffff:100.64.0.1",
    "nat64-loopback": "64:ff9b::7f00:1",
    "nat64-private": "64:ff9b::a00:1",
    "nat64-local-use": "64:ff9b:1::808:808",
    "6to4-embedding-loopback": "2002:7f00:1::1",
    "6to4-embedding-public": "2002:5db8:d822::1",
    "teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}


@pytest.mark.parametrize("address", BLOCKED_SAMPLES.values(), ids=BLOCKED_SAMPLES.keys())
def test_every_blocked_range_is_refused_even_with_any_public(address: str) -> None:
    error = refusal(ANY, address)
    assert error.code == "internal_address"
    assert error.address is not None and error.address in error.message
    assert "PLAYGROUND_ALLOW_PRIVATE" in error.message


PUBLIC_SAMPLES = {
    "v4": PUBLIC_V4,
    "v6": PUBLIC_V6,
    "mapped-public": "::ffff:93.184.216.34",
    "nat64-public": "64:ff9b::5db8:d822",
    "just-below-cgnat": "100.63.255.255",
    "just-above-172-private": "172.32.0.1",
    "just-above-multicast-below-240": "223.255.255.255",
}


@pytest.mark.parametrize("address", PUBLIC_SAMPLES.values(), ids=PUBLIC_SAMPLES.keys())
def test_public_addresses_pass_with_any_public(address: str) -> None:
    assert ANY.check(address, 25, no_lookup) == [normalise_host(address)]


def test_allow_private_lets_one_classroom_server_through() -> None:
    policy = TargetPolicy.from_config("any-public", "", "10.0.0.5, fd00:abcd::/32")
    assert policy.check("10.0.0.5", 25, no_lookup) == ["10.0.0.5"]
    assert policy.check("::ffff:10.0.0.5", 25, no_lookup) == ["10.0.0.5"]
    assert policy.check("fd00:abcd::25", 25, no_lookup) == ["fd00:abcd::25"]
    assert refusal(policy, "10.0.0.6").code == "internal_address"
    resolve = CountingResolver(["10.0.0.5"])
    assert policy.check("mail.classroom.lan", 587, resolve) == ["10.0.0.5"]


def test_allow_private_alone_allows_only_that_range() -> None:
    policy = TargetPolicy.from_config("", "", "10.0.0.5")
    assert policy.check("10.0.0.5", 25, no_lookup) == ["10.0.0.5"]
    assert refusal(policy, PUBLIC_V4).code == "not_allowed"


# ---------------------------------------------------------------- patterns and ports

# (pattern, host, checked addresses or None if refused); names resolve to PUBLIC_V4.
PATTERN_CASES = {
    "exact-name": ("smtp.example.com", "SMTP.example.com.", [PUBLIC_V4]),
    "exact-name-not-subdomain": ("smtp.example.com", "a.smtp.example.com", None),
    "wildcard-subdomain": ("*.example.com", "mx1.example.com", [PUBLIC_V4]),
    "wildcard-deep": ("*.example.com", "a.b.example.com", [PUBLIC_V4]),
    "wildcard-not-apex": ("*.example.com", "example.com", None),
    "wildcard-not-lookalike": ("*.example.com", "badexample.com", None),
    "idna-pattern": ("bücher.example", "xn--bcher-kva.example", [PUBLIC_V4]),
    "cidr-literal-in": ("93.184.216.0/24", PUBLIC_V4, [PUBLIC_V4]),
    "cidr-literal-out": ("93.184.216.0/24", "93.184.217.1", None),
    "ip-pattern": (PUBLIC_V4, PUBLIC_V4, [PUBLIC_V4]),
    "ip-pattern-odd-form": (PUBLIC_V4, "1572395042", [PUBLIC_V4]),
    "v6-cidr": ("2606:2800::/32", PUBLIC_V6, [PUBLIC_V6]),
    "name-pattern-does-not-cover-ip": ("smtp.example.com", PUBLIC_V4, None),
}


@pytest.mark.parametrize(
    ("pattern", "host", "expected"), PATTERN_CASES.values(), ids=PATTERN_CASES.keys()
)
def test_allowed_patterns(pattern: str, host: str, expected: list[str] | None) -> None:
    policy = TargetPolicy.from_config(pattern)
    resolve = CountingResolver([PUBLIC_V4])
    if expected is not None:
        assert policy.check(host, 25, resolve) == expected
    else:
        error = refusal(policy, host, resolve=resolve)
        assert error.code == "not_allowed" and "PLAYGROUND_ALLOWED_TARGETS" in error.message


def test_cidr_pattern_covers_the_addresses_a_name_resolves_to() -> None:
    policy = TargetPolicy.from_config("93.184.216.0/24")
    assert policy.check("relay.example.net", 25, CountingResolver([PUBLIC_V4])) == [PUBLIC_V4]
    error = refusal(policy, "relay.example.net", resolve=CountingResolver(["8.8.8.8"]))
    assert error.code == "not_allowed" and error.address == "8.8.8.8"


def test_a_name_that_cannot_be_allowed_is_not_even_looked_up() -> None:
    resolve = CountingResolver([PUBLIC_V4])
    error = refusal(TargetPolicy.from_config("smtp.example.com"), "other.example.org", 25, resolve)
    assert error.code == "not_allowed" and resolve.calls == []
    assert "'*.example.org'" in error.message


def test_allowed_name_pointing_inward_is_still_refused() -> None:
    policy = TargetPolicy.from_config("smtp.example.com")
    error = refusal(policy, "smtp.example.com", resolve=CountingResolver(["192.168.0.10"]))
    assert error.code == "internal_address" and error.address == "192.168.0.10"


def test_one_internal_address_among_several_refuses_the_name() -> None:
    resolve = CountingResolver([PUBLIC_V4, "::1", PUBLIC_V6])
    error = refusal(ANY, "mixed.example.net", resolve=resolve)
    assert error.address == "::1" and "mixed.example.net resolves to ::1" in error.message


PORT_CASES = {
    "smtp-25": ("", 25, True),
    "submissions-465": ("", 465, True),
    "submission-587": ("", 587, True),
    "alt-2525": ("", 2525, True),
    "http-80-default": ("", 80, False),
    "redis-6379-default": ("", 6379, False),
    "custom-allows-26": ("25, 26", 26, True),
    "custom-drops-587": ("25, 26", 587, False),
}


@pytest.mark.parametrize(("ports", "port", "ok"), PORT_CASES.values(), ids=PORT_CASES.keys())
def test_ports(ports: str, port: int, ok: bool) -> None:
    policy = TargetPolicy.from_config("any-public", ports)
    if ok:
        assert policy.check(PUBLIC_V4, port, no_lookup) == [PUBLIC_V4]
    else:
        error = refusal(policy, PUBLIC_V4, port)
        assert error.code == "bad_port" and str(port) in error.message
        assert "PLAYGROUND_ALLOWED_PORTS" in error.message


def test_named_sandbox_skips_the_checks_but_not_its_port() -> None:
    policy = TargetPolicy(named={"Sandbox": NamedTarget("127.0.0.1", 40025)})
    assert policy.check("sandbox", 40025, no_lookup) == ["127.0.0.1"]
    assert refusal(policy, "sandbox", 25).code == "bad_port"
    assert refusal(policy, "127.0.0.1", 40025).code == "bad_port"


CONFIG_ERRORS = {
    "host-bits-set": ("203.0.113.5/24", "", ""),
    "wildcard-over-ip": ("*.10.0.0.1", "", ""),
    "bare-star": ("*", "", ""),
    "garbage-name": ("smtp..example.com", "", ""),
    "port-word": ("any-public", "smtp", ""),
    "port-zero": ("any-public", "0", ""),
    "port-too-big": ("any-public", "70000", ""),
    "private-not-cidr": ("any-public", "", "classroom.lan"),
}


@pytest.mark.parametrize(
    ("allowed", "ports", "private"), CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys()
)
def test_config_errors_name_the_key_and_the_entry(allowed: str, ports: str, private: str) -> None:
    with pytest.raises(PolicyError) as caught:
        TargetPolicy.from_config(allowed, ports, private)
    assert caught.value.code == "bad_config" and "PLAYGROUND_" in caught.value.message


# ---------------------------------------------------------------- resolve once


def test_resolve_once_connects_to_the_checked_address() -> None:
    resolve = CountingResolver([PUBLIC_V4], ["127.0.0.1"])
    assert ANY.check("rebind.example.net", 25, resolve) == [PUBLIC_V4]
    assert resolve.calls == ["rebind.example.net"]
    assert resolve("rebind.example.net") == ["127.0.0.1"]  # the second answer was the trap


def dns_resolve(server: DnsServer):
    host, port = server.address
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = [host], port, 3.0

    def resolve(name: str) -> list[str]:
        found = []
        for rdtype in ("A", "AAAA"):
            answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
            found += [r.address for r in answer.rrset or []]
        return found

    return resolve


def test_resolve_once_against_a_real_rebinding_dns_server() -> None:
    with DnsServer({"rebind.test": ["0 A 93.184.216.34"]}) as server:
        resolve = dns_resolve(server)
        assert ANY.check("rebind.test", 25, resolve) == [PUBLIC_V4]
        assert server.queried("rebind.test", "A") == 1
        server.set_zone({"rebind.test": ["0 A 127.0.0.1"]})
        assert resolve("rebind.test") == ["127.0.0.1"]
        assert refusal(ANY, "rebind.test", resolve=resolve).address == "127.0.0.1"


def test_name_without_addresses_is_a_bad_host() -> None:
    assert refusal(ANY, "void.example.net", resolve=CountingResolver([])).code == "bad_host"


# ---------------------------------------------------------------- MX


def test_mx_pointing_inward_is_refused() -> None:
    mx_hosts = [("mx1.evil.test", [PUBLIC_V4]), ("mx2.evil.test", ["10.1.1.1"])]
    with pytest.raises(PolicyError) as caught:
        ANY.check_mx_hosts("evil.test", mx_hosts, 25)
    error = caught.value
    assert error.code == "internal_address" and error.address == "10.1.1.1"
    assert "MX record of evil.test points to mx2.evil.test" in error.message


def test_mx_hosts_of_an_allowed_domain_need_no_pattern_of_their_own() -> None:
    policy = TargetPolicy.from_config("example.com")
    mx_hosts = [("MX1.hoster.net.", [PUBLIC_V4, PUBLIC_V6]), ("mx2.hoster.net", [])]
    checked = policy.check_mx_hosts("example.com", mx_hosts, 25)
    assert [(c.name, c.addresses) for c in checked] == [
        ("mx1.hoster.net", [PUBLIC_V4, PUBLIC_V6]),
        ("mx2.hoster.net", []),
    ]
    assert refusal_mx(policy, "example.org", mx_hosts).code == "not_allowed"


def test_null_mx_is_refused_with_words() -> None:
    error = refusal_mx(ANY, "nomail.test", [(".", [])])
    assert error.code == "bad_host" and "RFC 7505" in error.message


def refusal_mx(policy: TargetPolicy, domain: str, mx_hosts) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        policy.check_mx_hosts(domain, mx_hosts, 25)
    return caught.value


# ---------------------------------------------------------------- properties

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Ranges our table refuses whole where some Python versions' flags are narrower or absent
# (192.0.0.0/29 vs /24, exceptions inside 2001::/23 in 3.12.4+, 6to4, RFC 9637).
STRICTER_THAN_FLAGS = [
    ipaddress.ip_network(n) for n in ("192.0.0.0/24", "2001::/23", "2002::/16", "3fff::/20")
]


def expected_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An independent reading of "internal" from ipaddress's flags, IPv6 wrappers unwrapped."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif 1 < int(ip) < 2**32 or ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    flags = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or ip in CGNAT
    )
    return flags or any(ip.version == n.version and ip in n for n in STRICTER_THAN_FLAGS)


def is_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        ANY.check(str(ip), 25, no_lookup)
    except PolicyError as error:
        assert error.code == "internal_address"
        return True
    return False


@given(st.ip_addresses())
@example(ipaddress.ip_address("100.64.0.0"))
@example(ipaddress.ip_address("::ffff:169.254.169.254"))
@example(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))
@example(ipaddress.ip_address("2001:200::1"))
def test_check_refuses_exactly_the_internal_addresses(ip) -> None:
    assert is_refused(ip) == expected_refused(ip)


def range_edges() -> dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """First and last address of every blocked range, and the neighbours just outside."""
    edges = {}
    for row in BLOCKED:
        first, last = row.network.network_address, row.network.broadcast_address
        edges[f"{row.network}-first"], edges[f"{row.network}-last"] = first, last
        if int(first) > 0:
            edges[f"{row.network}-below"] = first - 1
        if int(last) < 2**row.network.max_prefixlen - 1:
            edges[f"{row.network}-above"] = last + 1
    return edges


EDGES = range_edges()


@pytest.mark.parametrize("ip", EDGES.values(), ids=EDGES.keys())
def test_range_edges_agree_with_the_flags(ip) -> None:
    assert is_refused(ip) == expected_refused(ip)


NUMERIC_ISH = st.text(alphabet=string.digits + "xXabcdef.:[]%", max_size=40)


@given(st.one_of(st.text(max_size=300), NUMERIC_ISH))
@example("\ud800")
@example("。")
@example("xn--")
def test_normalise_host_only_ever_raises_policy_error(text: str) -> None:
    try:
        result = normalise_host(text)
    except PolicyError as error:
        assert error.code == "bad_host"
    else:
        assert result == normalise_host(result)  # the canonical form is a fixed point
