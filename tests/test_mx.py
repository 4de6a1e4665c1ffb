"""MX routing against a real DNS server on loopback (tests/dns_server.py), no mocked resolver."""

from __future__ import annotations

import json
import random
import re
import socket
import time
from collections.abc import Iterator

import pytest

from smtp_session.errors import ConnectError
from smtp_session.routing.dns_errors import AllFailedError, BadDnsServerError, MxError
from smtp_session.routing.mx import (
    ENV_DNS_SERVER,
    MxLookup,
    ResolverConfig,
    config_from_setting,
    connect_candidates,
    lookup_mx,
    parse_dns_server,
)
from tests.dns_server import DnsServer

ZONE = {
    "ordered.test": [
        "MX 20 mx-b.ordered.test",
        "MX 10 mx-a.ordered.test",
        "MX 30 mx-c.ordered.test",
    ],
    "mx-a.ordered.test": ["A 127.0.0.10"],
    "mx-b.ordered.test": ["A 127.0.0.11", "AAAA 2001:db8::11"],
    "mx-c.ordered.test": ["A 127.0.0.12"],
    "ties.test": ["MX 5 first.ties.test", "MX 10 one.ties.test", "MX 10 two.ties.test"]
    + ["MX 20 last.ties.test"],
    "first.ties.test": ["A 127.0.1.1"],
    "one.ties.test": ["A 127.0.1.2"],
    "two.ties.test": ["A 127.0.1.3"],
    "last.ties.test": ["A 127.0.1.4"],
    "implicit.test": ["A 127.0.0.20", "AAAA 2001:db8::20"],
    "null.test": ["MX 0 ."],
    "noaddr.test": ['TXT "no mail here"'],
    "broken-host.test": ["MX 10 missing.broken-host.test", "MX 20 ok.broken-host.test"],
    "ok.broken-host.test": ["A 127.0.0.1"],
    "slow-host.test": ["MX 10 quiet.slow-host.test", "MX 20 ok.slow-host.test"],
    "ok.slow-host.test": ["A 127.0.0.1"],
    "sick-host.test": ["MX 10 sick.sick-host.test"],
    "xn--bcher-kva.test": ["MX 10 mail.xn--bcher-kva.test"],
    "mail.xn--bcher-kva.test": ["A 127.0.0.30"],
    "ttl.test": ["3600 MX 10 mail.ttl.test"],
    "mail.ttl.test": ["60 A 127.0.0.40"],
    "tcp-only.test": ["MX 10 mail.tcp-only.test"],
    "mail.tcp-only.test": ["A 127.0.0.50"],
    "failover.test": ["MX 10 down.failover.test", "MX 20 up.failover.test"],
    "down.failover.test": ["A 127.0.0.2"],
    "up.failover.test": ["A 127.0.0.1"],
    "unreachable.test": ["MX 10 nowhere.unreachable.test", "MX 20 down.failover.test"],
}
# Seconds. Tests that expect an answer get a generous timeout so a busy machine cannot fail
# them; tests that expect a timeout use QUICK.
PATIENT = 5.0
QUICK = 0.5


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer(
        ZONE,
        servfail={"servfail.test", "sick.sick-host.test"},
        refused={"refused.test"},
        silent={"silent.test", "quiet.slow-host.test"},
        truncate={"tcp-only.test"},
    ) as server:
        yield server


@pytest.fixture
def config(dns_server: DnsServer) -> ResolverConfig:
    return ResolverConfig([dns_server.address], timeout=PATIENT)


@pytest.fixture
def quick_config(dns_server: DnsServer) -> ResolverConfig:
    return ResolverConfig([dns_server.address], timeout=QUICK)


def lookup(domain: str, config: ResolverConfig, seed: int = 0) -> MxLookup:
    return lookup_mx(domain, config, rng=random.Random(seed))


def hosts(result: MxLookup) -> list[str]:
    return [c.host for c in result.candidates]


# --- ordering -------------------------------------------------------------------------------


def test_candidates_come_lowest_preference_first(config: ResolverConfig) -> None:
    result = lookup("ordered.test", config)
    assert not result.implicit
    assert [(r.preference, r.host) for r in result.records] == [
        (10, "mx-a.ordered.test"),
        (20, "mx-b.ordered.test"),
        (30, "mx-c.ordered.test"),
    ]
    assert hosts(result) == ["mx-a.ordered.test", "mx-b.ordered.test", "mx-c.ordered.test"]
    assert [c.preference for c in result.candidates] == [10, 20, 30]
    # A before AAAA for one host (IPv4 first, see ADDRESS_TYPES).
    assert result.candidates[1].addresses == ["127.0.0.11", "2001:db8::11"]


def test_equal_preferences_are_shuffled_but_never_break_preference_order(
    config: ResolverConfig,
) -> None:
    tie_orders = set()
    for seed in range(16):
        result = lookup("ties.test", config, seed)
        preferences = [c.preference for c in result.candidates]
        assert preferences == sorted(preferences), f"seed {seed}: {hosts(result)}"
        assert hosts(result)[0] == "first.ties.test"
        assert hosts(result)[-1] == "last.ties.test"
        tie_orders.add(tuple(hosts(result)[1:3]))
    assert tie_orders == {
        ("one.ties.test", "two.ties.test"),
        ("two.ties.test", "one.ties.test"),
    }


def test_same_seed_gives_same_order(config: ResolverConfig) -> None:
    orders = {tuple(hosts(lookup("ties.test", config, seed=7))) for _ in range(4)}
    assert len(orders) == 1


# --- what the DNS says ------------------------------------------------------------------------


def test_no_mx_means_the_domain_itself_is_the_implicit_mx(
    config: ResolverConfig, dns_server: DnsServer
) -> None:
    result = lookup("implicit.test", config)
    assert result.implicit and result.records == []
    [candidate] = result.candidates
    assert (candidate.host, candidate.preference) == ("implicit.test", 0)
    assert candidate.addresses == ["127.0.0.20", "2001:db8::20"]
    assert dns_server.queried("implicit.test", "MX") >= 1


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("null.test", "null_mx"),
        ("nowhere.test", "nxdomain"),
        ("servfail.test", "servfail"),
        ("refused.test", "refused"),
        ("noaddr.test", "no_address"),
    ],
    ids=["null-mx", "nxdomain", "servfail", "refused", "no-mx-no-address"],
)
def test_unroutable_domains_raise_named_errors(
    config: ResolverConfig, domain: str, code: str
) -> None:
    with pytest.raises(MxError) as caught:
        lookup(domain, config)
    assert caught.value.code == code
    assert domain in caught.value.message


def test_null_mx_does_not_fall_back_to_addresses(
    config: ResolverConfig, dns_server: DnsServer
) -> None:
    with pytest.raises(MxError, match="accepts no mail"):
        lookup("null.test", config)
    # RFC 7505 §3: a null MX is final, the domain's A/AAAA must not be used.
    assert dns_server.queried("null.test", "A") == 0
    assert dns_server.queried("null.test", "AAAA") == 0


def test_silent_server_times_out_within_the_configured_timeout(
    quick_config: ResolverConfig,
) -> None:
    started = time.monotonic()
    with pytest.raises(MxError) as caught:
        lookup("silent.test", quick_config)
    elapsed = time.monotonic() - started
    assert caught.value.code == "timeout"
    assert QUICK * 0.9 <= elapsed < QUICK + 2.0


def test_nothing_listening_at_the_dns_server_is_a_timeout() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(MxError) as caught:
        lookup("ordered.test", ResolverConfig([("127.0.0.1", port)], timeout=QUICK))
    assert caught.value.code == "timeout"


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("broken-host.test", "nxdomain"),
        ("sick-host.test", "servfail"),
    ],
    ids=["host-nxdomain", "host-servfail"],
)
def test_mx_host_that_does_not_resolve_is_kept_with_its_error(
    config: ResolverConfig, domain: str, code: str
) -> None:
    result = lookup(domain, config)
    first = result.candidates[0]
    assert first.addresses == [] and first.ttl is None
    assert first.error_code == code and first.error
    assert all(c.addresses for c in result.candidates[1:])


def test_mx_host_that_times_out_is_kept_and_the_next_one_resolves(
    quick_config: ResolverConfig,
) -> None:
    result = lookup("slow-host.test", quick_config)
    assert [c.error_code for c in result.candidates] == ["timeout", None]
    assert result.candidates[1].addresses == ["127.0.0.1"]


def test_truncated_udp_answer_is_retried_over_tcp(
    config: ResolverConfig, dns_server: DnsServer
) -> None:
    result = lookup("tcp-only.test", config)
    assert hosts(result) == ["mail.tcp-only.test"]
    assert ("tcp-only.test.", "MX", "tcp") in dns_server.queries


def test_ttls_are_reported_per_record_and_address(config: ResolverConfig) -> None:
    result = lookup("ttl.test", config)
    assert result.records[0].ttl == 3600
    assert result.candidates[0].ttl == 60


# --- names ----------------------------------------------------------------------------------


def test_idn_domain_is_queried_as_its_a_label(
    config: ResolverConfig, dns_server: DnsServer
) -> None:
    result = lookup("Bücher.test", config)
    assert result.domain == "xn--bcher-kva.test"
    assert result.unicode_domain == "bücher.test"
    assert hosts(result) == ["mail.xn--bcher-kva.test"]
    assert result.candidates[0].addresses == ["127.0.0.30"]
    assert dns_server.queried("xn--bcher-kva.test", "MX") >= 1


def test_absolute_name_with_final_dot_is_the_same_domain(config: ResolverConfig) -> None:
    assert hosts(lookup("ordered.test.", config)) == hosts(lookup("ORDERED.test", config))


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "   ",
        "a..b.test",
        ".lead.test",
        "-dash.test",
        "dash-.test",
        "under_score.test",
        "sp ace.test",
        "x" * 64 + ".test",
        ".".join(["y" * 60] * 5),
        "[192.0.2.1]",
        "user@example.test",
        "☃.test",
        "xn--zz.test",
    ],
    ids=[
        "empty",
        "blank",
        "empty-label",
        "leading-dot",
        "leading-hyphen",
        "trailing-hyphen",
        "underscore",
        "space",
        "label-over-63",
        "name-over-255",
        "address-literal",
        "email-address",
        "disallowed-codepoint",
        "bogus-a-label",
    ],
)
def test_bad_domains_are_refused_before_any_query(
    config: ResolverConfig, dns_server: DnsServer, domain: str
) -> None:
    asked = len(dns_server.queries)
    with pytest.raises(MxError) as caught:
        lookup_mx(domain, config)
    assert caught.value.code == "bad_domain"
    assert caught.value.message
    assert len(dns_server.queries) == asked


# --- rendering --------------------------------------------------------------------------------


def test_dig_text_shows_answer_section_in_preference_order(
    config: ResolverConfig, dns_server: DnsServer
) -> None:
    dig = lookup("ordered.test", config).dig
    rows = re.findall(r"^ordered\.test\.\s+(\d+)\s+IN\s+MX\s+(\d+) (\S+)$", dig, re.MULTILINE)
    assert ";; ANSWER SECTION:" in dig
    assert rows == [
        ("300", "10", "mx-a.ordered.test."),
        ("300", "20", "mx-b.ordered.test."),
        ("300", "30", "mx-c.ordered.test."),
    ]
    assert re.search(r"^mx-b\.ordered\.test\.\s+300\s+IN\s+AAAA\s+2001:db8::11$", dig, re.M)
    host, port = dns_server.address
    assert f";; SERVER: {host}#{port}" in dig


def test_dig_text_for_implicit_mx_has_no_answer_section(config: ResolverConfig) -> None:
    dig = lookup("implicit.test", config).dig
    assert ";; ANSWER SECTION:" not in dig
    assert "implicit MX" in dig
    assert re.search(r"^implicit\.test\.\s+300\s+IN\s+A\s+127\.0\.0\.20$", dig, re.M)


def test_to_dict_is_json_ready(config: ResolverConfig) -> None:
    data = json.loads(json.dumps(lookup("broken-host.test", config).to_dict()))
    assert data["domain"] == "broken-host.test" and data["implicit"] is False
    assert data["records"][0] == {"preference": 10, "host": "missing.broken-host.test", "ttl": 300}
    assert data["candidates"][0]["error_code"] == "nxdomain"
    assert data["candidates"][1]["addresses"] == ["127.0.0.1"]
    assert data["dig"].startswith("; <<>> MX lookup for broken-host.test")


# --- connecting -------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real TCP listener on 127.0.0.1; 127.0.0.2 on the same port has nothing behind it."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def open_socket(host: str, address: str, port: int) -> socket.socket:
    return socket.create_connection((address, port), timeout=2)


def test_failover_to_next_mx_when_the_first_refuses(
    config: ResolverConfig, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    attempts: list[dict[str, object]] = []
    result = lookup("failover.test", config)
    assert [c.addresses for c in result.candidates] == [["127.0.0.2"], ["127.0.0.1"]]
    sock = connect_candidates(result, port, open_socket, attempts.append)
    with sock:
        accepted, _ = listener.accept()
        accepted.close()
        assert sock.getpeername() == ("127.0.0.1", port)
    assert len(attempts) == 1
    assert attempts[0]["host"] == "down.failover.test"
    assert attempts[0]["address"] == "127.0.0.2"
    assert attempts[0]["preference"] == 10
    assert "refused" in str(attempts[0]["error"])


def test_all_candidates_failing_lists_every_attempt(
    config: ResolverConfig, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    listener.close()  # now nothing listens on either address
    attempts: list[dict[str, object]] = []
    with pytest.raises(AllFailedError) as caught:
        connect_candidates(lookup("unreachable.test", config), port, open_socket, attempts.append)
    assert caught.value.code == "all_failed"
    assert caught.value.attempts == attempts
    assert [(a["host"], a["address"]) for a in attempts] == [
        ("nowhere.unreachable.test", None),
        ("down.failover.test", "127.0.0.2"),
    ]
    assert "nowhere.unreachable.test" in caught.value.message
    assert "127.0.0.2" in caught.value.message


def test_playground_error_from_connect_moves_on_to_the_next_host(
    config: ResolverConfig,
) -> None:
    def connect(host: str, address: str, port: int) -> str:
        if host == "down.failover.test":
            raise ConnectError("the server greeted with 554")
        return f"{host} {address}:{port}"

    attempts: list[dict[str, object]] = []
    result = connect_candidates(lookup("failover.test", config), 25, connect, attempts.append)
    assert result == "up.failover.test 127.0.0.1:25"
    assert [a["error"] for a in attempts] == ["the server greeted with 554"]


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        (" 192.0.2.53:53 ", ("192.0.2.53", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("localhost:5353", ("127.0.0.1", 5353)),
    ],
    ids=["ipv4-port", "ipv4", "spaces", "ipv6-port", "ipv6-brackets", "ipv6-bare", "localhost"],
)
def test_parse_dns_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_dns_server(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "dns.example:53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:dns", "127.0.0.1:"]
    + ["[::1", "[::1]:", "[::1]5353", "[not-ip]:53"],
    ids=[
        "empty",
        "hostname",
        "port-zero",
        "port-too-big",
        "port-word",
        "port-empty",
        "unclosed-bracket",
        "bracket-empty-port",
        "bracket-no-colon",
        "bracket-not-ip",
    ],
)
def test_parse_dns_server_rejects(text: str) -> None:
    with pytest.raises(BadDnsServerError) as caught:
        parse_dns_server(text)
    assert caught.value.code == "bad_dns_server"


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        (None, {}, None),
        (None, {ENV_DNS_SERVER: "127.0.0.1:5353"}, [("127.0.0.1", 5353)]),
        ("10.0.0.53", {ENV_DNS_SERVER: "127.0.0.1:5353"}, [("10.0.0.53", 53)]),
        ("10.0.0.53, [::1]:5353", {}, [("10.0.0.53", 53), ("::1", 5353)]),
    ],
    ids=["system-resolver", "env", "cli-wins", "several"],
)
def test_config_from_setting(
    cli: str | None, env: dict[str, str], expected: list[tuple[str, int]] | None
) -> None:
    assert config_from_setting(cli, env, timeout=2.0) == ResolverConfig(expected, 2.0)
