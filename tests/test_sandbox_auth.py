"""AUTH against the real sandbox, driven through SmtpSession over STARTTLS (RFC 4954)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from smtp_session.sandbox.cram import cram_response
from smtp_session.sandbox.server import DEMO_PASSWORD, DEMO_USER, SandboxServer
from smtp_session.wire.events import ReplyReceived, TlsUp
from smtp_session.wire.reply import Reply
from smtp_session.wire.session import Limits, SmtpSession
from tests.hostile_server import EventLog


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class AuthDriver:
    """A session against the sandbox that reads like the exchange it checks."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.events = EventLog()
        self.smtp = SmtpSession(self.events, Limits(reply_timeout=5.0, tls_timeout=5.0))
        self.smtp.connect(
            "127.0.0.1",
            sandbox.port,
            tls_context=sandbox.cert.pinned_client_context(),
            pinned_fingerprint=sandbox.cert.fingerprint,
        )
        self.count = 1
        self.events.wait_for(ReplyReceived)

    def command(self, line: str) -> Reply:
        """Send one line and return the reply that answers it."""
        self.smtp.send_line(line)
        self.count += 1
        reply: Reply = self.events.wait_for(ReplyReceived, self.count).reply
        return reply

    def secure(self) -> None:
        assert self.command("EHLO client.example").code == 250
        assert self.command("STARTTLS").code == 220
        self.events.wait_for(TlsUp)
        ehlo = self.command("EHLO client.example")
        assert any("AUTH" in line and "CRAM-MD5" in line for line in ehlo.lines)


@pytest.fixture
def driver(sandbox: SandboxServer) -> Iterator[AuthDriver]:
    d = AuthDriver(sandbox)
    yield d
    d.smtp.close()


def test_auth_plain(driver: AuthDriver) -> None:
    driver.secure()
    reply = driver.command("AUTH PLAIN " + b64(f"\0{DEMO_USER}\0{DEMO_PASSWORD}"))
    assert reply.code == 235 and reply.enhanced == "2.7.0"


def test_auth_plain_without_initial_response(driver: AuthDriver) -> None:
    driver.secure()
    assert driver.command("AUTH PLAIN").code == 334
    assert driver.command(b64(f"\0{DEMO_USER}\0{DEMO_PASSWORD}")).code == 235


def test_auth_login(driver: AuthDriver) -> None:
    driver.secure()
    prompt = driver.command("AUTH LOGIN")
    assert prompt.code == 334 and base64.b64decode(prompt.texts[0]) == b"Username:"
    prompt = driver.command(b64(DEMO_USER))
    assert prompt.code == 334 and base64.b64decode(prompt.texts[0]) == b"Password:"
    assert driver.command(b64(DEMO_PASSWORD)).code == 235


def test_auth_cram_md5(driver: AuthDriver) -> None:
    driver.secure()
    challenge = driver.command("AUTH CRAM-MD5")
    assert challenge.code == 334
    text = base64.b64decode(challenge.texts[0]).decode()
    assert text.startswith("<") and text.endswith("@sandbox.test>")  # RFC 2195 §2
    assert driver.command(b64(cram_response(DEMO_USER, DEMO_PASSWORD, text))).code == 235


@pytest.mark.parametrize(
    "lines",
    [
        ["AUTH PLAIN " + b64(f"\0{DEMO_USER}\0not-the-password")],
        ["AUTH LOGIN", b64(DEMO_USER), b64("not-the-password")],
    ],
    ids=["plain", "login"],
)
def test_wrong_password_is_535(driver: AuthDriver, lines: list[str]) -> None:
    driver.secure()
    replies = [driver.command(line) for line in lines]
    assert replies[-1].code == 535 and replies[-1].enhanced == "5.7.8"
    assert not driver.smtp.closed  # a failed AUTH is an answer, not the end of the session


def test_auth_before_starttls_is_refused(driver: AuthDriver) -> None:
    ehlo = driver.command("EHLO client.example")
    assert not any(line[4:].startswith("AUTH") for line in ehlo.lines)  # RFC 4954 §4
    reply = driver.command("AUTH PLAIN " + b64(f"\0{DEMO_USER}\0{DEMO_PASSWORD}"))
    assert reply.code in (530, 538) and reply.reply_class == "permanent"
    assert not driver.smtp.tls_active


def test_star_cancels_the_exchange(driver: AuthDriver) -> None:
    driver.secure()
    assert driver.command("AUTH LOGIN").code == 334
    cancelled = driver.command("*")  # RFC 4954 §4: "*" cancels, the server answers 501
    assert cancelled.code == 501
    assert driver.command("NOOP").code == 250  # and the session carries on


def test_auth_before_tls_can_be_allowed_for_a_class(data_dir):
    """PLAYGROUND_SANDBOX_AUTH_REQUIRE_TLS=0: AUTH offered in the clear (a trainer's choice)."""
    import smtplib

    from app import create_app
    from tests.conftest import free_port

    app = create_app(
        {
            "DATA_DIR": data_dir,
            "SANDBOX_PORT": free_port(),
            "SANDBOX_TLS_PORT": free_port(),
            "SANDBOX_AUTH_REQUIRE_TLS": False,
        }
    )
    sandbox = app.extensions["playground"].sandbox
    try:
        with smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10) as smtp:
            smtp.ehlo()
            assert smtp.has_extn("auth")
            assert smtp.login("demo", "demo-password")[0] == 235
    finally:
        sandbox.stop()
