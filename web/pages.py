"""HTML pages: the console and the sandbox inbox."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template

from smtp_session.scenarios import DEMO_PASSWORD, DEMO_USER, SCENARIOS, page_data

bp = Blueprint("pages", __name__)


def _services() -> Any:
    return current_app.extensions["playground"]


@bp.get("/")
def console() -> str:
    services = _services()
    targets = [t.public() for t in services.targets.values()]
    return render_template("console.html", targets=targets, sandbox=page_data())


@bp.get("/explain")
def explain() -> str:
    """Paste a reply, a command or a whole bounce and have it explained (POST /api/explain)."""
    return render_template("explain.html")


@bp.get("/favicon.ico")
def favicon() -> Any:
    return current_app.send_static_file("favicon.svg")


@bp.get("/sandbox")
def inbox() -> str:
    services = _services()
    return render_template(
        "sandbox.html",
        messages=services.mailbox.messages(),
        scenarios=SCENARIOS.values(),
        demo_user=DEMO_USER,
        demo_password=DEMO_PASSWORD,
        config=services.config,
        fingerprint=services.sandbox_cert.fingerprint,
    )


@bp.get("/sandbox/ca.pem")
def sandbox_certificate() -> Response:
    """The sandbox's self-signed certificate, to verify its TLS (swaks, smtplib, openssl)."""
    pem = _services().sandbox_cert.cert.read_bytes()
    response = Response(pem, content_type="application/x-pem-file")
    response.headers["Content-Disposition"] = 'attachment; filename="smtp-playground-sandbox.pem"'
    return response


@bp.get("/sandbox/<mid>")
def message(mid: str) -> str:
    services = _services()
    msg = services.mailbox.get(mid)
    raw = services.mailbox.raw(mid)
    if msg is None or raw is None:
        abort(404)
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return render_template(
        "message.html",
        msg=msg,
        headers=list(headers.items()),
        raw=raw.decode("utf-8", "replace"),
    )
