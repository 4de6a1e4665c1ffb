"""The sandbox inbox over HTTP (docs/api.md): list with search and an ETag for live updates,
one message read (decoded headers, text, HTML, MIME tree), attachments, delete one or all;
and the links between a message and the transcript of the session that sent it.

The sandbox's 250 after the final dot names its queue id, which is the message's id in the
inbox ("250 2.0.0 Ok: queued as <id>", smtp_session/sandbox/server.py): that reply, stored in the
transcript, is the link both ways.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from smtp_session.knowledge.facts import queue_id_of
from smtp_session.sandbox import mime
from smtp_session.sandbox.mailbox import Mailbox, StoredMessage
from transcripts.model import Entry
from web.auth import access

bp = Blueprint("inbox_api", __name__, url_prefix="/api/sandbox")

# The body of an HTML message is a document from a stranger: nothing in it may run, load
# anything from anywhere, or be framed by another site (docs/security.md).
HTML_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
ATTACHMENT_CSP = "default-src 'none'; sandbox"
_SANDBOX_ID = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{8}$")


def mailbox() -> Mailbox:
    """The app's view of the sandbox inbox."""
    found: Mailbox = current_app.extensions["playground"].mailbox
    return found


def _message_or_404(mid: str) -> tuple[StoredMessage, bytes]:
    msg, raw = mailbox().get(mid), mailbox().raw(mid)
    if msg is None or raw is None:
        abort(404)
    return msg, raw


def transcript_of(mid: str) -> dict[str, Any] | None:
    """The transcript (visible to the person asking) whose reply queued this message."""
    store = current_app.extensions["playground"].store
    for found in access.visible_list(store, f"queued as {mid}", 5, 0):
        transcript = store.get(found.id)
        if transcript is None:
            continue
        for entry in transcript.entries:
            if entry["kind"] == "reply" and mid in "\n".join(entry.get("lines") or []):
                title = transcript.title or f"SMTP session with {transcript.target}"
                url = url_for("transcripts.replay", tid=transcript.id, _anchor=f"L{entry['seq']}")
                return {"id": transcript.id, "seq": entry["seq"], "title": title, "url": url}
    return None


def messages_of(entries: list[Entry]) -> list[dict[str, Any]]:
    """For a transcript: each 250 that queued a message still in the inbox, and its page."""
    out = []
    box = mailbox()
    ids: dict[str, str | None] = {}  # by reply text: 5,000 NOOPs say "250 2.0.0 Ok" alike
    for entry in entries:
        if entry["kind"] != "reply" or entry.get("code") != 250:
            continue
        text = "\n".join(entry.get("lines") or [])
        if text not in ids:
            ids[text] = queue_id_of(text).get("queue_id")
        found = ids[text]
        if found and _SANDBOX_ID.match(found) and box.get(found) is not None:
            url = url_for("pages.message", mid=found)
            out.append({"seq": entry["seq"], "id": found, "url": url})
    return out


def detail(msg: StoredMessage, raw: bytes) -> dict[str, Any]:
    """Everything the message page shows, as JSON."""
    message = mime.parse(raw)
    return {
        "message": msg.to_dict(),
        "headers": [{"name": n, "value": v} for n, v in mime.headers(message)],
        "text": mime.body(message, "plain"),
        "has_html": mime.body(message, "html") is not None,
        "parts": mime.tree(message).to_dict(),
        "transcript": transcript_of(msg.id),
        "captured": captured_of(msg),
    }


def captured_of(msg: StoredMessage) -> dict[str, Any] | None:
    """The captured session (docs/api-captured.md) that delivered this message, if stored."""
    tid = msg.captured_transcript
    if not tid:
        return None
    store = current_app.extensions["playground"].store
    transcript = store.get(tid, entries=False)
    if transcript is None or not access.can_view(transcript):
        return None
    url = url_for("transcripts.replay", tid=tid)
    return {"id": tid, "url": url, "client": transcript.client, "status": transcript.status}


@bp.get("/messages")
def list_messages() -> Response:
    """Messages, newest first; ``q`` searches subject, From, To and the text; ETag for polls."""
    tag = mailbox().version()
    q = request.args.get("q", "")
    etag = f'"{tag}-{quote(q)}"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    found = mailbox().search(q) if q.strip() else mailbox().messages()
    response = jsonify([m.to_dict() for m in found])
    response.headers.update({"ETag": etag, "Cache-Control": "no-cache"})
    return response


@bp.delete("/messages")
def clear_messages() -> tuple[str, int]:
    """Delete every message."""
    mailbox().clear()
    return "", 204


@bp.get("/messages/<mid>")
def get_message(mid: str) -> Response:
    """One message read: decoded headers, text body, MIME tree, the transcript that sent it."""
    return jsonify(detail(*_message_or_404(mid)))


@bp.delete("/messages/<mid>")
def delete_message(mid: str) -> tuple[str, int]:
    """Delete one message."""
    if not mailbox().delete(mid):
        abort(404)
    return "", 204


@bp.get("/messages/<mid>/raw")
def raw_message(mid: str) -> Response:
    """The exact bytes the sandbox received (after it removed the dot-stuffing)."""
    _msg, raw = _message_or_404(mid)
    response = Response(raw, mimetype="message/rfc822")
    if request.args.get("download") == "1":
        response.headers["Content-Disposition"] = f'attachment; filename="{mid}.eml"'
    return response


@bp.get("/messages/<mid>/html")
def html_body(mid: str) -> Response:
    """The HTML body, for a sandboxed frame: remote content blocked by the CSP."""
    _msg, raw = _message_or_404(mid)
    html = mime.body(mime.parse(raw), "html")
    if html is None:
        abort(404)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers.update(
        {
            "Content-Security-Policy": HTML_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
        }
    )
    return response


@bp.get("/messages/<mid>/parts/<part_id>")
def download_part(mid: str, part_id: str) -> Response:
    """One leaf of the MIME tree, always as a download under a safe name."""
    _msg, raw = _message_or_404(mid)
    message = mime.parse(raw)
    part = mime.find_part(message, part_id)
    if part is None or part.is_multipart():
        abort(404)
    fallback = f"part-{part_id}.bin"
    name = mime.safe_filename(part.get_filename(), fallback)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response = Response(mime.part_bytes(part), content_type=part.get_content_type())
    # RFC 6266 §4.3: filename for old clients, filename* (RFC 8187, UTF-8) for the rest.
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    response.headers["Content-Security-Policy"] = ATTACHMENT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
