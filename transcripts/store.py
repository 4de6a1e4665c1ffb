"""The transcript store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL, one commit per entry.

Over 300 lines: every statement on the transcript tables is here, so that a schema change
is one module's change (captured sessions' own statements: transcripts/captured.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Integer, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from transcripts import captured, checkpoint, db, process
from transcripts.driver import BUMP_SQL, ROW_COLUMNS, DriverCursor
from transcripts.errors import NotFound, StoreError
from transcripts.imported import store_import
from transcripts.model import Entry, Note, Transcript
from transcripts.rows import (
    Pending,
    checked_title,
    entries_in,
    entries_of,
    entry_of,
    entry_row,
    lines_row,
    matches,
    note_of,
    row_of_payload,
    token_hash,
    transcript_of,
)
from transcripts.schema import MAX_NOTE, MAX_TITLE, VISIBILITIES, entries, notes, transcripts

EntryList = list[Entry]
Summaries = list[dict[str, Any]]  # "list" is a method's name inside Store
Ids = list[str]
log = logging.getLogger(__name__)
_META_COLUMNS = [c for c in transcripts.c if c.name != "edit_token_hash"]
# Compared against when the id is unknown, so a miss takes as long as a hit.
_DUMMY_HASH = hashlib.sha256(b"no such transcript").hexdigest()

_bump = (
    update(transcripts)
    .where(transcripts.c.id == bindparam("tid"), transcripts.c.status == "live")
    .values(
        entry_count=transcripts.c.entry_count + 1,
        last_code=func.coalesce(bindparam("code", type_=Integer), transcripts.c.last_code),
    )
)
_bump_many = (
    update(transcripts)
    .where(transcripts.c.id == bindparam("tid"), transcripts.c.status == "live")
    .values(
        entry_count=transcripts.c.entry_count + bindparam("n", type_=Integer),
        last_code=func.coalesce(bindparam("code", type_=Integer), transcripts.c.last_code),
    )
)


def _now() -> datetime:
    return datetime.now(UTC)


def _close_stmt(transcript_id: str, reason: str | None, status: str) -> Any:
    return (
        update(transcripts)
        .where(transcripts.c.id == transcript_id, transcripts.c.status == "live")
        .values(
            status=status, ended_at=_now(), close_reason=(reason or None) and reason[:MAX_TITLE]
        )
    )


_ROW_COLUMNS = ROW_COLUMNS


def _insert_rows(conn: Any, rows: list[dict[str, Any]]) -> None:
    """executemany straight through the driver: SQLAlchemy's per-row parameter processing
    was most of the cost of a group commit (a pasted message is thousands of rows)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO entries ({', '.join(_ROW_COLUMNS)}) VALUES ({', '.join([mark] * 7)})"
    conn.exec_driver_sql(sql, [tuple(row[c] for c in _ROW_COLUMNS) for row in rows])


def _write_rows(cursor: DriverCursor, batch: list[Pending]) -> list[str]:
    """Count and insert a batch's rows on live transcripts; the ids of the others."""
    dropped: list[str] = []
    live_rows: list[dict[str, Any]] = []
    for tid, rows in _rows_by_transcript(batch).items():
        codes = [r["code"] for r in rows if r["code"] is not None]
        params = (entries_in(rows), codes[-1] if codes else None, tid)
        if cursor.execute(BUMP_SQL, params) == 1:
            live_rows += rows
        else:
            dropped.append(tid)
    if live_rows:
        cursor.insert_rows(live_rows)
    return dropped


def _rows_by_transcript(batch: list[Pending]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in batch:
        if item.rows:
            grouped.setdefault(item.transcript_id, []).extend(item.rows)
    return grouped


class Store:
    """Transcripts, their entries and notes, in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Called before every read: a group-commit writer (transcripts.writer) sets it to wait
        # for what this process has queued, so a reader here sees every entry already sent.
        self.settle: Callable[[], object] = lambda: None
        # Called first by dispose: a writer gives back the connection its thread keeps.
        self.before_dispose: list[Callable[[], object]] = []

    @classmethod
    def open(cls, url: str | None = None, *, upgrade: bool = True) -> Store:
        """Open (and by default migrate to the newest schema) the store at ``url``."""
        engine = db.make_engine(url or db.default_url())
        if upgrade:
            db.migrate(engine)
        return cls(engine)

    def start_checkpoints(self) -> None:
        """SQLite: checkpoint the WAL from a native thread (transcripts/checkpoint.py)."""
        if self._sqlite_file:
            checkpoint.start(self._sqlite_file)

    @property
    def _sqlite_file(self) -> str | None:
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return str(url.database)
        return None

    def dispose(self) -> None:
        """Close every pooled connection (and stop checkpointing)."""
        for give_back in self.before_dispose:
            give_back()
        if self._sqlite_file:
            checkpoint.stop(self._sqlite_file)
        self.engine.dispose()

    def create(
        self,
        target: str,
        title: str | None = None,
        owner: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> tuple[Transcript, str]:
        """Start a live transcript; returns it and the edit token (shown once, stored hashed)."""
        meta = dict(meta or {})
        visibility = meta.pop("visibility", "link")
        if visibility not in VISIBILITIES:
            raise StoreError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        token = secrets.token_urlsafe(32)
        row = {
            "id": secrets.token_urlsafe(24),  # 192 random bits: the id is the share link
            "title": checked_title(title),
            "description": meta.pop("description", None),
            "target": target,
            "created_at": _now(),
            "ended_at": None,
            "status": "live",
            "close_reason": None,
            "owner": owner,
            "visibility": visibility,
            "edit_token_hash": token_hash(token),
            "process": meta.pop("process", None) or process.identity(),
            "entry_count": 0,
            "last_code": None,
        }
        if meta:
            raise StoreError(f"unknown meta {sorted(meta)}")
        with db.writer(self.engine) as conn, conn.begin():
            conn.execute(insert(transcripts), row)
        row.pop("edit_token_hash")
        return Transcript(**row), token

    def append(self, transcript_id: str, entry: Entry) -> None:
        """Store one entry and commit it now; only a live transcript takes entries."""
        row = entry_row(transcript_id, entry)
        params = {"tid": transcript_id, "code": row["code"]}
        duplicate = f"entry {entry['seq']} is already stored"
        self._append_rows(transcript_id, [row], _bump, params, duplicate)

    def append_many(self, transcript_id: str, batch: list[Entry]) -> None:
        """Store several entries (a pasted message) in one transaction, committed now."""
        if not batch:
            return
        rows = [entry_row(transcript_id, entry) for entry in batch]
        codes = [row["code"] for row in rows if row["code"] is not None]
        params = {"tid": transcript_id, "n": len(rows), "code": codes[-1] if codes else None}
        duplicate = "an entry of the batch is already stored"
        self._append_rows(transcript_id, rows, _bump_many, params, duplicate)

    def append_lines(self, transcript_id: str, first: Entry, lines: list[str]) -> None:
        """Message lines sent in one batch, in one transaction: one entry per line, shaped
        like ``first`` (a checked ``sent`` entry for ``lines[0]``) but for its seq and text
        (stored as one row, ``rows.lines_row``)."""
        if not lines:
            return
        row = lines_row(transcript_id, first, lines)
        params = {"tid": transcript_id, "n": len(lines), "code": None}
        duplicate = "a line of the batch is already stored"
        self._append_rows(transcript_id, [row], _bump_many, params, duplicate)

    def _append_rows(
        self,
        transcript_id: str,
        rows: list[dict[str, Any]],
        bump: Update,
        params: dict[str, Any],
        duplicate: str,
    ) -> None:
        """Count the rows on a live transcript and insert them, in one committed transaction;
        a transcript that is not live raises its reason, a stored seq ``duplicate``."""
        try:
            with db.writer(self.engine) as conn, conn.begin():
                if conn.execute(bump, params).rowcount != 1:
                    raise self._not_live(conn, transcript_id)
                _insert_rows(conn, rows)
        except IntegrityError:
            raise StoreError(duplicate, code="duplicate") from None

    def write_batch(self, batch: list[Pending], conn: Any = None) -> list[str]:
        """Apply queued writes (``transcripts.writer``) in one transaction, committed now.

        Each item adds rows to a live transcript and may then close it. Rows for a
        transcript that is no longer live (deleted, or closed elsewhere) are dropped: the
        ids of those transcripts are returned. A duplicate row fails the whole batch
        (IntegrityError), and the caller retries item by item. ``conn``: a connection from
        :func:`db.writer` the caller keeps between batches (the writer's thread), else one
        is taken from the pool for this batch.
        """
        if conn is None:
            with db.writer(self.engine) as own:
                return self.write_batch(batch, own)
        with DriverCursor(conn) as cursor:
            if cursor.raw and all(item.close is None for item in batch):
                with cursor.transaction():  # BEGIN and COMMIT through the driver too
                    return _write_rows(cursor, batch)
            with conn.begin():
                dropped = _write_rows(cursor, batch)
                for item in batch:
                    if item.close is not None:
                        conn.execute(_close_stmt(item.transcript_id, item.close, "closed"))
                return dropped

    def batch_connection(self) -> Any:
        """A connection for ``write_batch`` that a writer thread keeps between batches."""
        return db.writer(self.engine)

    def restore(self, transcript_id: str, payloads: dict[int, str]) -> int:
        """Rows a dead process journaled (payloads by seq) but may not have committed: store
        the missing ones, whatever the transcript's status now; returns the entries added."""
        if not payloads:
            return 0
        with db.writer(self.engine) as conn, conn.begin():
            found = select(transcripts.c.id).where(transcripts.c.id == transcript_id)
            if conn.scalar(found) is None:
                return 0
            have = set(
                conn.scalars(
                    select(entries.c.seq).where(
                        entries.c.transcript_id == transcript_id,
                        entries.c.seq.between(min(payloads), max(payloads)),
                    )
                )
            )
            rows = []
            for seq, payload in sorted(payloads.items()):
                if seq in have:
                    continue
                try:
                    rows.append(row_of_payload(transcript_id, payload))
                except (StoreError, ValueError, TypeError, KeyError) as exc:
                    log.error("transcript %s: journaled entry %d is damaged: %s",
                              transcript_id, seq, exc)  # fmt: skip
            count = entries_in(rows)
            if rows:
                _insert_rows(conn, rows)
                conn.execute(
                    update(transcripts)
                    .where(transcripts.c.id == transcript_id)
                    .values(entry_count=transcripts.c.entry_count + count)
                )
        return count

    def _not_live(self, conn: Any, transcript_id: str) -> StoreError:
        status = conn.scalar(select(transcripts.c.status).where(transcripts.c.id == transcript_id))
        if status is None:
            return NotFound(f"no transcript {transcript_id!r}")
        return StoreError(f"the transcript is {status}, not live", code="closed")

    def close(self, transcript_id: str, reason: str | None, status: str = "closed") -> bool:
        """End a live transcript (closed, or interrupted); False if it was not live."""
        if status not in ("closed", "interrupted"):
            raise StoreError(f"a transcript cannot be closed as {status!r}")
        stmt = _close_stmt(transcript_id, reason, status)
        with db.writer(self.engine) as conn, conn.begin():
            return conn.execute(stmt).rowcount == 1

    def get(self, transcript_id: str, entries: bool = True) -> Transcript | None:
        """The transcript with its notes and (unless ``entries`` is False) entries, or None."""
        self.settle()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(*_META_COLUMNS).where(transcripts.c.id == transcript_id)
            ).first()
            if row is None:
                return None
            found = transcript_of(row)
            if entries:
                found.entries = self._entries(conn, transcript_id, 0)
            found.notes = [
                note_of(r)
                for r in conn.execute(
                    select(notes)
                    .where(notes.c.transcript_id == transcript_id)
                    .order_by(notes.c.seq.asc().nulls_first(), notes.c.id)
                )
            ]
        return found

    def entries(self, transcript_id: str, since: int = 0) -> EntryList:
        """Entries with seq >= ``since``, in order (a replay or a reconnecting viewer)."""
        self.settle()
        with self.engine.begin() as conn:
            return self._entries(conn, transcript_id, since)

    @staticmethod
    def _entries(conn: Any, transcript_id: str, since: int) -> EntryList:
        # Straight through the driver, and orjson for the payloads (rows.entries_of): for a
        # 10,000-entry transcript SQLAlchemy's row processing and json.loads were most of a
        # read (the replay page and every export start with one).
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        found: EntryList = []
        cursor = conn.connection.cursor()
        try:
            cursor.execute(
                f"SELECT kind, payload, text FROM entries WHERE transcript_id = {mark}"
                f" AND seq >= {mark} ORDER BY seq",
                (transcript_id, since),
            )
            for kind, payload, text in cursor.fetchall():
                if kind == "lines":
                    found += entries_of(payload, text)
                else:
                    found.append(entry_of(payload))
        finally:
            cursor.close()
        if since > 0:  # the line at ``since`` may sit in a batch row stored under an earlier seq
            before = conn.execute(
                select(entries.c.kind, entries.c.payload, entries.c.text)
                .where(entries.c.transcript_id == transcript_id, entries.c.seq < since)
                .order_by(entries.c.seq.desc())
                .limit(1)
            ).first()
            if before is not None and before.kind == "lines":
                batch = entries_of(before.payload, before.text)
                found[:0] = [e for e in batch if e["seq"] >= since]
        return found

    def delete(self, transcript_id: str) -> bool:
        """Delete a transcript with its entries and notes (foreign keys cascade)."""
        with db.writer(self.engine) as conn, conn.begin():
            return (
                conn.execute(delete(transcripts).where(transcripts.c.id == transcript_id)).rowcount
                == 1
            )

    def update_meta(self, transcript_id: str, title: str | None, description: str | None) -> bool:
        """Change title and description; False if there is no such transcript."""
        if description is not None and len(description) > MAX_NOTE:
            raise StoreError(f"a description is at most {MAX_NOTE} characters", code="too_long")
        stmt = (
            update(transcripts)
            .where(transcripts.c.id == transcript_id)
            .values(title=checked_title(title), description=description)
        )
        with db.writer(self.engine) as conn, conn.begin():
            return conn.execute(stmt).rowcount == 1

    def add_note(self, transcript_id: str, seq: int | None, text: str, author: str | None) -> Note:
        """Attach a plain-text note to line ``seq`` (None: to the whole transcript)."""
        if not text.strip() or len(text) > MAX_NOTE:
            raise StoreError(f"a note is 1 to {MAX_NOTE} characters", code="too_long")
        note = Note(0, transcript_id, seq, text, author, _now())
        row = {k: v for k, v in vars(note).items() if k != "id"}
        try:
            with db.writer(self.engine) as conn, conn.begin():
                note.id = conn.execute(insert(notes).returning(notes.c.id), row).scalar_one()
        except IntegrityError:
            raise NotFound(f"no transcript {transcript_id!r}") from None
        return note

    def update_note(self, transcript_id: str, note_id: int, text: str) -> Note | None:
        """Change one note's text; None if this transcript has no such note."""
        if not text.strip() or len(text) > MAX_NOTE:
            raise StoreError(f"a note is 1 to {MAX_NOTE} characters", code="too_long")
        where = (notes.c.id == note_id, notes.c.transcript_id == transcript_id)
        with db.writer(self.engine) as conn, conn.begin():
            if conn.execute(update(notes).where(*where).values(text=text)).rowcount != 1:
                return None
            row = conn.execute(select(notes).where(*where)).one()
        return note_of(row)

    def delete_note(self, transcript_id: str, note_id: int) -> bool:
        """Delete one note of this transcript."""
        stmt = delete(notes).where(notes.c.id == note_id, notes.c.transcript_id == transcript_id)
        with db.writer(self.engine) as conn, conn.begin():
            return conn.execute(stmt).rowcount == 1

    def check_edit_token(self, transcript_id: str, token: str) -> bool:
        """Whether ``token`` is this transcript's edit token (compared in constant time)."""
        with self.engine.begin() as conn:
            stored = conn.scalar(
                select(transcripts.c.edit_token_hash).where(transcripts.c.id == transcript_id)
            )
        match = hmac.compare_digest(token_hash(token), stored or _DUMMY_HASH)
        return match and stored is not None

    def mark_interrupted(self, process_is_alive: Callable[[str], bool]) -> list[str]:
        """At start-up: every live transcript whose writer is gone becomes interrupted."""
        with self.engine.begin() as conn:
            live = conn.execute(
                select(transcripts.c.id, transcripts.c.process).where(
                    transcripts.c.status == "live"
                )
            ).all()
        gone = [tid for tid, proc in live if not process_is_alive(proc or "")]
        return [
            tid
            for tid in gone
            if self.close(tid, "the recording process stopped", status="interrupted")
        ]

    def list(
        self,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
        owner: str | None = None,
        source: str | None = None,
    ) -> list[Transcript]:
        """Newest first, no entries; ``search`` matches title, target, reply code or line text;
        ``source``: only console sessions or only captured ones (None: both)."""
        self.settle()
        stmt = select(*_META_COLUMNS).order_by(transcripts.c.created_at.desc(), transcripts.c.id)
        if owner is not None:
            stmt = stmt.where(transcripts.c.owner == owner)
        if source is not None:
            stmt = stmt.where(transcripts.c.source == source)
        if search and search.strip():
            stmt = stmt.where(matches(search.strip()[:MAX_TITLE]))
        stmt = stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))
        with self.engine.begin() as conn:
            return [transcript_of(row) for row in conn.execute(stmt)]

    def create_from_import(
        self, data: Mapping[str, Any], owner: str | None = None
    ) -> tuple[Transcript, str]:
        """Store an imported transcript (from ``importer.import_json``) as a new, closed one."""
        transcript_id, token = store_import(self.engine, data, owner)
        found = self.get(transcript_id)
        assert found is not None  # written in store_import's transaction
        return found, token

    # -- captured sessions (transcripts/captured.py) ----------------------------------------

    def create_captured(
        self, transcript_id: str, target: str, client: str | None, created_at: datetime
    ) -> None:
        """The live transcript of a session the sandbox captured, under the id it chose."""
        captured.create(self.engine, transcript_id, target, client, created_at)

    def summarise_captured(self, transcript_id: str, summary: Mapping[str, Any]) -> None:
        """Keep a live captured session's summary (EHLO name, warnings...) current."""
        captured.summarise(self.engine, transcript_id, summary)

    def finish_captured(self, transcript_id: str, reason: str, summary: Mapping[str, Any]) -> None:
        """Close a captured session's transcript with its final summary."""
        captured.finish(self.engine, transcript_id, reason, summary)

    def list_captured(self, limit: int = 50, before: str | None = None) -> Summaries:
        """Captured sessions' summaries, newest first (``before``: a transcript id, a cursor)."""
        self.settle()
        return [t.captured_summary() for t in captured.listing(self.engine, limit, before)]

    def new_edit_token(self, transcript_id: str) -> str | None:
        """A new edit token for the transcript (the old one stops working); None if there is
        no such transcript. A captured session's first token is never shown to anyone: the
        Captured page hands out one of these to whoever may annotate it."""
        token = secrets.token_urlsafe(32)
        stmt = (
            update(transcripts)
            .where(transcripts.c.id == transcript_id)
            .values(edit_token_hash=token_hash(token))
        )
        with db.writer(self.engine) as conn, conn.begin():
            found = conn.execute(stmt).rowcount == 1
        return token if found else None

    def prune_captured(self, max_sessions: int, max_age: float) -> Ids:
        """Retention: delete ended captured sessions beyond the count or older than the age."""
        return captured.prune(self.engine, max_sessions, max_age)
