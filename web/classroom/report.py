"""After the class: per student, lessons and steps passed, sessions, transcripts, warnings."""

from __future__ import annotations

import csv
import io
from typing import Any

from web.classroom.store import ClassInfo, ClassStore

CSV_COLUMNS = (
    "student",
    "name",
    "joined_at",
    "sessions",
    "lessons_complete",
    "steps_passed",
    "warnings",
    "warnings_by_code",
    "transcripts",
)


def build_report(store: ClassStore, info: ClassInfo, shown: dict[str, Any]) -> dict[str, Any]:
    """The report (docs/classroom.md, "The report"); ``shown`` is the class as the API shows it."""
    sessions = store.sessions(info.id)
    students = store.students(info.id)
    names = {s.id: s.name for s in students}
    listed = [
        {
            "id": row["transcript_id"],
            "url": f"/t/{row['transcript_id']}",
            "student": row["student_id"],
            "name": names.get(row["student_id"]),
            "started_at": row["started_at"],
            "target": row["target"],
        }
        for row in sessions
    ]
    rows = []
    for student in students:
        lessons = [
            {
                "lesson": lesson_id,
                "title": data.get("title"),
                "passed": list(data.get("passed") or []),
                "steps": data.get("steps", 0),
                "complete": bool(data.get("complete")),
            }
            for lesson_id, data in sorted(student.lessons.items())
        ]
        rows.append(
            {
                "id": student.id,
                "name": student.name,
                "joined_at": student.joined_iso,
                "sessions": student.sessions,
                "lessons": lessons,
                "warnings": dict(sorted(student.warnings.items())),
                "transcripts": [
                    {k: t[k] for k in ("id", "url", "started_at", "target")}
                    for t in listed
                    if t["student"] == student.id
                ],
            }
        )
    return {"class": shown, "students": rows, "transcripts": listed}


def report_csv(report: dict[str, Any], base_url: str) -> str:
    """One line per student, columns CSV_COLUMNS; spreadsheet formulas are defused."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    root = base_url.rstrip("/")
    for student in report["students"]:
        steps = [
            f"{lesson['lesson']}:{step}"
            for lesson in student["lessons"]
            for step in lesson["passed"]
        ]
        warnings = student["warnings"]
        writer.writerow(
            [
                student["id"],
                _cell(student["name"]),
                student["joined_at"],
                student["sessions"],
                sum(1 for lesson in student["lessons"] if lesson["complete"]),
                " ".join(steps),
                sum(warnings.values()),
                " ".join(f"{code}={n}" for code, n in warnings.items()),
                " ".join(root + t["url"] for t in student["transcripts"]),
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A display name a spreadsheet would run as a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
