"""The classes in the shared database: open, join (with the size limit), steer, end, read back.

Over 300 lines: every statement on the class tables is here, so that a schema change is one
module's change (as transcripts/store.py for the transcripts).

Every process reads and writes the same rows (PostgreSQL in production), so a student who joins
on one worker counts against the limit the trainer's worker enforces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from smtp_session.errors import PlaygroundError
from transcripts import db
from web.classroom.schema import (
    MAX_CLASS_TITLE,
    MAX_STUDENT_NAME,
    class_sessions,
    class_students,
    classes,
    metadata,
)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, no 1/I: read off a projector
CODE_LENGTH = 6


class ClassError(PlaygroundError):
    """A class request refused, in words, with an HTTP status for the API."""

    def __init__(self, message: str, code: str, status: int = 400) -> None:
        super().__init__(message, code)
        self.status = status


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class ClassInfo:
    """One class as stored."""

    id: str
    code: str
    title: str
    trainer: str
    created_at: datetime
    ended_at: datetime | None
    max_students: int
    lesson: str | None
    restrict: str | None
    broadcasting: bool

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def public(self, base_url: str, students: int) -> dict[str, Any]:
        """The class as the API and the frames show it (docs/classroom.md, "A class")."""
        return {
            "id": self.id,
            "code": self.code,
            "title": self.title,
            "trainer": self.trainer,
            "join_url": f"{base_url.rstrip('/')}/join/{self.code}",
            "qr_url": f"/api/classes/{self.id}/qr.svg",
            "created_at": _iso(self.created_at),
            "ended_at": _iso(self.ended_at),
            "max_students": self.max_students,
            "students": students,
            "lesson": self.lesson,
            "restrict": self.restrict,
            "broadcasting": self.broadcasting,
        }


@dataclass
class Student:
    """One student of a class, with the figures the report shows."""

    id: str
    class_id: str
    name: str
    user_name: str | None
    joined_at: datetime
    online: bool = False
    sessions: int = 0
    lessons: dict[str, Any] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def joined_iso(self) -> str | None:
        return _iso(self.joined_at)


def _class_of(row: Any) -> ClassInfo:
    m = row._mapping
    return ClassInfo(
        m["id"],
        m["code"],
        m["title"],
        m["trainer"],
        m["created_at"],
        m["ended_at"],
        m["max_students"],
        m["lesson"],
        m["restrict_target"],
        bool(m["broadcasting"]),
    )


def _student_of(row: Any) -> Student:
    m = row._mapping
    return Student(
        m["id"],
        m["class_id"],
        m["name"],
        m["user_name"],
        m["joined_at"],
        bool(m["online"]),
        m["sessions"],
        json.loads(m["lessons"] or "{}"),
        json.loads(m["warnings"] or "{}"),
    )


def check_display_name(name: Any) -> str:
    """A display name: 1-40 printable characters, spaces inside allowed."""
    if not isinstance(name, str) or not name.strip():
        raise ClassError("Choose a display name (1 to 40 characters).", "bad_name")
    name = " ".join(name.split())
    if len(name) > MAX_STUDENT_NAME or not name.isprintable():
        raise ClassError("A display name is 1 to 40 printable characters.", "bad_name")
    return name


class ClassStore:
    """The class tables: every statement on them is here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, trainer: str, title: str, max_students: int) -> ClassInfo:
        title = " ".join((title or "").split())[:MAX_CLASS_TITLE]
        with db.writer(self.engine) as conn, conn.begin():
            for _ in range(20):  # 32^6 codes: a clash with an open class is rare
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                taken = conn.scalar(
                    select(func.count())
                    .select_from(classes)
                    .where(classes.c.code == code, classes.c.ended_at.is_(None))
                )
                if not taken:
                    break
            row = {
                "id": secrets.token_urlsafe(12),
                "code": code,
                "title": title,
                "trainer": trainer,
                "created_at": _now(),
                "ended_at": None,
                "max_students": max_students,
                "lesson": None,
                "restrict_target": None,
                "broadcasting": False,
            }
            conn.execute(insert(classes), row)
        found = self.get(row["id"])
        assert found is not None
        return found

    def get(self, class_id: Any) -> ClassInfo | None:
        if not isinstance(class_id, str) or len(class_id) > 32:
            return None
        with self.engine.begin() as conn:
            row = conn.execute(select(classes).where(classes.c.id == class_id)).first()
        return None if row is None else _class_of(row)

    def by_code(self, code: Any) -> ClassInfo | None:
        """The class this join code names: the open one, else the latest that had it."""
        if not isinstance(code, str) or not 1 <= len(code.strip()) <= 12:
            return None
        code = code.strip().upper()
        stmt = select(classes).where(classes.c.code == code)
        stmt = stmt.order_by(classes.c.ended_at.is_not(None), classes.c.created_at.desc())
        with self.engine.begin() as conn:
            row = conn.execute(stmt.limit(1)).first()
        return None if row is None else _class_of(row)

    def list_classes(self, trainer: str | None) -> list[ClassInfo]:
        """A trainer's classes, newest first (None: every trainer's)."""
        stmt = select(classes).order_by(classes.c.created_at.desc()).limit(500)
        if trainer is not None:
            stmt = stmt.where(classes.c.trainer == trainer)
        with self.engine.begin() as conn:
            return [_class_of(row) for row in conn.execute(stmt)]

    def update(self, class_id: str, **values: Any) -> None:
        """Change steering columns: lesson, restrict_target, broadcasting, ended_at."""
        with db.writer(self.engine) as conn, conn.begin():
            conn.execute(update(classes).where(classes.c.id == class_id).values(**values))

    def count_students(self, class_id: str) -> int:
        with self.engine.begin() as conn:
            found = conn.scalar(
                select(func.count())
                .select_from(class_students)
                .where(class_students.c.class_id == class_id)
            )
        return int(found or 0)

    def join(
        self, info: ClassInfo, name: Any, user_name: str | None, token: Any
    ) -> tuple[Student, str]:
        """The student (new, or back with their token or account) and a fresh token."""
        if not info.open:
            raise ClassError("This class has ended.", "class_ended", 409)
        fresh = secrets.token_urlsafe(24)
        with db.writer(self.engine) as conn, conn.begin():
            # Serialises joins of this class (PostgreSQL row lock; SQLite's IMMEDIATE lock).
            conn.execute(select(classes.c.id).where(classes.c.id == info.id).with_for_update())
            back = self._returning(conn, info.id, user_name, token)
            if back is not None:
                conn.execute(
                    update(class_students)
                    .where(class_students.c.id == back.id)
                    .values(token_hash=token_hash(fresh))
                )
                return back, fresh
            display = user_name or check_display_name(name)
            count = conn.scalar(
                select(func.count())
                .select_from(class_students)
                .where(class_students.c.class_id == info.id)
            )
            if (count or 0) >= info.max_students:
                raise ClassError(
                    f"This class is full: it takes {info.max_students} students.",
                    "class_full",
                    409,
                )
            same = conn.scalar(
                select(func.count())
                .select_from(class_students)
                .where(class_students.c.class_id == info.id, class_students.c.name == display)
            )
            if same:
                raise ClassError(
                    f"Another student in this class is called {display!r}; choose another name.",
                    "name_taken",
                    409,
                )
            student = Student(secrets.token_hex(8), info.id, display, user_name, _now())
            row = {
                "id": student.id,
                "class_id": info.id,
                "name": display,
                "user_name": user_name,
                "token_hash": token_hash(fresh),
                "joined_at": student.joined_at,
                "online": False,
                "sessions": 0,
                "lessons": "{}",
                "warnings": "{}",
            }
            conn.execute(insert(class_students), row)
        return student, fresh

    def _returning(
        self, conn: Any, class_id: str, user_name: str | None, token: Any
    ) -> Student | None:
        where = [class_students.c.class_id == class_id]
        if user_name is not None:  # accounts: the account is the student
            row = conn.execute(
                select(class_students).where(*where, class_students.c.user_name == user_name)
            ).first()
            return None if row is None else _student_of(row)
        if not isinstance(token, str) or not token or len(token) > 100:
            return None
        row = conn.execute(
            select(class_students).where(*where, class_students.c.token_hash == token_hash(token))
        ).first()
        return None if row is None else _student_of(row)

    def by_token(self, class_id: str, token: Any) -> Student | None:
        """The student holding this token (the follow socket's check)."""
        if not isinstance(token, str) or not token or len(token) > 100:
            return None
        wanted = token_hash(token)
        for student_row in self._student_rows(class_id):
            if hmac.compare_digest(student_row._mapping["token_hash"], wanted):
                return _student_of(student_row)
        return None

    def _student_rows(self, class_id: str) -> list[Any]:
        stmt = select(class_students).where(class_students.c.class_id == class_id)
        with self.engine.begin() as conn:
            return list(conn.execute(stmt.order_by(class_students.c.joined_at)))

    def students(self, class_id: str) -> list[Student]:
        return [_student_of(row) for row in self._student_rows(class_id)]

    def student(self, class_id: str, student_id: Any) -> Student | None:
        if not isinstance(student_id, str) or len(student_id) > 32:
            return None
        stmt = select(class_students).where(
            class_students.c.class_id == class_id, class_students.c.id == student_id
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _student_of(row)

    def set_online(self, student_id: str, online: bool) -> None:
        with db.writer(self.engine) as conn, conn.begin():
            conn.execute(
                update(class_students)
                .where(class_students.c.id == student_id)
                .values(online=online)
            )

    def save_stats(
        self, student_id: str, sessions: int, lessons: dict[str, Any], warnings: dict[str, int]
    ) -> None:
        values = {
            "sessions": sessions,
            "lessons": json.dumps(lessons, sort_keys=True),
            "warnings": json.dumps(warnings, sort_keys=True),
        }
        with db.writer(self.engine) as conn, conn.begin():
            conn.execute(
                update(class_students).where(class_students.c.id == student_id).values(values)
            )

    def add_session(self, class_id: str, student_id: str, transcript_id: str, target: str) -> None:
        row = {
            "transcript_id": transcript_id,
            "class_id": class_id,
            "student_id": student_id,
            "target": target,
            "started_at": _now(),
        }
        with db.writer(self.engine) as conn, conn.begin():
            conn.execute(insert(class_sessions), row)

    def trained_by(self, transcript_id: str, trainer: str) -> bool:
        """Whether the transcript was recorded in a class of this trainer (who may then see it)."""
        stmt = (
            select(func.count())
            .select_from(class_sessions.join(classes, classes.c.id == class_sessions.c.class_id))
            .where(class_sessions.c.transcript_id == transcript_id, classes.c.trainer == trainer)
        )
        with self.engine.begin() as conn:
            return bool(conn.scalar(stmt))

    def sessions(self, class_id: str) -> list[dict[str, Any]]:
        """Every transcript of the class, oldest first."""
        stmt = (
            select(class_sessions)
            .where(class_sessions.c.class_id == class_id)
            .order_by(class_sessions.c.started_at, class_sessions.c.transcript_id)
        )
        with self.engine.begin() as conn:
            return [
                {**row._mapping, "started_at": _iso(row._mapping["started_at"])}
                for row in conn.execute(stmt)
            ]


__all__ = ["ClassError", "ClassInfo", "ClassStore", "Student", "metadata"]
