"""A class of 200 on one machine: every student's row is on the dashboard within a second.

200 real console sockets join one class and open sandbox sessions; then all of them send EHLO
at once, and the trainer's dashboard (read all along, as a browser does) must show each
student's 250 within a second of the reply reaching that student's console (docs/classroom.md;
the "done when" of #18). The app, the sandbox and the 201 clients share one process here.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxServer
from tests.classroom_helpers import KEY, ClassWs, Sockets, join
from tests.conftest import LiveServer, build_app

pytestmark = pytest.mark.slow
STUDENTS = 200


@pytest.fixture
def class_live(data_dir: Path, sandbox: SandboxServer) -> Iterator[LiveServer]:
    # Every student comes from 127.0.0.1 here: the per-address limits would count them as one.
    limits = {"MAX_SESSIONS": 1000, "SESSIONS_PER_MINUTE": 100_000}
    app = build_app(data_dir, sandbox, TRAINER_KEY=KEY, **limits)
    with LiveServer(app) as server:
        yield server


class Reader:
    """Reads the dashboard all the time, noting when each student's 250 arrived."""

    def __init__(self, board: ClassWs) -> None:
        self.board = board
        self.arrived: dict[str, tuple[float, dict[str, Any]]] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while len(self.arrived) < STUDENTS:
            try:
                frame = self.board.next(timeout=60)
            except Exception:
                break
            row = frame.get("row") or {}
            if frame["type"] == "student" and row.get("last_code") == 250:
                self.arrived.setdefault(row["id"], (time.time(), row))
        self.done.set()


def test_a_class_of_200_has_its_dashboard_current_within_a_second(
    class_live: LiveServer,
) -> None:
    room = Sockets(class_live.url, class_live.ws_url)
    try:
        opened = room.api().open()
        board = room.board(opened["id"])
        reader = Reader(board)
        students = [room.student() for _ in range(STUDENTS)]
        for n, student in enumerate(students):
            join(student, opened["code"], f"Student {n}")
        for student in students:
            student.send({"type": "connect", "target": "sandbox"})
        for student in students:
            student.wait_for("reply", timeout=30)  # the greeting
        started = time.time()
        for student in students:
            student.send({"type": "line", "text": "EHLO class.example"})
        assert reader.done.wait(60), f"{len(reader.arrived)} of {STUDENTS} rows arrived"
        # From the reply on the student's console (its row's last_active) to the dashboard.
        lags = sorted(at - row["last_active"] / 1000 for at, row in reader.arrived.values())
        burst = max(at for at, _row in reader.arrived.values()) - started
        print(
            f"class of {STUDENTS}: reply to dashboard p50 {statistics.median(lags):.3f}s, "
            f"p95 {lags[int(len(lags) * 0.95) - 1]:.3f}s, max {lags[-1]:.3f}s; "
            f"all {STUDENTS} EHLOs on the dashboard {burst:.2f}s after the first was sent"
        )
        assert lags[-1] < 1.0
    finally:
        room.close()
