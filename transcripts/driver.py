"""The group commit's statements straight through the database driver (``Store.write_batch``).

SQLAlchemy's statement path (compile cache, events, result objects, its transaction
bookkeeping) was most of a group commit's CPU for the few rows a round trip adds
(docs/production.md, the profile). :class:`DriverCursor` runs the batch's statements on
the driver's cursor of an SQLAlchemy connection, and, for a batch that closes nothing, its
BEGIN and COMMIT too. What stays as before:

- driver errors are raised as SQLAlchemy's (``DBAPIError.instance``), so the writer still
  tells an unreachable database (retry) from refused rows (item by item), and a lost
  connection is invalidated, so the next use reconnects;
- while anyone listens to the engine's cursor events, everything goes through SQLAlchemy,
  so the listeners see every statement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

ROW_COLUMNS = ("transcript_id", "seq", "t_ms", "kind", "payload", "code", "text")
_row_values = itemgetter(*ROW_COLUMNS)  # a row's values, in ROW_COLUMNS' order, as a tuple
# Store._bump_many as the driver takes it (qmark; "%s" for psycopg).
BUMP_SQL = (
    "UPDATE transcripts SET entry_count = entry_count + CAST(? AS INTEGER), "
    "last_code = coalesce(CAST(? AS INTEGER), last_code) WHERE id = ? AND status = 'live'"
)
INSERT_SQL = f"INSERT INTO entries ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * 7)})"


class DriverCursor:
    """A batch's statements on ``conn`` (an SQLAlchemy connection from ``db.writer``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.qmark = self.dialect.paramstyle == "qmark"
        dispatch = conn.dispatch
        self.raw = not (dispatch.before_cursor_execute or dispatch.after_cursor_execute)
        self.cursor = conn.connection.dbapi_connection.cursor() if self.raw else None

    def __enter__(self) -> DriverCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cursor is not None:
            self.cursor.close()

    def _sql(self, sql: str) -> str:
        return sql if self.qmark else sql.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN (IMMEDIATE on SQLite, as ``db.writer`` asks) ... COMMIT, on the driver;
        rolled back if the block fails."""
        assert self.cursor is not None
        dbapi_conn = self.conn.connection.dbapi_connection
        if self.dialect.name == "sqlite":  # db.py turns pysqlite's own BEGIN off
            mode = self.conn.get_execution_options().get("sqlite_begin", "")
            self._run(self.cursor.execute, f"BEGIN {mode}".strip(), ())
        try:
            yield
        except BaseException:
            try:
                dbapi_conn.rollback()
            except self.dialect.loaded_dbapi.Error:
                pass  # the connection is gone: so is the transaction
            raise
        self._run(lambda sql, params: dbapi_conn.commit(), "COMMIT", ())

    def execute(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement; its rowcount."""
        if self.cursor is None:
            return int(self.conn.exec_driver_sql(self._sql(sql), params).rowcount)
        self._run(self.cursor.execute, self._sql(sql), params)
        return int(self.cursor.rowcount)

    def insert_rows(self, rows: list[dict[str, Any]]) -> None:
        """INSERT the entries rows (``rows.entry_row``'s dicts) with one executemany."""
        values = list(map(_row_values, rows))
        if self.cursor is None:
            self.conn.exec_driver_sql(self._sql(INSERT_SQL), values)
        else:
            self._run(self.cursor.executemany, self._sql(INSERT_SQL), values)

    def _run(self, call: Any, sql: str, params: Any) -> None:
        dbapi = self.dialect.loaded_dbapi
        try:
            call(sql, params)
        except dbapi.Error as exc:
            lost = self.dialect.is_disconnect(exc, self.conn.connection.dbapi_connection, None)
            if lost:
                self.conn.invalidate(exc)
            raise DBAPIError.instance(
                sql, None, exc, dbapi.Error, connection_invalidated=lost, dialect=self.dialect
            ) from exc


class KeptConnection:
    """The writer thread's connection, kept between group commits while entries keep
    coming: taking one from the pool for each commit (and, on PostgreSQL, pinging it) cost
    about as much as the commit itself."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.conn: Any = None

    def get(self) -> Any:
        if self.conn is None:
            self.conn = self.store.batch_connection()
        return self.conn

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # a connection already lost: the pool discards it
                log.debug("transcript writer: closing its connection failed: %s", exc)
