"""A slow dashboard never slows a student: its updates are coalesced or dropped, counted.

The trainer's socket here never reads (a 4 KiB receive buffer, and nobody calling recv) while
it watches a student who pastes hundreds of commands: the student's round trips still
complete at once, and the app counts what it dropped and coalesced for that viewer.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket

from smtp_session.sandbox.server import SandboxServer
from tests.classroom_helpers import KEY, Sockets, join
from tests.conftest import LiveServer, WsDriver, build_app, wait_until


@pytest.fixture
def class_live(data_dir: Path, sandbox: SandboxServer) -> Iterator[LiveServer]:
    app = build_app(data_dir, sandbox, TRAINER_KEY=KEY, FRAME_RATE=0)
    with LiveServer(app) as server:
        yield server


def paste_noops(ada: WsDriver, n: int = 200) -> float:
    """Seconds for ``n`` NOOP round trips (one pasted frame; NOOP waits for each reply)."""
    started = time.monotonic()
    frames = len(ada.frames)
    ada.send({"type": "lines", "lines": ["NOOP"] * n})
    for _ in range(n):
        ada.wait_for("reply", timeout=10)
    assert all(f["code"] == 250 for f in ada.frames[frames:] if f["type"] == "reply")
    return time.monotonic() - started


def test_a_viewer_that_never_reads_does_not_slow_the_student(class_live: LiveServer) -> None:
    room = Sockets(class_live.url, class_live.ws_url)
    stalled = None
    try:
        opened = room.api().open()
        ada = room.student()
        sid = join(ada, opened["code"], "Ada")["student"]["id"]
        ada.connect()
        ada.ehlo()
        baseline = paste_noops(ada)  # nobody watching yet
        stalled = websocket.create_connection(
            f"{class_live.ws_url}/class/{opened['id']}",
            header=[f"X-Trainer-Key: {KEY}"],
            sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),),
            timeout=10,
        )
        for _ in range(20):  # each asks for a fresh snapshot of the console, then never reads
            stalled.send(json.dumps({"type": "watch", "student": sid}))
        ada.wait_for("class_watch")
        hub = class_live.app.extensions["playground"].classroom
        slowest = []
        for _ in range(8):
            slowest.append(paste_noops(ada))
        one = time.monotonic()
        assert ada.command("NOOP")["code"] == 250
        single = time.monotonic() - one
        viewers = list(hub.viewers.values())
        assert wait_until(lambda: sum(v.dropped for v in viewers) > 0, timeout=10)
        dropped = sum(v.dropped for v in viewers)
        coalesced = sum(v.coalesced for v in viewers)
        print(
            f"slow viewer: 200 round trips took {max(slowest):.2f}s at worst "
            f"({baseline:.2f}s unwatched), one {single:.3f}s;"
            f" viewer dropped {dropped} console frames, coalesced {coalesced} rows"
        )
        assert single < 1.0 and max(slowest) < 3 * baseline + 2
        assert coalesced > 0
    finally:
        if stalled is not None:
            stalled.close()
        room.close()
