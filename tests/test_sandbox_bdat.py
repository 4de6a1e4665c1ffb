"""The sandbox's CHUNKING / BDAT (RFC 3030), driven by real clients over loopback."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from tests.conftest import free_port


class Reply(NamedTuple):
    code: int
    text: str


class RawClient:
    """A socket client that sends exact bytes and reads replies one at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.reply().code == 220

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> Reply:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError(f"closed after {lines}")
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return Reply(int(line[:3]), "\n".join(t[4:] for t in lines))

    def command(self, data: bytes) -> Reply:
        self.send(data)
        return self.reply()

    def closed(self) -> bool:
        return self.file.readline() == b""

    def envelope(self, *rcpts: str) -> None:
        assert self.command(b"EHLO client.example\r\n").code == 250
        assert self.command(b"MAIL FROM:<alice@example.com>\r\n").code == 250
        for rcpt in rcpts or ("bob@example.com",):
            assert self.command(f"RCPT TO:<{rcpt}>\r\n".encode()).code == 250

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw(sandbox: SandboxServer) -> Iterator[RawClient]:
    client = RawClient(sandbox.config.port)
    yield client
    client.close()


def bdat(chunk: bytes, last: bool = False) -> bytes:
    return f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk


# Octets DATA could not carry as they are: a line that is a lone dot, a leading dot, a bare LF.
FIRST = b"Subject: chunked\r\nFrom: <alice@example.com>\r\n\r\n.\r\n..leading dots\r\n"
SECOND = b"bare\nline feed, and no final CRLF"


def test_ehlo_advertises_chunking(raw):
    assert "CHUNKING" in raw.command(b"EHLO client.example\r\n").text.split("\n")


def test_two_chunks_are_delivered_byte_for_byte(raw, sandbox):
    raw.envelope("bob@example.com", "carol@example.com")
    first = raw.command(bdat(FIRST))
    assert first == Reply(250, f"2.0.0 {len(FIRST)} octets received")
    done = raw.command(bdat(SECOND, last=True))
    assert done.code == 250 and "queued as" in done.text
    [msg] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(msg.id) == FIRST + SECOND
    assert msg.rcpt_tos == ["bob@example.com", "carol@example.com"]
    assert msg.subject == "chunked" and msg.size == len(FIRST + SECOND)
    assert done.text.endswith(msg.id)
    assert raw.command(b"NOOP\r\n").code == 250  # back in command mode, nothing left over


def test_pipelined_transaction_in_one_write(raw, sandbox):
    assert raw.command(b"EHLO client.example\r\n").code == 250
    raw.send(
        b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
        + bdat(FIRST)
        + bdat(SECOND)
        + b"BDAT 0 LAST\r\nQUIT\r\n"
    )
    codes = [raw.reply().code for _ in range(6)]
    assert codes == [250, 250, 250, 250, 250, 221]
    [msg] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(msg.id) == FIRST + SECOND


def test_smtplib_envelope_then_bdat(sandbox):
    with smtplib.SMTP("127.0.0.1", sandbox.config.port, timeout=10) as smtp:
        smtp.ehlo("client.example")
        assert smtp.has_extn("chunking")
        smtp.mail("", ["SIZE=20"])  # the null sender, with a parameter
        smtp.rcpt("bob@example.com")
        smtp.send(bdat(b"Subject: one\r\n\r\nx\r\n", last=True))
        code, text = smtp.getreply()
    assert code == 250, text
    [msg] = sandbox.mailbox.messages()
    assert msg.mail_from == "<>" and sandbox.mailbox.raw(msg.id) == b"Subject: one\r\n\r\nx\r\n"


@pytest.mark.parametrize(
    "command",
    [b"BDAT\r\n", b"BDAT abc\r\n", b"BDAT 5 FIRST\r\n", b"BDAT -1\r\n", b"BDAT 5 LAST x\r\n"],
    ids=["no-count", "not-a-number", "not-last", "negative", "extra-word"],
)
def test_bad_chunk_size_answers_521_and_hangs_up(raw, command):
    raw.envelope()
    reply = raw.command(command)
    assert reply.code == 521 and "BDAT chunk-size [LAST]" in reply.text
    assert raw.closed()  # the octets after it cannot be told from commands


def test_bdat_without_mail_reads_the_chunk_and_says_why(raw, sandbox):
    assert raw.command(b"EHLO client.example\r\n").code == 250
    # The chunk looks like a command: it must be read as octets, not run.
    assert raw.command(bdat(b"QUIT\r\n", last=True)) == Reply(503, "5.5.1 Error: need MAIL command")
    assert raw.command(b"MAIL FROM:<alice@example.com>\r\n").code == 250
    assert raw.command(bdat(b"QUIT\r\n")) == Reply(503, "5.5.1 Error: need RCPT command")
    assert raw.command(b"NOOP\r\n").code == 250
    assert sandbox.mailbox.messages() == []


def test_bdat_before_ehlo_and_after_helo(raw):
    assert raw.command(bdat(b"x")) == Reply(503, "5.5.1 Error: send EHLO first")
    assert raw.command(b"HELO client.example\r\n").code == 250
    assert raw.command(bdat(b"x")).code == 503
    assert raw.command(b"NOOP\r\n").code == 250


def test_data_after_bdat_is_refused_and_the_chunks_go_on(raw, sandbox):
    raw.envelope()
    assert raw.command(bdat(FIRST)).code == 250
    # RFC 3030 §3: DATA in a BDAT transaction MUST get 503.
    assert raw.command(b"DATA\r\n") == Reply(503, "5.5.1 Error: DATA after BDAT")
    assert raw.command(bdat(SECOND, last=True)).code == 250
    [msg] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(msg.id) == FIRST + SECOND


def test_rset_drops_the_chunks(raw, sandbox):
    raw.envelope()
    assert raw.command(bdat(b"dropped")).code == 250
    assert raw.command(b"RSET\r\n").code == 250
    assert raw.command(bdat(b"x", last=True)).code == 503  # no MAIL any more
    raw.envelope()
    assert raw.command(bdat(b"kept\r\n", last=True)).code == 250
    [msg] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(msg.id) == b"kept\r\n"


def test_bdat_in_a_data_transaction_is_not_reached_after_354(raw, sandbox):
    raw.envelope()
    assert raw.command(b"DATA\r\n").code == 354
    # After 354 everything up to the lone dot is message text, BDAT included.
    assert raw.command(b"BDAT 3 LAST\r\nabc\r\n.\r\n").code == 250
    [msg] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(msg.id) == b"BDAT 3 LAST\r\nabc\r\n"


def test_a_message_over_the_size_limit_is_refused_then_discarded(data_dir):
    server = SandboxServer(
        SandboxConfig(data_dir=data_dir, port=free_port(), tls_port=None, data_size_limit=10)
    )
    server.start()
    raw = RawClient(server.config.port)
    try:
        raw.envelope()
        assert raw.command(bdat(b"123456")).code == 250
        assert raw.command(bdat(b"7890ab")) == Reply(552, "5.3.4 Error: message too big")
        refused = raw.command(bdat(b"cd", last=True))
        assert refused == Reply(554, "5.5.0 Discarded 2 octets after an earlier error")
        # The LAST chunk ended the failed transaction; a new one works.
        raw.envelope()
        assert raw.command(bdat(b"small", last=True)).code == 250
        assert [server.mailbox.raw(m.id) for m in server.mailbox.messages()] == [b"small"]
    finally:
        raw.close()
        server.stop()


def test_help_lists_bdat_beside_data(raw):
    raw.command(b"EHLO client.example\r\n")
    assert "BDAT chunk-size [LAST]" in raw.command(b"HELP BDAT\r\n").text
    assert "DATA" in raw.command(b"HELP DATA\r\n").text
    assert {"BDAT", "DATA"} <= set(raw.command(b"HELP\r\n").text.split(":", 1)[1].split())
