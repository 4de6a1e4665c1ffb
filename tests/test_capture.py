"""Captured sessions (#16): any client's session with the sandbox is a stored, explained
transcript within a second of its end, live while it runs, linked to its inbox message, and
usable by the existing exports, share links, notes and import.
"""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER
from tests.capture_kit import Capturing, RawClient
from tests.conftest import WsDriver, build_app, free_port, wait_until
from transcripts.exports import FORMATS, export

MESSAGE = (
    b"From: App <app@example.org>\r\nTo: bob@example.org\r\nSubject: Captured\r\n"
    b"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <c1@example.org>\r\n\r\nHello.\r\n"
)


@pytest.fixture(scope="module")
def cap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capturing]:
    capturing = Capturing(tmp_path_factory.mktemp("capture") / "data")
    yield capturing
    capturing.close()


def tls_context(cap: Capturing) -> ssl.SSLContext:
    """A client that trusts the sandbox's own certificate (the page offers it as ca.pem)."""
    context = ssl.create_default_context(cafile=str(cap.server.cert.cert))
    context.check_hostname = False
    return context


def test_an_smtplib_session_is_captured_explained_and_linked(cap: Capturing) -> None:
    with cap.watch() as watch:
        smtp = smtplib.SMTP("127.0.0.1", cap.port, local_hostname="app.example")
        smtp.starttls(context=tls_context(cap))
        smtp.login(DEMO_USER, DEMO_PASSWORD)
        smtp.sendmail("app@example.org", ["bob@example.org"], MESSAGE)
        smtp.quit()
        quit_at = time.monotonic()
        ended = watch.ended()
        seconds = time.monotonic() - quit_at
    assert seconds < 1.0  # the bound: within a second of the session ending
    tid, summary = ended["id"], ended["summary"]
    inbox = cap.server.mailbox.messages()
    assert [m.captured_transcript for m in inbox] == [tid]
    assert summary["messages"] == [inbox[0].id]
    assert summary["outcome"] == "delivered" and summary["ehlo"] == "app.example"
    assert summary["client"].startswith("127.0.0.1:") and summary["status"] == "closed"
    assert cap.store.list_captured(limit=1) == [{**summary, "ended_at": summary_end(cap, tid)}]

    transcript = cap.transcript(tid)
    assert transcript.source == "captured" and transcript.status == "closed"
    assert transcript.messages == [inbox[0].id]
    frames = cap.frames(tid)
    sent = [f["text"] for f in frames if f["type"] == "sent"]
    assert sent[:2] == ["ehlo app.example", "STARTTLS"]
    assert sent[-1] == "quit"
    tls = next(f for f in frames if f["type"] == "tls")
    assert tls["tls_mode"] == "starttls" and tls["version"].startswith("TLS")
    # Each line and reply is explained by the engine the live panels use.
    ehlo_reply = next(f for f in frames if f["type"] == "reply" and f.get("after") == "EHLO")
    assert ehlo_reply["explain"]["summary"] and ehlo_reply["state"]["capabilities"]
    delivered = next(f for f in frames if f["type"] == "reply" and f["after"] == "end-of-data")
    assert delivered["code"] == 250 and delivered["state"]["messages_sent"] == 1
    assert [w["code"] for f in frames for w in f.get("warnings") or []] == []
    assert DEMO_PASSWORD not in json.dumps(transcript.entries)


def summary_end(cap: Capturing, tid: str) -> Any:
    """The stored end time (the bus's summary has the judge's, a moment earlier)."""
    return cap.store.list_captured(limit=1)[0]["ended_at"]


def test_a_session_is_live_while_it_runs(cap: Capturing) -> None:
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO live.example\r\n")
        started = watch.sub.get(5)
        assert started is not None and started["event"] == "started"
        tid = started["id"]
        assert started["summary"]["outcome"] == "live"
        with cap.bus.subscribe(f"captured:{tid}") as one:
            client.send(b"NOOP\r\n")
            seen: list[Any] = []
            while not any(m.get("entry", {}).get("text") == "NOOP" for m in seen):
                message = one.get(5)
                assert message is not None, seen
                seen.append(message)
        live = [m for m in cap.store.list_captured() if m["id"] == tid][0]
        assert live["status"] == "live" and live["ehlo"] == "live.example"
        client.send(b"QUIT\r\n")
        client.close()
        assert watch.ended()["id"] == tid
    entries = [m["entry"] for m in watch.messages if m["event"] == "entry"]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    assert entries == cap.transcript(tid).entries


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_swaks_auth_is_redacted_in_storage_exports_and_logs(
    cap: Capturing, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    argv = ["swaks", "--server", f"127.0.0.1:{cap.port}", "--tls", "--auth", mechanism]
    argv += ["--auth-user", DEMO_USER, "--auth-password", DEMO_PASSWORD]
    argv += ["--from", "app@example.org", "--to", "bob@example.org", "--helo", "swaks.example"]
    with cap.watch() as watch:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        tid = watch.ended()["id"]
    transcript = cap.transcript(tid)
    assert transcript.outcome == "delivered" and transcript.ehlo == "swaks.example"
    secrets = [DEMO_PASSWORD, base64.b64encode(DEMO_PASSWORD.encode()).decode()]
    secrets.append(base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode())
    stored = b"".join(p.read_bytes() for p in cap.data_dir.glob("playground.db*"))
    outputs = [export(transcript, fmt)[0] for fmt in FORMATS]
    for secret in secrets:
        assert secret.encode() not in stored
        assert all(secret.encode() not in out for out in outputs)
        assert secret not in caplog.text
    redacted = [e["text"] for e in transcript.entries if "redacted]" in e.get("text", "")]
    assert redacted, "the AUTH answer is kept as a marker"


def test_capture_bounds_what_a_session_records(tmp_path: Path) -> None:
    from smtp_session.sandbox.capture import CaptureLimits

    cap = Capturing(tmp_path / "data", limits=CaptureLimits(max_lines=30, max_bytes=1 << 20))
    try:
        with cap.watch() as watch:
            client = RawClient(cap.port)
            client.send(b"NOOP\r\n" * 100, replies=100)
            client.send(b"QUIT\r\n")
            client.close()
            ended = watch.ended()
        transcript = cap.transcript(ended["id"])
        limit = [e for e in transcript.entries if e.get("event") == "limit"]
        assert len(limit) == 1 and "30 lines" in limit[0]["data"]["message"]
        assert transcript.entries[-1]["event"] == "closed"
        assert len(transcript.entries) < 80
    finally:
        cap.close()


def test_retention_by_count_and_age(tmp_path: Path) -> None:
    cap = Capturing(tmp_path / "data", max_sessions=2)
    try:
        ids = []
        for _ in range(4):
            with cap.watch() as watch:
                with smtplib.SMTP("127.0.0.1", cap.port) as smtp:
                    smtp.noop()
                ids.append(watch.ended()["id"])
        cap.writer.flush()
        assert [s["id"] for s in cap.store.list_captured()] == ids[:-3:-1]
        assert cap.store.get(ids[0]) is None
        assert set(cap.store.prune_captured(100, 0)) == set(ids[-2:])  # age 0: all ended go
        assert cap.store.list_captured() == []
    finally:
        cap.close()


def test_list_captured_pages_newest_first(cap: Capturing) -> None:
    for _ in range(3):
        with cap.watch() as watch:
            client = RawClient(cap.port)
            client.send(b"QUIT\r\n")
            client.close()
            watch.ended()
    first = cap.store.list_captured(limit=2)
    older = cap.store.list_captured(limit=2, before=first[-1]["id"])
    assert len(first) == 2 and older and older[0]["id"] not in {s["id"] for s in first}
    assert [s["created_at"] for s in first + older] == sorted(
        (s["created_at"] for s in first + older), reverse=True
    )
    assert all(t.source == "console" for t in cap.store.list(source="console"))
    assert {t.id for t in cap.store.list(source="captured")} >= {s["id"] for s in first}


def test_captured_transcripts_share_export_annotate_and_import(cap: Capturing, sandbox) -> None:  # type: ignore[no-untyped-def]
    with cap.watch() as watch:
        with smtplib.SMTP("127.0.0.1", cap.port) as smtp:
            smtp.sendmail("app@example.org", ["bob@example.org"], MESSAGE)
        tid = watch.ended()["id"]
    app = build_app(cap.data_dir, sandbox)
    client = app.test_client()
    shared = client.get(f"/api/transcripts/{tid}?frames=1")
    assert shared.status_code == 200
    assert client.get(f"/t/{tid}").status_code == 200
    token = cap.store.new_edit_token(tid)
    note = client.post(
        f"/api/transcripts/{tid}/notes",
        json={"seq": 2, "text": "The app's EHLO."},
        headers={"X-Edit-Token": token},
    )
    assert note.status_code == 201, note.get_json()
    exported = client.get(f"/api/transcripts/{tid}/export?format=json")
    assert exported.status_code == 200
    made = client.post("/api/transcripts/import", data=exported.data)
    assert made.status_code == 201, made.get_json()
    again = client.get(f"/api/transcripts/{made.get_json()['id']}").get_json()
    assert again["entries"] == shared.get_json()["entries"]
    app.extensions["playground"].store.dispose()


@pytest.mark.parametrize("capture", [True, False], ids=["on", "off"])
def test_the_apps_sandbox_captures_console_sessions_unless_off(
    tmp_path: Path, sandbox: Any, capture: bool
) -> None:
    from tests.conftest import LiveServer

    data_dir = tmp_path / "data"
    ports = {"SANDBOX_PORT": free_port(), "SANDBOX_TLS_PORT": free_port()}
    app = build_app(data_dir, sandbox, CAPTURE=capture, **ports)
    services = app.extensions["playground"]
    services.start_sandbox()  # what create_app does when it serves (python app.py)
    try:
        assert (services.capture is not None) is capture
        with LiveServer(app) as live:
            ws = WsDriver(live.ws_url)
            ws.record_classic()
            ws.close()
        if capture:
            found = wait_until(lambda: services.store.list_captured(), timeout=5)
            assert found[0]["ehlo"] and found[0]["client"].startswith("127.0.0.1:")
            wait_until(lambda: services.store.list_captured()[0]["status"] == "closed")
            assert services.store.list_captured()[0]["outcome"] == "delivered"
            console = services.store.list(source="console")
            assert len(console) == 1  # the console's own transcript, besides the captured one
        else:
            assert services.store.list_captured() == []
    finally:
        if services.sandbox is not None:
            services.sandbox.stop()
        if services.capture is not None:
            services.capture.stop()
        services.store.dispose()


def test_a_long_message_is_stored_line_by_line_and_published_whole(cap: Capturing) -> None:
    body = b"".join(b"line %d\r\n" % i for i in range(3000))
    broken = b"a bare LF\nin the middle\r\n"
    with cap.watch() as watch:
        client = RawClient(cap.port)
        client.send(b"EHLO long.example\r\n")
        client.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n", replies=2)
        client.send(b"DATA\r\n")
        with cap.bus.subscribe(f"captured:{watch.sub.get(5)['id']}", maxsize=100_000) as one:
            client.send(MESSAGE + body + broken + body + b".\r\n")
            client.send(b"QUIT\r\n")
            client.close()
            ended = watch.ended()
            published = []
            while (message := one.get(5)) is not None and message["event"] != "ended":
                published.append(message["entry"])
    entries = cap.transcript(ended["id"]).entries
    assert published == entries[-len(published) :]
    texts = [e["text"] for e in entries if e["kind"] == "sent"]
    assert texts.count("line 2999") == 2 and "a bare LF␊in the middle" in texts
    frames = cap.frames(ended["id"])
    flagged = [
        f["text"]
        for f in frames
        if any(w["code"] == "client:bare-lf" for w in f.get("warnings") or [])
    ]
    assert flagged == ["a bare LF␊in the middle"]
    assert ended["summary"]["outcome"] == "delivered"


def test_a_session_its_sandbox_never_saw_end_is_listed_dropped(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from transcripts.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        store.create_captured(
            "t" * 32, "captured from 127.0.0.1:1 (sandbox x:2)", "127.0.0.1:1", datetime.now(UTC)
        )
        assert store.list_captured()[0]["outcome"] == "live"
        # What mark_interrupted does to the live transcripts of a process that is gone.
        store.close("t" * 32, "the recording process stopped", status="interrupted")
        listed = store.list_captured()[0]
        assert listed["status"] == "interrupted" and listed["outcome"] == "dropped"
    finally:
        store.dispose()
