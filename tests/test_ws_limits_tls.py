"""Through the app: certificate checking by default, and session limits ending in words."""

from __future__ import annotations

import pytest

from tests.hostile_server import HostileServer, make_tls, send, starttls
from web.services import Target

BANNER = send(b"220 selfsigned.test ESMTP\r\n")


@pytest.fixture
def self_signed(app):  # type: ignore[no-untyped-def]
    """A server whose certificate no system CA vouches for, as a configured (named) target."""
    tls = make_tls("localhost", ("127.0.0.1",))
    with HostileServer(banner=[BANNER], commands={"STARTTLS": [starttls(tls.context)]}) as server:
        app.extensions["playground"].targets["selfsigned"] = Target(
            "selfsigned", "127.0.0.1", server.port, named=True
        )
        yield server


def test_certificates_are_verified_by_default(ws, self_signed):
    ws.connect("selfsigned")
    ws.send({"type": "line", "text": "STARTTLS"})
    closed = ws.wait_for("closed")
    assert closed["code"] == "tls_verify" and "accept unverified" in closed["reason"]
    assert not [f for f in ws.frames if f["type"] == "tls"]


def test_accepting_an_unverified_certificate_is_explicit_and_recorded(ws, app, self_signed):
    ws.send({"type": "connect", "target": "selfsigned", "accept_unverified": True})
    session = ws.wait_for("session")
    assert session["accept_unverified"] is True
    ws.wait_for("reply")
    ws.send({"type": "line", "text": "STARTTLS"})
    tls = ws.wait_for("tls")
    assert tls["verified"] is False and tls["accept_unverified"] is True
    assert tls["verification"].startswith("NOT verified")
    entries = app.extensions["playground"].store.get(session["transcript"]).entries
    [event] = [e for e in entries if e["kind"] == "event" and e["event"] == "tls"]
    assert event["data"]["accept_unverified"] is True


@pytest.mark.parametrize(
    "setting, code, words",
    [
        pytest.param({"IDLE_TIMEOUT": 0.5}, "idle_timeout", "idle", id="idle"),
        pytest.param(
            {"MAX_DURATION": 0.8, "IDLE_TIMEOUT": None},
            "max_duration",
            "maximum",
            id="max-duration",
        ),  # fmt: skip
    ],
)
def test_session_limits_end_the_session_in_words_and_the_transcript_keeps_it(
    app, ws, setting, code, words
):
    app.config.update(setting)
    ws.connect()
    if code == "max_duration":
        for _ in range(20):  # busy, so only the duration can end it
            ws.send({"type": "line", "text": "NOOP"})
            if ws.wait_for("reply")["code"] != 250:
                break
    closed = ws.wait_for("closed", timeout=5)
    assert closed["code"] == code and words in closed["reason"]
    transcript = ws.frames[0]["transcript"]
    entries = app.extensions["playground"].store.get(transcript).entries
    assert entries[-1]["event"] == "closed" and entries[-1]["data"]["code"] == code
