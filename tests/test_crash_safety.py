"""A SIGKILLed app loses no recorded line: the real app as a subprocess, killed mid-session.

Every entry is in the process's journal before its frame leaves for the browser (the group
commit follows within milliseconds), so whatever the browser saw survives; at the next start
the journal is stored and the transcript the dead process left live becomes interrupted.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.apps import AppProcess
from tests.conftest import WsDriver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    yield started
    for proc in started:
        proc.stop()


@contextmanager
def recording(app: AppProcess, *commands: str) -> Iterator[tuple[str, set[int]]]:
    """A console on ``app`` past the greeting and EHLO, then ``commands`` (each answered 250):
    yields the transcript id and the seqs the browser saw; the WebSocket is cut at the end."""
    ws = WsDriver(f"ws://127.0.0.1:{app.port}/ws")
    try:
        assert ws.connect()["code"] == 220
        ws.ehlo()
        for command in commands:
            assert ws.command(command)["code"] == 250
        tid = next(f["transcript"] for f in ws.frames if f["type"] == "session")
        yield tid, {f["seq"] for f in ws.frames if "seq" in f}
    finally:
        ws.ws.shutdown()


def test_sigkill_mid_session_keeps_every_line_and_marks_it_interrupted(
    tmp_path: Path, processes: list[AppProcess]
) -> None:
    first = AppProcess(tmp_path / "data").start()
    processes.append(first)
    envelope = ("MAIL FROM:<alice@example.com>", "RCPT TO:<bob@example.com>")
    with recording(first, *envelope) as (tid, seen):
        live = first.get(f"/api/transcripts/{tid}")["transcript"]
        assert live["status"] == "live"
        first.kill()  # halfway: a transaction open, no DATA, no QUIT

    second = AppProcess(tmp_path / "data").start()
    processes.append(second)
    body = second.get(f"/api/transcripts/{tid}")
    stored = [e["seq"] for e in body["entries"]]
    assert stored == list(range(len(stored)))  # no hole
    assert seen <= set(stored)  # nothing the browser saw is lost
    assert len(stored) >= len(seen) >= 7
    texts = [e.get("text") for e in body["entries"]]
    assert "MAIL FROM:<alice@example.com>" in texts
    meta = body["transcript"]
    assert meta["status"] == "interrupted"
    assert meta["close_reason"] == "the recording process stopped"
    row = next(t for t in second.get("/api/transcripts")["transcripts"] if t["id"] == tid)
    assert row["status"] == "interrupted" and row["entry_count"] == len(stored)


def test_sigkill_before_the_group_commit_loses_nothing_the_browser_saw(
    tmp_path: Path, processes: list[AppProcess]
) -> None:
    """Entries wait for the group commit; the journal holds them if the process dies first."""
    first = AppProcess(tmp_path / "data").start("--commit-interval", "3600")
    processes.append(first)
    with recording(first, "MAIL FROM:<alice@example.com>") as (tid, seen):
        with sqlite3.connect(tmp_path / "data" / "playground.db") as db:
            (committed,) = db.execute(
                "SELECT count(*) FROM entries WHERE transcript_id = ?", (tid,)
            ).fetchone()
        assert committed == 0  # all of it is still only in the journal
        assert list((tmp_path / "data" / "journal").glob("*.journal"))
        first.kill()

    second = AppProcess(tmp_path / "data").start()
    processes.append(second)
    body = second.get(f"/api/transcripts/{tid}")
    stored = [e["seq"] for e in body["entries"]]
    assert stored == list(range(len(stored))) and seen <= set(stored)
    assert "MAIL FROM:<alice@example.com>" in [e.get("text") for e in body["entries"]]
    assert body["transcript"]["status"] == "interrupted"
    assert body["transcript"]["entry_count"] == len(stored)
    dead_pid = f":{first.proc.pid}:"  # type: ignore[union-attr]
    journals = [p.name for p in (tmp_path / "data" / "journal").glob("*.journal")]
    assert not [name for name in journals if dead_pid in name]  # recovered, then removed


def test_sigterm_ends_cleanly_committing_everything_and_leaving_no_journal(
    tmp_path: Path, processes: list[AppProcess]
) -> None:
    app = AppProcess(tmp_path / "data").start("--commit-interval", "3600")
    processes.append(app)
    with recording(app) as (tid, seen):
        assert app.proc is not None
        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(20) == 0
    assert list((tmp_path / "data" / "journal").glob("*.journal")) == []  # all committed
    with sqlite3.connect(tmp_path / "data" / "playground.db") as db:
        stored = {seq for (seq,) in db.execute(
            "SELECT seq FROM entries WHERE transcript_id = ?", (tid,))}  # fmt: skip
    assert seen <= stored
