"""The class HTTP API (``/api/classes``) and the class sockets (docs/classroom.md)."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import segno
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from simple_websocket import ConnectionClosed

from smtp_session.errors import PlaygroundError
from web.auth.access import mode
from web.auth.hosts import origin_allowed
from web.classroom import service, trainer
from web.classroom.follow import Follower
from web.classroom.frames import DASHBOARD, FOLLOW, parse
from web.classroom.hub import ClassHub
from web.classroom.report import build_report, report_csv
from web.classroom.store import ClassError, ClassInfo, ClassStore
from web.classroom.viewers import Dashboard
from web.views.ws import sock

log = logging.getLogger(__name__)
bp = Blueprint("classes", __name__)


def hub() -> ClassHub:
    found: ClassHub = current_app.extensions["playground"].classroom
    return found


def _error(message: str, code: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


@bp.errorhandler(ClassError)
def _class_error(exc: ClassError) -> tuple[Response, int]:
    return _error(exc.message, exc.code, exc.status)


@bp.before_request
def _same_origin() -> ResponseReturnValue | None:
    """The trainer-key cookie is ambient authority (mode none has no CSRF token): a page of
    another origin may not change a class with it. Scripts send no Origin and pass."""
    if request.method != "GET" and not origin_allowed(request):
        return _error("A page of another origin may not change a class.", "cross_origin", 403)
    return None


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClassError("The request body is a JSON object.", "bad_field")
    return body


def _trainer() -> str:
    name = trainer.trainer_name()
    if name is None:
        raise ClassError("Only a trainer may do this.", "not_trainer", 403)
    return name


def _class(class_id: str) -> ClassInfo:
    """The class, if the asker runs it (another trainer's looks like none at all)."""
    _trainer()
    info = hub().store.get(class_id)
    if info is None or not trainer.runs(info):
        raise ClassError("There is no such class.", "not_found", 404)
    return info


# -- who is asking ---------------------------------------------------------------------------


@bp.get("/api/classes/me")
def me() -> ResponseReturnValue:
    name = trainer.trainer_name()
    return jsonify({"trainer": name is not None, "name": name, "mode": mode()})


@bp.post("/api/classes/trainer-login")
def trainer_login() -> ResponseReturnValue:
    if mode() != "none":
        return _error("The trainer key is for PLAYGROUND_AUTH=none.", "not_found", 404)
    if not trainer.key_matches(_body().get("key")):
        return _error("That is not the trainer key (see the app's ready line).", "bad_key", 403)
    trainer.log_in()
    return jsonify({"trainer": True})


@bp.post("/api/classes/trainer-logout")
def trainer_logout() -> ResponseReturnValue:
    trainer.log_out()
    return jsonify({"trainer": False})


# -- classes -------------------------------------------------------------------------------------


@bp.post("/api/classes")
def create() -> ResponseReturnValue:
    name = _trainer()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ClassError("The request body is a JSON object.", "bad_field")
    info = service.open_class(hub(), name, body.get("title"), body.get("max_students"))
    return jsonify(service.public(hub(), info)), 201


@bp.get("/api/classes")
def listing() -> ResponseReturnValue:
    name = _trainer()
    found = hub().store.list_classes(None if trainer.is_admin() else name)
    return jsonify({"classes": [service.public(hub(), info) for info in found]})


@bp.get("/api/classes/<class_id>")
def get(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    rows = Dashboard.stored_rows(hub(), info)
    return jsonify({"class": service.public(hub(), info), "students": rows})


@bp.get("/api/classes/<class_id>/qr.svg")
def qr(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    link = info.public(service.base_url(), 0)["join_url"]
    out = io.BytesIO()
    code = segno.make(link, error="m")
    code.save(out, kind="svg", scale=8, border=4, title=f"Join link: {link}", svgclass="class-qr")
    return Response(out.getvalue(), content_type="image/svg+xml; charset=utf-8")


@bp.get("/api/classes/join/<code>")
def by_code(code: str) -> ResponseReturnValue:
    info = hub().store.by_code(code)
    if info is None:
        return _error(f"No class has the code {code!r}.", "bad_code", 404)
    count = hub().store.count_students(info.id)
    return jsonify(
        {
            "id": info.id,
            "title": info.title,
            "trainer": info.trainer,
            "open": info.open,
            "full": count >= info.max_students,
            "students": count,
            "max_students": info.max_students,
        }
    )


@bp.post("/api/classes/<class_id>/hint")
def hint(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    body = _body()
    sent = service.hint(hub(), info, body.get("text"), body.get("student"), _trainer())
    return jsonify({"sent": sent})


@bp.post("/api/classes/<class_id>/lesson")
def lesson(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    lessons = current_app.extensions["playground"].lessons
    info = service.set_lesson(hub(), info, _body().get("lesson"), lessons)
    return jsonify(service.public(hub(), info))


@bp.post("/api/classes/<class_id>/restrict")
def restrict(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    targets = current_app.extensions["playground"].targets
    info = service.restrict(hub(), info, _body().get("target"), targets)
    return jsonify(service.public(hub(), info))


@bp.post("/api/classes/<class_id>/end")
def end(class_id: str) -> ResponseReturnValue:
    info = service.end(hub(), _class(class_id))
    return jsonify(service.public(hub(), info))


@bp.get("/api/classes/<class_id>/report")
def report(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    return jsonify(build_report(hub().store, info, service.public(hub(), info)))


@bp.get("/api/classes/<class_id>/report.csv")
def report_as_csv(class_id: str) -> ResponseReturnValue:
    info = _class(class_id)
    text = report_csv(
        build_report(hub().store, info, service.public(hub(), info)), service.base_url()
    )
    name = f"class-{info.code}-report.csv"
    return Response(
        text,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- the sockets --------------------------------------------------------------------------------


def check_class_socket() -> None:
    """Before a class socket's handshake: this app's origin; the dashboard: its trainer."""
    path = request.path
    if not path.startswith("/ws/class/"):
        return
    if not origin_allowed(request):
        abort(403, "This page's origin may not open the playground's WebSocket.")
    if path.endswith("/follow"):
        return
    class_id = path.removeprefix("/ws/class/").strip("/")
    if trainer.trainer_name() is None:
        abort(403, "Only a trainer may open a class's dashboard.")
    info = hub().store.get(class_id)
    if info is None or not trainer.runs(info):
        abort(404)


def _loop(ws: Any, viewer: Any, table: dict[str, Any]) -> None:
    try:
        while True:
            data = ws.receive()
            if data is None:
                break
            try:
                viewer.handle(parse(data, table))
            except PlaygroundError as exc:
                viewer.send({"type": "error", "message": exc.message, "code": exc.code})
    except ConnectionClosed:
        pass
    finally:
        viewer.close()


@sock.route("/ws/class/<class_id>", bp=bp)
def dashboard_socket(ws: Any, class_id: str) -> None:
    """The trainer's live dashboard and watch views."""
    info = hub().store.get(class_id)
    if info is None:
        return
    viewer = Dashboard(hub(), info, lambda frame: ws.send(json.dumps(frame)))
    viewer.open(hub().store.students(info.id), service.public(hub(), info))
    _loop(ws, viewer, DASHBOARD)


@sock.route("/ws/class/<class_id>/follow", bp=bp)
def follow_socket(ws: Any, class_id: str) -> None:
    """A follower's read-only view of the trainer's broadcast console."""
    info = hub().store.get(class_id)
    first = ws.receive(timeout=30)
    try:
        frame = parse(first, FOLLOW) if first is not None else None
    except PlaygroundError:
        frame = None
    allowed = (
        info is not None
        and frame is not None
        and frame["type"] == "follow"
        and (hub().store.by_token(info.id, frame.get("token")) is not None or trainer.runs(info))
    )
    if not allowed or info is None:
        ws.send(
            json.dumps(
                {"type": "error", "message": "Follow with a student's token.", "code": "bad_token"}
            )
        )
        ws.close(1008, "bad token")
        return
    if not info.open:
        ws.send(json.dumps({"type": "class_ended", "message": "The trainer ended the class."}))
        ws.close(1000, "class ended")
        return
    viewer = Follower(
        hub(), info, lambda f: ws.send(json.dumps(f)), lambda: ws.close(1000, "class ended")
    )
    viewer.follow(service.public(hub(), info))
    _loop(ws, viewer, FOLLOW)


def init_classroom(app: Flask) -> None:
    """The class hub of this process, its routes, and the trainer key in mode none."""
    services = app.extensions["playground"]
    hub_ = ClassHub(ClassStore(services.store.engine), services.bus, app.config)
    if app.config["AUTH"] == "none":
        hub_.trainer_key = trainer.load_trainer_key(app.config)
    services.classroom = hub_
    app.register_blueprint(bp)
    app.before_request(check_class_socket)


__all__ = ["bp", "init_classroom"]
