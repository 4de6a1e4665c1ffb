"""Live frames, replay frames and the exports' facts come from one engine, so they agree.

A session is recorded through /ws against the real sandbox (STARTTLS, AUTH, a refused
recipient, a dot-stuffed message, an abandoned transaction, a second message, a pasted one); the
transcript's replay (``?frames=1``, what the replay page reads) and ``facts_of`` (what the swaks
and Python exports read) must say what the live panels said, entry by entry.
"""

from __future__ import annotations

import json
from typing import Any

from smtp_session.guide.lean_read import read_frames
from smtp_session.sandbox.server import DEMO_PASSWORD, DEMO_USER, SandboxServer
from tests.conftest import WsDriver, fetch_knowledge, wait_until
from tests.test_sandbox_auth import b64
from transcripts.exports.facts import facts_of

BODY = ["Subject: one", "", "..a line that starts with a dot", "bye"]
PASTED = ["RCPT TO:<gina@sandbox.test>", "DATA", "Subject: three", "", "pasted"]


def record(ws: WsDriver) -> str:
    ws.connect()
    ws.ehlo()
    ws.command("STARTTLS")
    ws.wait_for("tls")
    ws.ehlo()
    assert ws.command("AUTH PLAIN " + b64(f"\0{DEMO_USER}\0{DEMO_PASSWORD}"))["code"] == 235
    assert ws.command("MAIL FROM:<alice@client.example>")["code"] == 250
    assert ws.command("RCPT TO:<bob@sandbox.test>")["code"] == 250
    assert ws.command("RCPT TO:<unknown@sandbox.test>")["code"] == 550
    assert ws.command("DATA")["code"] == 354
    ws.send({"type": "lines", "lines": [*BODY, "."]})
    assert ws.wait_for("reply")["code"] == 250
    ws.command("MAIL FROM:<alice@client.example>")
    ws.command("RCPT TO:<carol@sandbox.test>")
    ws.command("RSET")  # abandoned: no message
    final = ws.send_message("dave@client.example", ["erin@sandbox.test"], ["Subject: two", "", "x"])
    assert final["code"] == 250
    # A pasted transaction: the message lines leave before the 354 comes back.
    ws.send({"type": "lines", "lines": ["MAIL FROM:<frank@client.example>", *PASTED, "."]})
    while (reply := ws.wait_for("reply"))["after"] != "end-of-data":
        pass
    assert reply["code"] == 250
    ws.command("QUIT")
    ws.wait_for("closed")
    return str(next(f for f in ws.frames if f["type"] == "session")["transcript"])


def test_live_replay_and_export_facts_agree(
    ws: WsDriver, app: Any, sandbox: SandboxServer, live: Any
) -> None:
    live_server = live
    tid = record(ws)
    store = app.extensions["playground"].store
    transcript = wait_until(lambda: (t := store.get(tid)) and t.status == "closed" and t)
    live = [f for f in ws.frames if "seq" in f]
    client = app.test_client()
    replayed = client.get(f"/api/transcripts/{tid}?frames=1").get_json()["frames"]

    # The replay page shows, entry by entry, the state the live panels showed.
    by_seq = {f["seq"]: f for f in replayed}
    live_states = [(f["seq"], f["state"]) for f in live if "state" in f]
    assert live_states and all(by_seq[seq]["state"] == state for seq, state in live_states)
    last = live_states[-1][1]
    assert last["messages_sent"] == 3

    # Lean frames (v2): the socket carried keys and changes, never the explanations' texts;
    # read back with the knowledge document they are what the replay re-derives, and the
    # replay's own lean frames (what the replay page reads) read back the same.
    for wire, read in zip(ws.wire, ws.frames, strict=True):
        if read["type"] == "reply":
            assert read["explain"]["meaning"] not in json.dumps(wire)
    assert any("state" in f and "steps" not in f["state"] for f in ws.wire if f["type"] == "reply")
    for frame in live:
        if frame["type"] == "reply":
            assert frame["explain"] == by_seq[frame["seq"]]["explain"]
    lean = client.get(f"/api/transcripts/{tid}?frames=lean").get_json()
    assert read_frames(lean["frames"], fetch_knowledge(live_server.url, lean["knowledge"])) == (
        replayed
    )

    # The exports' facts: the same messages, senders and recipients as the Transaction's.
    facts = facts_of(transcript)
    delivered = [m for m in facts.messages if m.delivered]
    assert [{"from": m.sender, "to": m.recipients} for m in delivered] == last["messages"]
    assert len(delivered) == last["messages_sent"]
    assert [(m.sender, m.recipients, m.lines) for m in facts.messages if not m.delivered] == [
        ("alice@client.example", ["carol@sandbox.test"], None)
    ]
    # ... and each message is the bytes the sandbox received.
    inbox = sorted(sandbox.mailbox.raw(m.id) for m in sandbox.mailbox.messages())
    assert sorted(m.data or b"" for m in delivered) == inbox
    assert (facts.starttls, facts.tls_on_connect) == (True, False)
    assert (facts.auth_mechanism, facts.auth_user, facts.ehlo) == (
        "PLAIN",
        DEMO_USER,
        "client.example",
    )
