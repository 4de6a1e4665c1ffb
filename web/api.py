"""The JSON HTTP API (docs/api.md is the contract)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/sandbox/messages")
def sandbox_messages() -> Response:
    """Captured messages, newest first."""
    mailbox = current_app.extensions["playground"].mailbox
    return jsonify([m.to_dict() for m in mailbox.messages()])


@bp.get("/sandbox/messages/<mid>/raw")
def sandbox_raw(mid: str) -> Response:
    """The exact bytes the sandbox received (after it removed the dot-stuffing)."""
    raw = current_app.extensions["playground"].mailbox.raw(mid)
    if raw is None:
        abort(404)
    return Response(raw, mimetype="message/rfc822")


@bp.get("/targets")
def targets() -> Response:
    """The named targets a connect frame may use."""
    services = current_app.extensions["playground"]
    return jsonify([t.public() for t in services.targets.values()])
