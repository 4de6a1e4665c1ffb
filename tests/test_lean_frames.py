"""Lean frames (docs/protocol.md v2) say exactly what full frames say, in far fewer bytes.

A whole session is recorded through /ws against the real sandbox (STARTTLS, AUTH LOGIN with its
challenges, a refused recipient, unknown commands and parameters, a message and a BDAT chunk);
the lean frames the console got, read back with the knowledge document fetched over HTTP, must
be the full frames byte for byte (texts and state after every frame), and ``"frames": "full"``
must give today's frames.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from smtp_session.guide.document import document_path
from smtp_session.guide.lean_read import FrameReader
from smtp_session.sandbox.server import DEMO_PASSWORD, DEMO_USER
from tests.conftest import WsDriver, fetch_knowledge, wait_until
from tests.test_sandbox_auth import b64

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = {"t"}  # when a frame left differs between two sessions, nothing else may


def record(ws: WsDriver, **connect: Any) -> str:
    """One session with every kind of explanation; returns its transcript id."""
    ws.connect(**connect)
    ws.command("MAIL FROM:<early@client.example>")  # 503: greet first (the state decides)
    assert "CHUNKING" in ws.ehlo()["state"]["capabilities"]
    ws.command("STARTTLS")
    ws.wait_for("tls")
    ws.ehlo()
    assert ws.command("AUTH LOGIN")["code"] == 334
    assert ws.command(b64(DEMO_USER))["code"] == 334
    assert ws.command(b64(DEMO_PASSWORD))["code"] == 235
    ws.command("XNOSUCH command")
    ws.command("VRFY bob")
    assert ws.command("MAIL FROM:<alice@client.example> BODY=8BITMIME XFOO=1")["code"] in (250, 555)
    ws.command("RSET")
    assert ws.command("MAIL FROM:<alice@client.example> BODY=8BITMIME")["code"] == 250
    assert ws.command("RCPT TO:<unknown@sandbox.test>")["code"] == 550
    ws.command("RCPT TO:bob@sandbox.test")  # no brackets: a warning with a value
    assert ws.command("RCPT TO:<bob@sandbox.test>")["code"] == 250
    assert ws.command("DATA")["code"] == 354
    ws.send({"type": "lines", "lines": ["Subject: one", "", "hello", "."]})
    assert ws.wait_for("reply")["code"] == 250
    ws.command("MAIL FROM:<alice@client.example>")
    ws.command("RCPT TO:<bob@sandbox.test>")
    ws.send({"type": "chunk", "data": "Subject: two\r\n\r\nchunked\r\n", "last": True})
    ws.wait_for("reply", after="BDAT")
    ws.command("QUIT")
    ws.wait_for("closed")
    return str(next(f for f in ws.frames if f["type"] == "session")["transcript"])


def test_lean_frames_read_back_are_the_full_frames(ws: WsDriver, app: Any, live: Any) -> None:
    tid = record(ws)
    store = app.extensions["playground"].store
    wait_until(lambda: (t := store.get(tid)) and t.status == "closed")
    client = app.test_client()
    full = client.get(f"/api/transcripts/{tid}?frames=1").get_json()["frames"]
    lean = client.get(f"/api/transcripts/{tid}?frames=lean").get_json()
    doc = fetch_knowledge(live.url, lean["knowledge"])
    reader = FrameReader(doc)
    for wire, whole in zip(lean["frames"], full, strict=True):
        read = reader.read(wire)
        assert read == whole, whole["type"]
        if "state" in whole:  # the state kept from changes is the whole state, every time
            assert reader.state == whole["state"]
    # Live: every explanation and warning the console got resolves to the replay's (a pasted
    # message is one frame live, one entry per line in the transcript).
    by_seq = {f["seq"]: f for f in full}
    for frame in ws.frames:
        alone = frame.get("kind") != "data" and not frame.get("redacted")
        if frame["type"] in ("sent", "reply") and alone:
            assert frame["explain"] == by_seq[frame["seq"]]["explain"]
            assert frame.get("warnings") == by_seq[frame["seq"]].get("warnings")
    kinds = {(f["type"], f.get("after") or f.get("verb")) for f in ws.frames}
    assert {("reply", "auth-response"), ("tls", None), ("reply", "BDAT")} <= kinds
    # Nothing fell back to whole explanations or warnings: every text came by key.
    for wire in ws.wire:
        assert "full" not in (wire.get("explain") or {}), wire
        assert all("full" not in w for w in wire.get("warnings") or [])
    assert any(w.get("values") for f in ws.wire for w in f.get("warnings") or [])


def noop_frames(ws: WsDriver, mode: str) -> tuple[dict[str, Any], int]:
    """The NOOP reply frame as it came over the socket, and its size in bytes."""
    ws.connect(frames=mode)
    ws.ehlo()
    ws.command("NOOP")
    wire = next(f for f in reversed(ws.wire) if f["type"] == "reply")
    ws.command("QUIT")
    ws.wait_for("closed")
    return wire, len(json.dumps(wire).encode())


def test_a_lean_noop_reply_carries_keys_not_texts(ws_factory: Any) -> None:
    lean, lean_bytes = noop_frames(ws_factory(), "lean")
    full, full_bytes = noop_frames(ws_factory(), "full")
    text = json.dumps(lean)
    for words in (full["explain"]["meaning"], full["explain"]["summary"], "Carry on."):
        assert words not in text
    assert "state" not in lean  # NOOP changes nothing
    assert lean["explain"]["evidence"] == ["enhanced:2.0.0", "reply:250:NOOP", "class:2"]
    assert lean_bytes * 5 < full_bytes, (lean_bytes, full_bytes)
    print(f"NOOP reply frame: full {full_bytes} B, lean {lean_bytes} B")


def test_full_frames_are_todays_frames(ws: WsDriver, app: Any) -> None:
    """A script asking for ``"frames": "full"`` gets every text and the whole state each time:
    the frames the Guide builds, as the replay re-derives them (``?frames=1``)."""
    tid = record(ws, frames="full")
    session = next(f for f in ws.frames if f["type"] == "session")
    assert "frames" not in session and "knowledge" not in session
    store = app.extensions["playground"].store
    wait_until(lambda: (t := store.get(tid)) and t.status == "closed")
    full = app.test_client().get(f"/api/transcripts/{tid}?frames=1").get_json()["frames"]
    by_seq = {f["seq"]: f for f in full}
    assert ws.wire == ws.frames  # nothing to read back
    for frame in ws.wire:
        if frame["type"] in ("reply", "connected", "tls", "closed"):
            assert frame["state"] == by_seq[frame["seq"]]["state"]
        if frame["type"] == "reply":
            assert frame["explain"] == by_seq[frame["seq"]]["explain"]
            assert frame["explain"]["meaning"] and frame["explain"]["evidence"][0]["says"]
        if frame["type"] == "sent" and frame["kind"] == "command" and not frame.get("redacted"):
            volatile = VOLATILE | {"answers"}
            mine = {k: v for k, v in frame.items() if k not in volatile}
            assert mine == {k: v for k, v in by_seq[frame["seq"]].items() if k not in volatile}


def test_a_state_frame_answers_with_the_whole_state(ws: WsDriver) -> None:
    ws.connect()
    ws.ehlo()
    ws.send({"type": "state"})
    answer = ws.wait_for("state")
    assert answer["state"] == ws.reader.state and answer["state"]["hello"] == "EHLO"
    assert ws.wire[-1]["state"]["capabilities"]  # whole, not a change
    ws.send({"type": "connect", "frames": "compact"})
    assert ws.wait_for("error")["code"] in ("busy", "bad_field")


def test_an_unknown_frames_mode_is_refused(ws: WsDriver) -> None:
    ws.send({"type": "connect", "target": "sandbox", "frames": "compact"})
    assert ws.wait_for("error")["code"] == "bad_field"


def test_the_document_is_cached_for_good_and_its_address_follows_its_text(client: Any) -> None:
    first = client.get(document_path(), headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again = client.get(document_path(), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get(document_path()).get_json()
    assert plain["commands"]["NOOP"]["summary"].startswith("Does nothing")
    old = client.get("/knowledge/0000000000000000.json")
    assert old.status_code == 302 and old.headers["Location"].endswith(document_path())
    for page in ("/",):
        assert document_path() in client.get(page).get_data(as_text=True)


def test_the_address_changes_when_a_data_file_changes(tmp_path: Path) -> None:
    """A copy of the SMTP core with one text edited names another document."""
    shutil.copytree(ROOT / "smtp_session", tmp_path / "smtp_session")
    data = tmp_path / "smtp_session" / "knowledge" / "data" / "commands.json"
    commands = json.loads(data.read_text(encoding="utf-8"))
    commands["NOOP"]["summary"] += " (edited)"
    data.write_text(json.dumps(commands), encoding="utf-8")
    code = "from smtp_session.guide.document import document_path; print(document_path())"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    edited = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert edited.startswith("/knowledge/") and edited != document_path()


def test_the_document_needs_no_login(data_dir: Path, sandbox: Any) -> None:
    """A public transcript's embed resolves its frames for anyone: the document is public."""
    from tests.conftest import build_app

    client = build_app(data_dir, sandbox, AUTH="accounts").test_client()
    assert client.get("/").status_code == 302  # the console wants a login
    assert client.get(document_path()).status_code == 200
