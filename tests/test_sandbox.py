"""The sandbox inbox: kept on disk, bounded, newest first, shown byte for byte."""

from __future__ import annotations

import gc
import smtplib
import socket
import ssl
import warnings
from pathlib import Path

import pytest

from smtp_session.sandbox.mailbox import Mailbox
from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from tests.conftest import free_port


def _send(port: int, subject: str, body: str = "Hello.") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(
            "alice@example.com",
            ["bob@example.com"],
            f"Subject: {subject}\r\n\r\n{body}\r\n".encode(),
        )


def test_messages_survive_a_restart(data_dir):
    first = SandboxServer(SandboxConfig(data_dir=data_dir, port=free_port(), tls_port=None))
    first.start()
    _send(first.config.port, "kept")
    first.stop()
    second = SandboxServer(SandboxConfig(data_dir=data_dir, port=free_port(), tls_port=None))
    assert [m.subject for m in second.mailbox.messages()] == ["kept"]


def test_inbox_is_bounded_and_newest_first(tmp_path):
    box = Mailbox(tmp_path, max_messages=3)
    for i in range(5):
        box.add(f"Subject: {i}\r\n\r\nx\r\n".encode(), "a@b.c", ["d@e.f"], "127.0.0.1")
    assert [m.subject for m in box.messages()] == ["4", "3", "2"]
    assert len(list(tmp_path.glob("*.eml"))) == 3


def test_encoded_subjects_are_decoded(tmp_path):
    box = Mailbox(tmp_path)
    msg = box.add(b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nx\r\n", "a@b.c", ["d@e.f"], "")
    assert msg.subject == "Grüße"


def test_api_lists_messages_and_serves_the_exact_bytes(client, sandbox):
    _send(sandbox.config.port, "API", body=".dot stuffed")
    [listed] = client.get("/api/sandbox/messages").get_json()
    assert set(listed) >= {"id", "mail_from", "rcpt_tos", "subject", "size", "received_at"}
    assert listed["subject"] == "API" and listed["rcpt_tos"] == ["bob@example.com"]
    raw = client.get(f"/api/sandbox/messages/{listed['id']}/raw")
    assert raw.status_code == 200 and raw.mimetype == "message/rfc822"
    # smtplib dot-stuffed the leading dot; the server removed it again (RFC 5321 §4.5.2).
    assert raw.data == b"Subject: API\r\n\r\n.dot stuffed\r\n"
    assert listed["size"] == len(raw.data)


def test_inbox_pages_show_envelope_subject_and_source(client, sandbox):
    _send(sandbox.config.port, "<b>not bold</b>")
    page = client.get("/sandbox").get_data(as_text=True)
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page
    assert "alice@example.com" in page and "unknown@sandbox.test" in page  # the scenarios
    [msg] = client.get("/api/sandbox/messages").get_json()
    detail = client.get(f"/sandbox/{msg['id']}").get_data(as_text=True)
    assert "bob@example.com" in detail and "Hello." in detail


def test_ids_that_are_not_ours_are_404(client):
    for path in (
        "/sandbox/../../etc/passwd",
        "/sandbox/nope",
        "/api/sandbox/messages/x/raw",
        "/api/sandbox/messages/..%2F..%2Fsecret_key/raw",
    ):
        assert client.get(path).status_code == 404, path


def test_a_sandbox_that_cannot_bind_leaves_nothing_open(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = SandboxServer(SandboxConfig(data_dir=tmp_path, port=port, tls_port=None))
        with pytest.raises(OSError):
            server.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        gc.collect()


def _deliver(smtp: smtplib.SMTP, subject: str) -> None:
    smtp.sendmail("alice@example.com", ["bob@example.com"], f"Subject: {subject}\r\n\r\nx\r\n")


def test_inbox_marks_messages_received_under_tls(sandbox):
    context = sandbox.cert.pinned_client_context()
    with smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10) as smtp:
        _deliver(smtp, "plain")
    with smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10) as smtp:
        smtp.starttls(context=context)
        _deliver(smtp, "starttls")
    # RFC 8314: the implicit-TLS port is TLS from the first byte, with no STARTTLS at all.
    with smtplib.SMTP_SSL(
        "127.0.0.1", sandbox.config.tls_port, timeout=10, context=context
    ) as smtp:
        _deliver(smtp, "implicit")
    flags = {m.subject: m.tls for m in sandbox.mailbox.messages()}
    assert flags == {"plain": False, "starttls": True, "implicit": True}


def test_sandbox_page_links_the_certificate_that_verifies_the_sandbox(client, sandbox, tmp_path):
    page = client.get("/sandbox").get_data(as_text=True)
    assert 'href="/sandbox/ca.pem"' in page
    pem = client.get("/sandbox/ca.pem")
    assert pem.status_code == 200 and pem.mimetype == "application/x-pem-file"
    assert "attachment" in pem.headers["Content-Disposition"]
    assert sandbox.cert.fingerprint in page
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(pem.data)
    # What a reader does with it: verify the sandbox, host name checked, with nothing pinned.
    context = ssl.create_default_context(cafile=str(cafile))
    with smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10) as smtp:
        smtp.starttls(context=context)
        assert smtp.sock.version() is not None
    with smtplib.SMTP_SSL("127.0.0.1", sandbox.config.tls_port, timeout=10, context=context):
        pass
