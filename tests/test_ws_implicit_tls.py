"""Implicit TLS is TLS from the first byte, everywhere: state, warnings, lessons and replay.

Driven through /ws against the sandbox's implicit-TLS port, the path the console uses (a
session there once showed "no TLS", kept STARTTLS to do, warned about AUTH before TLS and
passed lesson 4's "connect to the plain port" step).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer
from tests.conftest import LiveServer, WsDriver, build_app, wait_until

LESSON = "starttls-and-implicit-tls"
AUTH = "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA=="  # demo / demo-password


def steps_of(state: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in state["steps"]}


def test_the_tls_port_is_tls_from_the_greeting_on(ws: WsDriver) -> None:
    greeting = ws.connect("sandbox-tls")
    tls = next(f for f in ws.frames if f["type"] == "tls")
    assert tls["tls_mode"] == "implicit" and tls["state"]["tls"] is True
    assert greeting["code"] == 220
    assert greeting["state"]["tls"] is True and greeting["state"]["tls_mode"] == "implicit"
    ehlo = ws.ehlo()
    state = ehlo["state"]
    assert state["tls"] is True and "STARTTLS" not in state["next_commands"]
    assert "AUTH" in state["next_commands"]
    assert steps_of(state)["starttls"] == "skipped"


def test_the_plain_port_is_not_tls_until_starttls(ws: WsDriver) -> None:
    greeting = ws.connect("sandbox")
    assert greeting["state"]["tls"] is False and greeting["state"]["tls_mode"] is None
    assert "STARTTLS" in ws.ehlo()["state"]["next_commands"]
    ws.command("STARTTLS")
    tls = ws.wait_for("tls")
    assert tls["tls_mode"] == "starttls" and tls["state"]["tls_mode"] == "starttls"
    assert steps_of(tls["state"])["starttls"] == "current"


def _lesson_passed(ws: WsDriver) -> list[str]:
    return [step for f in ws.frames if f["type"] == "lesson" for step in f["passed"]]


def test_lesson_4_plain_port_step_does_not_pass_on_the_tls_port(ws: WsDriver) -> None:
    ws.send({"type": "lesson", "lesson": LESSON})
    ws.wait_for("lesson")
    ws.connect("sandbox-tls")
    ws.ehlo()
    assert "plain-connect" not in _lesson_passed(ws)
    assert ws.frames[-1]["state"]["tls"] is True


def test_lesson_4_plain_port_step_passes_on_the_plain_port(ws: WsDriver) -> None:
    ws.send({"type": "lesson", "lesson": LESSON})
    ws.wait_for("lesson")
    ws.connect("sandbox")
    assert ws.wait_for("lesson")["passed"] == ["plain-connect"]


@pytest.fixture
def classroom(data_dir: Any, sandbox: SandboxServer) -> Iterator[LiveServer]:
    """The sandbox's two ports as an operator's named targets (not the pinned sandbox): the
    checks then judge TLS as they would for a real provider."""
    targets = (
        f"school=127.0.0.1:{sandbox.config.port},school-tls=127.0.0.1:{sandbox.config.tls_port}:tls"
    )
    app = build_app(data_dir, sandbox, TARGETS=targets)
    with LiveServer(app) as server:
        yield server


def _auth_warnings(live: LiveServer, target: str) -> list[str]:
    ws = WsDriver(live.ws_url)
    try:
        ws.send({"type": "connect", "target": target, "accept_unverified": True})
        ws.wait_for("session")
        ws.wait_for("reply")
        ws.ehlo()
        ws.send({"type": "line", "text": AUTH})
        return [w["code"] for w in ws.wait_for("sent")["warnings"]]
    finally:
        ws.close()


def test_auth_on_the_tls_port_is_not_auth_before_tls(classroom: LiveServer) -> None:
    assert "security:auth-before-tls" not in _auth_warnings(classroom, "school-tls")
    # The same AUTH on the plain port, before STARTTLS, is warned about.
    assert "security:auth-before-tls" in _auth_warnings(classroom, "school")


def test_the_replay_of_an_implicit_tls_session_shows_the_same(ws: WsDriver, client: Any) -> None:
    ws.send({"type": "lesson", "lesson": LESSON})
    ws.connect("sandbox-tls")
    ws.ehlo()
    ws.command("QUIT")
    ws.wait_for("closed")
    tid = next(f for f in ws.frames if f["type"] == "session")["transcript"]
    live = {f["seq"]: f for f in ws.frames if "seq" in f and "state" in f}

    def replayed() -> list[dict[str, Any]] | None:
        body = client.get(f"/api/transcripts/{tid}?frames=1").get_json()
        done = body and body.get("frames") and body["frames"][-1]["type"] == "closed"
        return body["frames"] if done else None

    frames = wait_until(replayed)
    tls = next(f for f in frames if f["type"] == "tls")
    greeting = next(f for f in frames if f["type"] == "reply")
    assert tls["tls_mode"] == "implicit" and greeting["state"]["tls"] is True
    assert steps_of(greeting["state"])["starttls"] == "skipped"
    assert all(f["state"] == live[f["seq"]]["state"] for f in frames if "state" in f)
