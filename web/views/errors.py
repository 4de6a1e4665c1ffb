"""Error responses: a styled page for people, JSON for /api/* callers.

Werkzeug's bare pages have no navigation and no way back; these keep the site's header and
say in words what happened. API clients keep the JSON shapes documented in docs/api.md and
docs/api-transcripts.md.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

# status: (stable code for JSON, title, a sentence for a person)
_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "Bad request", "The request could not be understood."),
    403: ("forbidden", "Not allowed", "You are not allowed to open this page."),
    404: ("not_found", "Not found", "There is nothing at this address."),
    405: (
        "method_not_allowed",
        "Method not allowed",
        "This address does not answer that kind of request.",
    ),
    413: ("too_large", "Too large", "What was sent is larger than this site accepts."),
    429: (
        "too_many_requests",
        "Too many requests",
        "Too many requests came from you in a short time; wait a moment and try again.",
    ),
    500: (
        "internal_error",
        "Something went wrong",
        "The server failed while answering; the error has been logged.",
    ),
}

# Where a person most likely wants to go back to, by the start of the address they asked for.
_BACK: tuple[tuple[str, str, str], ...] = (
    ("/t/", "transcripts.index", "Back to the transcripts"),
    ("/transcripts", "transcripts.index", "Back to the transcripts"),
    ("/sandbox", "pages.inbox", "Back to the sandbox inbox"),
)


def _sentence(exc: HTTPException) -> str:
    """The words given to ``abort()`` when there are any, else this status's own sentence."""
    own = _ERRORS[exc.code or 500][2]
    described = exc.description
    if not described or described == type(exc).description or exc.code == 500:
        return own  # Werkzeug's stock text, or a 500's internals, which stay in the log
    return described


def _json(exc: HTTPException, status: int) -> tuple[Response, int]:
    code, message = _ERRORS[status][0], _sentence(exc)
    if request.path.startswith("/api/transcripts"):
        return jsonify({"error": {"code": code, "message": message}}), status
    return jsonify({"error": message, "code": code}), status


def _back_link() -> tuple[str, str]:
    for prefix, endpoint, label in _BACK:
        if request.path.startswith(prefix):
            return endpoint, label
    return "pages.console", "Back to the console"


def _handle(exc: HTTPException) -> tuple[Response | str, int]:
    status = exc.code if exc.code in _ERRORS else 500
    if request.path.startswith("/api/"):
        return _json(exc, status)
    endpoint, label = _back_link()
    page = render_template(
        "error.html",
        status=status,
        title=_ERRORS[status][1],
        sentence=_sentence(exc),
        back_endpoint=endpoint,
        back_label=label,
    )
    return page, status


def init_errors(app: Flask) -> None:
    """Answer the listed HTTP errors with the site's page (or JSON under /api/)."""
    for status in _ERRORS:
        app.register_error_handler(status, _handle)
