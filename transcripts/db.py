"""Engines for the store: SQLite (WAL) or PostgreSQL (psycopg 3), migrated with Alembic at open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same in every process migrating one database.
_PG_MIGRATION_LOCK = 0x534D5450  # "SMTP"
# The newest revision in transcripts/migrations (a test keeps it equal to Alembic's head).
# A database already there is not migrated, so a worker never imports Alembic (~11 MB).
HEAD = "0005"
AUTOCHECKPOINT_PAGES = 10_000  # ~40 MB of WAL (SQLite's default: 1,000 pages)


def default_url(data_dir: str | os.PathLike[str] | None = None) -> str:
    """sqlite:///DATA_DIR/playground.db; DATA_DIR: the argument, $PLAYGROUND_DATA_DIR or ./data."""
    folder = Path(data_dir or os.environ.get("PLAYGROUND_DATA_DIR") or "data")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / 'playground.db'}"


def normalise_url(url: str) -> str:
    """postgresql:// and postgres:// mean psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine with the session settings the store relies on."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 15})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling skips BEGIN before DDL and defers it before
    # DML; we turn it off and issue BEGIN ourselves (SQLAlchemy's documented recipe).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer. NORMAL: a commit survives a process crash
    # (only power loss can drop the last commits). Foreign keys: deletes cascade.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # A checkpoint fsyncs; run on the event loop's thread (gevent) it stalls every session
    # for as long (0.45 s p99 seen). checkpoint.py checkpoints from a native thread every
    # second, so this automatic one (same thread as the commit) only acts as a backstop.
    cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers ask for IMMEDIATE so they wait on the busy timeout instead of failing when
    # a read lock cannot be upgraded.
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def writer(engine: Engine) -> Connection:
    """A connection whose transactions take the write lock up front on SQLite."""
    return engine.connect().execution_options(sqlite_begin="IMMEDIATE")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (Alembic), serialised across processes."""
    if revision == "head" and _stored_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with writer(engine) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _stored_revision(engine: Engine) -> str | None:
    """The revision the database records, read with plain SQL (None: not migrated yet)."""
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except SQLAlchemyError:
        return None


def head_revision() -> str | None:
    """The newest revision the migrations know (what ``migrate`` upgrades to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None before the first."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
