"""Captured sessions over HTTP (docs/api-captured.md): the Captured page, the list and one
session as JSON, and two server-sent event streams fed by the bus (web/live/bus.py).

The sandbox records every SMTP session it serves, whoever the client is (swaks, smtplib, a
relaying Postfix), as a transcript of source ``captured`` and publishes on the bus as it goes:
``captured`` for the list (started, entry, ended, each with the session's summary) and
``captured:<id>`` for one session's entries. The streams subscribe *before* they read the
store, so nothing published in between is lost; a client may see an item twice (the
snapshot and the event), never miss one: the page merges by id, the replay by seq.

A stream is bounded: a comment every ``HEARTBEAT_S`` (a proxy does not cut an idle stream,
and a gone client is noticed at the next write), and it ends after
``PLAYGROUND_CAPTURED_STREAM_SECONDS``; EventSource reconnects by itself after ``retry``
(with ``Last-Event-ID`` for a session's stream), so no worker greenlet or thread is held
for ever by one tab.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from transcripts.model import Transcript
from web.auth.hosts import origin_allowed
from web.live.captured_poll import StorePoll
from web.views.transcripts_api import ApiError, load

bp = Blueprint("captured", __name__)

SOURCE = "captured"
CHANNEL = "captured"
PAGE_SIZE = 50
MAX_LIMIT = 200
HEARTBEAT_S = 15.0
RETRY_MS = 2000  # how long EventSource waits before it reconnects
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what a transcript id can be (token_urlsafe)


def _services() -> Any:
    return current_app.extensions["playground"]


def _summaries(limit: int, before: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _services().store.list_captured(limit=limit, before=before)
    return found


def _captured(tid: str) -> Transcript:
    """A captured transcript the person asking may see, or a JSON 404."""
    transcript = load(tid, entries=False)
    if transcript.source != SOURCE:
        raise ApiError("no such captured session", 404, "not_found")
    return transcript


def _summary_of(tid: str) -> dict[str, Any] | None:
    found = _services().store.get(tid, entries=False)
    return None if found is None else found.captured_summary()


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit():
        raise ApiError(f"{name} must be a whole number", 400, "bad_request")
    return max(low, min(int(raw), high))


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status


# -- the page --------------------------------------------------------------------------------


@bp.get("/captured")
def page() -> str:
    """Every session the sandbox served, newest first, updated live over server-sent events."""
    sandbox = {
        "host": current_app.config["SANDBOX_HOST"],
        "port": current_app.config["SANDBOX_PORT"],
        "tls_port": current_app.config["SANDBOX_TLS_PORT"],
    }
    return render_template(
        "captured.html", sessions=_summaries(PAGE_SIZE, None), page_size=PAGE_SIZE, sandbox=sandbox
    )


# -- JSON --------------------------------------------------------------------------------------


@bp.get("/api/captured")
def list_captured() -> Response:
    """Summaries, newest first; ``before`` (a session's id) pages to the older ones."""
    limit = _int_arg("limit", PAGE_SIZE, 1, MAX_LIMIT)
    before = request.args.get("before") or None
    if before is not None and not _ID.fullmatch(before):
        raise ApiError("before must be the id of a captured session", 400, "bad_request")
    found = _summaries(limit + 1, before)
    more = len(found) > limit
    found = found[:limit]
    return jsonify(
        {
            "sessions": found,
            "limit": limit,
            "before": before,
            "next_before": found[-1]["id"] if more and found else None,
        }
    )


@bp.get("/api/captured/<tid>")
def get_captured(tid: str) -> Response:
    """One session: its summary, its replay page, and the entries from seq ``since`` on."""
    transcript = _captured(tid)
    since = _int_arg("since", 0, 0, 10**9)
    return jsonify(
        {
            "summary": transcript.captured_summary(),
            "url": f"/t/{transcript.id}",
            "entries": _services().store.entries(tid, since),
        }
    )


@bp.post("/api/captured/<tid>/edit-token")
def edit_token(tid: str) -> tuple[Response, int]:
    """A new edit token for a captured session, to add notes or a title: nobody owns one, so
    whoever may see the list may annotate it. The token given before stops working."""
    _captured(tid)
    token = _services().store.new_edit_token(tid)
    return jsonify({"edit_token": token, "url": f"/t/{tid}"}), 201


# -- server-sent events ------------------------------------------------------------------------


def _event(name: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event (WHATWG HTML §9.2): JSON on one data line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _lifetime() -> float:
    return float(current_app.config["CAPTURED_STREAM_SECONDS"])


def _subscription(tid: str | None = None) -> Any:
    """The bus's messages for the list (or one session); where the bus cannot carry them to
    this process (no Redis, the sandbox elsewhere), the same messages polled from the store."""
    services = _services()
    if services.config["REDIS_URL"] or services.capture is not None:
        return services.bus.subscribe(CHANNEL if tid is None else f"{CHANNEL}:{tid}")
    return StorePoll(services.store, tid)


def _check_origin() -> None:
    # EventSource from another site's page is a CORS request, which these answers never
    # allow; one carrying a foreign Origin is refused outright, as /ws is.
    if request.headers.get("Origin") and not origin_allowed(request):
        abort(403, "This page's origin may not follow captured sessions.")


def _stream(body: Iterator[str]) -> Response:
    response = Response(body, mimetype="text/event-stream")
    response.headers.update(
        # X-Accel-Buffering: a proxy (nginx) passes each event on at once (docs/production.md).
        {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    return response


def _follow(sub: Any, lifetime: float, first: list[str], relay: Any) -> Iterator[str]:
    """``first`` then each bus message ``relay`` turns into events, heartbeats between, until
    ``lifetime`` runs out or ``relay`` says the stream is done (returns None)."""
    try:
        yield f"retry: {RETRY_MS}\n\n"
        yield from first
        deadline = time.monotonic() + lifetime
        while (left := deadline - time.monotonic()) > 0:
            message = sub.get(timeout=min(HEARTBEAT_S, left))
            if message is None:
                yield ": keep-alive\n\n"
                continue
            out = relay(message)
            if out is None:
                return
            yield from out
        yield _event("reconnect", {"after_ms": RETRY_MS})
    finally:
        sub.close()


@bp.get("/api/captured/events")
def list_events() -> Response:
    """The list as it changes: a ``snapshot`` of the newest sessions, then ``started``,
    ``entry`` and ``ended`` events, each with the session's summary."""
    _check_origin()
    sub = _subscription()  # before the snapshot is read: nothing falls between the two
    snapshot = _event("snapshot", {"sessions": _summaries(PAGE_SIZE, None)})

    def relay(message: dict[str, Any]) -> list[str]:
        kind = message.get("event")
        if kind not in ("started", "entry", "ended"):
            return []
        data = {"id": message.get("id"), "summary": message.get("summary")}
        return [_event(kind, data)]

    return _stream(_follow(sub, _lifetime(), [snapshot], relay))


def _last_seq() -> int:
    """Where a reconnecting EventSource left off (Last-Event-ID is the last seq it had)."""
    raw = request.headers.get("Last-Event-ID", "")
    if raw.isdigit():
        return int(raw) + 1
    return _int_arg("since", 0, 0, 10**9)


class _SessionRelay:
    """Turns bus messages into one session's events: new entries in seq order, then the end."""

    def __init__(self, store: Any, tid: str, seen: int) -> None:
        self.store = store
        self.tid = tid
        self.seen = seen  # the last seq sent
        self.ended: dict[str, Any] | None = None

    def __call__(self, message: dict[str, Any]) -> list[str] | None:
        if message.get("id") != self.tid:
            return []
        if message.get("event") == "ended":
            self.ended = message
            return None  # stop following; the body sends the end
        entry = message.get("entry")
        if not isinstance(entry, dict):
            return []
        seq = entry.get("seq")
        if not isinstance(seq, int) or seq <= self.seen:
            return []
        # A gap (this reader was slow and the bus dropped some): the store has them.
        missed = []
        if seq > self.seen + 1:
            missed = [e for e in self.store.entries(self.tid, self.seen + 1) if e["seq"] < seq]
        self.seen = seq
        return [_event("entry", {"entry": e}, e["seq"]) for e in [*missed, entry]]


@bp.get("/api/captured/<tid>/events")
def session_events(tid: str) -> Response:
    """One session as it goes: its entries from ``since`` (or Last-Event-ID), then each new
    one (the event id is its seq), then ``ended``, after which the stream closes."""
    _check_origin()
    _captured(tid)
    since = _last_seq()
    store = _services().store
    sub = _subscription(tid)
    entries = store.entries(tid, since)
    summary = _summary_of(tid)
    relay = _SessionRelay(store, tid, entries[-1]["seq"] if entries else since - 1)
    first = [_event("entry", {"entry": e}, e["seq"]) for e in entries]
    if summary is not None and summary.get("status") != "live":
        sub.close()
        ended = _event("ended", {"id": tid, "summary": summary})
        return _stream(iter([f"retry: {RETRY_MS}\n\n", *first, ended]))

    lifetime = _lifetime()  # the generator runs outside the request's app context

    def body() -> Iterator[str]:
        yield from _follow(sub, lifetime, first, relay)
        if relay.ended is not None:
            # What the bus carried before the end is stored by now (or was dropped for a
            # slow reader): send what this stream has not, then the end.
            for entry in store.entries(tid, relay.seen + 1):
                yield _event("entry", {"entry": entry}, entry["seq"])
            yield _event("ended", {"id": tid, "summary": relay.ended.get("summary")})

    return _stream(body())
