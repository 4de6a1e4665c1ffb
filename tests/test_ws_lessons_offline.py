"""Lessons that finish over /ws with the defaults and no network: reconnects, sandbox.test."""

from __future__ import annotations

from typing import Any

import pytest

from smtp_session.guide.lessons import load_lessons
from tests.conftest import LiveServer, WsDriver, build_app
from tests.dns_server import DnsServer

LESSONS = {lesson.id: lesson for lesson in load_lessons()}


def follow(ws: WsDriver, lesson_id: str) -> None:
    ws.send({"type": "lesson", "lesson": lesson_id})
    ws.wait_for("lesson")


def lesson_frames(ws: WsDriver) -> list[dict[str, Any]]:
    return [f for f in ws.frames if f["type"] == "lesson"]


def passed_steps(ws: WsDriver) -> list[str]:
    return [step for f in lesson_frames(ws) for step in f["passed"]]


def finish(ws: WsDriver) -> None:
    ws.command("QUIT")
    ws.wait_for("closed")


def test_tls_lesson_goes_on_across_the_reconnect_to_implicit_tls(ws: WsDriver) -> None:
    follow(ws, "starttls-and-implicit-tls")
    ws.connect("sandbox")
    ws.ehlo()
    ws.command("STARTTLS")
    ws.wait_for("tls")
    ws.ehlo()
    finish(ws)
    assert passed_steps(ws)[-1] == "quit-plain"
    ws.connect("sandbox-tls")
    # The lesson frame after the new session says where the lesson stands: not step 1.
    after = [f for f in lesson_frames(ws) if not f["passed"]][-1]
    current = [s["id"] for s in after["lesson"]["steps"] if s["status"] == "current"]
    assert current in (["implicit-connect"], ["implicit-greeting"]), current
    ws.ehlo()
    finish(ws)
    assert passed_steps(ws) == [s.id for s in LESSONS["starttls-and-implicit-tls"].steps]
    assert lesson_frames(ws)[-1]["complete"] is True


def test_mx_lesson_finishes_on_sandbox_test_with_failover(ws: WsDriver, sandbox: Any) -> None:
    follow(ws, "mx-lookup")
    ws.send({"type": "connect", "target": "mx:sandbox.test", "port": 25, "tls": False})
    mx = ws.wait_for("mx")
    assert [(r["preference"], r["host"]) for r in mx["records"]] == [
        (5, "mx-dead.sandbox.test"),
        (10, "mx1.sandbox.test"),
        (20, "mx2.sandbox.test"),
    ]
    assert "built-in zone sandbox.test" in mx["dig"]
    attempt = ws.wait_for("mx_attempt")
    assert attempt["host"] == "mx-dead.sandbox.test" and "refused" in attempt["error"]
    connected = ws.wait_for("connected")
    assert connected["host"] == "mx1.sandbox.test"
    assert connected["port"] == sandbox.config.port
    assert ws.wait_for("reply")["code"] == 220
    ws.ehlo()
    ws.command("MAIL FROM:<you@client.example>")
    assert ws.command("RCPT TO:<someone@sandbox.test>")["code"] == 250
    finish(ws)
    assert passed_steps(ws) == [s.id for s in LESSONS["mx-lookup"].steps]
    assert lesson_frames(ws)[-1]["complete"] is True


@pytest.mark.parametrize(
    ("domain", "code"),
    [("nomail.sandbox.test", "null_mx"), ("nowhere.sandbox.test", "nxdomain")],
    ids=["null-mx", "nxdomain"],
)
def test_zone_errors_are_said_in_words(ws: WsDriver, domain: str, code: str) -> None:
    ws.send({"type": "connect", "target": f"mx:{domain}", "port": 25})
    mx = ws.wait_for("mx")
    assert mx["code"] == code and domain in mx["error"]
    error = ws.wait_for("error")
    assert error["code"] == code


def test_implicit_mx_and_implicit_tls_through_the_zone(ws: WsDriver, sandbox: Any) -> None:
    ws.send({"type": "connect", "target": "mx:direct.sandbox.test", "port": 465, "tls": True})
    mx = ws.wait_for("mx")
    assert mx["implicit"] is True
    connected = ws.wait_for("connected")
    assert connected["port"] == sandbox.config.tls_port
    assert ws.wait_for("tls")["tls_mode"] == "implicit"
    assert ws.wait_for("reply")["code"] == 220
    finish(ws)


def test_the_zone_asks_no_dns_server(data_dir: Any, sandbox: Any) -> None:
    """A configured DNS server is not asked about sandbox.test; switched off, it is."""
    with DnsServer({}) as dns_server:
        host, port = dns_server.address
        for zone_on in (True, False):
            app = build_app(
                data_dir,
                sandbox,
                DNS_SERVER=f"{host}:{port}",
                SANDBOX_ZONE=zone_on,
                ALLOWED_TARGETS="*.test,sandbox.test",
            )
            with LiveServer(app) as live:
                ws = WsDriver(live.ws_url)
                try:
                    ws.send({"type": "connect", "target": "mx:sandbox.test", "port": 25})
                    ws.wait_for("mx")
                finally:
                    ws.close()
            asked = [q for q in dns_server.queries if q[0].rstrip(".") == "sandbox.test"]
            assert bool(asked) is (not zone_on), dns_server.queries
