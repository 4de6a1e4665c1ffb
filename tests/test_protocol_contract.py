"""docs/protocol.md is a contract: its tables must name exactly the fields the code produces.

Each frame's fields come from the code that builds it (the Guide for session events and
lessons, the Transaction for ``state``, the MX code for lookups and attempts, the running app
for the frames the web layer builds); a field added or dropped on either side fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from smtp_session.guide.document import knowledge_document
from smtp_session.guide.guide import Guide
from smtp_session.guide.lean import LeanEncoder
from smtp_session.guide.lessons import load_lessons
from smtp_session.guide.transaction import Transaction
from smtp_session.routing.mx import Candidate, MxLookup, connect_candidates
from smtp_session.wire.dialogue import COMMAND
from smtp_session.wire.events import (
    CloseCode,
    Closed,
    Connected,
    Discarded,
    HeldBack,
    MessageSent,
    Refused,
    ReplyReceived,
    Sent,
    SessionEvent,
    TlsMode,
    TlsUp,
)
from smtp_session.wire.pacing import Held
from smtp_session.wire.reply import parse_reply
from tests.conftest import WsDriver
from web.live.frames import FIELDS, OPTIONAL

DOC = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
RECORDED = {"seq", "t"}  # on every recorded frame, said once above the table


def table(heading: str) -> dict[str, list[str]]:
    """The first table under ``heading``: first cell's name -> the names in the second cell."""
    section = DOC.split(heading + "\n", 1)[1]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.fullmatch(r"`([^`]+)`", cells[0])
        if name:
            rows[name.group(1)] = re.findall(r"`([^`]+)`", cells[1]) if len(cells) > 2 else []
    assert rows, f"no table under {heading!r}"
    return rows


SERVER = table("## Server → client")


def keys(*frames: dict[str, Any]) -> set[str]:
    return {k for frame in frames for k in frame} - {"type"} - RECORDED


def guided(*events: SessionEvent) -> list[dict[str, Any]]:
    """The frames the Guide builds for these events, in one session."""
    guide = Guide(sandbox=True)
    return [guide.frame_for(event) for event in events]


def event_frames() -> dict[str, set[str]]:
    greeting = ReplyReceived(parse_reply("220 sandbox.test ESMTP"), "greeting", None)
    auth = Sent("AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==", COMMAND, "AUTH")
    frames = guided(
        Connected("127.0.0.1", 2525, "127.0.0.1"),
        TlsUp(TlsMode.IMPLICIT),
        greeting,
        Sent("EHLO client.example", COMMAND, "EHLO"),
        auth,
        MessageSent(["Subject: x", "", "."]),
        MessageSent(["octets of a BDAT chunk"], chunk=True),
        Discarded(3, "250", "dropped"),
        HeldBack(Held(("Subject: x",), "data-refused", "DATA", 503)),
        Refused("The empty line was not sent.", "empty_line"),
        Refused("Over the limit.", "too_many_recipients", limit=True),
        Closed("the server closed the connection", CloseCode.SERVER_CLOSED),
    )
    assert any(f.get("redacted") for f in frames), "the sample must show a redacted line"
    by_type: dict[str, set[str]] = {}
    for frame in frames:
        by_type.setdefault(frame["type"], set()).update(keys(frame))
    return by_type


@pytest.mark.parametrize(
    "kind", ["connected", "sent", "reply", "tls", "discarded", "closed", "held", "error"]
)
def test_session_event_frames_match_the_document(kind: str) -> None:
    assert sorted(event_frames()[kind]) == sorted(SERVER[kind])


def test_every_session_event_has_a_row() -> None:
    kinds = {cls.frame_type for cls in (Connected, Sent, MessageSent, ReplyReceived, TlsUp)}
    kinds |= {Discarded.frame_type, Closed.frame_type, HeldBack.frame_type, Refused.frame_type}
    assert kinds <= set(SERVER)


def test_lesson_frame_matches_the_document() -> None:
    guide = Guide(sandbox=True)
    started = guide.start_lesson(load_lessons()[0])
    stopped = guide.start_lesson(None)
    assert sorted(keys(started, stopped)) == sorted(SERVER["lesson"])


def test_mx_frames_match_the_document() -> None:
    lookup = MxLookup("x.test", "x.test", [], True, [Candidate("x.test", 0, ["192.0.2.1"], 300)])
    looked_up = {"type": "mx", **lookup.to_dict()}
    failed = {"type": "mx", "domain": "x.test", "error": "words", "code": "nxdomain"}
    assert sorted(keys(looked_up, failed)) == sorted(SERVER["mx"])
    attempts: list[dict[str, object]] = []

    def refuse(host: str, address: str, port: int) -> None:
        raise ConnectionRefusedError

    with pytest.raises(Exception, match="x.test"):
        connect_candidates(lookup, 25, refuse, attempts.append)
    assert sorted(keys(*attempts)) == sorted(SERVER["mx_attempt"])


def test_state_matches_the_document() -> None:
    documented = table("### `state`")
    assert sorted(Transaction().to_dict()) == sorted(documented)


def test_closed_codes_are_the_enum() -> None:
    assert sorted(table("### `closed` codes")) == sorted(code.value for code in CloseCode)


def test_client_frames_match_the_parser() -> None:
    client = table("## Client → server")
    code = {kind: set(FIELDS[kind]) | set(OPTIONAL.get(kind, ())) for kind in FIELDS}
    assert {k: sorted(v) for k, v in code.items()} == {k: sorted(v) for k, v in client.items()}


def test_frames_the_web_layer_builds_match_the_document(ws: WsDriver) -> None:
    ws.connect()
    session = next(f for f in ws.frames if f["type"] == "session")
    assert sorted(keys(session)) == sorted(SERVER["session"])
    assert sorted(session["target"]) == ["host", "label", "name", "port", "sandbox", "tls_mode"]
    ws.send({"type": "note", "seq": 0, "text": "the greeting"})
    note = ws.wait_for("note")  # not recorded itself: its ``seq`` is the line it belongs to
    assert sorted(set(note) - {"type"}) == sorted(SERVER["note"])
    ws.send({"type": "ping"})
    assert sorted(keys(ws.wait_for("pong"))) == sorted(SERVER["pong"])
    ws.send({"type": "state"})
    assert sorted(keys(ws.wait_for("state"))) == sorted(SERVER["state"])
    ws.send({"type": "no-such-frame"})
    error = ws.wait_for("error")
    # ``limit`` is there only when a configured limit refused the frame.
    assert sorted(keys(error) | {"limit"}) == sorted(SERVER["error"])
    assert set(SERVER) == set(event_frames()) | {
        "session",
        "mx",
        "mx_attempt",
        "lesson",
        "note",
        "error",
        "pong",
        "state",
    }


def test_full_frames_have_version_ones_session_frame(ws: WsDriver) -> None:
    ws.connect(frames="full")
    session = next(f for f in ws.frames if f["type"] == "session")
    assert sorted(keys(session)) == sorted(set(SERVER["session"]) - {"frames", "knowledge"})


# -- lean frames (v2) ---------------------------------------------------------------------------


def names_in(heading: str) -> set[str]:
    """Every name in the first column of the table under ``heading``."""
    section = DOC.split(heading + "\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([^`]+)`", row.split("|")[1])}


def lean_session() -> list[dict[str, Any]]:
    """Lean frames for replies and commands of every shape the encoder knows."""
    guide, encoder = Guide(sandbox=True), LeanEncoder()
    greeting = ReplyReceived(parse_reply("220 sandbox.test ESMTP"), "greeting", None)
    ehlo = parse_reply("250-sandbox.test\r\n250-SIZE 1000\r\n250-XUNKNOWN\r\n250 AUTH PLAIN X")
    events: list[SessionEvent] = [
        Connected("127.0.0.1", 2525, "127.0.0.1"),
        greeting,
        Sent("MAIL FROM:<a@b.example>", COMMAND, "MAIL"),
        ReplyReceived(parse_reply("503 5.5.1 send HELO first"), "MAIL", "MAIL FROM:<a@b.example>"),
        Sent("EHLO client.example", COMMAND, "EHLO"),
        ReplyReceived(ehlo, "EHLO", "EHLO client.example"),
        Sent("AUTH PLAIN", COMMAND, "AUTH"),
        Sent("MAIL FROM:<a@b.example> BODY=8BITMIME XFOO=1", COMMAND, "MAIL"),
        ReplyReceived(parse_reply("550 4.1.1 odd"), "MAIL", "MAIL"),
        ReplyReceived(parse_reply("299 5.1.99 strange"), "NOOP", "NOOP"),
        Sent("XNOSUCH", COMMAND, "XNOSUCH"),
        ReplyReceived(parse_reply("250 Ok: queued as ABC"), "end-of-data", "."),
    ]
    return [encoder.encode(guide.frame_for(event)) for event in events]


def test_lean_explanations_match_the_document() -> None:
    frames = lean_session()
    replies = [f["explain"] for f in frames if f["type"] == "reply"]
    commands = [f["explain"] for f in frames if f["type"] == "sent"]
    reply_fields = {k for e in replies for k in e}
    assert reply_fields <= names_in("### Lean `explain` of a reply")
    # Every optional field shows up in the sample except ``keys`` (the frame's, so far always).
    assert names_in("### Lean `explain` of a reply") - reply_fields == {"keys"}
    assert all({"evidence", "used", "context", "specific"} <= set(e) for e in replies)
    command_fields = {k for e in commands for k in e}
    assert command_fields == names_in("### Lean `explain` of a command") - {"keys"}
    warning_fields = {k for f in frames for w in f.get("warnings") or [] for k in w}
    assert warning_fields == {"code", "values", "line"}


def test_lean_state_is_changes_of_the_documented_fields() -> None:
    frames = lean_session()
    documented = set(table("### `state`"))
    assert set(frames[0]["state"]) == documented  # connected: the whole state
    changes = [f["state"] for f in frames[1:] if "state" in f]
    assert changes and all(set(c) < documented for c in changes)


def test_the_knowledge_document_has_the_documented_sections() -> None:
    assert set(knowledge_document()) == set(table("### The knowledge document"))
    section = DOC.split("### The knowledge document", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{key}`" in section for key in knowledge_document()["guide"])
