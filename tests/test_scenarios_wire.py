"""Every scenario action, driven by a real client (smtplib, swaks, a raw socket) against the
real sandbox: the built-in scenario files, and a trainer's folder with a port of its own."""

from __future__ import annotations

import json
import re
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from tests.conftest import free_port, wait_until

SCALE = 0.1  # every scenario wait is a tenth of the file's, so the suite stays quick


def _tls(sandbox: SandboxServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sandbox.cert.cert))


_OPEN: list[smtplib.SMTP] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every smtplib client a test opened is closed after it, whatever the test asserted."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _client(sandbox: SandboxServer, ehlo: str = "client.example", port: int | None = None):  # type: ignore[no-untyped-def]
    client = smtplib.SMTP("127.0.0.1", port or sandbox.config.port, timeout=10)
    _OPEN.append(client)
    client.ehlo(ehlo)
    return client


def _message(size: int = 0) -> bytes:
    body = b"".join(b"x" * 70 + b"\r\n" for _ in range(size // 72))
    return b"From: alice@client.example\r\nTo: bob@sandbox.test\r\nSubject: hi\r\n\r\n" + body


# -- the built-in scenarios ------------------------------------------------------------------


def test_reply_at_rcpt_for_the_former_magic_addresses(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    assert client.mail("alice@client.example")[0] == 250
    answers = {
        a: client.rcpt(a)
        for a in ("unknown@sandbox.test", "full@sandbox.test", "relay@elsewhere.example")
    }
    assert answers["unknown@sandbox.test"] == (
        550,
        b"5.1.1 <unknown@sandbox.test>: Recipient address rejected: User unknown",
    )
    assert answers["full@sandbox.test"][0] == 452
    assert answers["relay@elsewhere.example"][1].startswith(b"5.7.1 ")
    assert client.rcpt("bob@sandbox.test") == (250, b"2.1.5 Ok")  # the others are unaffected
    client.quit()


def test_refusal_after_the_final_dot_with_swaks(sandbox: SandboxServer) -> None:
    """DMARC-style: RCPT accepted, the message refused after the dot (swaks, a real client)."""
    run = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{sandbox.config.port}", "--ehlo", "client.example"]
        + ["--from", "alice@client.example", "--to", "policy@sandbox.test", "--timeout", "10"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "<~  250 2.1.5 Ok" in run.stdout or "<-  250 2.1.5 Ok" in run.stdout
    assert re.search(r"<\*\* +550 5\.7\.26 Message refused: SPF and DKIM", run.stdout), run.stdout
    assert sandbox.mailbox.messages() == []


def test_greylist_refuses_then_accepts_after_the_delay(sandbox: SandboxServer) -> None:
    sandbox.engine.time_scale = 0.1  # 10 s -> 1 s: room for the "too soon" retry on a busy box
    client = _client(sandbox)
    client.mail("alice@client.example")
    first = client.rcpt("greylist@sandbox.test")
    assert first == (451, b"4.7.1 <greylist@sandbox.test>: Greylisted, retry in 10 seconds")
    refused_at = time.monotonic()
    assert client.rcpt("greylist@sandbox.test")[0] == 451  # too soon
    wait_until(lambda: time.monotonic() - refused_at >= 1.0, timeout=5)
    client.rset()
    client.mail("alice@client.example")
    assert client.rcpt("greylist@sandbox.test")[0] == 250
    # Another sender is another triple: greylisted afresh (RFC 6647 §2.1).
    client.rset()
    client.mail("carol@client.example")
    assert client.rcpt("greylist@sandbox.test")[0] == 451
    client.quit()


def test_attempt_counts_fail_twice_then_accept(sandbox: SandboxServer) -> None:
    codes = []
    for _ in range(3):  # three connections, as a queue retries
        client = _client(sandbox)
        client.mail("alice@client.example")
        codes.append(client.rcpt("flaky@sandbox.test")[0])
        client.quit()
    assert codes == [451, 451, 250]


def test_tarpit_sends_the_reply_one_byte_at_a_time(sandbox: SandboxServer) -> None:
    sandbox.engine.time_scale = 0.2  # 0.15 s a byte -> 30 ms
    with socket.create_connection(("127.0.0.1", sandbox.config.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"EHLO client.example\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<alice@client.example>\r\n")
        assert reader.readline().startswith(b"250 ")
        sock.sendall(b"RCPT TO:<tarpit@sandbox.test>\r\n")
        started, pieces, data = time.monotonic(), 0, b""
        while not data.endswith(b"\r\n"):
            data += sock.recv(1024)
            pieces += 1
        elapsed = time.monotonic() - started
    assert data == b"250 2.1.5 Ok\r\n"  # the usual answer, only slow
    assert pieces >= 4  # in pieces (as many as bytes on an idle machine), not in one write
    assert elapsed >= (len(data) - 1) * 0.03


def test_delay_before_the_answer_to_the_dot(sandbox: SandboxServer) -> None:
    sandbox.engine.time_scale = SCALE  # 5 s -> 0.5 s
    client = _client(sandbox)
    client.mail("alice@client.example")
    client.rcpt("slow@sandbox.test")
    started = time.monotonic()
    code, _text = client.data(_message())
    assert code == 250 and time.monotonic() - started >= 0.5
    client.quit()


def test_disconnect_without_a_word_after_the_dot(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    client.mail("alice@client.example")
    client.rcpt("hangup@sandbox.test")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.data(_message())
    assert sandbox.mailbox.messages() == []


def test_421_then_disconnect(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    client.mail("alice@client.example")
    code, text = client.rcpt("shutdown@sandbox.test")
    assert (code, text.split()[0]) == (421, b"4.3.2")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_require_tls_refuses_mail_until_starttls(sandbox: SandboxServer) -> None:
    client = _client(sandbox, "needs-tls.client.example")
    assert client.mail("alice@client.example") == (
        530,
        b"5.7.0 Must issue a STARTTLS command first",
    )
    client.starttls(context=_tls(sandbox))
    client.ehlo("needs-tls.client.example")
    assert client.mail("alice@client.example")[0] == 250
    client.quit()


def test_require_auth_refuses_mail_until_login(sandbox: SandboxServer) -> None:
    client = _client(sandbox, "needs-auth.client.example")
    client.starttls(context=_tls(sandbox))
    client.ehlo("needs-auth.client.example")
    assert client.mail("alice@client.example") == (530, b"5.7.0 Authentication required")
    client.login("demo", "demo-password")
    assert client.mail("alice@client.example")[0] == 250
    client.quit()


def test_421_after_too_many_commands(sandbox: SandboxServer) -> None:
    client = _client(sandbox, "chatty.client.example")  # command 1
    for _ in range(5):  # commands 2-6 are answered as usual
        assert client.noop()[0] == 250
    code, text = client.noop()  # the seventh
    assert (code, text) == (421, b"4.7.0 Too many commands, closing the connection")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_size_limit_is_advertised_and_enforced(sandbox: SandboxServer) -> None:
    client = _client(sandbox, "small.client.example")
    assert client.esmtp_features["size"] == "1000"
    code, text = client.mail("alice@client.example", ["SIZE=2000"])
    assert (code, text.split()[0]) == (552, b"5.3.4")
    client.mail("alice@client.example")
    client.rcpt("bob@sandbox.test")
    code, text = client.data(_message(1500))
    assert (code, text.split()[0]) == (552, b"5.3.4")
    client.mail("alice@client.example")  # BDAT: the same limit
    client.rcpt("bob@sandbox.test")
    client.send(b"BDAT 1500 LAST\r\n" + b"x" * 1500)
    code, text = client.getreply()
    assert (code, text.split()[0]) == (552, b"5.3.4")
    # Another client, another EHLO name: the usual limit.
    other = _client(sandbox)
    assert int(other.esmtp_features["size"]) > 1000
    other.quit()
    client.quit()


# -- a trainer's folder, and scenarios chosen by a port ---------------------------------------

TRAINER: dict[str, dict[str, Any]] = {
    "spam-sender": {
        "id": "spam-sender",
        "title": "A blocked sender",
        "teaches": "A sender refused at MAIL, with a multi-line reply.",
        "trigger": {"sender": ["*@spam.example"]},
        "rules": [
            {
                "stage": "MAIL",
                "action": {
                    "reply": {
                        "code": 550,
                        "enhanced": "5.7.1",
                        "text": ["Sender {address} is blocked.", "See https://sandbox.test/"],
                    }
                },
            }
        ],
    },
    "stages": {
        "id": "stages",
        "title": "Every command stage",
        "teaches": "Refusals at EHLO-selected stages.",
        "trigger": {"ehlo": ["stages.client.example"]},
        "rules": [
            {
                "stage": "STARTTLS",
                "action": {"reply": {"code": 454, "enhanced": "4.7.0", "text": "TLS not now"}},
            },
            {
                "stage": "AUTH",
                "action": {"reply": {"code": 454, "enhanced": "4.7.0", "text": "Try later"}},
            },
            {
                "stage": "DATA",
                "attempts": {"to": 1},
                "action": {"reply": {"code": 451, "enhanced": "4.3.0", "text": "Not now"}},
            },
            {
                "stage": "BDAT",
                "action": {"reply": {"code": 554, "enhanced": "5.7.1", "text": "No chunks"}},
            },
        ],
    },
    "ehlo-refused": {
        "id": "ehlo-refused",
        "title": "A refused EHLO name",
        "teaches": "EHLO refused for a name.",
        "trigger": {"ehlo": ["bad.example"]},
        "rules": [
            {
                "stage": "EHLO",
                "action": {"reply": {"code": 550, "enhanced": "5.7.1", "text": "Go away"}},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def trainer_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A sandbox with a trainer's folder and two scenario ports (busy, slow-greeting)."""
    root = tmp_path_factory.mktemp("trainer")
    folder = root / "scenarios"
    folder.mkdir()
    for name, data in TRAINER.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    ports = {free_port(): "busy", free_port(): "slow-greeting", free_port(): "spam-sender"}
    server = SandboxServer(
        SandboxConfig(
            data_dir=root / "data",
            port=free_port(),
            tls_port=None,
            scenarios_dir=folder,
            scenario_ports=ports,
            time_scale=SCALE,
        )
    )
    server.start()
    yield server
    server.stop()


def _port(server: SandboxServer, scenario: str) -> int:
    return next(p for p, name in server.config.scenario_ports.items() if name == scenario)


def test_a_port_answers_421_instead_of_a_greeting(trainer_sandbox: SandboxServer) -> None:
    with pytest.raises(smtplib.SMTPConnectError) as err:
        smtplib.SMTP("127.0.0.1", _port(trainer_sandbox, "busy"), timeout=10)
    assert err.value.smtp_code == 421


def test_a_port_with_a_slow_trickled_greeting(trainer_sandbox: SandboxServer) -> None:
    started = time.monotonic()
    client = smtplib.SMTP(timeout=10)
    _OPEN.append(client)
    code, banner = client.connect("127.0.0.1", _port(trainer_sandbox, "slow-greeting"))
    elapsed = time.monotonic() - started
    # connect: 2 s wait (0.2 s here); greeting: 0.05 s a byte (5 ms): ~40 bytes.
    assert code == 220 and banner.startswith(b"sandbox.test ESMTP")
    assert elapsed >= 0.2 + 40 * 0.005
    client.quit()


def test_a_port_selects_a_trainer_scenario(trainer_sandbox: SandboxServer) -> None:
    client = _client(trainer_sandbox, port=_port(trainer_sandbox, "spam-sender"))
    code, text = client.mail("alice@client.example")  # the port's scenario: any sender
    assert code == 550
    assert text == b"5.7.1 Sender alice@client.example is blocked.\n5.7.1 See https://sandbox.test/"
    client.quit()
    # On the usual port only a sender at spam.example is in it.
    client = _client(trainer_sandbox)
    assert client.mail("alice@client.example")[0] == 250
    client.rset()
    assert client.mail("eve@spam.example")[0] == 550
    client.quit()


def test_stage_rules_at_starttls_auth_data_and_bdat(trainer_sandbox: SandboxServer) -> None:
    client = _client(trainer_sandbox, "stages.client.example")
    assert client.docmd("STARTTLS") == (454, b"4.7.0 TLS not now")
    assert client.docmd("AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==") == (454, b"4.7.0 Try later")
    client.mail("alice@client.example")
    client.rcpt("bob@sandbox.test")
    assert client.docmd("DATA") == (451, b"4.3.0 Not now")  # the first attempt only
    client.send(b"BDAT 5 LAST\r\nhello")
    assert client.getreply() == (554, b"5.7.1 No chunks")
    # The chunk's octets were read, not taken for a command: the session goes on.
    assert client.noop()[0] == 250
    client.mail("alice@client.example")
    client.rcpt("bob@sandbox.test")
    assert client.data(_message())[0] == 250  # the second DATA passes
    client.quit()


def test_ehlo_refused_by_name(trainer_sandbox: SandboxServer) -> None:
    client = smtplib.SMTP("127.0.0.1", trainer_sandbox.config.port, timeout=10)
    _OPEN.append(client)
    assert client.ehlo("bad.example") == (550, b"5.7.1 Go away")
    assert client.ehlo("good.example")[0] == 250
    client.quit()


# -- the same thing every time --------------------------------------------------------------


SCRIPT = [
    b"EHLO client.example",
    b"MAIL FROM:<%s>",
    b"RCPT TO:<flaky@sandbox.test>",
    b"RCPT TO:<flaky@sandbox.test>",
    b"RCPT TO:<flaky@sandbox.test>",
    b"RCPT TO:<unknown@sandbox.test>",
    b"RCPT TO:<greylist@sandbox.test>",
    b"RCPT TO:<policy@sandbox.test>",
    b"DATA",
    b"Subject: x\r\n\r\nhi\r\n.",
    b"QUIT",
]


def _run(port: int, sender: bytes) -> list[bytes]:
    """The script over a raw socket; every reply, whole."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for line in [None, *SCRIPT]:
            if line is not None:
                sock.sendall((line.replace(b"%s", sender) if b"%s" in line else line) + b"\r\n")
            reply = b""
            while True:
                got = reader.readline()
                reply += got
                if got[3:4] != b"-":
                    break
            replies.append(reply)
    return replies


def test_a_scenario_run_twice_gives_exactly_the_same_replies(sandbox: SandboxServer) -> None:
    """Two learners (two senders) and a fresh start: the same bytes, reply for reply."""
    first = _run(sandbox.config.port, b"ann@client.example")
    second = _run(sandbox.config.port, b"ben@client.example")
    sandbox.engine.reset()
    third = _run(sandbox.config.port, b"ann@client.example")
    assert first == third
    assert [r.replace(b"ben", b"ann") for r in second] == first
    codes = [int(r[:3]) for r in first]
    assert codes == [220, 250, 250, 451, 451, 250, 550, 451, 250, 354, 550, 221]


# Which test drives each action of the format with a real client (the report counts them).
EXERCISED = {
    "reply": [test_reply_at_rcpt_for_the_former_magic_addresses, test_ehlo_refused_by_name],
    "delay": [test_delay_before_the_answer_to_the_dot, test_a_port_with_a_slow_trickled_greeting],
    "tarpit": [test_tarpit_sends_the_reply_one_byte_at_a_time],
    "disconnect": [test_disconnect_without_a_word_after_the_dot, test_421_then_disconnect],
    "require": [
        test_require_tls_refuses_mail_until_starttls,
        test_require_auth_refuses_mail_until_login,
    ],
    "greylist": [test_greylist_refuses_then_accepts_after_the_delay],
    "max_commands": [test_421_after_too_many_commands],
    "size_limit": [test_size_limit_is_advertised_and_enforced],
}


def test_every_action_is_exercised_by_a_real_client() -> None:
    from smtp_session.sandbox.scenario_format import ACTIONS

    assert sorted(EXERCISED) == sorted(ACTIONS)
