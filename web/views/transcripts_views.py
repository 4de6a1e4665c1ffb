"""Pages for recorded transcripts: the list, the replay page and its embeddable variant."""

from __future__ import annotations

from flask import Blueprint, Response, abort, make_response, render_template, request

from transcripts.exports import FORMATS
from transcripts.model import Transcript
from web.auth.access import visible_list
from web.views.transcripts_api import ApiError, load, store

bp = Blueprint("transcripts", __name__)

PAGE_SIZE = 50
# Format -> the label of its export link, in the order the page lists them.
EXPORT_LABELS = {
    "json": "JSON (re-importable)",
    "md": "Markdown",
    "html": "HTML page",
    "txt": "Plain text",
    "cast": "asciicast",
    "swaks": "swaks script",
    "python": "Python smtplib script",
}
# The replay page can edit with a token and a click; framed by another site it could be
# clickjacked, so only the embed (which cannot edit) may be framed. The app-wide CSP
# (frame-ancestors) belongs to web/auth/security.py; these headers do not replace it.
_NO_FRAMING = {"X-Frame-Options": "DENY"}
_ANY_FRAMING: dict[str, str] = {}
# ?edit=TOKEN may be in the address until the page script moves it to sessionStorage.
_PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _page(html: str, headers: dict[str, str]) -> Response:
    response = make_response(html)
    response.headers.update(headers)
    return response


def _transcript_or_404(tid: str) -> Transcript:
    try:
        return load(tid, entries=False)  # the page fetches the lines itself
    except ApiError:
        abort(404)


@bp.get("/transcripts")
def index() -> Response:
    """Recorded sessions, newest first, with a search over title, target, codes and lines."""
    q = request.args.get("q", "").strip()
    offset = request.args.get("offset", "0")
    start = int(offset) if offset.isdigit() else 0
    found = visible_list(store(), q or None, PAGE_SIZE + 1, start)
    html = render_template(
        "transcripts.html",
        transcripts=[t.meta() for t in found[:PAGE_SIZE]],
        q=q,
        offset=start,
        next_offset=start + PAGE_SIZE if len(found) > PAGE_SIZE else None,
        prev_offset=max(0, start - PAGE_SIZE) if start else None,
    )
    return _page(html, _NO_FRAMING)


def _replay(tid: str, template: str, headers: dict[str, str], standalone: bool) -> Response:
    transcript = _transcript_or_404(tid)
    html = render_template(
        template,
        standalone=standalone,
        meta=transcript.meta(),
        exports=[(fmt, EXPORT_LABELS.get(fmt, fmt)) for fmt in FORMATS],
    )
    return _page(html, {**headers, **_PRIVATE})


@bp.get("/t/<tid>")
def replay(tid: str) -> Response:
    """The replay page: the console plays the session with its guide panels and notes."""
    return _replay(tid, "replay.html", _NO_FRAMING, standalone=False)


@bp.get("/t/<tid>/embed")
def embed(tid: str) -> Response:
    """The replay with minimal chrome, for iframes on documentation sites."""
    return _replay(tid, "embed.html", _ANY_FRAMING, standalone=True)
