"""docs/classroom.md is a contract: its tables name exactly what the code sends and reads.

The client tables are compared with the parsers' tables (web/classroom/frames.py), the server
frames with the frames a running app sends through one class's whole life, the dashboard rows
and the class with what the code builds, the HTTP table with the app's routes, the settings and
the CSV columns with the code's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer
from tests.classroom_helpers import KEY, Sockets, join
from tests.conftest import LiveServer, build_app
from web.classroom.frames import CONSOLE, DASHBOARD, FOLLOW
from web.classroom.report import CSV_COLUMNS
from web.classroom.rows import blank_row, judge, now_ms
from web.classroom.viewers import Viewer
from web.config import SETTINGS

CONSOLE_HEADING = "### On the console socket `/ws` (students; the trainer's own console)"
DOC = (Path(__file__).parent.parent / "docs" / "classroom.md").read_text(encoding="utf-8")


def tables(heading: str) -> list[dict[str, list[str]]]:
    """The tables under ``heading`` (up to the next heading of any level): first cell's name ->
    the names in backticks of the second cell."""
    section = DOC.split(heading + "\n", 1)[1]
    section = re.split(r"\n#{2,4} ", section, maxsplit=1)[0]
    found: list[dict[str, list[str]]] = []
    rows: dict[str, list[str]] = {}
    for line in [*section.splitlines(), ""]:
        if not line.startswith("|"):
            if rows:
                found.append(rows)
                rows = {}
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.fullmatch(r"`([^`]+)`", cells[0])
        if name:
            rows[name.group(1)] = re.findall(r"`([^`]+)`", cells[1]) if len(cells) > 2 else []
    assert found, f"no table under {heading!r}"
    return found


def fields(frames: list[dict[str, Any]]) -> dict[str, set[str]]:
    by_type: dict[str, set[str]] = {}
    for frame in frames:
        by_type.setdefault(frame["type"], set()).update(set(frame) - {"type"})
    return by_type


def same(documented: dict[str, list[str]], code: dict[str, Any]) -> None:
    assert {k: sorted(v) for k, v in documented.items()} == {k: sorted(v) for k, v in code.items()}


def test_client_frames_match_the_parsers() -> None:
    same(tables(CONSOLE_HEADING)[0], CONSOLE)
    same(tables("### The trainer's dashboard socket `/ws/class/<id>`")[0], DASHBOARD)
    same(tables("### The follow socket `/ws/class/<id>/follow`")[0], FOLLOW)


def test_dashboard_rows_match_the_code() -> None:
    documented = tables("## Dashboard rows")[0]
    assert sorted(documented) == sorted(judge(blank_row("s", "Ada"), now_ms(), 180))


def test_settings_and_csv_columns_match_the_code() -> None:
    documented = tables("## Settings")[0]
    variables = {var for _key, var, *_rest in SETTINGS}
    assert set(documented) <= variables
    assert {v for v in variables if "CLASS" in v or "TRAINER" in v} == set(documented)
    line = next(ln for ln in DOC.splitlines() if ln.startswith("CSV columns, in order:"))
    text = line + DOC.split(line, 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"`([a-z_]+)`", text) == list(CSV_COLUMNS)


def test_the_http_table_is_the_apps_routes(class_live: LiveServer) -> None:
    documented = set()
    for line in DOC.split("## HTTP API", 1)[1].split("### A class", 1)[0].splitlines():
        cells = [c.strip(" `") for c in line.strip("|").split("|")]
        if len(cells) > 2 and cells[0] in ("GET", "POST"):
            documented.add((cells[0], re.sub(r"<[^>]+>", "<>", cells[1])))
    routes = set()
    for rule in class_live.app.url_map.iter_rules():
        if rule.endpoint.startswith("classes.") and rule.rule.startswith("/api/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((method, re.sub(r"<[^>]+>", "<>", rule.rule)))
    assert documented == routes


def test_overflow_frames_match_the_document(class_live: LiveServer) -> None:
    hub = class_live.app.extensions["playground"].classroom
    viewer = Viewer(hub, None, lambda frame: None)  # type: ignore[arg-type]
    for n in range(600):
        viewer.queue_console({"type": "console", "source": "s1", "frame": {"n": n}}, "s1")
    overflow = [f for f in viewer.take() if f["type"] == "overflow"]
    viewer.close()
    server = tables("### The trainer's dashboard socket `/ws/class/<id>`")[1]
    assert overflow and sorted(set(overflow[0]) - {"type"}) == sorted(server["overflow"])


@pytest.fixture
def class_live(data_dir: Path, sandbox: SandboxServer) -> Iterator[LiveServer]:
    app = build_app(data_dir, sandbox, TRAINER_KEY=KEY)
    with LiveServer(app) as server:
        yield server


def test_server_frames_match_the_document(class_live: LiveServer) -> None:
    room = Sockets(class_live.url, class_live.ws_url)
    try:
        api = room.api()
        opened = api.open()
        cid = opened["id"]
        assert sorted(opened) == sorted(tables("### A class")[0])
        board = room.board(cid)
        ada = room.student()
        joined = join(ada, opened["code"], "Ada")
        sid = joined["student"]["id"]
        assert sorted(joined["student"]) == ["id", "name"]
        ada.connect()
        board.send({"type": "watch", "student": sid})
        board.wait_for("console_snapshot")
        ada.wait_for("class_watch")
        ada.send({"type": "line", "text": "NOOP"})
        board.wait_for("console")
        api.call("POST", f"/api/classes/{cid}/hint", {"text": "Hi"})
        ada.wait_for("class_hint")
        api.call("POST", f"/api/classes/{cid}/restrict", {"target": "sandbox"})
        ada.wait_for("class_state")
        board.wait_for("class_state")
        board.send({"type": "ping"})
        board.wait_for("pong")
        board.send({"type": "watch", "student": "nobody"})
        board.wait_for("error")
        board.row(sid)
        follower = room.follower(cid)
        follower.send({"type": "follow", "token": joined["token"]})
        follower.wait_for("class_state")
        follower.send({"type": "ping"})
        follower.wait_for("pong")
        own = room.trainer_console()
        own.send({"type": "class_broadcast", "class": cid, "on": True})
        own.wait_for("class_state")
        follower.wait_for("console_snapshot")
        other = room.student()
        join(other, opened["code"], "Grace")
        other.send({"type": "class_leave"})
        other.wait_for("class_left")
        api.call("POST", f"/api/classes/{cid}/end")
        ada.wait_for("class_ended")
        follower.wait_for("class_ended")
        console_side = tables(
            "### On the console socket `/ws` (students; the trainer's own console)"
        )
        seen = fields(ada.frames + other.frames + own.frames)
        for kind, documented in console_side[1].items():
            assert sorted(seen[kind]) == sorted(documented), kind
        board_side = tables("### The trainer's dashboard socket `/ws/class/<id>`")[1]
        seen = fields(board.frames)
        for kind, documented in board_side.items():
            if kind != "overflow":  # a slow viewer's: test_overflow_frames_match_the_document
                assert sorted(seen[kind]) == sorted(documented), kind
        follow_kinds = {f["type"] for f in follower.frames}
        assert {"class_state", "console_snapshot", "pong", "class_ended"} <= follow_kinds
    finally:
        room.close()
