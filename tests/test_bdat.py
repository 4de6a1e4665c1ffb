"""BDAT on the client side (RFC 3030), through /ws, against a small BDAT-capable server.

The sandbox's own BDAT is the peers engineer's; until then a loopback server that reads exactly
the announced octets stands in for it (tests/hostile_server.py shows how these are written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smtp_session.guide.replay import replay_frames
from tests.conftest import WsDriver
from tests.hostile_server import Conn, HostileServer, send
from web.services import Target

MESSAGE = b"Subject: chunked\r\n\r\nHello in two chunks.\r\n"


class BdatServer(HostileServer):
    """Offers CHUNKING (and PIPELINING, unless told not to) and reads each chunk exactly."""

    def __init__(self, pipelining: bool = True, refuse_first: bool = False) -> None:
        self.chunks: list[bytes] = []
        offers = b"250-PIPELINING\r\n" if pipelining else b""
        ehlo = b"250-bdat.test\r\n" + offers + b"250 CHUNKING\r\n"
        self.refuse_first = refuse_first
        super().__init__(commands={"EHLO": [send(ehlo)], "BDAT": [self._bdat]})

    def _bdat(self, conn: Conn) -> None:
        words = conn.server.received[-1].decode().split()
        size, last = int(words[1]), "LAST" in (w.upper() for w in words[2:])
        while len(conn.buf) < size:
            conn._fill()  # RFC 3030 §2: exactly chunk-size octets follow the command
        chunk, conn.buf = conn.buf[:size], conn.buf[size:]
        if self.refuse_first and not self.chunks:
            self.chunks.append(b"")
            conn.send(b"552 5.3.4 Chunk too big for this server\r\n")
            return
        self.chunks.append(chunk)
        reply = b"250 2.0.0 Message OK, %d octets\r\n" if last else b"250 2.0.0 %d octets\r\n"
        conn.send(reply % size)


@pytest.fixture
def bdat(app: Any) -> Iterator[Callable[..., BdatServer]]:
    servers: list[BdatServer] = []

    def start(**options: Any) -> BdatServer:
        server = BdatServer(**options).__enter__()
        servers.append(server)
        app.extensions["playground"].targets["bdat"] = Target(
            "bdat", "127.0.0.1", server.port, named=True
        )
        return server

    yield start
    for server in servers:
        server.stop()


def envelope(ws: WsDriver) -> None:
    ws.connect("bdat")
    ws.ehlo()
    ws.command("MAIL FROM:<a@client.example>")
    ws.command("RCPT TO:<b@bdat.test>")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_two_chunks_from_the_composer_are_one_message(app, ws, bdat, pipelining):
    server = bdat(pipelining=pipelining)
    envelope(ws)
    first, second = MESSAGE[:20], MESSAGE[20:]
    ws.send({"type": "chunk", "data": first.decode()})
    ws.send({"type": "chunk", "data": second.decode(), "last": True})
    while len([f for f in ws.frames if f.get("after") == "BDAT"]) < 2:
        ws.wait_for("reply")
    last = [f for f in ws.frames if f.get("after") == "BDAT"][-1]
    assert server.chunks == [first, second] and b"".join(server.chunks) == MESSAGE
    commands = [f["text"] for f in ws.frames if f["type"] == "sent" and f["kind"] == "command"]
    assert commands[-2:] == [f"BDAT {len(first)}", f"BDAT {len(second)} LAST"]
    assert last["state"]["messages_sent"] == 1 and last["state"]["mail_from"] is None
    bdat_lines = {f["seq"]: f["text"] for f in ws.frames if f["type"] == "sent"}
    answered = [bdat_lines[f["answers"]] for f in ws.frames if f.get("after") == "BDAT"]
    assert answered == commands[-2:]
    chunks = [f for f in ws.frames if f["type"] == "sent" and f.get("chunk")]
    assert [line for f in chunks for line in f["lines"]][-2:] == ["", "Hello in two chunks."]


def test_the_transcript_and_the_replay_understand_bdat(app, ws, bdat):
    bdat()
    envelope(ws)
    ws.send({"type": "chunk", "data": MESSAGE.decode(), "last": True})
    ws.wait_for("reply", after="BDAT")
    ws.command("NOOP")
    ws.command("QUIT")
    ws.wait_for("closed")
    entries = app.extensions["playground"].store.get(ws.frames[0]["transcript"]).entries
    sent = [(e["line_kind"], e["text"]) for e in entries if e["kind"] == "sent"]
    assert sent[3:] == [
        ("command", f"BDAT {len(MESSAGE)} LAST"),
        ("data", "Subject: chunked"),
        ("data", ""),
        ("data", "Hello in two chunks."),
        ("command", "NOOP"),
        ("command", "QUIT"),
    ]
    frames = replay_frames(entries)
    replies = [f for f in frames if f["type"] == "reply"]
    assert [r["after"] for r in replies][-3:] == ["BDAT", "NOOP", "QUIT"]
    assert replies[-3]["state"]["messages_sent"] == 1
    assert not [w for f in frames if f["type"] == "sent" for w in f.get("warnings", [])]


def test_a_typed_bdat_goes_with_exactly_its_octets(app, ws, bdat):
    server = bdat()
    envelope(ws)
    ws.send({"type": "lines", "lines": ["BDAT 7 LAST", "hello", "NOOP"]})
    noop = ws.wait_for("reply", after="NOOP")
    assert server.chunks == [b"hello\r\n"] and noop["code"] == 250
    assert noop["state"]["messages_sent"] == 1


def test_a_typed_bdat_with_a_wrong_count_is_not_sent(app, ws, bdat):
    server = bdat()
    envelope(ws)
    ws.send({"type": "lines", "lines": ["BDAT 5 LAST", "hello", "NOOP"]})
    error = ws.wait_for("error")
    held = ws.wait_for("held")
    assert error["code"] == "bdat_count" and "composer" in error["message"]
    assert held["count"] == 2 and server.chunks == []
    assert ws.command("RSET")["code"] == 250  # the session goes on, in step


def test_after_a_refused_chunk_no_more_chunks_are_sent(app, ws, bdat):
    # RFC 3030 §2: after a 4xx/5xx to BDAT "the sender-SMTP MUST NOT send any additional
    # BDAT segments".
    server = bdat(pipelining=False, refuse_first=True)
    envelope(ws)
    ws.send({"type": "chunk", "data": "Subject: x\r\n"})
    ws.send({"type": "chunk", "data": "\r\nbody\r\n", "last": True})
    # Queued when the 552 came: held back; arrived after it: refused. Never sent either way.
    while not [f for f in ws.frames if f["type"] in ("held", "error")]:
        ws.next()
    [told] = [f for f in ws.frames if f["type"] in ("held", "error")]
    assert told.get("reason") == "bdat-refused" or told.get("code") == "bdat_refused"
    assert "RFC 3030" in told["message"] and ws.command("RSET")["code"] == 250
    ws.send({"type": "chunk", "data": "\r\nagain\r\n", "last": True})
    assert ws.wait_for("reply", after="BDAT")["code"] == 250  # after RSET chunks go again
    assert server.chunks == [b"", b"\r\nagain\r\n"]


@pytest.mark.parametrize(
    "data, code",
    [("bare\nLF\r\n", "bad_chunk"), ("NUL\x00\r\n", "bad_chunk")],
    ids=["bare-lf", "nul"],
)
def test_a_chunk_that_is_not_mail_text_is_refused_in_words(app, ws, bdat, data, code):
    bdat()
    envelope(ws)
    ws.send({"type": "chunk", "data": data, "last": True})
    error = ws.wait_for("error")
    assert error["code"] == code and "not sent" in error["message"]


@pytest.mark.browser
def test_the_console_composes_a_chunk_and_counts_its_octets(page, live, bdat):
    server = bdat()
    page.goto(live.url + "/")
    page.locator("#target").select_option("bdat")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    for line in ["EHLO client.example", "MAIL FROM:<a@client.example>", "RCPT TO:<b@bdat.test>"]:
        page.locator("#input").fill(line)
        page.locator("#input").press("Enter")
    page.locator(".line.reply", has_text="250 2.0.0 ok").nth(1).wait_for()
    page.locator("[data-helper='chunk'] summary").click()
    page.get_by_label("BDAT chunk to send").fill("Subject: hi\n\nBody.\n")
    assert page.locator("[data-out='bdat']").text_content() == "BDAT 22 LAST"
    page.get_by_role("button", name="Send chunk").click()
    page.locator(".line.reply", has_text="Message OK, 22 octets").wait_for()
    assert server.chunks == [b"Subject: hi\r\n\r\nBody.\r\n"]
    assert page.locator(".line.sent", has_text="BDAT 22 LAST").count() == 1
