"""A class from open to report, with real WebSocket clients against a running app (#18).

The trainer (none mode: the trainer key) opens a class; students join with its code on their
console sockets; the dashboard socket gets their rows; watch, hints, broadcast, steering and the
end of the class go through the same paths the pages use (docs/classroom.md).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from app import ready_line
from smtp_session.sandbox.server import SandboxServer
from tests.classroom_helpers import KEY, Api, Sockets, join
from tests.conftest import LiveServer, build_app, wait_until


@pytest.fixture
def class_live(data_dir: Path, sandbox: SandboxServer) -> Iterator[LiveServer]:
    app = build_app(data_dir, sandbox, TRAINER_KEY=KEY, CLASS_MAX_STUDENTS=3)
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def room(class_live: LiveServer) -> Iterator[Sockets]:
    sockets = Sockets(class_live.url, class_live.ws_url)
    yield sockets
    sockets.close()


@pytest.fixture
def api(room: Sockets) -> Api:
    return room.api()


@pytest.fixture
def students(room: Sockets) -> Any:
    return room.student


def test_only_a_trainer_opens_a_class(room: Sockets) -> None:
    stranger = room.api(key=None)
    assert stranger.call("GET", "/api/classes/me") == {
        "trainer": False,
        "name": None,
        "mode": "none",
    }
    refused = stranger.call("POST", "/api/classes", {}, 403)
    assert refused["error"]["code"] == "not_trainer"
    assert room.api("wrong").call("POST", "/api/classes", {}, 403)
    # The key once, then the signed cookie.
    assert stranger.call("POST", "/api/classes/trainer-login", {"key": "nope"}, 403)
    assert stranger.call("POST", "/api/classes/trainer-login", {"key": KEY}) == {"trainer": True}
    opened = stranger.open(title="SMTP basics")
    assert opened["trainer"] == "trainer" and opened["title"] == "SMTP basics"
    assert len(opened["code"]) == 6 and opened["join_url"].endswith(f"/join/{opened['code']}")
    # The cookie opens the dashboard socket too (a browser sends no X-Trainer-Key header).
    cookie = "; ".join(f"{k}={v}" for k, v in stranger.http.cookies.items())
    board = websocket.create_connection(
        f"{room.ws_url}/class/{opened['id']}", timeout=10, header=[f"Cookie: {cookie}"]
    )
    assert json.loads(board.recv())["type"] == "dashboard"
    board.close()
    svg = stranger.call("GET", opened["qr_url"])
    assert svg.startswith("<?xml") and "<svg" in svg and opened["join_url"] in svg
    # Another site's page cannot use the cookie (mode none has no CSRF token).
    forged = stranger.http.post(
        f"{room.url}/api/classes/{opened['id']}/end", headers={"Origin": "http://evil.example"}
    )
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "cross_origin"
    assert stranger.call("GET", f"/api/classes/{opened['id']}")["class"]["ended_at"] is None
    stranger.call("POST", "/api/classes/trainer-logout")
    assert stranger.call("GET", f"/api/classes/{opened['id']}", status=403)


def test_class_socket_handshakes_are_checked(class_live: LiveServer, api: Api) -> None:
    opened = api.open()
    base = f"{class_live.ws_url}/class"

    def refused(url: str, status: str, **options: Any) -> None:
        with pytest.raises(websocket.WebSocketBadStatusException, match=status):
            websocket.create_connection(url, timeout=10, **options).close()

    refused(f"{base}/{opened['id']}", "403")  # no trainer key
    refused(f"{base}/no-such-class", "404", header=[f"X-Trainer-Key: {KEY}"])
    evil = {"origin": "http://evil.example", "header": [f"X-Trainer-Key: {KEY}"]}
    refused(f"{base}/{opened['id']}", "403", **evil)
    refused(f"{base}/{opened['id']}/follow", "403", origin="http://evil.example")


def test_the_ready_line_prints_the_trainer_key(class_live: LiveServer) -> None:
    line = ready_line(class_live.app, class_live.port)
    assert f"trainer key {KEY} (http://127.0.0.1:{class_live.port}/class/login)" in line


def test_the_key_is_made_once_and_kept_in_the_data_folder(
    data_dir: Path, sandbox: SandboxServer
) -> None:
    first = build_app(data_dir, sandbox).extensions["playground"].classroom.trainer_key
    again = build_app(data_dir, sandbox).extensions["playground"].classroom.trainer_key
    assert len(first) >= 16 and first == again
    assert (data_dir / "trainer_key").stat().st_mode & 0o777 == 0o600


def test_students_join_by_code_up_to_the_limit(api: Api, students: Any) -> None:
    opened = api.open()
    code = opened["code"]
    assert api.call("GET", f"/api/classes/join/{code.lower()}")["open"] is True
    first = students()
    joined = join(first, code, "Ada")
    assert joined["student"]["name"] == "Ada" and joined["class"]["id"] == opened["id"]
    taken = students()
    taken.send({"type": "class_join", "code": code, "name": "Ada"})
    assert taken.wait_for("error")["code"] == "name_taken"
    join(taken, code, "Grace")
    join(students(), code, "Linus")
    full = students()
    full.send({"type": "class_join", "code": code, "name": "Ken"})
    error = full.wait_for("error")
    assert error["code"] == "class_full" and "3 students" in error["message"]
    # Ada comes back with her token (a reload): the same student, no new seat taken.
    again = students()
    back = join(again, code, "whatever", token=joined["token"])
    assert back["student"] == joined["student"]
    assert first.wait_for("class_left")["message"]
    assert api.call("GET", f"/api/classes/join/{code}")["full"] is True
    wrong = students()
    wrong.send({"type": "class_join", "code": "ZZZZZZ", "name": "Eve"})
    assert wrong.wait_for("error")["code"] == "bad_code"


def test_the_dashboard_follows_each_student(
    class_live: LiveServer, room: Sockets, api: Api, students: Any
) -> None:
    opened = api.open()
    board = room.board(opened["id"])
    ada = students()
    sid = join(ada, opened["code"], "Ada")["student"]["id"]
    row = board.row(sid, connected=True)
    assert row["presence"] == "online" and row["session"] is None
    ada.connect()
    ada.ehlo()
    row = board.row(sid, last_code=250)
    assert row["session"] == "open" and row["target"] == "sandbox" and row["sessions"] == 1
    assert row["step"] and row["phase"] == "ready" and row["transcript"]
    # Three permanent failures in a row: stuck, and first.
    for _ in range(3):
        assert ada.command("RCPT TO:<nobody@example.com>")["class"] == "permanent"
    row = board.row(sid, negative_streak=3)
    assert row["stuck"] and "5xx" in row["stuck_reasons"][0] and row["stuck_score"] > 0
    ada.send({"type": "line", "text": "MAIL FROM:<a@b c>"})  # a warning or an error reply
    ada.close()
    row = board.row(sid, connected=False)
    assert row["presence"] == "left"
    snapshot = api.call("GET", f"/api/classes/{opened['id']}")
    assert [s["name"] for s in snapshot["students"]] == ["Ada"]


def test_a_student_on_one_step_for_long_shows_as_stuck(
    data_dir: Path, sandbox: SandboxServer
) -> None:
    app = build_app(data_dir, sandbox, TRAINER_KEY=KEY, CLASS_STUCK_AFTER=0.5)
    with LiveServer(app) as server:
        room = Sockets(server.url, server.ws_url)
        try:
            opened = room.api().open()
            board = room.board(opened["id"])
            ada = room.student()
            sid = join(ada, opened["code"], "Ada")["student"]["id"]
            ada.connect()
            row = board.row(sid, stuck=True)  # nothing sent since the greeting
            assert row["session"] == "open" and row["stuck_reasons"][0].startswith("on ")
            ada.ehlo()
            assert board.row(sid, last_code=250)["stuck"] is False  # a new step
        finally:
            room.close()


def test_watch_shows_the_console_and_tells_the_student(
    class_live: LiveServer, room: Sockets, api: Api, students: Any
) -> None:
    opened = api.open()
    ada = students()
    sid = join(ada, opened["code"], "Ada")["student"]["id"]
    ada.connect()
    board = room.board(opened["id"])
    board.send({"type": "watch", "student": sid})
    snap = board.wait_for("console_snapshot", source=sid)
    assert [f["type"] for f in snap["frames"]][:2] == ["session", "connected"]
    assert ada.wait_for("class_watch") == {"type": "class_watch", "watching": True, "watchers": 1}
    ada.send({"type": "line", "text": "EHLO watched.example"})
    sent = board.wait_for("console", source=sid)
    while sent["frame"]["type"] != "reply":
        sent = board.wait_for("console", source=sid)
    assert sent["frame"]["code"] == 250 and "state" in sent["frame"]  # the panels' data
    assert board.row(sid, watched=True)["watched"]
    board.send({"type": "unwatch", "student": sid})
    assert ada.wait_for("class_watch")["watching"] is False
    board.send({"type": "watch", "student": "nobody"})
    assert board.wait_for("error")["code"] == "bad_student"


def test_hints_reach_one_or_all_and_stay_in_the_transcript(
    class_live: LiveServer, room: Sockets, api: Api, students: Any
) -> None:
    opened = api.open()
    ada, grace = students(), students()
    ada_id = join(ada, opened["code"], "Ada")["student"]["id"]
    join(grace, opened["code"], "Grace")
    session = ada.connect()
    transcript = next(f for f in ada.frames if f["type"] == "session")["transcript"]
    assert api.call(
        "POST", f"/api/classes/{opened['id']}/hint", {"text": "Say EHLO first.", "student": ada_id}
    ) == {"sent": 1}
    hint = ada.wait_for("class_hint")
    assert (
        hint["text"] == "Say EHLO first." and hint["to"] == "you" and hint["seq"] == session["seq"]
    )
    api.call("POST", f"/api/classes/{opened['id']}/hint", {"text": "Five minutes left."})
    assert ada.wait_for("class_hint")["to"] == "all"
    early = grace.wait_for("class_hint")
    assert early["text"] == "Five minutes left." and early["seq"] is None  # no transcript yet
    assert not [f for f in grace.frames if f.get("text") == "Say EHLO first."]
    stored = api.call("GET", f"/api/transcripts/{transcript}")
    notes = [(n["text"], n["author"]) for n in stored["notes"]]
    assert ("Say EHLO first.", "trainer:trainer") in notes
    assert ("Five minutes left.", "trainer:trainer") in notes
    # Grace's hint waited for her first transcript, and went to it as a whole.
    grace.connect()
    later = next(f for f in grace.frames if f["type"] == "session")["transcript"]

    def grace_notes() -> Any:
        return api.call("GET", f"/api/transcripts/{later}")["notes"]

    found = wait_until(grace_notes)
    assert [(n["text"], n["seq"]) for n in found] == [("Five minutes left.", None)]


def test_the_trainers_console_is_followed(
    class_live: LiveServer, room: Sockets, api: Api, students: Any
) -> None:
    opened = api.open()
    ada = students()
    token = join(ada, opened["code"], "Ada")["token"]
    own = room.trainer_console()  # the trainer's own console
    own.send({"type": "class_broadcast", "class": opened["id"], "on": True})
    assert own.wait_for("class_state")["broadcasting"] is True
    assert ada.wait_for("class_state")["broadcasting"] is True
    follower = room.follower(opened["id"])
    follower.send({"type": "follow", "token": token})
    assert follower.wait_for("class_state")["class"]["broadcasting"] is True
    follower.wait_for("console_snapshot", source="trainer")
    own.connect()
    own.ehlo()
    frame = follower.wait_for("console", source="trainer")
    while frame["frame"]["type"] != "reply" or frame["frame"].get("after") != "EHLO":
        frame = follower.wait_for("console", source="trainer")
    assert frame["frame"]["code"] == 250
    stranger = room.follower(opened["id"])
    stranger.send({"type": "follow", "token": "guess"})
    assert stranger.wait_for("error")["code"] == "bad_token"


def test_steering_lesson_restriction_and_the_end(
    class_live: LiveServer, room: Sockets, api: Api, students: Any
) -> None:
    opened = api.open()
    cid = opened["id"]
    ada = students()
    join(ada, opened["code"], "Ada")
    lesson = sorted(class_live.app.extensions["playground"].lessons)[0]
    assert api.call("POST", f"/api/classes/{cid}/lesson", {"lesson": lesson})["lesson"] == lesson
    assert ada.wait_for("class_state")["lesson"] == lesson
    assert ada.wait_for("lesson")["lesson_id"] == lesson
    ada.connect()
    assert api.call("POST", f"/api/classes/{cid}/restrict", {"target": "nowhere"}, 400)
    api.call("POST", f"/api/classes/{cid}/restrict", {"target": "sandbox"})
    assert ada.wait_for("class_state")["restrict"] == "sandbox"
    transcript = next(f for f in ada.frames if f["type"] == "session")["transcript"]
    ended = api.call("POST", f"/api/classes/{cid}/end")
    assert ended["ended_at"]
    assert "ended the class" in ada.wait_for("class_ended")["message"]
    closed = ada.wait_for("closed")
    assert closed["reason"] == "the trainer ended the class"
    kept = wait_until(
        lambda: (
            api.call("GET", f"/api/transcripts/{transcript}")["transcript"]["status"] == "closed"
        )
    )
    assert kept  # the transcript is kept, closed in words
    stored = api.call("GET", f"/api/transcripts/{transcript}")["transcript"]
    assert stored["close_reason"] == "the trainer ended the class" and stored["entry_count"] > 1
    late = students()
    late.send({"type": "class_join", "code": opened["code"], "name": "Late"})
    assert late.wait_for("error")["code"] == "class_ended"
    assert api.call("POST", f"/api/classes/{cid}/hint", {"text": "x"}, 409)


def test_a_restricted_class_refuses_other_targets_in_words(
    data_dir: Path, sandbox: SandboxServer
) -> None:
    port = sandbox.config.port
    app = build_app(data_dir, sandbox, TRAINER_KEY=KEY, TARGETS=f"other=127.0.0.1:{port}")
    with LiveServer(app) as server:
        room = Sockets(server.url, server.ws_url)
        try:
            api = room.api()
            opened = api.open()
            ada = room.student()
            join(ada, opened["code"], "Ada")
            ada.connect("other")  # open before the trainer restricts the class
            api.call("POST", f"/api/classes/{opened['id']}/restrict", {"target": "sandbox"})
            assert (
                ada.wait_for("closed")["reason"] == "the trainer restricted the class to 'sandbox'"
            )
            ada.send({"type": "connect", "target": "other"})
            error = ada.wait_for("error")
            assert error["code"] == "class_restricted" and "'sandbox'" in error["message"]
            ada.connect("sandbox")
        finally:
            room.close()


def test_report_and_csv(class_live: LiveServer, room: Sockets, api: Api, students: Any) -> None:
    opened = api.open(title="Report")
    cid = opened["id"]
    ada = students()
    sid = join(ada, opened["code"], "Ada")["student"]["id"]
    lesson = sorted(class_live.app.extensions["playground"].lessons)[0]
    ada.send({"type": "lesson", "lesson": lesson})
    ada.wait_for("lesson")
    ada.connect()
    ada.ehlo()
    ada.command("QUIT")
    ada.wait_for("closed")
    board = room.board(cid)
    board.send({"type": "ping"})
    board.wait_for("pong")
    api.call("POST", f"/api/classes/{cid}/end")

    def stored() -> Any:
        report = api.call("GET", f"/api/classes/{cid}/report")
        student = report["students"][0]
        return report if student["sessions"] == 1 and student["lessons"] else None

    report = wait_until(stored)
    assert report, api.call("GET", f"/api/classes/{cid}/report")
    student = report["students"][0]
    assert student["id"] == sid and student["name"] == "Ada"
    assert student["lessons"][0]["lesson"] == lesson and student["lessons"][0]["passed"]
    assert len(student["transcripts"]) == 1 and report["transcripts"][0]["name"] == "Ada"
    text = api.call("GET", f"/api/classes/{cid}/report.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["name"] == "Ada" and rows[0]["sessions"] == "1"
    assert f"/t/{student['transcripts'][0]['id']}" in rows[0]["transcripts"]
    assert f"{lesson}:" in rows[0]["steps_passed"]
