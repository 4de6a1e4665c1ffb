"""One class across two app processes sharing Redis and PostgreSQL (#18).

The trainer is on one process, the student on the other: the dashboard, watching, hints and
the broadcast cross through Redis pub/sub, the class and its students through the database;
when the student's process dies the dashboard says so (lost) within three heartbeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smtp_session.sandbox.server import SandboxServer
from tests.apps import AppProcess
from tests.classroom_helpers import KEY, Sockets, join
from tests.test_multiprocess import pg_url, redis_url  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def trainer_and_student_hosts(
    tmp_path: Path,
    sandbox: SandboxServer,
    pg_url: str,  # noqa: F811
    redis_url: str,  # noqa: F811
) -> Iterator[tuple[AppProcess, AppProcess]]:
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "PLAYGROUND_TRAINER_KEY": KEY,
        "PLAYGROUND_CLASS_HEARTBEAT": "0.5",
    }
    assert sandbox.config.tls_port is not None
    ports = (sandbox.config.port, sandbox.config.tls_port)
    started: list[AppProcess] = []
    try:
        for name in ("trainer-host", "student-host"):
            started.append(AppProcess(tmp_path / name, env, ports).start())
        yield started[0], started[1]
    finally:
        for app in started:
            app.stop()


def test_a_class_spans_two_processes(
    trainer_and_student_hosts: tuple[AppProcess, AppProcess],
) -> None:
    a, b = trainer_and_student_hosts
    on_a = Sockets(a.url, a.ws_url)
    on_b = Sockets(b.url, b.ws_url)
    try:
        api = on_a.api()
        opened = api.open(title="Two hosts")
        cid = opened["id"]
        board = on_a.board(cid)
        ada = on_b.student()
        joined = join(ada, opened["code"], "Ada")
        sid = joined["student"]["id"]
        assert board.row(sid, connected=True)["presence"] == "online"
        ada.connect()
        ada.ehlo()
        row = board.row(sid, last_code=250)
        assert row["session"] == "open" and row["sessions"] == 1

        board.send({"type": "watch", "student": sid})
        snapshot = board.wait_for("console_snapshot", source=sid)
        assert any(f["type"] == "reply" and f["code"] == 250 for f in snapshot["frames"])
        assert ada.wait_for("class_watch")["watching"] is True
        ada.send({"type": "line", "text": "NOOP"})
        seen = board.wait_for("console", source=sid)
        assert seen["frame"]["type"] in ("sent", "reply")

        api.call("POST", f"/api/classes/{cid}/hint", {"text": "Across hosts.", "student": sid})
        assert ada.wait_for("class_hint")["text"] == "Across hosts."

        own = on_a.trainer_console()
        own.send({"type": "class_broadcast", "class": cid, "on": True})
        assert own.wait_for("class_state")["broadcasting"] is True
        follower = on_b.follower(cid)
        follower.send({"type": "follow", "token": joined["token"]})
        assert follower.wait_for("class_state")["class"]["broadcasting"] is True
        own.connect()
        frame = follower.wait_for("console", source="trainer")
        while frame["frame"]["type"] != "reply":
            frame = follower.wait_for("console", source="trainer")
        assert frame["frame"]["code"] == 220

        b.kill()  # the student's worker dies: no goodbye, only silence
        lost = board.row(sid, presence="lost", timeout=10)
        assert lost["connected"] is False
    finally:
        on_a.close()
        on_b.close()
