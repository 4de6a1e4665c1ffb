"""The JSON HTTP API (docs/api.md is the contract)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, request

from smtp_session.guide.lessons import LessonError, for_instance, instance_values, load_lessons
from smtp_session.knowledge.explain import MAX_REQUEST_BYTES, ExplainError
from smtp_session.knowledge.explain_api import explain_request

bp = Blueprint("api", __name__, url_prefix="/api")

# A JSON body may escape every character of the 64 KiB text as \uXXXX (six characters), so
# the body bound is six times the text bound plus room for the other fields.
MAX_EXPLAIN_BODY = 6 * MAX_REQUEST_BYTES + 1024


def _error(message: str, code: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message, "code": code}), status


@bp.get("/targets")
def targets() -> Response:
    """The named targets a connect frame may use."""
    services = current_app.extensions["playground"]
    return jsonify([t.public() for t in services.targets.values()])


@bp.post("/explain")
def explain() -> Response | tuple[Response, int]:
    """Explain a reply ({"reply", "after"}) or a command ({"command"}) from the knowledge base."""
    # Read at most one byte past the bound, so a huge or chunked body is never held whole.
    body = request.stream.read(MAX_EXPLAIN_BODY + 1)
    if len(body) > MAX_EXPLAIN_BODY:
        return _error(f"The body is over {MAX_EXPLAIN_BODY:,} bytes.", "too_large", 413)
    try:
        data = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return _error("The body must be a JSON object.", "bad_json", 400)
    try:
        return jsonify(explain_request(data))
    except ExplainError as exc:
        return _error(exc.message, exc.code, 413 if exc.code == "too_large" else 400)


@bp.get("/lessons")
def lessons() -> Response | tuple[Response, int]:
    """Every lesson with its steps, in order (the console's lesson picker reads this)."""
    try:
        found = load_lessons()
    except LessonError as exc:  # a broken lesson file is the server's fault, said in words
        return _error(exc.message, exc.code, 500)
    values = instance_values(current_app.config)
    return jsonify([for_instance(lesson, values).to_dict() for lesson in found])
