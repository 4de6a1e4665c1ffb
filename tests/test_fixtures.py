"""The shared fixtures keep tests apart: each sees a fresh inbox and a fresh store."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_sees_an_empty_inbox_and_store(
    turn: str, sandbox: SandboxServer, app: Any, data_dir: Path
) -> None:
    """Run twice: the second run sees nothing of what the first delivered and recorded."""
    services = app.extensions["playground"]
    assert sandbox.mailbox.messages() == [] and services.mailbox.messages() == []
    assert services.store.list() == []
    with smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10) as smtp:
        smtp.sendmail("a@example.com", ["b@example.com"], f"Subject: {turn}\r\n\r\nhi\r\n")
    services.store.create("sandbox:25")
    # The app's inbox page reads the folder the sandbox writes to, in this test's data dir.
    [message] = services.mailbox.messages()
    assert sandbox.mailbox.folder == data_dir / "sandbox" and message.mail_from == "a@example.com"
    assert len(services.store.list()) == 1


def test_the_app_pins_the_certificate_the_sandbox_serves(sandbox: SandboxServer, app: Any) -> None:
    assert app.extensions["playground"].sandbox_cert.fingerprint == sandbox.cert.fingerprint
