"""Guided lessons as data: steps whose ``done_when`` conditions are judged from real replies.

A lesson is one JSON file in ``lessons/`` (format in ``docs/lessons.md``). Nothing here decides a
step is done because the right words were typed: only the server's reply, the
:class:`~smtp_session.guide.transaction.Transaction` state it produced, or a session event (a TLS
handshake, an MX lookup) can pass a step.

Over 300 lines: the loader's checks (with their errors in words) and the judge of
``done_when`` share the step format, kept in one module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.guide.transaction import KINDS, Transaction
from smtp_session.knowledge import COMMANDS
from smtp_session.wire.dialogue import verb_of
from smtp_session.wire.reply import REPLY_CLASSES, Reply

LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"
LEVELS = ("beginner", "intermediate", "advanced")
TARGETS = ("sandbox", "any")
REPLY_CLASS_NAMES = tuple(REPLY_CLASSES.values())
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


class LessonError(PlaygroundError):
    """A lesson file is not valid; the message names the file and the field."""

    code = "bad_lesson"


@dataclass(frozen=True)
class LessonStep:
    """One thing to do, and the condition that proves it was done."""

    id: str
    title: str
    instructions: str
    hint: str | None
    done_when: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Lesson:
    """A titled sequence of steps against a target (the sandbox, or any server)."""

    id: str
    title: str
    summary: str
    level: str
    target: str
    steps: tuple[LessonStep, ...]

    def to_dict(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k != "steps"}
        return {**fields, "steps": [s.to_dict() for s in self.steps]}


# -- validation -------------------------------------------------------------------------------

_Check = Callable[[Any], str | None]  # returns a problem, or None when the value is fine


# Lesson texts may name this instance's own settings; anything else in braces is a typo.
PLACEHOLDERS = ("sandbox_port", "sandbox_tls_port")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _text(value: Any) -> str | None:
    if not (isinstance(value, str) and value.strip()):
        return "must be a non-empty string"
    unknown = [p for p in _PLACEHOLDER.findall(value) if p not in PLACEHOLDERS]
    return f"unknown placeholder {{{unknown[0]}}}" if unknown else None


def _ident(value: Any) -> str | None:
    ok = isinstance(value, str) and _ID.match(value)
    return None if ok else "must be lower-case letters, digits and dashes"


def _one_of(choices: tuple[str, ...]) -> _Check:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def _hint(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be a string or null"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _count(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "must be a whole number >= 0"


def _codes(value: Any) -> str | None:
    values = value if isinstance(value, list) and value else [value]
    ok = all(isinstance(v, int) and not isinstance(v, bool) and 200 <= v <= 599 for v in values)
    return None if ok else "must be a reply code (200-599) or a list of them"


def _enhanced(value: Any) -> str | None:
    ok = isinstance(value, str) and _ENHANCED.match(value)
    return None if ok else 'must be an enhanced status code like "5.1.1"'


def _verb(value: Any) -> str | None:
    return None if value in COMMANDS else f"must be an SMTP verb ({', '.join(COMMANDS)})"


# Keys judged against the reply, and keys judged against the Transaction after it.
REPLY_KEYS: dict[str, _Check] = {
    "reply": _codes,
    "code": _codes,
    "reply_class": _one_of(REPLY_CLASS_NAMES),
    "enhanced": _enhanced,
    "after": _verb,
    "step": _one_of(KINDS),
}
STATE_KEYS: dict[str, _Check] = {
    "tls": _boolean,
    "authenticated": _boolean,
    "in_data": _boolean,
    "closed": _boolean,
    "messages_sent": _count,
    "accepted_recipients": _count,
    "rejected_recipients": _count,
    "capability": _text,
}
LESSON_FIELDS: dict[str, _Check] = {
    "id": _ident,
    "title": _text,
    "summary": _text,
    "level": _one_of(LEVELS),
    "target": _one_of(TARGETS),
}
STEP_FIELDS: dict[str, _Check] = {"id": _ident, "title": _text, "instructions": _text}
STEP_FIELDS |= {"hint": _hint}


def _fields(data: Any, table: Mapping[str, _Check], where: str, extra: set[str]) -> list[str]:
    """Problems with a JSON object checked against a field table; every field is required."""
    if not isinstance(data, dict):
        return [f"{where}: must be an object"]
    problems = [f"{where}.{k}: unknown field" for k in data if k not in table and k not in extra]
    for key, check in table.items():
        if key not in data:
            problems.append(f"{where}.{key}: missing")
        elif (problem := check(data[key])) is not None:
            problems.append(f"{where}.{key}: {problem}")
    return problems


def condition_problems(cond: Any, where: str) -> list[str]:
    """Problems with a ``done_when`` condition (empty when it is valid)."""
    if not isinstance(cond, dict) or not cond:
        return [f"{where}: must be a non-empty object"]
    if "any_of" in cond:
        options = cond["any_of"]
        if len(cond) > 1 or not isinstance(options, list) or not options:
            return [f"{where}.any_of: must be the only key, holding a non-empty list"]
        return [p for i, c in enumerate(options) for p in condition_problems(c, f"{where}[{i}]")]
    if "event" in cond:  # other keys must equal the event's data
        return [] if _text(cond["event"]) is None else [f"{where}.event: must be a name"]
    table = REPLY_KEYS | STATE_KEYS
    return [
        f"{where}.{key}: {problem}"
        for key, value in cond.items()
        if (problem := table[key](value) if key in table else "unknown condition") is not None
    ]


def lesson_from_dict(data: Any, source: str) -> Lesson:
    """Validate a lesson object; LessonError names ``source`` and every bad field."""
    problems = _fields(data, LESSON_FIELDS, "lesson", {"steps"})
    raw_steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append("lesson.steps: must be a non-empty list")
        raw_steps = []
    seen: set[str] = set()
    for i, step in enumerate(raw_steps):
        where = f"steps[{i}]"
        problems += _fields(step, STEP_FIELDS, where, {"done_when"})
        if isinstance(step, dict):
            problems += condition_problems(step.get("done_when"), f"{where}.done_when")
            if step.get("id") in seen:
                problems.append(f"{where}.id: {step['id']!r} is used twice")
            seen.add(str(step.get("id")))
    if problems:
        raise LessonError(f"{source}: " + "; ".join(problems))
    steps = tuple(
        LessonStep(**{k: s.get(k) for k in (*STEP_FIELDS, "done_when")}) for s in raw_steps
    )
    return Lesson(**{k: data[k] for k in LESSON_FIELDS}, steps=steps)


def for_instance(lesson: Lesson, values: Mapping[str, object]) -> Lesson:
    """The lesson with its placeholders ({sandbox_port}) filled from this instance's config."""

    def fill(text: str | None) -> str | None:
        if text is None:
            return None
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)

    steps = tuple(
        LessonStep(s.id, str(fill(s.title)), str(fill(s.instructions)), fill(s.hint), s.done_when)
        for s in lesson.steps
    )
    return Lesson(
        lesson.id,
        str(fill(lesson.title)),
        str(fill(lesson.summary)),
        lesson.level,
        lesson.target,
        steps,
    )


def instance_values(config: Mapping[str, Any]) -> dict[str, object]:
    """What the placeholders stand for on this instance (the sandbox's real ports)."""
    tls_port = config.get("SANDBOX_TLS_PORT")
    return {
        "sandbox_port": config.get("SANDBOX_PORT", 2525),
        "sandbox_tls_port": tls_port if tls_port else "(off on this instance)",
    }


def load_lesson(path: Path) -> Lesson:
    """Read and validate one lesson file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(f"{path.name}: cannot be read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise LessonError(f"{path.name}: not valid JSON at line {exc.lineno}: {exc.msg}") from exc
    return lesson_from_dict(data, path.name)


def load_lessons(directory: Path | str = LESSONS_DIR) -> list[Lesson]:
    """Every ``*.json`` lesson in ``directory``, in file-name order; ids must be unique."""
    lessons: list[Lesson] = []
    where: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.json")):
        lesson = load_lesson(path)
        if lesson.id in where:
            raise LessonError(
                f"{path.name}: lesson.id: {lesson.id!r} is already {where[lesson.id]}"
            )
        where[lesson.id] = path.name
        lessons.append(lesson)
    return lessons


# -- judging ----------------------------------------------------------------------------------


def _reply_key(key: str, want: Any, command: str | None, kind: str, reply: Reply) -> bool:
    wants = want if isinstance(want, list) else [want]
    actual = {
        "reply": reply.code,
        "code": reply.code,
        "reply_class": reply.reply_class,
        "enhanced": reply.enhanced,
        "after": verb_of(command) if kind == "command" and command else None,
        "step": kind,
    }[key]
    return actual in wants


def _state_key(key: str, want: Any, tx: Transaction) -> bool:
    counts = {
        "messages_sent": tx.messages_sent,
        "accepted_recipients": len(tx.accepted_recipients),
        "rejected_recipients": len(tx.rejected_recipients),
    }
    if key in counts:
        return counts[key] >= want  # "at least": a later extra recipient does not undo a step
    if key == "capability":
        return str(want).upper() in tx.capabilities
    return bool(getattr(tx, key)) == want


def reply_matches(
    cond: dict[str, Any], command: str | None, kind: str, reply: Reply, tx: Transaction
) -> bool:
    """Whether a reply (and the state it left) satisfies a condition."""
    if "any_of" in cond:
        return any(reply_matches(c, command, kind, reply, tx) for c in cond["any_of"])
    if "event" in cond:
        return False
    return all(
        _reply_key(k, v, command, kind, reply) if k in REPLY_KEYS else _state_key(k, v, tx)
        for k, v in cond.items()
    )


def event_matches(cond: dict[str, Any], name: str, data: Mapping[str, Any]) -> bool:
    """Whether a session event satisfies a condition: its name, and any data keys given."""
    if "any_of" in cond:
        return any(event_matches(c, name, data) for c in cond["any_of"])
    if cond.get("event") != name:
        return False
    return all(data.get(k) == v for k, v in cond.items() if k != "event")


class LessonProgress:
    """Where a learner is in one lesson; steps pass in order, one per observation."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.passed: list[str] = []

    @property
    def current(self) -> LessonStep | None:
        """The step to do now; None once the lesson is finished."""
        steps = self.lesson.steps
        return steps[len(self.passed)] if len(self.passed) < len(steps) else None

    @property
    def finished(self) -> bool:
        return self.current is None

    def observe(self, command: str | None, kind: str, reply: Reply, tx: Transaction) -> list[str]:
        """Judge a reply (after ``tx`` observed it); returns the ids of the steps it passed."""
        step = self.current
        if step is None or not reply_matches(step.done_when, command, kind, reply, tx):
            return []
        return self._pass(step)

    def observe_event(self, name: str, data: Mapping[str, Any] | None = None) -> list[str]:
        """Judge a session event ("tls", "mx", "connected"...); returns the steps it passed."""
        step = self.current
        if step is None or not event_matches(step.done_when, name, data or {}):
            return []
        return self._pass(step)

    def _pass(self, step: LessonStep) -> list[str]:
        self.passed.append(step.id)
        return [step.id]

    def to_dict(self) -> dict[str, Any]:
        """The lesson with each step's status: passed / current / pending."""
        current = self.current
        statuses = [
            "passed" if s.id in self.passed else "current" if s is current else "pending"
            for s in self.lesson.steps
        ]
        steps = [
            {**s.to_dict(), "status": st} for s, st in zip(self.lesson.steps, statuses, strict=True)
        ]
        return {
            "lesson": self.lesson.id,
            "title": self.lesson.title,
            "finished": self.finished,
            "steps": steps,
        }
