"""A real MTA's queue against the sandbox's scenarios: Postfix, relaying to the sandbox, is
greylisted, keeps the message, retries and delivers; refused for good, it bounces."""

from __future__ import annotations

import smtplib
import subprocess
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def relaying(postfix: Any, sandbox: SandboxServer) -> Any:
    """The Postfix instance, now relaying everything not its own to the sandbox, retrying
    deferred mail every second (Postfix's defaults are minutes)."""
    settings = {
        "default_transport": "smtp",
        "relayhost": f"[127.0.0.1]:{sandbox.config.port}",
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "1s",
    }
    subprocess.run(
        ["postconf", "-c", str(postfix.etc), "-e", *(f"{k}={v}" for k, v in settings.items())],
        check=True,
        capture_output=True,
    )
    postfix._postfix("reload")
    return postfix


def _submit(postfix: Any, recipient: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", postfix.ports.plain, timeout=10) as client:
        client.sendmail(
            "alice@example.test",
            [recipient],
            f"From: alice@example.test\r\nTo: {recipient}\r\nSubject: {subject}\r\n\r\nHello.\r\n",
        )


def test_postfix_is_greylisted_retries_and_delivers(relaying: Any, sandbox: SandboxServer) -> None:
    sandbox.engine.time_scale = 0.2  # the scenario's 10 s: 2 s
    _submit(relaying, "greylist@sandbox.test", "greylisted")
    relaying.wait_for_log("451 4.7.1 <greylist@sandbox.test>: Greylisted, retry in 10 seconds")
    assert wait_until(lambda: sandbox.mailbox.messages(), timeout=30)
    [msg] = sandbox.mailbox.messages()
    assert msg.subject == "greylisted" and msg.rcpt_tos == ["greylist@sandbox.test"]
    log = relaying.log()
    assert "status=deferred" in log and "status=sent" in log


def test_postfix_bounces_a_dmarc_refusal_and_defers_a_hang_up(relaying: Any, sandbox: Any) -> None:
    _submit(relaying, "policy@sandbox.test", "dmarc")
    log = relaying.wait_for_log("status=bounced")
    assert "550 5.7.26 Message refused: SPF and DKIM both failed" in log
    _submit(relaying, "hangup@sandbox.test", "lost")
    relaying.wait_for_log("lost connection with 127.0.0.1[127.0.0.1] while sending end of data")
    assert sandbox.mailbox.messages() == []
