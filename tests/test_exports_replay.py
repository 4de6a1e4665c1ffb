"""The swaks and Python exports, run by Debian's swaks and python3 against the sandbox.

A session is driven through /ws, its export downloaded from the API as a reader would, run
out of the box, and the sandbox inbox must then hold the same bytes for the same envelope.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.mailbox import Mailbox
from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER
from tests.conftest import WsDriver, _require, wait_until

# Lines swaks or smtplib would change if they massaged the data: swaks tokens, a literal
# backslash-n, a From_ line, leading dots, trailing blanks, an empty last line.
TRICKY = [
    "Subject: replay %DATE% check",
    "From: <alice@client.example>",
    "",
    "From the start: %FROM_ADDRESS% and a literal \\n here",
    ".one leading dot",
    "..two leading dots",
    ".",
    "caf\u00e9, trailing space ",
    "",
]


@pytest.fixture(scope="module")
def swaks() -> str:
    path = shutil.which("swaks")
    if path is None:
        if _require("REQUIRE_POSTFIX"):
            pytest.fail("REQUIRE_POSTFIX is set (real peers) but swaks is missing")
        pytest.skip("swaks is not installed (apt-get install swaks)")
    return path


def session_messages(mailbox: Mailbox) -> list[tuple[str, list[str], bytes]]:
    """Oldest first: (sender, recipients, exact bytes) of every message in the inbox."""
    found = [(m.mail_from, m.rcpt_tos, mailbox.raw(m.id) or b"") for m in mailbox.messages()]
    return list(reversed(found))


def record(ws: WsDriver, live: Any, target: str = "sandbox", **drive: Any) -> str:
    """Drive a two-transaction session; returns the transcript id once it is stored."""
    greeting = ws.connect(target)
    assert greeting["code"] == 220
    tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
    ws.ehlo()
    if drive.get("starttls"):
        assert ws.command("STARTTLS")["code"] == 220
        ws.wait_for("tls")
        ws.ehlo()
    if drive.get("auth"):
        plain = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
        assert ws.command(f"AUTH PLAIN {plain}")["code"] == 235
    assert ws.command("MAIL FROM:<alice@client.example> SIZE=400")["code"] == 250
    assert ws.command("RCPT TO:<bob@sandbox.test>")["code"] == 250
    assert ws.command("RCPT TO:<carol@sandbox.test>")["code"] == 250
    assert ws.command("DATA")["code"] == 354
    wire = [("." + line if line.startswith(".") else line) for line in TRICKY]
    ws.send({"type": "lines", "lines": [*wire, "."]})
    assert ws.wait_for("reply", after="end-of-data")["code"] == 250
    assert ws.command("MAIL FROM:<>")["code"] == 250  # a bounce: the null sender
    assert ws.command("RCPT TO:<dave@sandbox.test>")["code"] == 250
    assert ws.command("DATA")["code"] == 354
    ws.send({"type": "lines", "lines": ["Subject: bounce", "", "x", "."]})
    assert ws.wait_for("reply", after="end-of-data")["code"] == 250
    assert ws.command("QUIT")["code"] == 221
    ws.wait_for("closed")
    wait_until(lambda: live.app.extensions["playground"].store.get(tid).status != "live", 10)
    return tid


def download(live: Any, tid: str, fmt: str, tmp_path: Path) -> Path:
    response = live.app.test_client().get(f"/api/transcripts/{tid}/export?format={fmt}")
    assert response.status_code == 200
    path = tmp_path / response.headers["Content-Disposition"].split('filename="')[1][:-1]
    path.write_bytes(response.data)
    return path


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    done = subprocess.run(
        argv, env={**environment, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def replayed(sandbox: Any, replay_run: Any) -> tuple[list[Any], list[Any]]:
    """The inbox of the session, then the inbox of the replay alone."""
    original = session_messages(sandbox.mailbox)
    sandbox.mailbox.clear()
    replay_run()
    return original, session_messages(sandbox.mailbox)


def expected_first() -> bytes:
    return "".join(line + "\r\n" for line in TRICKY).encode()


def test_session_delivered_what_was_typed(ws, live, sandbox):
    record(ws, live)
    [(sender, rcpts, raw), (null, [dave], bounce)] = session_messages(sandbox.mailbox)
    assert (sender, rcpts, raw) == (
        "alice@client.example",
        ["bob@sandbox.test", "carol@sandbox.test"],
        expected_first(),
    )
    assert (null, dave, bounce) == ("<>", "dave@sandbox.test", b"Subject: bounce\r\n\r\nx\r\n")


@pytest.mark.parametrize(
    "drive",
    [{}, {"starttls": True, "auth": True}],
    ids=["plain", "starttls-auth"],
)
def test_swaks_export_reproduces_the_session(ws, live, sandbox, swaks, tmp_path, drive):
    tid = record(ws, live, **drive)
    script = download(live, tid, "swaks", tmp_path)
    env = {"SMTP_PASSWORD": DEMO_PASSWORD} if drive else {}
    original, replay = replayed(sandbox, lambda: run(["sh", str(script)], **env))
    assert replay == original
    assert len(replay) == 2 and replay[0][2] == expected_first()
    if drive:
        assert [m.tls for m in sandbox.mailbox.messages()] == [True, True]
        assert {m.auth_user for m in sandbox.mailbox.messages()} == {DEMO_USER}


@pytest.mark.parametrize(
    ("target", "drive"),
    [("sandbox", {}), ("sandbox", {"starttls": True, "auth": True}), ("sandbox-tls", {})],
    ids=["plain", "starttls-auth", "implicit-tls"],
)
def test_python_export_reproduces_the_session(ws, live, sandbox, tmp_path, target, drive):
    tid = record(ws, live, target, **drive)
    script = download(live, tid, "python", tmp_path)
    ca = live.app.test_client().get("/sandbox/ca.pem")
    cafile = tmp_path / "sandbox.pem"
    cafile.write_bytes(ca.data)
    env = {"SMTP_PASSWORD": DEMO_PASSWORD} if drive else {}
    python3 = shutil.which("python3") or sys.executable
    argv = [python3, str(script), "--cafile", str(cafile)]
    done: list[subprocess.CompletedProcess[str]] = []
    original, replay = replayed(sandbox, lambda: done.append(run(argv, **env)))
    assert replay == original and len(replay) == 2
    # smtplib's debug output: the MAIL parameter went out as the session sent it.
    assert "<alice@client.example> SIZE=400" in done[0].stderr
    tls = [m.tls for m in sandbox.mailbox.messages()]
    assert tls == [bool(drive) or target == "sandbox-tls"] * 2


def test_python_export_takes_the_ca_from_the_environment(ws, live, sandbox, tmp_path):
    tid = record(ws, live, "sandbox-tls")
    script = download(live, tid, "python", tmp_path)
    head = script.read_text().splitlines()[:8]
    assert any("--cafile" in line for line in head) and any("SMTP_CAFILE" in line for line in head)
    cafile = tmp_path / "sandbox.pem"
    cafile.write_bytes(live.app.test_client().get("/sandbox/ca.pem").data)
    python3 = shutil.which("python3") or sys.executable
    sandbox.mailbox.clear()
    run([python3, str(script)], SMTP_CAFILE=str(cafile))
    assert len(sandbox.mailbox.messages()) == 2
    # Without the CA the reader gets the verification error, not a silent unverified session.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMTP_")}
    failed = subprocess.run(
        [python3, str(script)], env=environment, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in failed.stderr


CHUNKS = ["Subject: in chunks\r\nFrom: <alice@client.example>\r\n\r\n", ".no stuffing\r\nend\r\n"]


def record_bdat(ws: WsDriver, live: Any) -> str:
    """A session that sends one message with BDAT in two chunks, to two recipients."""
    ws.connect()
    tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
    assert "CHUNKING" in ws.ehlo()["state"]["capabilities"]
    assert ws.command("MAIL FROM:<alice@client.example>")["code"] == 250
    assert ws.command("RCPT TO:<bob@sandbox.test>")["code"] == 250
    assert ws.command("RCPT TO:<carol@sandbox.test>")["code"] == 250
    ws.send({"type": "chunk", "data": CHUNKS[0]})
    ws.send({"type": "chunk", "data": CHUNKS[1], "last": True})
    ws.wait_for("reply", after="BDAT")
    assert ws.wait_for("reply", after="BDAT")["code"] == 250
    assert ws.command("QUIT")["code"] == 221
    ws.wait_for("closed")
    wait_until(lambda: live.app.extensions["playground"].store.get(tid).status != "live", 10)
    return tid


def test_bdat_session_reaches_the_sandbox_and_both_exports(ws, live, sandbox, swaks, tmp_path):
    tid = record_bdat(ws, live)
    [(sender, rcpts, raw)] = session_messages(sandbox.mailbox)
    assert raw == "".join(CHUNKS).encode()
    assert rcpts == ["bob@sandbox.test", "carol@sandbox.test"]
    python = download(live, tid, "python", tmp_path)
    done: list[subprocess.CompletedProcess[str]] = []
    original, replay = replayed(sandbox, lambda: done.append(run([sys.executable, str(python)])))
    assert replay == original
    assert "BDAT 52\\r\\n" in done[0].stderr and "BDAT 19 LAST" in done[0].stderr
    script = download(live, tid, "swaks", tmp_path)
    assert "swaks has no BDAT" in script.read_text()
    original, replay = replayed(sandbox, lambda: run(["sh", str(script)]))
    assert replay == original  # the same octets, sent with DATA
