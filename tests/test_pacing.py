"""A pasted session, through /ws: paced as the server reads it (RFC 2920 groups, 354 before data).

Issue #12's first case: the README's Quick start, pasted as is, against the sandbox with and
without PIPELINING, with a known and an unknown recipient.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from tests.conftest import LiveServer, WsDriver, build_app, free_port, replies
from transcripts.exports import export

ROOT = Path(__file__).resolve().parent.parent


def readme_paste() -> list[str]:
    """The Quick start block of README.md, exactly as a reader copies it."""
    text = (ROOT / "README.md").read_text()
    block = text.split("press **Connect** and type:\n\n```\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def sandbox_kind(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[SandboxServer]:
    server = SandboxServer(
        SandboxConfig(
            data_dir=data_dir, port=free_port(), tls_port=free_port(), pipelining=request.param
        )
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def paced(data_dir: Path, sandbox_kind: SandboxServer) -> Iterator[tuple[WsDriver, Any]]:
    app = build_app(data_dir, sandbox_kind)
    with LiveServer(app) as live:
        driver = WsDriver(live.ws_url)
        yield driver, app
        driver.close()


def sent_lines(frames: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for f in frames:
        if f["type"] == "sent":
            out += f.get("lines") or [f["text"]]
    return out


def answered(frames: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(the sent line each reply answers, the reply's code), from the frames' ``answers``."""
    by_seq = {}
    for f in frames:
        if f["type"] == "sent":
            for i, line in enumerate(f.get("lines") or [f["text"]]):
                by_seq[f["seq"] + i] = line
    return [(by_seq[r["answers"]], r["code"]) for r in replies(frames) if r["answers"] is not None]


def test_the_readme_paste_delivers_the_message(paced, sandbox_kind):
    ws, app = paced
    frames = ws.paste(readme_paste(), timeout=15)
    assert [r["code"] for r in replies(frames)] == [220, 250, 250, 250, 354, 250, 221]
    paste = readme_paste()
    assert answered(frames) == [
        (paste[0], 250),
        (paste[1], 250),
        (paste[2], 250),
        (paste[3], 354),
        (".", 250),
        ("QUIT", 221),
    ]
    assert sent_lines(frames) == paste
    # The message left only after the 354, in one write.
    data = next(f for f in frames if f["type"] == "sent" and f["kind"] == "data")
    assert data["lines"] == ["Subject: Test", "", "Hello Bob.", "."]
    assert frames.index(data) > frames.index(replies(frames)[4])
    assert not [f for f in frames if f["type"] in ("held", "error")]
    assert not [
        w for f in frames if f["type"] == "sent" for w in f["warnings"] if "order" in w["code"]
    ]
    [message] = sandbox_kind.mailbox.messages()
    assert message.rcpt_tos == ["bob@example.com"]
    assert sandbox_kind.mailbox.raw(message.id) == b"Subject: Test\r\n\r\nHello Bob.\r\n"
    assert replies(frames)[-1]["state"]["messages_sent"] == 1


def test_pipelined_groups_end_where_rfc_2920_says(paced, sandbox_kind):
    ws, _app = paced
    frames = ws.paste(readme_paste(), timeout=15)
    order = [
        ("sent", f["text"]) if f["type"] == "sent" else (f["type"], f.get("code"))
        for f in frames
        if f["type"] in ("sent", "reply")
    ]
    if sandbox_kind.config.pipelining:
        # EHLO ends a group; MAIL, RCPT and DATA leave together (DATA last); the message
        # and the QUIT after it are one group (RFC 2920 §3.1: content may start a group).
        expected = [
            ("reply", 220),
            ("sent", "EHLO client.example"),
            ("reply", 250),
            ("sent", "MAIL FROM:<alice@example.com>"),
            ("sent", "RCPT TO:<bob@example.com>"),
            ("sent", "DATA"),
            ("reply", 250),
            ("reply", 250),
            ("reply", 354),
            ("sent", "Subject: Test"),
            ("sent", "QUIT"),
            ("reply", 250),
            ("reply", 221),
        ]
    else:
        expected = [("reply", 220)]
        for line, code in zip(readme_paste()[:4], (250, 250, 250, 354), strict=True):
            expected += [("sent", line), ("reply", code)]
        expected += [("sent", "Subject: Test"), ("reply", 250), ("sent", "QUIT"), ("reply", 221)]
    assert order == expected


def test_an_unknown_recipient_holds_the_message_back(paced, sandbox_kind):
    ws, app = paced
    paste = [line.replace("bob@example.com", "unknown@sandbox.test") for line in readme_paste()]
    frames = ws.paste(paste, timeout=15)
    assert [r["code"] for r in replies(frames)] == [220, 250, 250, 550, 503, 221]
    assert [r["after"] for r in replies(frames)][3:] == ["RCPT", "DATA", "QUIT"]
    # The message lines never reached the server as commands (no 500s), and the user is told.
    assert "Subject: Test" not in sent_lines(frames)
    [held] = [f for f in frames if f["type"] == "held"]
    assert held["count"] == 4 and held["reason"] == "data-refused"
    assert held["lines"] == ["Subject: Test", "", "Hello Bob.", "."]
    assert "4 lines were not sent" in held["message"] and "503" in held["message"]
    state = replies(frames)[-1]["state"]
    assert state["messages_sent"] == 0
    steps = {s["id"]: s["status"] for s in state["steps"]}
    assert steps["message"] not in ("done", "current") and steps["end-of-data"] != "done"
    assert sandbox_kind.mailbox.messages() == []
    entries = app.extensions["playground"].store.get(frames[0]["transcript"]).entries
    [event] = [e for e in entries if e["kind"] == "event" and e["event"] == "held"]
    assert event["data"]["count"] == 4 and "lines" not in event["data"]
    assert "Subject: Test" not in str(entries)
    text = export(app.extensions["playground"].store.get(frames[0]["transcript"]), "txt")[0]
    assert "held back: 4 lines were not sent" in str(text)


def test_a_message_pasted_over_several_frames_is_held_to_its_end(ws, sandbox):
    ws.connect()
    ws.ehlo()
    ws.send({"type": "lines", "lines": ["MAIL FROM:<a@example.com>", "DATA", "Subject: x"]})
    ws.wait_for("held")
    ws.send({"type": "lines", "lines": ["body", ".", "NOOP"]})
    second = ws.wait_for("held")
    noop = ws.wait_for("reply")
    assert second["count"] == 2 and noop["after"] == "NOOP" and noop["code"] == 250
    assert not [f for f in ws.frames if f["type"] == "reply" and f["code"] == 500]


def test_a_typed_line_is_read_as_typed_after_the_replies(ws, sandbox):
    ws.connect()
    ws.ehlo()
    ws.command("MAIL FROM:<a@example.com>")
    assert ws.command("DATA")["code"] == 503  # typed alone: nothing was meant as its message
    assert ws.command("RSET")["code"] == 250
    assert not [f for f in ws.frames if f["type"] == "held"]


def test_an_empty_line_is_not_sent_where_the_server_reads_commands(ws, sandbox):
    ws.connect()
    ws.send({"type": "line", "text": ""})
    error = ws.wait_for("error")
    assert error["code"] == "empty_line" and "not sent" in error["message"]
    assert ws.command("NOOP")["code"] == 250
    ws.ehlo()
    ws.command("MAIL FROM:<a@example.com>")
    ws.command("RCPT TO:<b@example.com>")
    ws.command("DATA")
    ws.send({"type": "lines", "lines": ["Subject: x", "", "body", "."]})
    assert ws.wait_for("reply")["code"] == 250  # inside the message the empty line went
    assert not [f for f in ws.frames if f["type"] == "reply" and f["code"] == 500]
    [message] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(message.id) == b"Subject: x\r\n\r\nbody\r\n"


def test_a_misordered_paste_is_warned_on_the_line_that_is_wrong(ws, sandbox):
    ws.connect()
    ws.ehlo()
    ws.send({"type": "lines", "lines": ["RCPT TO:<b@example.com>", "MAIL FROM:<a@example.com>"]})
    rcpt = ws.wait_for("sent")
    mail = ws.wait_for("sent")
    assert [w["code"] for w in rcpt["warnings"]] == ["order:rcpt-before-mail"]
    assert mail["warnings"] == []


def test_message_warnings_name_their_own_line_in_a_batch(ws, sandbox):
    ws.connect()
    ws.ehlo()
    ws.send({"type": "lines", "lines": ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"]})
    ws.wait_for("reply", after="RCPT")
    ws.command("DATA")
    ws.send({"type": "lines", "lines": ["Subject: one", "", "first"]})
    ws.wait_for("sent")
    ws.send({"type": "lines", "lines": ["x", ".leading dot", "."]})
    batch = ws.wait_for("sent")
    [dot] = [w for w in batch["warnings"] if w["code"] == "data:leading-dot"]
    assert batch["lines"][dot["line"]] == ".leading dot"


def test_rcpt_before_ehlo_is_told_to_greet_first(ws, sandbox):
    ws.connect()
    ws.command("MAIL FROM:<a@example.com>")
    reply = ws.command("RCPT TO:<b@example.com>")
    rcpt = [f for f in ws.frames if f["type"] == "sent"][-1]
    assert [w["code"] for w in rcpt["warnings"]] == ["order:hello-first"]
    assert reply["code"] == 503
    assert reply["explain"]["next"].startswith("Send EHLO")
    assert "greeted" in reply["explain"]["meaning"]


def test_a_long_message_queued_before_its_354_leaves_in_frame_sized_batches(ws, sandbox):
    ws.connect()
    ws.ehlo()
    body = [f"line {i:06d} " + "x" * 90 for i in range(30_000)]  # ~3 MB
    envelope = ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA"]
    paste = [*envelope, "Subject: big", "", *body, "."]
    for i in range(0, len(paste), 7_000):  # frames under PLAYGROUND_MAX_FRAME, sent at once
        ws.send({"type": "lines", "lines": paste[i : i + 7_000]})
    done = ws.wait_for("reply", timeout=30, after="end-of-data")
    batches = [f for f in ws.frames if f["type"] == "sent" and f["kind"] == "data"]
    assert done["code"] == 250 and len(batches) >= 3
    assert all(sum(len(line) + 2 for line in b["lines"]) <= 1024 * 1024 for b in batches)
    [message] = sandbox.mailbox.messages()
    expected = "\r\n".join(["Subject: big", "", *body]) + "\r\n"
    assert sandbox.mailbox.raw(message.id) == expected.encode()
