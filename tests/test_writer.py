"""The group-commit writer and its journal, against SQLite and PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.conftest import wait_until
from tests.sigkill import sigkill_while_writing
from tests.test_store import count, reply, sent, url  # noqa: F401 - url is a fixture
from transcripts import Store, StoreError
from transcripts.journal import recover
from transcripts.rows import entries_of, entry_row, journal_payload, lines_row, row_of_payload
from transcripts.writer import Writer


@pytest.fixture
def store(url: str) -> Iterator[Store]:  # noqa: F811 - the url fixture, parametrized
    opened = Store.open(url)
    yield opened
    opened.dispose()


class Held(NamedTuple):
    writer: Writer
    journal: Path
    tid: str


@pytest.fixture
def held(store: Store, tmp_path: Path) -> Held:
    """A writer that never commits on its own, holding one NOOP of a live transcript."""
    journal = tmp_path / "journal"
    writer = Writer(store, journal, interval=3600)
    tid = store.create("a:25")[0].id
    writer.append(tid, sent(0, "NOOP"))
    return Held(writer, journal, tid)


@pytest.fixture
def other(url: str) -> Iterator[Store]:  # noqa: F811
    """A second store on the same database, as another process would read it (no writer)."""
    opened = Store.open(url, upgrade=False)
    yield opened
    opened.dispose()


def test_entries_reach_other_readers_within_the_interval_without_any_flush(
    store: Store, other: Store, tmp_path: Path
) -> None:
    writer = Writer(store, tmp_path / "journal", interval=0.02)
    tid = store.create("mx.example.org:25")[0].id
    t0 = time.monotonic()
    for seq in range(0, 40, 2):
        writer.append(tid, sent(seq, "NOOP"))
        writer.append(tid, reply(seq + 1, 250, "250 OK", after="NOOP"))
    assert wait_until(lambda: count(other, "entries", tid) == 40)
    assert time.monotonic() - t0 < 2.0
    got = other.get(tid)
    assert got is not None and got.entry_count == 40 and got.last_code == 250
    assert [e["seq"] for e in got.entries] == list(range(40))
    writer.stop()


def test_a_read_in_the_writing_process_sees_everything_already_queued(
    store: Store, other: Store, tmp_path: Path
) -> None:
    writer = Writer(store, tmp_path / "journal", interval=3600)  # never on its own
    tid = store.create("mx.example.org:25")[0].id
    writer.append(tid, sent(0, "EHLO client.example"))
    writer.append(tid, reply(1, 250, "250 mx hello", after="EHLO"))
    writer.append_lines(tid, sent(2, "Subject: hi", "data"), ["Subject: hi", "", "body", "."])
    assert count(other, "entries", tid) == 0  # queued and journaled, not committed yet
    got = store.get(tid)  # the store waits for its writer
    assert got is not None and [e["seq"] for e in got.entries] == list(range(6))
    assert [e.get("text") for e in got.entries][2:] == ["Subject: hi", "", "body", "."]
    assert got.entry_count == 6 and len(other.entries(tid)) == 6
    writer.stop()


def test_close_is_applied_after_the_entries_queued_before_it(store: Store, tmp_path: Path) -> None:
    writer = Writer(store, tmp_path / "journal", interval=3600)
    tid = store.create("mx.example.org:25")[0].id
    writer.append(tid, sent(0, "QUIT"))
    writer.append(tid, reply(1, 221, "221 Bye", after="QUIT"))
    writer.close(tid, "the server closed the connection")
    assert writer.flush(5)
    got = store.get(tid)
    assert got is not None and got.status == "closed" and got.entry_count == 2
    assert got.close_reason == "the server closed the connection"
    writer.stop()


def test_a_bad_entry_fails_in_the_caller_and_queues_nothing(store: Store, tmp_path: Path) -> None:
    writer = Writer(store, tmp_path / "journal", interval=3600)
    tid = store.create("mx.example.org:25")[0].id
    with pytest.raises(Exception, match="kind"):
        writer.append(tid, {"seq": 0, "t": 0, "kind": "nonsense"})
    assert writer.flush(1) and count(store, "entries", tid) == 0
    writer.stop()


def test_entries_for_a_transcript_deleted_meanwhile_are_dropped_and_the_rest_kept(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Writer(store, tmp_path / "journal", interval=3600)
    gone, kept = store.create("a:25")[0].id, store.create("b:25")[0].id
    writer.append(gone, sent(0, "NOOP"))
    writer.append(kept, sent(0, "NOOP"))
    store.delete(gone)  # while its entry waits in the queue
    caplog.set_level("INFO", logger="transcripts.writer")
    assert writer.flush(5)
    assert count(store, "entries", kept) == 1 and count(store, "entries", gone) == 0
    assert f"transcript {gone} is no longer live" in caplog.text
    writer.stop()


def test_a_duplicate_in_a_batch_does_not_cost_the_other_writes(
    store: Store, tmp_path: Path
) -> None:
    writer = Writer(store, tmp_path / "journal", interval=3600)
    tid, other_tid = store.create("a:25")[0].id, store.create("b:25")[0].id
    store.append(tid, sent(0, "NOOP"))  # committed directly: the queued seq 0 is a duplicate
    writer.append(tid, sent(0, "NOOP"))
    writer.append(other_tid, sent(0, "EHLO x"))
    assert writer.flush(10)
    assert count(store, "entries", other_tid) == 1 and count(store, "entries", tid) == 1
    writer.stop()


def test_stop_commits_what_waits_and_removes_the_journal(store: Store, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    writer = Writer(store, journal, interval=3600)
    tid = store.create("a:25")[0].id
    writer.append(tid, sent(0, "NOOP"))
    assert len(list(journal.glob("*.journal"))) == 1
    writer.stop()
    assert count(store, "entries", tid) == 1
    assert list(journal.glob("*.journal")) == []


def journal_bytes(journal: Path) -> int:
    """The journal's size now; a segment the writer deletes between listing and stat is gone
    (it was committed), not an error (this raced once in a clean-clone run)."""
    total = 0
    for path in journal.glob("*.journal"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def test_under_steady_traffic_the_journal_stays_small(store: Store, tmp_path: Path) -> None:
    """Full segments are deleted once committed, even though the queue is never empty."""
    journal = tmp_path / "journal"
    writer = Writer(store, journal, interval=0.005)
    tid = store.create("a:25")[0].id
    line = "z" * 900
    biggest = 0
    for seq in range(0, 12_000, 2):  # ~11 MB journaled in all, commits running meanwhile
        writer.append(tid, sent(seq, line))
        writer.append(tid, reply(seq + 1, 250, "250 OK", after="NOOP"))
        if seq % 200 == 0:  # traffic the database keeps up with, but never a quiet moment
            time.sleep(0.01)
            biggest = max(biggest, journal_bytes(journal))
    assert writer.flush(20)
    assert wait_until(lambda: len(list(journal.glob("*.journal"))) == 1)
    assert biggest < 4 * 1024 * 1024  # a segment or two, not everything ever written
    assert len(store.entries(tid)) == 12_000
    writer.stop()


def test_a_batch_row_stands_for_exactly_the_entries_one_row_per_line_would_hold() -> None:
    first = {**sent(7, "Subject: 100% sure \u00e9", "data"), "step": "message",
             "explain": ["warning:data:no-blank-line"]}  # fmt: skip
    lines = ["Subject: 100% sure \u00e9", 'quote " and \\ and \t tab', "..dot", "\u2028 \x85", ""]
    row = lines_row("tid", first, lines)
    assert (row["seq"], row["kind"], row["entries"]) == (7, "lines", 5)
    expected = [
        {**first, "seq": 7 + i, "text": line, "explain": first["explain"] if i == 0 else []}
        for i, line in enumerate(lines)
    ]
    assert entries_of(row["payload"], row["text"]) == expected
    assert row["text"] == "\n".join(lines)  # what a search looks at, stored once
    for entry in expected:
        entry_row("tid", entry)  # each one a valid entry on its own
    assert row_of_payload("tid", journal_payload(row)) == row  # what recovery rebuilds


def test_a_batch_row_refuses_a_line_with_a_line_break() -> None:
    with pytest.raises(StoreError, match="line break"):
        lines_row("tid", sent(0, "a", "data"), ["a", "b\nc"])


@pytest.mark.parametrize("bad", ["nul \x00 here", "half \ud800 a pair"])
def test_a_batch_row_refuses_what_its_text_column_cannot_hold_exactly(bad: str) -> None:
    with pytest.raises(StoreError, match="NUL or a lone surrogate"):
        lines_row("tid", sent(0, "a", "data"), ["a", bad])


def test_entries_a_database_column_could_not_hold_are_stored_exactly(
    store: Store, tmp_path: Path
) -> None:
    """A hostile server's NUL (PostgreSQL refuses it in text) or a lone surrogate in event
    data: the payload keeps them (escaped), the search text is made safe; nothing is refused."""
    writer = Writer(store, tmp_path / "journal", interval=0.01)
    tid = store.create("evil:25")[0].id
    writer.append(tid, reply(0, 250, "250 ok\x00 and more", after="NOOP"))
    writer.append(tid, {"seq": 1, "t": 1, "kind": "event", "event": "discarded",
                        "data": {"text": "injected \udcff"}})  # fmt: skip
    writer.append(tid, sent(2, "NOOP"))
    assert writer.flush(10)
    entries = store.entries(tid)
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0]["lines"] == ["250 ok\x00 and more"]
    assert entries[1]["data"]["text"] == "injected \udcff"
    assert [t.id for t in store.list(search="and more")] == [tid]
    writer.stop()


def test_a_batch_row_refuses_a_line_over_the_limit() -> None:
    with pytest.raises(StoreError, match="at most"):
        lines_row("tid", sent(0, "a", "data"), ["a", "x" * 70_000])


def test_entries_since_a_line_inside_a_batch_row(store: Store) -> None:
    tid = store.create("a:25")[0].id
    store.append(tid, sent(0, "DATA"))
    store.append_lines(tid, sent(1, "l1", "data"), ["l1", "l2", "l3", "."])
    store.append(tid, reply(5, 250, "250 OK", after=".") | {"after": "end-of-data"})
    assert [e["seq"] for e in store.entries(tid, since=3)] == [3, 4, 5]
    assert [e.get("text") for e in store.entries(tid, since=2)][:3] == ["l2", "l3", "."]
    assert [e["seq"] for e in store.entries(tid)] == list(range(6))
    assert store.get(tid).entry_count == 6
    assert [t.id for t in store.list(search="l3")] == [tid]  # a line inside a batch is found


_KILLED_WRITER = """
import sys
from pathlib import Path
from transcripts import Store
from transcripts.writer import Writer
store = Store.open(sys.argv[1])
writer = Writer(store, Path(sys.argv[2]), interval=3600)  # nothing is committed on its own
created, _ = store.create("crash.example:25")
print(created.id, flush=True)
seq = 0
while True:
    writer.append(created.id, {"seq": seq, "t": seq, "kind": "sent", "text": f"NOOP {seq}",
                               "line_kind": "command"})
    if seq % 50 == 0:
        writer.append_lines(created.id, {"seq": seq + 1, "t": seq, "kind": "sent",
                            "text": "a", "line_kind": "data"}, ["a", "b", "."])
        seq += 3
    print(seq, flush=True)
    seq += 1
"""


@pytest.mark.slow
def test_after_a_sigkill_recover_stores_every_journaled_entry(
    url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal"
    tid, last = sigkill_while_writing(_KILLED_WRITER, url, str(journal))  # journaled
    (path,) = journal.glob("*.journal")
    with open(path, "ab") as handle:
        handle.write(b'\n{"tid":"' + tid.encode() + b'","entries":[{"seq":99')  # cut short
    store = Store.open(url)
    try:
        assert count(store, "entries", tid) == 0  # nothing was committed by the dead writer
        restored = recover(store, journal)
        seqs = [e["seq"] for e in store.entries(tid)]
        assert seqs == list(range(len(seqs))) and last + 1 <= len(seqs)
        assert restored == {tid: len(seqs)}
        texts = [e["text"] for e in store.entries(tid)]
        assert texts[:5] == ["NOOP 0", "a", "b", ".", "NOOP 4"]
        assert store.get(tid).entry_count == len(seqs)
        assert list(journal.glob("*.journal")) == []
        assert recover(store, journal) == {}  # nothing twice
    finally:
        store.dispose()


def test_recover_leaves_the_journal_of_a_running_process_alone(store: Store, held: Held) -> None:
    assert recover(store, held.journal) == {}  # it is ours, and we run (we hold its lock)
    assert len(list(held.journal.glob("*.journal"))) == 1
    held.writer.stop()


def test_the_wal_is_checkpointed_in_the_background_not_by_a_commit(tmp_path: Path) -> None:
    """SQLite's own checkpoint would fsync inside a commit (on gevent's loop); ours runs on
    a native thread: written pages reach the database file without any commit doing it."""
    from transcripts import checkpoint

    db = tmp_path / "playground.db"
    store = Store.open(f"sqlite:///{db}")
    writer = Writer(store, tmp_path / "journal", interval=0.01)
    try:
        tid = store.create("a:25")[0].id
        before = db.stat().st_size
        lines = ["y" * 900] * 2000  # ~1.8 MB: far under the automatic checkpoint's 40 MB
        writer.append_lines(tid, sent(0, lines[0], "data"), lines)
        assert writer.flush(10)
        checkpointer = checkpoint._running[(os.getpid(), str(db))]
        assert wait_until(lambda: checkpointer.checkpoints >= 1, timeout=10)
        assert wait_until(lambda: db.stat().st_size > before + 1_500_000, timeout=10)
    finally:
        writer.stop()
        store.dispose()
    assert (os.getpid(), str(db)) not in checkpoint._running


def _journal_record(tid: str, *payloads: Any) -> bytes:
    return ("\n" + json.dumps({"tid": tid, "entries": list(payloads)})).encode()


def test_recover_takes_a_dead_process_journal_whatever_its_host_and_survives_damage(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Liveness is the segment's lock, not host:pid (a container's new host name); damaged
    records are skipped one by one and never stop the start-up."""
    journal = tmp_path / "journal"
    journal.mkdir()
    tid = store.create("a:25")[0].id
    good = [sent(0, "EHLO x"), reply(1, 250, "250 hi", after="EHLO"), sent(2, "NOOP")]
    data = b"".join(
        [
            _journal_record(tid, good[0]),
            b'\n{"tid":"' + tid.encode() + b'","entries":[{"seq":5',  # cut short mid-write
            _journal_record(tid, good[1]),
            b'\n{"tid":["not", "a", "string"],"entries":[]}',
            b'\n{"tid":"x","entries":5}',
            _journal_record(tid, {"seq": 10**30, "t": 0, "kind": "sent"}),  # absurd seq
            _journal_record(tid, {"seq": True, "t": 0, "kind": "sent"}),  # a bool is no seq
            _journal_record(tid, {"seq": 7, "t": 0, "kind": "nonsense"}),  # fails the checks
            _journal_record(tid, good[2]),
            b"\n\xff\xfe not even UTF-8",
        ]
    )
    (journal / "some-old-container:4242:0123abcd~0.journal").write_bytes(data)
    with caplog.at_level("WARNING"):
        restored = recover(store, journal)
    assert restored == {tid: 3}
    assert store.entries(tid) == good
    assert list(journal.iterdir()) == []
    assert "damaged" in caplog.text


def test_a_journal_the_database_refuses_is_kept_aside_not_retried_at_every_start(
    store: Store, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    tid = store.create("a:25")[0].id
    segment = journal / "gone:1:ab~0.journal"
    segment.write_bytes(_journal_record(tid, sent(0, "NOOP")))
    store.restore = lambda *args: (_ for _ in ()).throw(RuntimeError("refused"))  # type: ignore[method-assign]
    assert recover(store, journal) == {}
    assert [p.name for p in journal.iterdir()] == ["gone:1:ab~0.bad"]
    assert recover(store, journal) == {}  # the .bad file is left for a person


def _outage(store: Store) -> dict[str, int]:
    """Make every statement on the store's engine fail as if the database were unreachable
    (a real error raised by the real driver's layer) while state["down"] is true; counts
    the statements refused in state["refused"]."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    state = {"down": True, "refused": 0}

    @event.listens_for(store.engine, "before_cursor_execute")
    def _fail(*_args: Any) -> None:
        if state["down"]:
            state["refused"] += 1
            raise OperationalError("INSERT", {}, Exception("connection refused (test outage)"))

    return state


def test_while_the_database_is_unreachable_entries_wait_and_none_is_lost(
    store: Store, tmp_path: Path
) -> None:
    writer = Writer(store, tmp_path / "journal", interval=0.01)
    tid = store.create("a:25")[0].id
    state = _outage(store)
    for seq in range(20):
        writer.append(tid, sent(seq, f"NOOP {seq}"))
    assert wait_until(lambda: state["refused"] >= 5, timeout=15)  # several failed attempts
    state["down"] = False
    assert wait_until(lambda: count(store, "entries", tid) == 20, timeout=15)
    assert [e["text"] for e in store.entries(tid)] == [f"NOOP {seq}" for seq in range(20)]
    writer.stop()


def test_an_exit_during_an_outage_leaves_the_journal_for_the_next_start(
    store: Store, held: Held
) -> None:
    state = _outage(store)
    held.writer.stop()  # cannot commit: the journal must stay
    assert len(list(held.journal.glob("*.journal"))) == 1
    state["down"] = False
    held.writer._journal.abandon()  # type: ignore[union-attr]  # as the process's exit would
    assert recover(store, held.journal) == {held.tid: 1}
    assert [e["text"] for e in store.entries(held.tid)] == ["NOOP"]


def test_recording_goes_on_when_the_journal_cannot_be_opened(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "journal"
    blocked.write_text("a file where the journal folder should be")
    writer = Writer(store, blocked, interval=0.01)
    tid = store.create("a:25")[0].id
    with caplog.at_level("ERROR"):
        writer.append(tid, sent(0, "NOOP"))
    assert "unavailable" in caplog.text
    assert writer.flush(5) and count(store, "entries", tid) == 1
    writer.stop()


def test_the_writers_kept_connection_lost_is_replaced_and_nothing_is_lost(
    store: Store, tmp_path: Path
) -> None:
    """The thread keeps one connection between commits; a server that drops it (PostgreSQL
    restarted, an idle timeout) costs a retry on a fresh one, not an entry."""
    writer = Writer(store, tmp_path / "journal", interval=0.01)
    tid = store.create("a:25")[0].id
    writer.append(tid, sent(0, "NOOP 0"))
    assert wait_until(lambda: count(store, "entries", tid) == 1, timeout=15)
    kept = writer._held.conn
    assert kept is not None  # kept for the next commit
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as other:
            backend = kept.connection.dbapi_connection.info.backend_pid
            other.exec_driver_sql(f"SELECT pg_terminate_backend({backend})")
    else:
        kept.connection.dbapi_connection.close()  # the driver's connection is gone
    for seq in range(1, 10):
        writer.append(tid, sent(seq, f"NOOP {seq}"))
    assert wait_until(lambda: count(store, "entries", tid) == 10, timeout=15)
    assert [e["text"] for e in store.entries(tid)] == [f"NOOP {seq}" for seq in range(10)]
    writer.stop()
