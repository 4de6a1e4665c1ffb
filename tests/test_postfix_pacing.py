"""A pasted session against Postfix, with and without PIPELINING, and a refused DATA in a group.

Postfix notices a client that does not wait for replies where it must: it logs "improper
command pipelining" (and answers "Error: I can break rules, too" to data sent before the 354).
The playground paces a ``lines`` frame as the server reads it, so Postfix must see none of that,
and must deliver the pasted message.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WsDriver, replies
from tests.postfix import DOMAIN
from tests.test_postfix import queue_id

ROOT = Path(__file__).resolve().parent.parent
TARGETS = pytest.mark.parametrize(
    "target", ["postfix", "postfix-bare"], ids=["pipelining", "no-pipelining"]
)


def readme_paste(recipient: str) -> tuple[list[str], str, str]:
    """The README's Quick start block as a reader copies it, to ``recipient`` at Postfix,
    with a sender and subject of its own (to find it in the shared log and Maildir)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("press **Connect** and type:\n\n```\n", 1)[1].split("```", 1)[0]
    tag = secrets.token_hex(4)
    sender, subject = f"alice-{tag}@client.example", f"Test {tag}"
    lines = [
        line.replace("bob@example.com", recipient)
        .replace("alice@example.com", sender)
        .replace("Subject: Test", f"Subject: {subject}")
        for line in block.splitlines()
    ]
    assert lines[0].startswith("EHLO") and lines[-1] == "QUIT"
    return lines, sender, subject


@TARGETS
def test_readme_paste_is_delivered_by_postfix(pws, postfix, target):
    lines, _sender, subject = readme_paste(f"bob@{DOMAIN}")
    frames = pws.paste(lines, target)
    codes = [r["code"] for r in replies(frames)]
    assert codes == [220, 250, 250, 250, 354, 250, 221]
    assert [r["after"] for r in replies(frames)][1:] == [
        "EHLO",
        "MAIL",
        "RCPT",
        "DATA",
        "end-of-data",
        "QUIT",
    ]
    done = replies(frames)[5]
    assert done["state"]["messages_sent"] == 1
    qid = queue_id(done)
    message = postfix.delivered("bob", subject)
    assert message.endswith(b"\n\nHello Bob.\n") and qid.encode() in message
    assert "status=sent" in postfix.queue_log(qid)
    log = postfix.session_log(f"{qid}: client=")
    # Postfix saw a client that waited where RFC 2920 says it must.
    assert "improper command pipelining" not in log
    assert re.search(r"disconnect from .* ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5$", log)


@TARGETS
def test_unknown_recipient_holds_the_message_back_from_postfix(pws, postfix, target):
    lines, sender, _subject = readme_paste(f"nobody@{DOMAIN}")
    frames = pws.paste(lines, target)
    codes = [r["code"] for r in replies(frames)]
    assert codes == [220, 250, 250, 550, 554, 221]
    refused = replies(frames)[4]
    assert refused["after"] == "DATA" and refused["enhanced"] == "5.5.1"
    [held] = [f for f in frames if f["type"] == "held"]
    assert held["count"] == 4 and held["reason"] == "data-refused"
    log = postfix.session_log(f"from=<{sender}> to=<nobody@{DOMAIN}>")
    # The message never reached Postfix as commands: no 500s, no complaint, four commands.
    assert 500 not in codes and "improper command pipelining" not in log
    assert "I can break rules" not in log
    assert re.search(r"disconnect from .* mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5$", log)


def test_refused_data_in_a_pipelined_group_leaves_the_session_usable(pws, postfix):
    pws.connect("postfix")
    pws.ehlo()
    sender = f"alice-{secrets.token_hex(4)}@client.example"
    group = [
        f"MAIL FROM:<{sender}>",
        f"RCPT TO:<nobody@{DOMAIN}>",
        "DATA",
        "Subject: refused",
        "",
        "never sent",
        ".",
    ]
    pws.send({"type": "lines", "lines": group})
    held = pws.wait_for("held")
    assert held["count"] == 4
    codes = [f["code"] for f in pws.frames if f["type"] == "reply"][2:]
    assert codes == [250, 550, 554]
    assert pws.command("RSET")["code"] == 250
    assert pws.command("NOOP")["code"] == 250
    assert pws.command("QUIT")["code"] == 221
    pws.wait_for("closed")
    log = postfix.session_log(f"from=<{sender}> to=<nobody@{DOMAIN}>")
    assert "improper command pipelining" not in log
    assert re.search(r"disconnect from .* rset=1 noop=1 quit=1 commands=5/7$", log)


def bdat_replies(ws: WsDriver, count: int) -> list[dict[str, Any]]:
    """Until ``count`` replies answered BDAT; returns them."""
    while len([f for f in ws.frames if f["type"] == "reply" and f["after"] == "BDAT"]) < count:
        ws.wait_for("reply")
    return [f for f in ws.frames if f["type"] == "reply" and f["after"] == "BDAT"]


@TARGETS
def test_bdat_in_two_chunks_is_delivered_by_postfix(pws, postfix, target):
    pws.connect(target)
    capabilities = set(pws.ehlo()["state"]["capabilities"])
    if target == "postfix-bare":
        # Not offered: the playground sends no chunk a server did not ask for.
        assert "CHUNKING" not in capabilities
        return
    subject = f"bdat {secrets.token_hex(4)}"
    first = f"Subject: {subject}\r\nFrom: <alice@client.example>\r\n\r\n.leading dot, as is\r\n"
    second = "second chunk\r\nno dot-stuffing in BDAT\r\n"
    assert pws.command("MAIL FROM:<alice@client.example>")["code"] == 250
    assert pws.command(f"RCPT TO:<bob@{DOMAIN}>")["code"] == 250
    pws.send({"type": "chunk", "data": first})
    pws.send({"type": "chunk", "data": second, "last": True})
    one, two = bdat_replies(pws, 2)
    # Postfix answers each chunk with the octets it counted (RFC 3030 §2).
    assert one["code"] == 250 and f"{len(first.encode())} bytes" in one["text"]
    assert two["code"] == 250 and "queued as" in two["text"]
    assert two["state"]["messages_sent"] == 1
    message = postfix.delivered("bob", subject)
    assert message.endswith((first + second).split("\r\n\r\n", 1)[1].replace("\r\n", "\n").encode())
    qid = queue_id(two)
    assert "status=sent" in postfix.queue_log(qid)
    assert pws.command("QUIT")["code"] == 221
    log = postfix.session_log(f"{qid}: client=")
    assert re.search(r"disconnect from .* mail=1 rcpt=1 bdat=2 quit=1 commands=6$", log)
