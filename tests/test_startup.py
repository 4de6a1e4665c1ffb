"""``python app.py`` starts quietly: one ready line naming what is open, no library chatter."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from pathlib import Path

from tests.apps import AppProcess

ACCESS_LOG = re.compile(
    r' INFO werkzeug: 127\.0\.0\.1 - - \[[^\]]+\] "[A-Z]+ \S+ HTTP/1\.1" \d{3} '
)


def _starttls_then_plain_text(port: int) -> None:
    """A client that asks for STARTTLS, then speaks plain text: the handshake fails."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220")
        sock.sendall(b"EHLO client.example\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\n")
        assert reader.readline().startswith(b"220")
        sock.sendall(b"EHLO not-tls.example\r\n" * 4)
        try:  # the sandbox logs the failure, then closes the connection: wait for that
            reader.read()
        except ConnectionResetError:
            pass


def _verifying_tls_client(port: int) -> None:
    """A client that checks certificates against the system CAs: the sandbox's is unknown."""
    context = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            context.wrap_socket(raw, server_hostname="sandbox.test").close()
        except ssl.SSLCertVerificationError:
            return
    raise AssertionError("a verifying client accepted the sandbox's self-signed certificate")


def test_start_up_says_what_is_open_in_one_line_and_nothing_else(tmp_path: Path) -> None:
    app = AppProcess(tmp_path / "data").start()
    try:
        assert app.sandbox_ports is not None
        plain, tls = app.sandbox_ports
        with smtplib.SMTP("127.0.0.1", plain, timeout=10) as smtp:  # a whole session
            smtp.ehlo("client.example")
            smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
            smtp.docmd("FROBNICATE")  # a mistyped command
        _starttls_then_plain_text(plain)
        _verifying_tls_client(tls)
    finally:
        app.stop()
    lines = app.log.splitlines()

    ready = [line for line in lines if "ready" in line]
    assert len(ready) == 1, app.log
    for part in (f"{app.url}/", f"127.0.0.1:{plain}", f"127.0.0.1:{tls}", f"{app.url}/sandbox"):
        assert part in ready[0], (part, ready[0])

    # One line each: the STARTTLS client speaking plain text, the verifying implicit-TLS one.
    tls_failures = [line for line in lines if "TLS handshake" in line]
    assert len(tls_failures) == 2 and all("WARNING" in f for f in tls_failures), app.log
    assert any("implicit-TLS port" in f for f in tls_failures), app.log
    assert "Traceback" not in app.log

    # Nothing else: no Alembic steps, no aiosmtpd connection chatter, no banner; requests are
    # in werkzeug's access log.
    others = [line for line in lines if line not in ready + tls_failures]
    assert [line for line in others if not ACCESS_LOG.search(line)] == [], app.log
