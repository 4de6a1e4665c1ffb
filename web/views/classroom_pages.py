"""The classroom's pages (docs/classroom.md, "Pages"): templates only, the data comes live.

Every page here is a shell: its script asks the class API (``/api/classes``) and the class
sockets for what it shows, and the API decides who may see what (a student asking for a
trainer's page gets the API's 403 in words). So these views check nothing themselves and
never read the class store: one place, the API, says who is a trainer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from smtp_session.sandbox.scenarios import page_data
from web.auth.access import user_name

bp = Blueprint("classroom", __name__)


def _targets() -> list[dict[str, Any]]:
    return [t.public() for t in current_app.extensions["playground"].targets.values()]


def _console(template: str, **data: Any) -> str:
    """A console page with the class's bits: the same markup and script as ``/``."""
    return render_template(template, targets=_targets(), sandbox=page_data(), classroom=data)


@bp.get("/class")
def index() -> str:
    """Join a class by its code; a trainer's classes and the form that opens one."""
    return render_template("class_index.html", classroom={"page": "index"})


@bp.get("/class/login")
def login() -> str:
    """The trainer key form (PLAYGROUND_AUTH=none)."""
    return render_template("class_login.html", classroom={"page": "login"})


@bp.get("/class/<cid>")
def trainer(cid: str) -> str:
    """The projector's join code, link and QR; the live dashboard; the steering controls."""
    data = {"page": "trainer", "class": cid, "targets": _targets()}
    return render_template("class_trainer.html", classroom=data)


@bp.get("/class/<cid>/console")
def trainer_console(cid: str) -> str:
    """The trainer's own console, which they may broadcast to the class's follow view."""
    return _console("class_console.html", page="broadcast", **{"class": cid})


@bp.get("/class/<cid>/watch/<student>")
def watch(cid: str, student: str) -> str:
    """One student's console, read-only and live, with the guide panels."""
    data = {"page": "watch", "class": cid, "student": student}
    return render_template("class_view.html", classroom=data)


@bp.get("/class/<cid>/follow")
def follow(cid: str) -> str:
    """The trainer's broadcast console, read-only, for every student (and the trainer)."""
    return render_template("class_view.html", classroom={"page": "follow", "class": cid})


@bp.get("/class/<cid>/report")
def report(cid: str) -> str:
    """After the class: each student's sessions, lessons, warnings and transcripts; CSV."""
    return render_template("class_report.html", classroom={"page": "report", "class": cid})


@bp.get("/join")
@bp.get("/join/<code>")
def join(code: str = "") -> str:
    """A student's way in: a display name (their account name in accounts mode), then the
    console in the class."""
    return _console("class_join.html", page="join", code=code.upper(), account=user_name())
