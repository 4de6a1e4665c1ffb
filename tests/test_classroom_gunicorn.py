"""A class under the production server: gunicorn with two gevent workers and Redis (#18).

The students' connections land on either worker; the trainer's dashboard on one of them still
gets every student's row, and a hint to all reaches every student, through Redis pub/sub.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.classroom_helpers import KEY, Sockets, join
from tests.conftest import free_port
from tests.test_multiprocess import redis_url  # noqa: F401 (fixture)
from tests.test_production import WORKERS, _listening, _serving, _spawn, _stop, _wait_until

pytest.importorskip("gunicorn", reason="gunicorn is not installed (requirements.txt pins it)")
pytestmark = [pytest.mark.slow, pytest.mark.redis]
STUDENTS = 12


@pytest.fixture
def gunicorn_class(tmp_path: Path, redis_url: str) -> Iterator[str]:  # noqa: F811
    """sandbox_main.py and gunicorn (two gevent workers, Redis); yields the app's URL."""
    sandbox_port, tls_port, port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PLAYGROUND_DATA_DIR": str(tmp_path),
        "PLAYGROUND_SANDBOX_PORT": str(sandbox_port),
        "PLAYGROUND_SANDBOX_TLS_PORT": str(tls_port),
        "PLAYGROUND_BIND": f"127.0.0.1:{port}",
        "PLAYGROUND_WORKERS": str(WORKERS),
        "PLAYGROUND_MAX_SESSIONS": "100",
        "PLAYGROUND_SESSIONS_PER_MINUTE": "1000",
        "PLAYGROUND_TRAINER_KEY": KEY,
        "REDIS_URL": redis_url,
    }
    env.pop("PLAYGROUND_START_SANDBOX", None)
    env.pop("DATABASE_URL", None)  # the workers share the SQLite file in the data dir
    sandbox_log, gunicorn_log = tmp_path / "sandbox.log", tmp_path / "gunicorn.log"
    sandbox = _spawn([sys.executable, "sandbox_main.py"], env, sandbox_log)
    server = None
    try:
        _wait_until(lambda: _listening(sandbox_port), "sandbox listening", sandbox, sandbox_log)
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
        server = _spawn(cmd, env, gunicorn_log)
        _wait_until(lambda: _serving(port), "gunicorn serving", server, gunicorn_log)
        yield f"http://127.0.0.1:{port}"
    finally:
        if server is not None:
            _stop(server)
        _stop(sandbox)


def test_a_class_runs_under_gunicorn_with_two_workers(gunicorn_class: str) -> None:
    room = Sockets(gunicorn_class, gunicorn_class.replace("http://", "ws://") + "/ws")
    try:
        api = room.api()
        opened = api.open()
        board = room.board(opened["id"])
        students = [room.student() for _ in range(STUDENTS)]
        ids = [join(s, opened["code"], f"S{n}")["student"]["id"] for n, s in enumerate(students)]
        for student in students:
            student.connect()
            student.send({"type": "line", "text": "EHLO gunicorn.example"})
        rows = {}
        while len(rows) < STUDENTS:
            frame = board.wait_for("student", timeout=20)
            if frame["row"]["last_code"] == 250:
                rows[frame["row"]["id"]] = frame["row"]
        assert sorted(rows) == sorted(ids)
        api.call("POST", f"/api/classes/{opened['id']}/hint", {"text": "Everyone: QUIT now."})
        for student in students:
            assert student.wait_for("class_hint")["text"] == "Everyone: QUIT now."
    finally:
        room.close()
