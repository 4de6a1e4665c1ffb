"""Real clients pointed at the sandbox: each session is captured, explained and linked (#16).

swaks (plain, STARTTLS, implicit TLS, AUTH PLAIN / LOGIN / CRAM-MD5, pipelining), Python's
smtplib (``send_message`` with a multipart/alternative message and an attachment), Debian's
Postfix relaying to the sandbox as its relayhost, and two raw-socket clients that get it wrong:
one ends its lines with bare LFs, one pipelines when PIPELINING was not offered. Each is checked
as a user would: the Captured page's event stream says the session ended (waited for, with a
timeout: the "within a second" figure is measured by bench/capture.py), the API has its
summary, the replay's frames explain it and carry the client's warnings, and the message in the
inbox links back to it.
"""

from __future__ import annotations

import base64
import json
import shutil
import smtplib
import subprocess
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER
from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from tests import capturing
from tests.capture_kit import RawClient
from tests.conftest import LiveServer, free_port
from tests.sse import EventStream

# How long a test waits for the captured session's end once its client is done: generous
# for a loaded CI machine; bench/capture.py measures how long it really takes.
ENDED_WITHIN_S = 5.0
SENDER, RECIPIENT = "alice@client.example", "bob@sandbox.test"
BARE_LF = "client:bare-lf"  # knowledge/data/warnings.json
UNOFFERED_PIPELINING = "client:pipelining-not-offered"

# A sandbox that captures into each test's app (tests/capturing.py).
_capturing_sandbox, sandbox, app = capturing._capturing_sandbox, capturing.sandbox, capturing.app


def _swaks() -> str:
    path = shutil.which("swaks")
    if path is None:
        pytest.fail("swaks is missing (apt-get install swaks): the real-client suite needs it")
    return path


def get_json(live: LiveServer, path: str) -> Any:
    with urllib.request.urlopen(f"{live.url}{path}", timeout=10) as response:
        return json.loads(response.read())


def get_text(live: LiveServer, path: str) -> str:
    with urllib.request.urlopen(f"{live.url}{path}", timeout=10) as response:
        return str(response.read().decode("utf-8"))


@pytest.fixture
def stream(live: LiveServer) -> Iterator[EventStream]:
    """The Captured page's event stream, past its snapshot: what arrives next is new."""
    with EventStream(f"{live.url}/api/captured/events") as events:
        events.wait_for("snapshot")
        yield events


def ended(stream: EventStream, ehlo: str) -> dict[str, Any]:
    """The summary of the session whose client said EHLO ``ehlo``, once it has ended."""
    while True:
        event = stream.wait_for("ended", ENDED_WITHIN_S)
        summary: dict[str, Any] = event.data["summary"]
        if summary["ehlo"] == ehlo:
            return summary


def client_warnings(frames: list[dict[str, Any]]) -> set[str]:
    """The codes of the warnings raised on the client's lines."""
    return {w["code"] for f in frames for w in f.get("warnings") or []}


def check_captured(
    live: LiveServer, summary: dict[str, Any], *, tls: bool, messages: int = 1
) -> list[dict[str, Any]]:
    """Captured (the API has it), explained (every client command's frame says what it is)
    and linked (its messages name it, their page links to it); returns the replay frames."""
    tid = summary["id"]
    assert summary["status"] == "closed" and summary["client"].startswith("127.0.0.1:")
    assert len(summary["messages"]) == messages
    assert summary["outcome"] == ("delivered" if messages else summary["outcome"])
    body = get_json(live, f"/api/captured/{tid}")
    assert body["summary"]["id"] == tid and body["url"] == f"/t/{tid}"
    assert body["entries"] and body["entries"][0]["seq"] == 0
    replay = get_json(live, f"/api/transcripts/{tid}?frames=1")
    assert replay["transcript"]["id"] == tid
    frames = replay["frames"]
    commands = [f for f in frames if f["type"] == "sent" and f.get("kind") == "command"]
    assert commands, "the client's commands are in the transcript"
    for frame in commands:
        assert frame.get("explain"), f"no explanation for {frame.get('text')!r}"
    replies = [f for f in frames if f["type"] == "reply"]
    assert replies and all(f.get("explain") for f in replies)
    assert any(f["type"] == "tls" for f in frames) is tls
    for mid in summary["messages"]:
        message = get_json(live, f"/api/sandbox/messages/{mid}")
        assert message["message"]["captured_transcript"] == tid
        assert message["captured"]["url"] == f"/t/{tid}"
        assert f'href="/t/{tid}"' in get_text(live, f"/sandbox/{mid}")
    assert f"/t/{tid}" in get_text(live, "/captured")
    return list(frames)


# -- swaks -----------------------------------------------------------------------------------

AUTH = ["--auth-user", DEMO_USER, "--auth-password", DEMO_PASSWORD]
SWAKS: dict[str, tuple[list[str], str, bool]] = {
    "plain": ([], "port", False),
    "starttls": (["-tls"], "port", True),
    "implicit-tls": (["--tls-on-connect"], "tls_port", True),
    "auth-plain": (["-tls", "--auth", "PLAIN", *AUTH], "port", True),
    "auth-login": (["-tls", "--auth", "LOGIN", *AUTH], "port", True),
    "auth-cram-md5": (["-tls", "--auth", "CRAM-MD5", *AUTH], "port", True),
    "pipelining": (["--pipeline"], "port", False),
}


@pytest.mark.parametrize("variant", list(SWAKS))
def test_swaks(variant: str, live: LiveServer, sandbox: SandboxServer, stream: EventStream) -> None:
    flags, port, tls = SWAKS[variant]
    ehlo = f"swaks-{variant}.example"
    done = subprocess.run(
        [_swaks(), "--server", f"127.0.0.1:{getattr(sandbox.config, port)}", "--ehlo", ehlo,
         "--from", SENDER, "--to", RECIPIENT, "--header", f"Subject: swaks {variant}",
         "--body", "Sent by swaks.", "--timeout", "10", *flags],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = ended(stream, ehlo)
    frames = check_captured(live, summary, tls=tls)
    assert summary["warnings"] == 0, client_warnings(frames)
    texts = [f.get("text") or "" for f in frames if f["type"] == "sent"]
    if "--auth" in flags:
        assert any(t.startswith(f"AUTH {flags[2]}") for t in texts), texts
        stored = json.dumps(get_json(live, f"/api/captured/{summary['id']}")["entries"])
        assert DEMO_PASSWORD not in stored  # credentials never reach storage
        for secret in (f"\0{DEMO_USER}\0{DEMO_PASSWORD}", DEMO_PASSWORD):
            assert base64.b64encode(secret.encode()).decode() not in stored
    if variant == "pipelining":
        # swaks sent MAIL, RCPT and DATA in one group after the EHLO reply offered PIPELINING.
        assert [t.split(":")[0] for t in texts[1:4]] == ["MAIL FROM", "RCPT TO", "DATA"]


# -- smtplib ---------------------------------------------------------------------------------


def multipart_message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, RECIPIENT, subject
    msg["Date"], msg["Message-ID"] = formatdate(), make_msgid(domain="client.example")
    msg.set_content("The minutes, as text.\n")
    msg.add_alternative("<p>The minutes, as <b>HTML</b>.</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 minutes", maintype="application", subtype="pdf",
                       filename="minutes.pdf")  # fmt: skip
    return msg


def test_smtplib_send_message_multipart(
    live: LiveServer, sandbox: SandboxServer, stream: EventStream
) -> None:
    with smtplib.SMTP("127.0.0.1", sandbox.config.port, "smtplib.example", timeout=10) as smtp:
        smtp.send_message(multipart_message("smtplib multipart"))
    summary = ended(stream, "smtplib.example")
    frames = check_captured(live, summary, tls=False)
    assert summary["warnings"] == 0, client_warnings(frames)
    [mid] = summary["messages"]
    parts = get_json(live, f"/api/sandbox/messages/{mid}")["parts"]
    assert parts["content_type"] == "multipart/mixed"
    kinds = [c["content_type"] for c in parts["children"]]
    assert kinds == ["multipart/alternative", "application/pdf"]


# -- raw sockets that get it wrong -----------------------------------------------------------


def raw_session(port: int, steps: list[tuple[bytes, int]]) -> bytes:
    """Each chunk in one write, then the number of replies it is owed (tests/capture_kit.py);
    returns every reply line the server sent."""
    client = RawClient(port)
    for data, replies in steps:
        client.send(data, replies)
    client.close()
    return "\n".join(line for reply in client.got for line in reply.lines).encode()


def test_a_client_sending_bare_lfs_is_warned(
    live: LiveServer, sandbox: SandboxServer, stream: EventStream
) -> None:
    heard = raw_session(
        sandbox.config.port,
        [
            (b"EHLO bare-lf.example\n", 1),
            (f"MAIL FROM:<{SENDER}>\n".encode(), 1),
            (f"RCPT TO:<{RECIPIENT}>\n".encode(), 1),
            (b"DATA\n", 1),
            (b"Subject: bare LFs\n\nEvery line here ends in LF alone.\r\n.\r\n", 1),
            (b"QUIT\n", 1),
        ],
    )
    assert b"Ok: queued as" in heard
    summary = ended(stream, "bare-lf.example")
    frames = check_captured(live, summary, tls=False)
    assert BARE_LF in client_warnings(frames)
    assert summary["warnings"] >= 1


@pytest.fixture
def strict_sandbox(live: LiveServer) -> Iterator[SandboxServer]:
    """A second sandbox that does not offer PIPELINING, captured into the same app."""
    sink = live.app.extensions["playground"].capture  # the app's (tests/capturing.py)
    folder = Path(live.app.config["DATA_DIR"])
    config = SandboxConfig(folder, port=free_port(), tls_port=None, pipelining=False, capture=sink)
    server = SandboxServer(config)
    server.start()
    yield server
    server.stop()


def test_a_client_pipelining_without_pipelining_is_warned(
    live: LiveServer, strict_sandbox: SandboxServer, stream: EventStream
) -> None:
    group = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RECIPIENT}>\r\nDATA\r\n".encode()
    heard = raw_session(
        strict_sandbox.config.port,
        [
            (b"EHLO eager.example\r\n", 1),
            (group, 3),  # all three at once: the 250s, then the 354
            (b"Subject: eager\r\n\r\nToo soon.\r\n.\r\n", 1),
            (b"QUIT\r\n", 1),
        ],
    )
    assert b"PIPELINING" not in heard
    summary = ended(stream, "eager.example")
    frames = check_captured(live, summary, tls=False, messages=len(summary["messages"]))
    assert UNOFFERED_PIPELINING in client_warnings(frames)


# -- Postfix as the relayhost ----------------------------------------------------------------


@pytest.fixture
def relaying_postfix(sandbox: SandboxServer) -> Iterator[Any]:
    """Debian's Postfix with the sandbox as its relayhost (tests/postfix.py)."""
    from tests.postfix import Ports, PostfixInstance, missing

    reason = missing()
    if reason is not None:
        pytest.fail(f"the real-client suite needs Postfix: {reason}")
    relayhost = f"[127.0.0.1]:{sandbox.config.port}"
    with PostfixInstance(Ports(free_port(), free_port(), free_port()), relayhost) as instance:
        yield instance


def test_postfix_relaying_to_the_sandbox(
    live: LiveServer, relaying_postfix: Any, stream: EventStream
) -> None:
    from tests.postfix import HOSTNAME

    with smtplib.SMTP("127.0.0.1", relaying_postfix.ports.plain, timeout=10) as smtp:
        smtp.send_message(multipart_message("relayed by Postfix"))
    summary = ended(stream, HOSTNAME)
    # Postfix's smtp client takes STARTTLS when offered (smtp_tls_security_level = may).
    frames = check_captured(live, summary, tls=True)
    assert summary["warnings"] == 0, client_warnings(frames)
    [mid] = summary["messages"]
    assert get_json(live, f"/api/sandbox/messages/{mid}")["message"]["subject"] == (
        "relayed by Postfix"
    )
