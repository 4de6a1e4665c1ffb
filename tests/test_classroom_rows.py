"""A dashboard row from a console's frames: steps, replies, warnings, lessons, "stuck"."""

from __future__ import annotations

from web.classroom.rows import RowTracker, blank_row, judge, now_ms, stuck_first


def tracker() -> RowTracker:
    return RowTracker(blank_row("s1", "Ada"), {})


def lesson_frame(current: str | None, passed: list[str]) -> dict[str, object]:
    steps = [{"id": i, "status": "passed"} for i in passed]
    if current:
        steps.append({"id": current, "status": "current"})
    steps.append({"id": "last", "status": "pending"})
    return {
        "type": "lesson",
        "lesson": {"lesson": "basics", "title": "Basics", "finished": False, "steps": steps},
    }


def test_replies_warnings_and_steps() -> None:
    t = tracker()
    assert t.on_frame({"type": "session", "target": {"name": "sandbox"}, "transcript": "T1"})
    state = {"step": "ehlo", "phase": "hello", "steps": [{"id": "ehlo", "name": "Say hello"}]}
    t.on_frame({"type": "reply", "code": 250, "class": "positive", "state": state})
    row = t.row
    assert (row["session"], row["target"], row["sessions"]) == ("open", "sandbox", 1)
    assert (row["step"], row["step_name"], row["phase"]) == ("ehlo", "Say hello", "hello")
    assert t.on_frame({"type": "sent", "warnings": [{"code": "rcpt-before-mail"}] * 2})
    assert row["warnings"] == 2 and row["warning_codes"] == {"rcpt-before-mail": 2}
    for _ in range(3):
        t.on_frame({"type": "reply", "code": 550, "class": "permanent"})
    assert judge(row, now_ms(), 180)["stuck"]
    t.on_frame({"type": "reply", "code": 250, "class": "positive"})
    assert row["negative_streak"] == 0 and not judge(row, now_ms(), 180)["stuck"]
    t.on_frame({"type": "closed", "code": "server_closed"})
    assert row["session"] == "closed"


def test_a_failing_lesson_step_counts_until_the_step_changes() -> None:
    t = tracker()
    t.on_frame(lesson_frame("mail", ["ehlo"]))
    for _ in range(2):
        t.on_frame({"type": "reply", "code": 451, "class": "transient"})
    shown = judge(t.row, now_ms(), 180)
    assert shown["stuck"] and "'mail' failed 2 times" in shown["stuck_reasons"][0]
    assert t.lessons["basics"]["passed"] == ["ehlo"]
    t.on_frame(lesson_frame("rcpt", ["ehlo", "mail"]))
    assert t.row["lesson_failures"] == 0 and t.row["lesson_passed"] == ["ehlo", "mail"]
    assert t.row["lesson_steps"] == 4 and t.row["lesson_step"] == "rcpt"


def test_stuck_first_then_by_name() -> None:
    calm = judge(blank_row("a", "bob"), now_ms(), 180)
    other = judge(blank_row("b", "Alice"), now_ms(), 180)
    stuck = blank_row("c", "Zed")
    stuck["negative_streak"] = 4
    order = stuck_first([calm, other, judge(stuck, now_ms(), 180)])
    assert [r["name"] for r in order] == ["Zed", "Alice", "bob"]
