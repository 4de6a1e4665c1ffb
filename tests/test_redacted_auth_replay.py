"""A stored transcript's redacted AUTH lines are not judged as base64 when read back.

Live, the checker sees what was typed; the transcript keeps a marker instead. The replay frames
(``?frames=1``) and the Markdown/HTML exports are built from the stored text, and must not tell
a reader that a response the server accepted (334, 235) "is not valid base64".
"""

from __future__ import annotations

import base64

from smtp_session.sandbox.cram import cram_response
from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER
from tests.conftest import wait_until


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_replayed_auth_lines_carry_no_base64_warning(ws, ws_factory, live):
    ws.connect()
    tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
    ws.ehlo()
    assert ws.command("STARTTLS")["code"] == 220
    ws.wait_for("tls")
    ws.ehlo()
    assert ws.command("AUTH LOGIN")["code"] == 334
    assert ws.command(_b64(DEMO_USER))["code"] == 334
    assert ws.command(_b64(DEMO_PASSWORD))["code"] == 235
    ws.close()

    ws2 = ws_factory()
    ws2.connect()
    tid2 = next(f["transcript"] for f in ws2.frames if f["type"] == "session")
    ws2.ehlo()
    ws2.command("STARTTLS")
    ws2.wait_for("tls")
    ws2.ehlo()
    plain = _b64(f"\0{DEMO_USER}\0{DEMO_PASSWORD}")
    assert ws2.command(f"AUTH PLAIN {plain}")["code"] == 235
    ws2.close()

    client = live.app.test_client()
    store = live.app.extensions["playground"].store
    for transcript in (tid, tid2):
        wait_until(lambda t=transcript: store.get(t).status != "live", 10)
        frames = client.get(f"/api/transcripts/{transcript}?frames=1").get_json()["frames"]
        sent = [f for f in frames if f["type"] == "sent"]
        redacted = [f for f in sent if "redacted" in f["text"] or "[AUTH LOGIN" in f["text"]]
        assert redacted, sent
        for frame in redacted:
            assert not frame["warnings"], frame
        for fmt in ("md", "html"):
            body = client.get(f"/api/transcripts/{transcript}/export?format={fmt}").data
            assert b"not valid base64" not in body
            assert DEMO_PASSWORD.encode() not in body


def test_cram_md5_response_is_not_judged_when_replayed(ws, live, sandbox):
    ws.connect()
    tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
    ws.ehlo()
    ws.command("STARTTLS")
    ws.wait_for("tls")
    ws.ehlo()
    challenge = ws.command("AUTH CRAM-MD5")
    assert challenge["code"] == 334
    text = base64.b64decode(challenge["lines"][0][4:]).decode()
    assert ws.command(_b64(cram_response(DEMO_USER, DEMO_PASSWORD, text)))["code"] == 235
    ws.close()
    store = live.app.extensions["playground"].store
    wait_until(lambda: store.get(tid).status != "live", 10)
    frames = live.app.test_client().get(f"/api/transcripts/{tid}?frames=1").get_json()["frames"]
    [response] = [f for f in frames if f["type"] == "sent" and "redacted" in f["text"]]
    assert response["warnings"] == []
