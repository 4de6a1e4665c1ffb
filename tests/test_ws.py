"""The WebSocket contract (docs/protocol.md) against the running app and the real sandbox."""

from __future__ import annotations

import json
import selectors
import socket
import threading
import time

import pytest

from web.services import Target

TUTORIAL_BODY = [
    'From: "Alice" <alice@example.com>',
    'To: "Bob" <bob@example.com>',
    "Subject: Test",
    "",
    "Hello Bob.",
]


def test_tutorial_transaction_reaches_the_inbox_byte_for_byte(ws, live, sandbox):
    greeting = ws.connect()
    assert greeting["code"] == 220 and greeting["after"] == "greeting"
    ehlo = ws.ehlo()
    assert ehlo["code"] == 250 and len(ehlo["lines"]) > 1
    assert ehlo["lines"][0].startswith("250-") and ehlo["lines"][-1].startswith("250 ")
    final = ws.send_message("alice@example.com", ["bob@example.com"], TUTORIAL_BODY)
    assert final["code"] == 250 and final["after"] == "end-of-data"
    assert "queued as" in final["lines"][0]
    bye = ws.command("QUIT")
    assert bye["code"] == 221
    closed = ws.wait_for("closed")
    assert closed["reason"]
    [msg] = sandbox.mailbox.messages()
    assert msg.mail_from == "alice@example.com" and msg.rcpt_tos == ["bob@example.com"]
    assert sandbox.mailbox.raw(msg.id) == ("\r\n".join(TUTORIAL_BODY) + "\r\n").encode()


def test_session_frame_comes_first_with_a_transcript_id(ws):
    ws.send({"type": "connect", "target": "sandbox"})
    first = ws.next()
    assert first["type"] == "session"
    assert isinstance(first["transcript"], str) and len(first["transcript"]) >= 22
    assert first["target"]["name"] == "sandbox"


def test_each_line_sent_is_echoed_as_a_sent_frame(ws):
    ws.connect()
    ws.send({"type": "line", "text": "NOOP"})
    sent = ws.wait_for("sent")
    assert sent["text"] == "NOOP" and sent["kind"] == "command"
    reply = ws.wait_for("reply")
    assert reply["code"] == 250 and reply["after"] == "NOOP"
    assert reply["enhanced"] is None or reply["enhanced"].startswith("2.")


def test_reply_carries_the_enhanced_code(ws):
    ws.connect()
    ws.ehlo()
    ws.command("MAIL FROM:<a@example.com>")
    rcpt = ws.command("RCPT TO:<unknown@sandbox.test>")
    assert rcpt["code"] == 550 and rcpt["enhanced"] == "5.1.1"
    assert rcpt["class"] == "permanent"


def test_lines_frame_sends_in_order_with_dot_stuffing_kept_on_the_wire(ws, sandbox):
    ws.connect()
    ws.ehlo()
    body = ["Subject: dots", "", ".leading dot was stuffed", "..", "end"]
    final = ws.send_message("a@example.com", ["b@example.com"], body)
    assert final["code"] == 250
    [msg] = sandbox.mailbox.messages()
    # The server removes one leading dot (RFC 5321 §4.5.2): the raw API shows what it kept.
    expected = b"Subject: dots\r\n\r\nleading dot was stuffed\r\n.\r\nend\r\n"
    assert sandbox.mailbox.raw(msg.id) == expected
    batch = [f for f in ws.frames if f["type"] == "sent"][-1]
    # The message went out as one batch: one frame, every line, in order, the first one's seq.
    assert batch["kind"] == "data" and batch["lines"] == [*body, "."]
    assert batch["text"] == body[0] and isinstance(batch["seq"], int)


@pytest.mark.parametrize(
    "frame, code",
    [
        pytest.param("this is not json", "bad_json", id="not-json"),
        pytest.param("[1, 2]", "bad_frame", id="not-an-object"),
        pytest.param(json.dumps({"type": "teleport"}), "unknown_type", id="unknown-type"),
        pytest.param(json.dumps({"text": "EHLO x"}), "unknown_type", id="no-type"),
        pytest.param(json.dumps({"type": "line"}), "missing_field", id="line-without-text"),
        pytest.param(json.dumps({"type": "line", "text": 5}), "bad_field", id="text-not-string"),
        pytest.param(json.dumps({"type": "lines", "lines": "x"}), "bad_field", id="lines-not-list"),
        pytest.param(json.dumps({"type": "lines", "lines": ["a", 1]}), "bad_field", id="line-item"),
        pytest.param(b"\x00\x01binary", "binary", id="binary-frame"),
    ],
)
def test_bad_frames_get_an_error_and_the_session_stays_usable(ws, frame, code):
    ws.connect()
    ws.send(frame)
    error = ws.wait_for("error")
    assert error["code"] == code and error["message"]
    assert ws.command("NOOP")["code"] == 250


@pytest.mark.parametrize(
    "text, name",
    [
        pytest.param("NOOP\r\nRSET", "CR", id="crlf"),
        pytest.param("NOOP\nRSET", "LF", id="lf"),
        pytest.param("NOOP\rRSET", "CR", id="cr"),
        pytest.param("NOOP\x00", "NUL", id="nul"),
    ],
)
def test_lines_with_cr_lf_nul_are_refused_and_nothing_is_sent(ws, text, name):
    ws.connect()
    ws.send({"type": "line", "text": text})
    error = ws.wait_for("error")
    assert error["code"] == "bad_line" and name in error["message"]
    # Nothing went out: the next reply answers the next command, not a smuggled one.
    reply = ws.command("NOOP")
    assert reply["after"] == "NOOP" and reply["code"] == 250
    assert not [f for f in ws.frames if f["type"] == "sent" and f["text"] != "NOOP"]


def test_a_bad_line_in_a_batch_refuses_the_whole_batch(ws):
    ws.connect()
    ws.send({"type": "lines", "lines": ["NOOP", "RSET\r\nQUIT"]})
    assert ws.wait_for("error")["code"] == "bad_line"
    assert ws.command("NOOP")["code"] == 250
    assert [f["text"] for f in ws.frames if f["type"] == "sent"] == ["NOOP"]


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "line", "text": "NOOP \\ud800"}',  # JSON can carry half a surrogate pair
        '{"type": "lines", "lines": ["NOOP", "RSET \\udfff"]}',
    ],
    ids=["line", "lines"],
)
def test_half_a_surrogate_pair_is_refused_in_words_and_recording_goes_on(ws, client, frame):
    ws.connect()
    ws.send(frame)
    error = ws.wait_for("error")
    assert error["code"] == "bad_line" and "surrogate" in error["message"]
    assert ws.command("NOOP")["code"] == 250
    tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
    entries = client.get(f"/api/transcripts/{tid}").get_json()["entries"]
    assert [e.get("text") for e in entries if e["kind"] == "sent"] == ["NOOP"]
    assert any(e["kind"] == "event" and e["data"].get("code") == "bad_line" for e in entries)


def test_frame_over_one_mebibyte_is_refused(ws):
    ws.connect()
    ws.send({"type": "line", "text": "X" * (1024 * 1024 + 10)})
    error = ws.wait_for("error")
    assert error["code"] == "frame_too_large"
    assert ws.command("NOOP")["code"] == 250


def test_line_before_connect_is_a_clear_error(ws):
    ws.send({"type": "line", "text": "EHLO x"})
    error = ws.wait_for("error")
    assert error["code"] == "not_connected" and "connect" in error["message"].lower()


def test_unknown_target_is_refused(ws):
    ws.send({"type": "connect", "target": "gmail"})
    error = ws.wait_for("error")
    assert error["code"] == "bad_target" and "sandbox" in error["message"]


def _add_target(app, name, port, host="127.0.0.1"):
    app.extensions["playground"].targets[name] = Target(name, host, port, named=True)


def test_refused_connection_names_the_cause(app, ws):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        _add_target(app, "closed", port)
        ws.send({"type": "connect", "target": "closed"})
        error = ws.wait_for("error")
    assert error["code"] == "refused" and "refused" in error["message"]
    assert ws.wait_for("closed")


def test_name_not_found_names_the_cause(app, ws):
    _add_target(app, "nowhere", 25, host="no-such-host.invalid")
    ws.send({"type": "connect", "target": "nowhere"})
    error = ws.wait_for("error")
    assert error["code"] == "name_not_found" and "not found" in error["message"]


def test_connect_that_gets_no_answer_times_out_within_the_connect_timeout(app, ws):
    # A loopback listener whose accept queue is full drops new SYNs, so the TCP handshake
    # never completes: the connect itself times out (no traffic leaves the machine).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    # The kernel completes one handshake for the backlog; once it has, the queue is full.
    with selectors.DefaultSelector() as selector:  # not select(): fds may be over 1024 here
        for s in fillers:
            selector.register(s, selectors.EVENT_WRITE)
        assert selector.select(5), "the accept queue never filled"
    app.config["CONNECT_TIMEOUT"] = 1.0
    _add_target(app, "blackhole", port)
    started = time.monotonic()
    ws.send({"type": "connect", "target": "blackhole"})
    error = ws.wait_for("error", timeout=6)
    elapsed = time.monotonic() - started
    for s in fillers:
        s.close()
    listener.close()
    assert error["code"] == "timeout" and "timed out" in error["message"]
    assert elapsed < 3


def test_server_closing_after_quit_sends_closed_with_reason(ws):
    ws.connect()
    ws.command("QUIT")
    closed = ws.wait_for("closed")
    assert closed["code"] == "server_closed" and "closed" in closed["reason"]


def test_server_closing_mid_data_is_reported(app, ws):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    _add_target(app, "dropper", listener.getsockname()[1])

    def serve():
        conn, _ = listener.accept()
        conn.sendall(b"220 dropper ESMTP\r\n")
        buf = b""
        while b"DATA\r\n" not in buf:
            buf += conn.recv(1024)
        conn.sendall(b"354 go ahead\r\n")
        conn.recv(1024)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ws.connect("dropper")
    assert ws.command("DATA")["code"] == 354
    ws.send({"type": "line", "text": "Subject: cut short"})
    closed = ws.wait_for("closed")
    assert closed["code"] in {"server_closed", "connection_lost"}
    listener.close()


def test_close_frame_closes_the_smtp_connection(ws):
    ws.connect()
    ws.send({"type": "close"})
    closed = ws.wait_for("closed")
    assert closed["code"] == "client_closed"


def test_browser_going_away_closes_the_smtp_connection_within_a_second(ws_factory, sandbox):
    driver = ws_factory()
    driver.connect()
    before = _smtp_connections(sandbox.config.port)
    assert before >= 1
    driver.ws.sock.close()  # vanish without a close frame, like a killed tab
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and _smtp_connections(sandbox.config.port) >= before:
        time.sleep(0.05)
    assert _smtp_connections(sandbox.config.port) < before


def _smtp_connections(port: int) -> int:
    """Established TCP connections to the sandbox port, read from /proc/net/tcp."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01":  # ESTABLISHED, client side
                count += 1
    return count


def test_invalid_utf8_fails_the_websocket_with_1007_and_closes_smtp(ws_factory, sandbox):
    import websocket

    driver = ws_factory()
    driver.connect()
    before = _smtp_connections(sandbox.config.port)
    # RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection (close code 1007).
    driver.ws.send(b'{"type":"line","text":"\xff\xfe"}', opcode=websocket.ABNF.OPCODE_TEXT)
    driver.ws.settimeout(5)
    opcode, payload = driver.ws.recv_data(control_frame=True)
    driver.ws.shutdown()
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == 1007
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and _smtp_connections(sandbox.config.port) >= before:
        time.sleep(0.05)
    assert _smtp_connections(sandbox.config.port) < before
