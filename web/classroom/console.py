"""The class frames on the console socket ``/ws``: join, leave, broadcast (docs/classroom.md).

They run on the socket's receive loop, inside its request, like every other frame; what they
attach to the ``LiveSession`` (``live.classroom``) is a ``Member`` or a ``Broadcaster``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from flask import has_request_context

from web.classroom import service
from web.classroom.broadcast import Broadcaster
from web.classroom.frames import CONSOLE, check_fields
from web.classroom.hub import ClassHub, ctl_channel
from web.classroom.member import Member
from web.classroom.store import ClassError
from web.classroom.trainer import runs

Frame = dict[str, Any]


def _checked(act: Callable[[Any, Frame], None]) -> Callable[[Any, Frame], None]:
    return lambda live, frame: act(live, check_fields(frame, CONSOLE))


# The class frames a console understands: frame type -> handler(console, frame). One table
# for every console (the console passes itself), not a dict of closures per console.
HANDLERS: dict[str, Callable[[Any, Frame], None]] = {
    "class_join": _checked(lambda live, frame: join(live, frame)),
    "class_leave": _checked(lambda live, frame: leave(live, frame)),
    "class_broadcast": _checked(lambda live, frame: broadcast(live, frame)),
}


def _hub(live: Any) -> ClassHub:
    hub: ClassHub = live.services.classroom
    return hub


def join(live: Any, frame: Frame) -> None:
    hub = _hub(live)
    info = hub.store.by_code(frame["code"])
    if info is None:
        raise ClassError(
            f"No class has the code {frame['code']!r}; check it on the projector.", "bad_code"
        )
    if not info.open:
        raise ClassError("This class has ended.", "class_ended")
    if live.classroom is not None:  # in another class, or broadcasting: that ends first
        gone(live)
    student, token = hub.store.join(info, frame.get("name"), live.user, frame.get("token"))
    member = Member(hub, live, info, student, secrets.token_hex(6))
    old = hub.attach(member)
    if isinstance(old, Member) and old is not member:
        old.leave("You joined this class from another tab or window; this one left it.")
    # A tab of this student on another process leaves too.
    hub.bus.publish(
        ctl_channel(info.id), {"kind": "kick", "source": student.id, "socket": member.socket_id}
    )
    hub.store.set_online(student.id, True)
    live.classroom = member
    live.send(
        {
            "type": "class_joined",
            "class": service.public(hub, info),
            "student": {"id": student.id, "name": student.name},
            "token": token,
        }
    )
    member.publish_row()
    if info.lesson:
        live.start_lesson(info.lesson)


def leave(live: Any, frame: Frame) -> None:
    if isinstance(live.classroom, Member):
        live.classroom.leave("You left the class.")


def broadcast(live: Any, frame: Frame) -> None:
    hub = _hub(live)
    info = hub.store.get(frame["class"])
    if info is None or not runs(info):
        raise ClassError("Only the class's trainer may broadcast to it.", "not_trainer")
    current = live.classroom
    if frame.get("on", True):
        if not info.open:
            raise ClassError("This class has ended.", "class_ended")
        if isinstance(current, Broadcaster | Member):
            current.detach()
        caster = Broadcaster(hub, live, info.id)
        old = hub.attach(caster)
        if isinstance(old, Broadcaster) and old is not caster:
            old.detach()
        live.classroom = caster
        service.set_broadcasting(hub, info.id, True)
        caster.publish_snapshot()
    elif isinstance(current, Broadcaster) and current.class_id == info.id:
        current.detach()
        service.set_broadcasting(hub, info.id, False)
    on = isinstance(live.classroom, Broadcaster)
    live.send(
        {
            "type": "class_state",
            "lesson": info.lesson,
            "restrict": info.restrict,
            "broadcasting": on,
        }
    )


def gone(live: Any) -> None:
    """The console's socket closed: leave the class (its row says so), stop broadcasting."""
    hook = live.classroom
    if isinstance(hook, Member):
        hook.detach()
    elif isinstance(hook, Broadcaster):
        hook.detach()
        if has_request_context():
            info = _hub(live).store.get(hook.class_id)
            if info is not None and info.open:
                service.set_broadcasting(_hub(live), hook.class_id, False)
