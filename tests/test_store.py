"""The transcript store against SQLite (always) and PostgreSQL (when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.sigkill import sigkill_while_writing
from transcripts import NotFound, Store, StoreError
from transcripts import db as dbmod
from transcripts.process import identity, local_process_is_alive


def _postgres_url() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set (CI sets it to a real PostgreSQL)")
    import psycopg

    schema = "transcripts_test_" + secrets.token_hex(6)
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/playground.db"
    else:
        yield from _postgres_url()


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = Store.open(url)
    yield opened
    opened.dispose()


def sent(seq: int, line: str, line_kind: str = "command") -> dict[str, Any]:
    return {"seq": seq, "t": seq * 10, "kind": "sent", "text": line, "line_kind": line_kind,
            "step": None, "explain": []}  # fmt: skip


def reply(seq: int, code: int, *lines: str, after: str = "EHLO") -> dict[str, Any]:
    return {"seq": seq, "t": seq * 10, "kind": "reply", "code": code, "enhanced": None,
            "lines": list(lines), "malformed": None, "after": after, "step": None,
            "explain": [f"reply.{code}"]}  # fmt: skip


def session(store: Store, target: str = "mx.example.org:25", **kw: Any) -> str:
    created, _ = store.create(target, **kw)
    store.append(created.id, {"seq": 0, "t": 0, "kind": "event", "event": "connect",
                              "data": {"host": target, "port": 25}})  # fmt: skip
    store.append(created.id, reply(1, 220, "220 mx.example.org ESMTP ready", after="greeting"))
    store.append(created.id, sent(2, "EHLO client.example"))
    store.append(created.id, reply(3, 250, "250-mx.example.org hello", "250 PIPELINING"))
    return created.id


def count(store: Store, table: str, transcript_id: str) -> int:
    column = "id" if table == "transcripts" else "transcript_id"
    with store.engine.connect() as conn:
        sql = text(f"SELECT count(*) FROM {table} WHERE {column} = :t")
        return int(conn.execute(sql, {"t": transcript_id}).scalar_one())


def test_create_gives_a_live_transcript_and_an_edit_token(store: Store) -> None:
    created, token = store.create("mx.example.org:25", title="First try", owner="ann")
    assert created.status == "live" and created.visibility == "link"
    assert len(created.id) >= 32 and len(token) >= 43  # >= 128 random bits each
    assert created.process == identity()
    assert store.check_edit_token(created.id, token)
    assert not store.check_edit_token(created.id, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not store.check_edit_token("no-such-id", token)
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT edit_token_hash FROM transcripts")).scalar_one()
    assert token not in stored


def test_append_and_get_round_trip(store: Store) -> None:
    tid = session(store)
    got = store.get(tid)
    assert got is not None and got.entry_count == 4 and got.last_code == 250
    assert got.entries[3] == reply(3, 250, "250-mx.example.org hello", "250 PIPELINING")
    assert [e["seq"] for e in store.entries(tid, since=2)] == [2, 3]
    assert got.created_at.tzinfo is not None
    assert store.get("missing") is None


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ({"t": 0, "kind": "sent", "text": "NOOP", "line_kind": "command"}, "bad_entry"),
        ({**sent(9, "NOOP"), "seq": True}, "bad_entry"),
        ({**sent(9, "NOOP"), "kind": "shout"}, "bad_entry"),
        ({**sent(9, "NOOP"), "colour": "red"}, "bad_entry"),
        ({**reply(9, 250, "250 ok"), "code": "250"}, "bad_entry"),
        (sent(2, "NOOP"), "duplicate"),
        (sent(9, "X" * 300_000), "bad_entry"),
        (
            {"seq": 9, "t": 0, "kind": "event", "event": "mx", "data": {"ttl": float("nan")}},
            "bad_entry",
        ),
        ({"seq": 9, "t": 0, "kind": "event", "event": "mx", "data": {"at": object()}}, "bad_entry"),
    ],
    ids=[
        "no-seq",
        "bool-seq",
        "unknown-kind",
        "unknown-field",
        "string-code",
        "dup-seq",
        "huge",
        "nan-in-data",
        "not-json-data",
    ],
)
def test_append_refuses_bad_entries(store: Store, entry: dict[str, Any], code: str) -> None:
    tid = session(store)
    with pytest.raises(StoreError) as info:
        store.append(tid, entry)
    assert info.value.code == code
    assert count(store, "entries", tid) == 4


def test_append_only_to_a_live_transcript(store: Store) -> None:
    tid = session(store)
    assert store.close(tid, "QUIT") and not store.close(tid, "again")
    with pytest.raises(StoreError) as info:
        store.append(tid, sent(4, "NOOP"))
    assert info.value.code == "closed"
    with pytest.raises(NotFound):
        store.append("missing", sent(0, "NOOP"))
    closed = store.get(tid)
    assert closed is not None and closed.status == "closed" and closed.close_reason == "QUIT"
    assert closed.ended_at is not None and closed.entry_count == 4


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("greylist", {"greylist"}),
        ("relay.example", {"relay"}),
        ("ehlo CLIENT", {"greylist", "relay", "mine"}),
        ("451", {"greylist"}),
        ("4.7.1", {"greylist"}),
        ("Access denied", {"relay"}),
        ("100%", set()),
        ("_", set()),
    ],
    ids=["title", "target", "sent-text-any-case", "reply-code", "enhanced", "reply-text",
         "percent-is-literal", "underscore-is-literal"],
)  # fmt: skip
def test_list_searches_title_target_code_and_text(
    store: Store, term: str, expected: set[str]
) -> None:
    ids = {
        session(store, title="greylist"): "greylist",
        session(store, target="relay.example:25", title="relay"): "relay",
        session(store, title="mine", owner="ann"): "mine",
    }
    grey = next(k for k, v in ids.items() if v == "greylist")
    relay = next(k for k, v in ids.items() if v == "relay")
    store.append(grey, sent(4, "MAIL FROM:<a@b.example>"))
    store.append(grey, reply(5, 451, "451 4.7.1 Try again later", after="MAIL"))
    store.append(relay, reply(4, 554, "554 Access denied", after="RCPT"))
    assert {ids[t.id] for t in store.list(search=term)} == expected


def test_list_orders_newest_first_and_pages_and_filters_owner(store: Store) -> None:
    made = [session(store, title=f"s{i}", owner="ann" if i % 2 else None) for i in range(5)]
    listed = [t.id for t in store.list()]
    assert listed == list(reversed(made))
    assert [t.id for t in store.list(limit=2, offset=1)] == listed[1:3]
    assert {t.id for t in store.list(owner="ann")} == {made[1], made[3]}
    assert all(t.entries == [] for t in store.list())


def test_delete_takes_entries_and_notes_with_it(store: Store) -> None:
    tid = session(store)
    store.add_note(tid, 1, "the greeting", "ann")
    keep = session(store)
    assert store.delete(tid) and not store.delete(tid)
    assert count(store, "entries", tid) == 0 and count(store, "notes", tid) == 0
    assert store.get(keep) is not None and count(store, "entries", keep) == 4


def test_update_meta_and_limits(store: Store) -> None:
    tid = session(store)
    assert store.update_meta(tid, "Renamed", "What we tried")
    got = store.get(tid)
    assert got is not None and (got.title, got.description) == ("Renamed", "What we tried")
    assert not store.update_meta("missing", "x", None)
    with pytest.raises(StoreError) as info:
        store.update_meta(tid, "t" * 201, None)
    assert info.value.code == "too_long"


def test_notes_add_list_delete(store: Store) -> None:
    tid = session(store)
    first = store.add_note(tid, 3, "PIPELINING lets the client batch commands", "ann")
    store.add_note(tid, None, "whole session", None)
    got = store.get(tid)
    assert got is not None
    assert [(n.seq, n.text, n.author) for n in got.notes] == [
        (None, "whole session", None),
        (3, "PIPELINING lets the client batch commands", "ann"),
    ]
    assert store.delete_note(tid, first.id) and not store.delete_note(tid, first.id)
    assert count(store, "notes", tid) == 1
    with pytest.raises(StoreError):
        store.add_note(tid, 1, "n" * 4001, "ann")
    with pytest.raises(NotFound):
        store.add_note("missing", 1, "hello", "ann")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_mark_interrupted_only_touches_gone_writers(store: Store) -> None:
    host, pid, _tag = identity().split(":")
    writers = {
        "mine": identity(),
        "dead-pid": f"{host}:{dead_pid()}:abc",
        "reused-pid": f"{host}:{pid}:not-my-tag",
        "other-host": f"elsewhere.invalid:{pid}:abc",
    }
    ids = {
        name: store.create("mx:25", meta={"process": proc})[0].id for name, proc in writers.items()
    }
    closed = store.create("mx:25")[0].id
    store.close(closed, "QUIT")
    marked = store.mark_interrupted(local_process_is_alive)
    assert set(marked) == {ids["dead-pid"], ids["reused-pid"]}
    statuses = {name: store.get(tid).status for name, tid in ids.items()}
    assert statuses == {"mine": "live", "dead-pid": "interrupted",
                        "reused-pid": "interrupted", "other-host": "live"}  # fmt: skip
    assert store.get(closed).status == "closed"
    assert store.mark_interrupted(local_process_is_alive) == []


_WRITER = """
import sys
from transcripts import Store
store = Store.open(sys.argv[1])
created, _ = store.create("crash.example:25")
print(created.id, flush=True)
seq = 0
while True:
    store.append(created.id, {"seq": seq, "t": seq, "kind": "sent", "text": f"NOOP {seq}",
                              "line_kind": "command"})
    print(seq, flush=True)
    seq += 1
"""


@pytest.mark.slow
def test_sigkill_loses_at_most_the_entry_being_written(url: str) -> None:
    tid, last = sigkill_while_writing(_WRITER, url)  # acknowledged after its commit
    store = Store.open(url)
    try:
        seqs = [e["seq"] for e in store.entries(tid)]
        # Every acknowledged entry is there, in order, with at most one more after it.
        assert seqs == list(range(len(seqs))) and last + 1 <= len(seqs) <= last + 2
        got = store.get(tid)
        assert got is not None and got.status == "live" and got.entry_count == len(seqs)
        assert store.mark_interrupted(local_process_is_alive) == [tid]
        assert store.get(tid).status == "interrupted"
    finally:
        store.dispose()


def test_migration_keeps_rows_written_at_the_first_revision(url: str) -> None:
    engine = dbmod.make_engine(url)
    dbmod.migrate(engine, "0001")
    assert dbmod.current_revision(engine) == "0001"
    payload = json.dumps(reply(0, 554, "554 5.7.1 Relay access denied", after="RCPT"))
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO transcripts (id, target, created_at, status, visibility, edit_token_hash,"
            " entry_count) VALUES ('old', 'old.example:25', CURRENT_TIMESTAMP, 'closed', 'link',"
            " 'x', 1)"
        ))  # fmt: skip
        conn.execute(text("INSERT INTO entries VALUES ('old', 0, 0, 'reply', :p)"), {"p": payload})
    engine.dispose()
    store = Store.open(url)
    try:
        assert dbmod.current_revision(store.engine) == dbmod.head_revision() != "0001"
        assert dbmod.HEAD == dbmod.head_revision()  # the constant that skips Alembic at start
        old = store.get("old")
        assert old is not None and old.entries == [json.loads(payload)]
        assert [t.id for t in store.list(search="relay ACCESS")] == ["old"]
        assert [t.id for t in store.list(search="554")] == ["old"]
    finally:
        store.dispose()


def test_reopening_an_upgraded_store_changes_nothing(url: str) -> None:
    first = Store.open(url)
    tid = session(first)
    first.dispose()
    again = Store.open(url)
    assert again.get(tid) is not None and again.get(tid).entry_count == 4
    again.dispose()


def test_sqlite_session_settings(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/p.db")
    with store.engine.connect() as conn:
        pragmas = [conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in
                   ("journal_mode", "synchronous", "foreign_keys")]  # fmt: skip
    assert pragmas == ["wal", 1, 1]  # synchronous 1 is NORMAL
    store.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
    ids=["postgresql", "postgres", "already-psycopg", "sqlite"],
)
def test_urls_mean_psycopg_3(given: str, expected: str) -> None:
    assert dbmod.normalise_url(given) == expected


def test_default_url_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert (
        dbmod.default_url(tmp_path / "data") == f"sqlite:///{tmp_path / 'data' / 'playground.db'}"
    )
    assert (tmp_path / "data").is_dir()


def test_concurrent_writers_do_not_lock_each_other_out(store: Store) -> None:
    ids = [store.create(f"mx{i}.example:25")[0].id for i in range(4)]
    errors: list[BaseException] = []

    def write(tid: str) -> None:
        try:
            for seq in range(100):
                store.append(tid, sent(seq, f"NOOP {seq}"))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(tid,)) for tid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [count(store, "entries", tid) for tid in ids] == [100] * 4


def test_local_process_is_alive_reads_hostname_pid_and_tag() -> None:
    host = socket.gethostname()
    assert local_process_is_alive(identity())
    assert not local_process_is_alive(f"{host}:{os.getpid()}:other")
    assert not local_process_is_alive(f"{host}:{dead_pid()}:x")
    assert local_process_is_alive(f"{host}:1:x")  # pid 1 always runs
    assert local_process_is_alive("other.invalid:1:x")


def test_append_many_stores_a_pasted_message_in_one_go(store: Store) -> None:
    transcript, _token = store.create("sandbox (127.0.0.1:2525)")
    store.append(transcript.id, sent(0, "DATA"))
    lines = [sent(1 + i, f"line {i}", "data") for i in range(500)]
    store.append_many(transcript.id, lines)
    store.append(transcript.id, reply(501, 250, "250 2.0.0 Ok: queued", after="end-of-data"))
    got = store.get(transcript.id)
    assert got is not None and got.entry_count == 502 and got.last_code == 250
    assert [e["text"] for e in got.entries[1:501]] == [f"line {i}" for i in range(500)]
    with pytest.raises(StoreError) as info:
        store.append_many(transcript.id, [sent(7, "again", "data")])
    assert info.value.code == "duplicate"
    assert store.get(transcript.id).entry_count == 502  # nothing of a refused batch is kept


def test_append_lines_keeps_one_entry_per_message_line(store: Store) -> None:
    transcript, _token = store.create("sandbox (127.0.0.1:2525)")
    first = sent(0, "Subject: hi", "data")
    store.append_lines(transcript.id, first, ["Subject: hi", "", "body", "."])
    got = store.get(transcript.id)
    assert got is not None and got.entry_count == 4
    assert [(e["seq"], e["text"], e["line_kind"]) for e in got.entries] == [
        (0, "Subject: hi", "data"),
        (1, "", "data"),
        (2, "body", "data"),
        (3, ".", "data"),
    ]
    assert [t.id for t in store.list(search="body")] == [transcript.id]
