"""HTML pages: the console, the sandbox inbox and its messages."""

from __future__ import annotations

import gzip
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from smtp_session.guide.document import document_bytes, document_hash, document_path
from smtp_session.sandbox import mime
from smtp_session.sandbox.scenario_format import rule_in_words, triggers_in_words
from smtp_session.sandbox.scenarios import DEMO_PASSWORD, DEMO_USER, page_data
from web.views import inbox as inbox_api

bp = Blueprint("pages", __name__)


def _services() -> Any:
    return current_app.extensions["playground"]


@bp.get("/")
def console() -> str:
    services = _services()
    targets = [t.public() for t in services.targets.values()]
    return render_template("console.html", targets=targets, sandbox=page_data())


@lru_cache(maxsize=1)
def _document_gzip() -> bytes:
    return gzip.compress(document_bytes(), compresslevel=9, mtime=0)


@bp.get("/knowledge/<digest>.json")
def knowledge(digest: str) -> Any:
    """The knowledge document lean frames point into (docs/protocol.md, "The knowledge
    document"): its address holds its hash, so it is cached for good and works offline."""
    if digest != document_hash():
        # A page from before an upgrade asks for the old text: send it to the current one.
        response = redirect(document_path(), 302)
        response.headers["Cache-Control"] = "no-cache"
        return response
    etag = f'"{digest}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers["Content-Encoding"] = _document_gzip(), "gzip"
    else:
        body = document_bytes()
    return Response(body, content_type="application/json", headers=headers)


@bp.app_context_processor
def _knowledge_url() -> dict[str, Any]:
    """Every page that shows frames names the document in its page data (knowledge-data)."""
    return {"knowledge_url": document_path()}


@bp.get("/explain")
def explain() -> str:
    """Paste a reply, a command or a whole bounce and have it explained (POST /api/explain)."""
    return render_template("explain.html")


@bp.get("/favicon.ico")
def favicon() -> Any:
    return current_app.send_static_file("favicon.svg")


@bp.get("/sandbox")
def inbox() -> str:
    """The sandbox inbox: search, live list, delete; the scenarios below, with their rules."""
    services = _services()
    q = request.args.get("q", "").strip()
    return render_template(
        "sandbox.html",
        messages=services.mailbox.search(q) if q else services.mailbox.messages(),
        q=q,
        version=services.mailbox.version(),
        scenarios=[
            {
                "scenario": s,
                "triggers": triggers_in_words(s),
                "rules": [rule_in_words(r) for r in s.rules],
            }
            for s in services.scenarios
        ],
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
    """One message: text, HTML (sandboxed), headers decoded, parts, raw source, its session."""
    services = _services()
    msg = services.mailbox.get(mid)
    raw = services.mailbox.raw(mid)
    if msg is None or raw is None:
        abort(404)
    view = inbox_api.detail(msg, raw)
    tree = mime.tree(mime.parse(raw))
    view["parts_tree"] = tree
    return render_template(
        "message.html",
        msg=msg,
        view=view,
        attachments=mime.attachments(tree),
        raw=raw.decode("utf-8", "replace"),
    )
