"""Connect frames beyond the sandbox: host/port under the target policy, and MX routing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtp_session.wire.events import TlsMode
from tests.conftest import LiveServer, WsDriver, build_app
from tests.dns_server import DnsServer
from web.services import parse_targets

ZONE = {
    "class.test": ["MX 10 down.class.test", "MX 20 up.class.test"],
    "down.class.test": ["A 127.0.0.2"],  # nothing listens there: the first attempt fails
    "up.class.test": ["A 127.0.0.1"],  # the sandbox
    "null.test": ["MX 0 ."],
    "inward.test": ["MX 10 mail.inward.test"],
    "mail.inward.test": ["A 127.0.0.1"],
}


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer(ZONE) as server:
        yield server


def _live(data_dir, sandbox, **config):  # type: ignore[no-untyped-def]
    return LiveServer(build_app(data_dir, sandbox, **config))


@pytest.fixture
def open_app(data_dir, sandbox, dns):  # type: ignore[no-untyped-def]
    """An app whose policy lets the class reach loopback on the sandbox's port, for tests."""
    port = str(sandbox.config.port)
    host, dns_port = dns.address
    with _live(
        data_dir,
        sandbox,
        ALLOWED_TARGETS="*.class.test,*.inward.test,127.0.0.1,localhost",
        ALLOWED_PORTS=port,
        ALLOW_PRIVATE="127.0.0.0/8",
        DNS_SERVER=f"{host}:{dns_port}",
    ) as live:
        driver = WsDriver(live.ws_url)
        yield driver
        driver.close()


def test_default_policy_refuses_any_host_but_the_sandbox(ws):
    ws.send({"type": "connect", "host": "smtp.example.com", "port": 587})
    error = ws.wait_for("error")
    assert error["code"] == "not_allowed"
    assert "PLAYGROUND_ALLOWED_TARGETS" in error["message"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "2130706433", "0x7f.1", "localhost", "169.254.169.254", "[::1]"],
    ids=["loopback", "decimal", "hex", "localhost", "metadata", "v6-loopback"],
)
def test_internal_addresses_are_refused_even_when_any_public_is_allowed(data_dir, sandbox, host):
    with _live(data_dir, sandbox, ALLOWED_TARGETS="any-public") as live:
        driver = WsDriver(live.ws_url)
        driver.send({"type": "connect", "host": host, "port": 25})
        error = driver.wait_for("error")
        driver.close()
    assert error["code"] in {"internal_address", "not_allowed", "bad_host"}


def test_allowed_host_and_port_connects(open_app, sandbox):
    open_app.send({"type": "connect", "host": "127.0.0.1", "port": sandbox.config.port})
    assert open_app.wait_for("session")["target"]["host"] == "127.0.0.1"
    assert open_app.wait_for("reply")["code"] == 220


def test_port_outside_the_policy_is_refused(open_app):
    open_app.send({"type": "connect", "host": "127.0.0.1", "port": 22})
    assert open_app.wait_for("error")["code"] == "bad_port"


def test_mx_routing_shows_the_lookup_and_fails_over(open_app, sandbox):
    open_app.send({"type": "connect", "target": "mx:class.test", "port": sandbox.config.port})
    mx = open_app.wait_for("mx")
    assert [(r["preference"], r["host"]) for r in mx["records"]] == [
        (10, "down.class.test"),
        (20, "up.class.test"),
    ]
    assert "ANSWER SECTION" in mx["dig"]
    attempt = open_app.wait_for("mx_attempt")
    assert attempt["host"] == "down.class.test" and attempt["address"] == "127.0.0.2"
    connected = open_app.wait_for("connected")
    assert connected["host"] == "up.class.test" and connected["address"] == "127.0.0.1"
    assert open_app.wait_for("reply")["code"] == 220


def test_null_mx_is_explained(open_app, sandbox):
    open_app.send({"type": "connect", "target": "mx:null.test", "port": sandbox.config.port})
    error = open_app.wait_for("error")
    assert error["code"] == "null_mx" and "7505" in error["message"]


def test_nxdomain_is_explained(open_app, sandbox):
    open_app.send({"type": "connect", "target": "mx:nope.test", "port": sandbox.config.port})
    assert open_app.wait_for("error")["code"] == "nxdomain"


def test_mx_pointing_inward_is_refused_by_default(data_dir, sandbox, dns):
    host, dns_port = dns.address
    with _live(
        data_dir,
        sandbox,
        ALLOWED_TARGETS="inward.test,*.inward.test",
        ALLOWED_PORTS="25",
        DNS_SERVER=f"{host}:{dns_port}",
    ) as live:
        driver = WsDriver(live.ws_url)
        driver.send({"type": "connect", "target": "mx:inward.test", "port": 25})
        error = driver.wait_for("error")
        driver.close()
    assert error["code"] == "internal_address" and "127.0.0.1" in error["message"]


def test_named_targets_from_configuration():
    targets = parse_targets("class=smtp.class.example:587, class-tls=smtp.class.example:465:tls")
    assert [(t.name, t.host, t.port, t.tls_mode) for t in targets] == [
        ("class", "smtp.class.example", 587, None),
        ("class-tls", "smtp.class.example", 465, TlsMode.IMPLICIT),
    ]
    with pytest.raises(ValueError, match="name=host:port"):
        parse_targets("broken=smtp.example")


def test_mx_route_outside_the_policy_is_refused_before_any_dns_query(data_dir, sandbox, dns):
    host, dns_port = dns.address
    with _live(data_dir, sandbox, DNS_SERVER=f"{host}:{dns_port}") as live:  # sandbox only
        driver = WsDriver(live.ws_url)
        driver.send({"type": "connect", "target": "mx:unasked.test", "port": 25})
        error = driver.wait_for("error")
        driver.close()
    assert error["code"] == "not_allowed"
    assert not dns.queried("unasked.test", "MX")
