"""Built-in accounts: the users table, argon2 password hashes, and the ``flask users`` commands.

Users live in the same database as the transcripts (revision 0003). A password is only ever
held as an argon2id hash; it is never logged, echoed or stored in any other form.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask.cli import AppGroup
from flask_login import UserMixin
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from smtp_session.errors import PlaygroundError
from transcripts import db

ROLES = ("admin", "trainer", "member")
MAX_NAME = 100  # the transcripts' owner column is String(100)
MIN_PASSWORD = 8
# Names end up in transcript owners, logs and proxy headers: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")

users = Table(
    "users",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_NAME), nullable=False, unique=True),
    Column("password_hash", String(255)),  # NULL: a user the reverse proxy vouches for
    Column("role", String(16), nullable=False),
    Column("team", String(MAX_NAME)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class AccountError(PlaygroundError):
    """An account operation refused, in words for the operator."""

    code = "account"


@dataclass(frozen=True)
class User(UserMixin):
    """Who is asking: a name, a role (admin|trainer|member) and an optional team."""

    name: str
    role: str = "member"
    team: str | None = None
    stamp: str = ""  # changes with the password, so a new password ends old sessions

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return f"{self.name}:{self.stamp}"


def check_name(name: str, what: str = "name") -> str:
    """The name, if it is 1-100 plain characters (letters, digits, . _ @ + -)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AccountError(
            f"a user {what} is 1 to {MAX_NAME} letters, digits or . _ @ + - "
            "and starts with a letter or digit",
            "bad_name",
        )
    return name


def _stamp(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


_DUMMIES: dict[tuple[Any, ...], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash made with ``hasher``'s parameters, once per process (~0.1-0.5 s of argon2 each)."""
    key: tuple[Any, ...] = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    key += (hasher.hash_len, hasher.salt_len, hasher.type)
    if key not in _DUMMIES:  # two threads racing here both hash: harmless, one wins
        _DUMMIES[key] = hasher.hash("no such user")
    return _DUMMIES[key]


def _user(row: Any) -> User:
    values = row._mapping
    return User(values["name"], values["role"], values["team"], _stamp(values["password_hash"]))


class UserStore:
    """The users table: create, look up, verify passwords, list, delete."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        # Verified against when the name is unknown, so a miss costs what a hit costs.
        self._dummy = _dummy_hash(self.hasher)

    def create(self, name: str, password: str | None, role: str, team: str | None = None) -> User:
        """Add a user; ``password`` None makes one only a reverse proxy can sign in."""
        user = User(
            check_name(name),
            _check_role(role),
            check_name(team, "team") if team else None,
        )
        password_hash = None if password is None else self._hash(password)
        row = {**vars(user), "password_hash": password_hash, "created_at": datetime.now(UTC)}
        row.pop("stamp")
        try:
            with db.writer(self.engine) as conn, conn.begin():
                conn.execute(insert(users), row)
        except IntegrityError:
            raise AccountError(f"there is already a user {name!r}", "exists") from None
        return User(user.name, user.role, user.team, _stamp(password_hash))

    def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password is at least {MIN_PASSWORD} characters", "weak")
        return self.hasher.hash(password)

    def get(self, name: str) -> User | None:
        """The user with this name, or None."""
        with self.engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return None if row is None else _user(row)

    def list(self) -> list[User]:
        """Every user, by name."""
        with self.engine.begin() as conn:
            return [_user(row) for row in conn.execute(select(users).order_by(users.c.name))]

    def team_of(self, name: str | None) -> str | None:
        """The team of the user with this name (None: no such user or no team)."""
        found = self.get(name) if name else None
        return found.team if found else None

    def delete(self, name: str) -> bool:
        """Remove a user (their transcripts keep their owner name)."""
        with db.writer(self.engine) as conn, conn.begin():
            return conn.execute(delete(users).where(users.c.name == name)).rowcount == 1

    def set_password(self, name: str, password: str) -> None:
        """Replace the password; sessions signed in with the old one end."""
        self._set(name, password_hash=self._hash(password))

    def set_role(self, name: str, role: str) -> None:
        """Give a user another role (``trainer`` runs classes: docs/classroom.md)."""
        self._set(name, role=_check_role(role))

    def _set(self, name: str, **values: object) -> None:
        with db.writer(self.engine) as conn, conn.begin():
            if conn.execute(update(users).where(users.c.name == name).values(values)).rowcount:
                return
        raise AccountError(f"there is no user {name!r}", "not_found")

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (same work for unknown names)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        stored = row._mapping["password_hash"] if row is not None else None
        try:
            self.hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if stored is None:
            return None
        if self.hasher.check_needs_rehash(stored):  # cost parameters were raised since
            self._set(name, password_hash=self.hasher.hash(password))
            return self.get(name)
        return _user(row)

    def vouch(self, name: str, role: str | None, team: str | None) -> User:
        """A user the reverse proxy names: recorded (no password) so teams can be looked up."""
        known = self.get(check_name(name))
        role = _check_role(role) if role else (known.role if known else "member")
        team = check_name(team, "team") if team else (known.team if known else None)
        if known is None:
            try:
                return self.create(name, None, role, team)
            except AccountError:  # another request recorded them first
                known = self.get(name)
        if known is not None and (known.role, known.team) != (role, team):
            self._set(name, role=role, team=team)
        return User(name, role, team, known.stamp if known else "")


def _check_role(role: str | None) -> str:
    if role not in ROLES:
        raise AccountError(f"a role is one of {', '.join(ROLES)}", "bad_role")
    return role


# -- flask --app app users ... ----------------------------------------------------------------

users_cli = AppGroup("users", help="Accounts for PLAYGROUND_AUTH=accounts.")


def _store() -> UserStore:
    found: UserStore = current_app.extensions["accounts"]
    return found


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _run(action: Callable[[], object]) -> None:
    try:
        action()
    except AccountError as exc:
        raise click.ClickException(exc.message) from None


_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


@users_cli.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
@click.option("--team", default=None, help="Team (transcripts with visibility 'team').")
@_stdin_option
def create_command(name: str, role: str, team: str | None, password_stdin: bool) -> None:
    """Create a user; the password is prompted for (or read from stdin)."""
    _run(lambda: _store().create(check_name(name), _password(password_stdin), role, team))
    click.echo(f"created {name} ({role}{', team ' + team if team else ''})")


@users_cli.command("list")
def list_command() -> None:
    """Every user with role and team (never a password hash)."""
    for user in _store().list():
        click.echo(f"{user.name}\t{user.role}\t{user.team or '-'}")


@users_cli.command("delete")
@click.argument("name")
def delete_command(name: str) -> None:
    """Delete a user; their transcripts keep them as owner (admins can still reach them)."""
    if not _store().delete(name):
        raise click.ClickException(f"there is no user {name!r}")
    click.echo(f"deleted {name}")


@users_cli.command("set-password")
@click.argument("name")
@_stdin_option
def set_password_command(name: str, password_stdin: bool) -> None:
    """Set a new password; the user's open sessions end."""
    if _store().get(name) is None:
        raise click.ClickException(f"there is no user {name!r}")
    _run(lambda: _store().set_password(name, _password(password_stdin)))
    click.echo(f"password of {name} changed")


@users_cli.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
def set_role_command(name: str, role: str) -> None:
    """Give a user another role: trainer (runs classes), admin or member."""
    _run(lambda: _store().set_role(name, role))
    click.echo(f"{name} is now {role}")
