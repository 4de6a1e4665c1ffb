"""A student's dashboard row, kept from the frames their console gets (docs/classroom.md).

The student's process keeps the row (``RowTracker.on_frame``: cheap, on the session's own
thread); the trainer's process finishes it when it shows it (``judge``: idle time and "stuck"
depend on the clock, not only on frames).
"""

from __future__ import annotations

import time
from typing import Any

Row = dict[str, Any]

# Consecutive 5xx replies, and negative replies on one lesson step, that count as stuck.
NEGATIVE_STREAK = 3
LESSON_FAILURES = 2


def now_ms() -> int:
    return int(time.time() * 1000)


def blank_row(student_id: str, name: str) -> Row:
    """A row before any frame: what the dashboard shows for a student who just joined."""
    return {
        "id": student_id,
        "name": name,
        "connected": False,
        "presence": "left",
        "session": None,
        "target": None,
        "transcript": None,
        "sessions": 0,
        "step": None,
        "step_name": None,
        "phase": None,
        "lesson": None,
        "lesson_title": None,
        "lesson_step": None,
        "lesson_passed": [],
        "lesson_steps": 0,
        "lesson_failures": 0,
        "last_code": None,
        "last_class": None,
        "negative_streak": 0,
        "warnings": 0,
        "warning_codes": {},
        "last_active": None,
        "idle": None,
        "step_since": None,
        "watched": False,
        "stuck": False,
        "stuck_reasons": [],
        "stuck_score": 0,
        "updated": now_ms(),
    }


class RowTracker:
    """One student's row and report figures, updated from each frame their console gets."""

    def __init__(self, row: Row, lessons: dict[str, Any]) -> None:
        self.row = row
        self.lessons = lessons  # lesson id -> {title, passed, steps, complete}: the report's
        self._step_names: dict[str, str] = {}

    def on_frame(self, frame: dict[str, Any]) -> bool:
        """Update the row; True when the report's figures changed too (worth storing)."""
        kind = frame.get("type")
        row = self.row
        state = frame.get("state")
        if isinstance(state, dict):
            self._on_state(state)
        elif "step" in frame and frame["step"] != row["step"]:
            self._set_step(frame["step"])
        if kind == "session":
            target = frame.get("target") or {}
            row.update(session="open", target=target.get("name"))
            row.update(transcript=frame.get("transcript"), sessions=row["sessions"] + 1)
            row.update(negative_streak=0, last_code=None, last_class=None)
            return True
        if kind == "sent":
            row["last_active"] = now_ms()
            return self._on_warnings(frame.get("warnings") or [])
        if kind == "reply":
            self._on_reply(frame)
        elif kind == "lesson":
            return self._on_lesson(frame)
        elif kind == "closed":
            row["session"] = "closed"
            return True
        return False

    def _on_state(self, state: dict[str, Any]) -> None:
        for step in state.get("steps") or []:
            if isinstance(step, dict) and "id" in step:
                self._step_names[step["id"]] = str(step.get("name", step["id"]))
        self.row["phase"] = state.get("phase")
        if state.get("step") != self.row["step"]:
            self._set_step(state.get("step"))
        self.row["step_name"] = self._step_names.get(self.row["step"] or "")

    def _set_step(self, step: Any) -> None:
        self.row.update(step=step, step_since=now_ms())
        self.row["step_name"] = self._step_names.get(step or "")

    def _on_warnings(self, warnings: list[Any]) -> bool:
        codes = self.row["warning_codes"]
        for warning in warnings:
            code = warning.get("code", "warning") if isinstance(warning, dict) else "warning"
            codes[code] = codes.get(code, 0) + 1
        self.row["warnings"] += len(warnings)
        return bool(warnings)

    def _on_reply(self, frame: dict[str, Any]) -> None:
        row = self.row
        klass = frame.get("class")
        row.update(last_active=now_ms(), last_code=frame.get("code"), last_class=klass)
        if klass == "permanent":
            row["negative_streak"] += 1
        elif klass in ("positive", "intermediate"):
            row["negative_streak"] = 0
        if row["lesson"] and row["lesson_step"] and klass in ("transient", "permanent"):
            row["lesson_failures"] += 1

    def _on_lesson(self, frame: dict[str, Any]) -> bool:
        row = self.row
        lesson = frame.get("lesson")
        if not isinstance(lesson, dict):
            row.update(lesson=None, lesson_title=None, lesson_step=None, lesson_passed=[])
            row.update(lesson_steps=0, lesson_failures=0)
            return False
        steps = [s for s in lesson.get("steps") or [] if isinstance(s, dict)]
        current = next((s.get("id") for s in steps if s.get("status") == "current"), None)
        if current != row["lesson_step"] or lesson.get("lesson") != row["lesson"]:
            row["lesson_failures"] = 0
        passed = [s.get("id") for s in steps if s.get("status") == "passed"]
        row.update(lesson=lesson.get("lesson"), lesson_title=lesson.get("title"))
        row.update(lesson_step=current, lesson_passed=passed, lesson_steps=len(steps))
        self.lessons[str(lesson.get("lesson"))] = {
            "title": lesson.get("title"),
            "passed": passed,
            "steps": len(steps),
            "complete": bool(lesson.get("finished")),
        }
        return True


def judge(row: Row, now: int, stuck_after: float) -> Row:
    """The row as shown now: idle seconds and whether (and why) the student seems stuck."""
    shown = dict(row)
    active = row.get("last_active")
    shown["idle"] = None if active is None else max(0, (now - active) // 1000)
    reasons: list[str] = []
    score = 0
    if row.get("negative_streak", 0) >= NEGATIVE_STREAK:
        reasons.append(f"{row['negative_streak']} permanent failures (5xx) in a row")
        score += 30 + row["negative_streak"]
    if row.get("lesson_failures", 0) >= LESSON_FAILURES:
        reasons.append(
            f"the lesson step {row.get('lesson_step')!r} failed {row['lesson_failures']} times"
        )
        score += 20 + row["lesson_failures"]
    since = row.get("step_since")
    if row.get("session") == "open" and since is not None and now - since > stuck_after * 1000:
        minutes = int((now - since) // 60_000)
        where = row.get("step_name") or row.get("step") or "one step"
        reasons.append(f"on {where} for {minutes} min" if minutes else f"on {where} for long")
        score += 10 + min(minutes, 60)
    shown.update(stuck=bool(reasons), stuck_reasons=reasons, stuck_score=score, updated=now)
    return shown


def stuck_first(rows: list[Row]) -> list[Row]:
    """The dashboard's default order: stuck first (most stuck on top), then by name."""
    return sorted(rows, key=lambda r: (-r.get("stuck_score", 0), str(r.get("name", "")).lower()))
