"""What a trainer does to a class, in one place for the API and the sockets: each change is
stored first (every process reads the same row), then announced on the bus."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request

from web.classroom.hub import ClassHub, ctl_channel, events_channel
from web.classroom.store import ClassError, ClassInfo

MAX_HINT = 2000


def base_url() -> str:
    return request.host_url


def public(hub: ClassHub, info: ClassInfo) -> dict[str, Any]:
    return info.public(base_url(), hub.store.count_students(info.id))


def open_class(hub: ClassHub, trainer: str, title: Any, max_students: Any) -> ClassInfo:
    limit = int(hub.config["CLASS_MAX_STUDENTS"])
    if max_students is None:
        max_students = limit
    if not isinstance(max_students, int) or isinstance(max_students, bool):
        raise ClassError("max_students is a whole number.", "bad_field")
    if not 1 <= max_students <= limit:
        raise ClassError(
            f"max_students is 1 to {limit} (PLAYGROUND_CLASS_MAX_STUDENTS).", "bad_field"
        )
    if title is not None and not isinstance(title, str):
        raise ClassError("title is a string.", "bad_field")
    return hub.store.create(trainer, title or "", max_students)


def _require_open(info: ClassInfo) -> None:
    if not info.open:
        raise ClassError("This class has ended.", "class_ended", 409)


def announce(hub: ClassHub, class_id: str) -> ClassInfo:
    """Tell every process and viewer the class as stored now."""
    info = hub.store.get(class_id)
    assert info is not None
    shown = public(hub, info)
    hub.bus.publish(ctl_channel(class_id), {"kind": "state", "class": shown})
    hub.bus.publish(events_channel(class_id), {"kind": "state", "class": shown})
    return info


def hint(hub: ClassHub, info: ClassInfo, text: Any, student: Any, trainer: str) -> int:
    """Send a hint to one student (an id) or all (None); returns the students online now."""
    _require_open(info)
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_HINT:
        raise ClassError(f"A hint is 1 to {MAX_HINT} characters.", "bad_field")
    if student is not None:
        if hub.store.student(info.id, student) is None:
            raise ClassError(f"There is no student {student!r} in this class.", "bad_student", 404)
    message = {
        "kind": "hint",
        "source": student,
        "text": text.strip(),
        "from": trainer,
        "created_at": datetime.now(UTC).isoformat(),
    }
    hub.bus.publish(ctl_channel(info.id), message)
    online = [s for s in hub.store.students(info.id) if s.online]
    return len([s for s in online if student is None or s.id == student])


def set_lesson(hub: ClassHub, info: ClassInfo, lesson: Any, lessons: dict[str, Any]) -> ClassInfo:
    _require_open(info)
    if lesson is not None and (not isinstance(lesson, str) or lesson not in lessons):
        raise ClassError(
            f"Unknown lesson {lesson!r}; lessons: {', '.join(sorted(lessons))}.", "bad_lesson"
        )
    hub.store.update(info.id, lesson=lesson)
    return announce(hub, info.id)


def restrict(hub: ClassHub, info: ClassInfo, target: Any, targets: dict[str, Any]) -> ClassInfo:
    _require_open(info)
    if target is not None and (not isinstance(target, str) or target not in targets):
        raise ClassError(
            f"Unknown target {target!r}; targets: {', '.join(sorted(targets))}.", "bad_target"
        )
    hub.store.update(info.id, restrict_target=target)
    return announce(hub, info.id)


def end(hub: ClassHub, info: ClassInfo) -> ClassInfo:
    if info.open:
        hub.store.update(info.id, ended_at=datetime.now(UTC), broadcasting=False)
        hub.bus.publish(ctl_channel(info.id), {"kind": "end"})
        return announce(hub, info.id)
    return info


def set_broadcasting(hub: ClassHub, class_id: str, on: bool) -> None:
    hub.store.update(class_id, broadcasting=on)
    announce(hub, class_id)
