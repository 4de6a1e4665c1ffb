"""A documentation writer pastes a large message: it arrives whole and the transcript keeps
every line (stored as one row per batch, read back one entry per line)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

FRAME_BUDGET = 900_000  # what static/js/socket.js batches to: under the 1 MiB frame limit


def message(lines: int) -> list[str]:
    head = ["From: writer@example.com", "To: reader@sandbox.test", "Subject: big", ""]
    body = []
    for i in range(lines):
        line = f"line {i:06d} " + "abcdefghij" * 6
        if i % 500 == 0:
            line = "." + line  # a line that starts with a dot, stuffed as the console sends it
        if i % 777 == 0:
            line = f"caf\u00e9 cr\u00e8me {i}"  # UTF-8
        if i % 1000 == 999:
            line = ""  # an empty line inside the body
        body.append(line)
    return head + body


def batches(lines: list[str]) -> list[list[str]]:
    out, batch, size = [], [], 0
    for line in lines:
        if batch and size + len(line) + 4 > FRAME_BUDGET:
            out.append(batch)
            batch, size = [], 0
        batch.append(line)
        size += len(line.encode()) + 4
    out.append([*batch, "."])
    return out


def test_a_pasted_message_of_several_megabytes_is_delivered_and_recorded_whole(
    ws, sandbox, client
) -> None:
    lines = message(40_000)  # ~3 MB, four frames
    frames = batches(lines)
    assert len(frames) >= 3
    ws.connect()
    ws.ehlo()
    assert ws.command("MAIL FROM:<writer@example.com>")["code"] == 250
    assert ws.command("RCPT TO:<reader@sandbox.test>")["code"] == 250
    assert ws.command("DATA")["code"] == 354
    for batch in frames:
        ws.send({"type": "lines", "lines": batch})
    final = ws.wait_for("reply", timeout=60)
    assert final["code"] == 250, final
    ws.command("QUIT")
    ws.wait_for("closed")

    # The server has the message byte for byte (one leading dot of a stuffed line removed).
    [msg] = sandbox.mailbox.messages()
    unstuffed = [line[1:] if line.startswith(".") else line for line in lines]
    assert sandbox.mailbox.raw(msg.id) == ("\r\n".join(unstuffed) + "\r\n").encode()

    # One 'sent' frame per batch came back, numbered like the transcript's lines.
    sent = [f for f in ws.frames if f["type"] == "sent" and f.get("kind") == "data"]
    assert [len(f["lines"]) for f in sent] == [len(b) for b in frames]
    first_seq = sent[0]["seq"]
    assert [f["seq"] for f in sent] == [
        first_seq + sum(len(b) for b in frames[:i]) for i in range(len(frames))
    ]

    tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
    body = client.get(f"/api/transcripts/{tid}").get_json()
    entries = body["entries"]
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    stored = [e["text"] for e in entries[first_seq : first_seq + len(lines) + 1]]
    assert stored == [*lines, "."]
    assert all(e["line_kind"] == "data" for e in entries[first_seq : first_seq + len(lines)])
    assert body["transcript"]["entry_count"] == len(entries)
    assert entries[-1]["kind"] == "event" and entries[-1]["event"] == "closed"

    # A line from the middle of a batch: found by search, in the export, in the replay frames.
    needle = lines[25_003]
    found = client.get("/api/transcripts", query_string={"q": needle}).get_json()
    assert tid in [t["id"] for t in found["transcripts"]]
    assert needle in client.get(f"/api/transcripts/{tid}/export?format=txt").get_data(True)
    frames_api = client.get(f"/api/transcripts/{tid}?frames=compact").get_json()
    assert needle in json.dumps(frames_api, ensure_ascii=False)
