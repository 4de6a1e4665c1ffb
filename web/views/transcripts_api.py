"""The transcripts HTTP API: read, export, import, annotate, delete (docs/api-transcripts.md).

Over 300 lines on purpose: one blueprint for one documented API, read beside
docs/api-transcripts.md route by route.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from smtp_session.errors import PlaygroundError
from smtp_session.guide.replay import compact_frames, lean_replay, replay_frames
from transcripts.errors import StoreError, TranscriptImportError
from transcripts.exports import FORMATS, Explain, export_stream
from transcripts.exports._common import describe_event
from transcripts.importer import import_json
from transcripts.markers import markers_of
from transcripts.model import Entry, Note, Transcript
from transcripts.schema import MAX_AUTHOR
from transcripts.store import Store
from web.auth import access
from web.live import jsonfast
from web.views import inbox

bp = Blueprint("transcripts_api", __name__, url_prefix="/api/transcripts")

DEFAULT_IMPORT_MAX = 10 * 1024 * 1024  # 10 MiB unless IMPORT_MAX_BYTES says otherwise
# A multipart upload carries a little more than the file: boundaries and part headers.
_MULTIPART_SLACK = 64 * 1024
# Exports are files to save, never pages of this site: nothing in them may run or load.
_EXPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


# Ids are opaque random tokens (token_urlsafe): anything else cannot be one, so it is not looked up.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ApiError(PlaygroundError):
    """An API request refused with an HTTP status and words for a person."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message, code)
        self.status = status


def store() -> Store:
    """The app's transcript store."""
    found: Store = current_app.extensions["playground"].store
    return found


def load(tid: str, entries: bool = True) -> Transcript:
    """The transcript with this id (its entries too unless told not to), or a 404 ApiError."""
    found = store().get(tid, entries=entries) if _ID.fullmatch(tid) else None
    # One that this user may not see is as absent as one that does not exist.
    if found is None or not access.can_view(found):
        raise ApiError("no such transcript", 404, "not_found")
    return found


def edit_token(body: dict[str, Any] | None = None) -> str | None:
    """The edit token the request carries: X-Edit-Token, ?edit= or the JSON field edit_token."""
    token = request.headers.get("X-Edit-Token") or request.args.get("edit")
    if not token and body:
        token = body.get("edit_token")
    return token if isinstance(token, str) and token else None


def require_edit(tid: str, body: dict[str, Any] | None = None) -> Transcript:
    """The transcript, if the request holds its edit token (404 or 403 otherwise)."""
    transcript = load(tid)
    if access.can_edit(transcript):  # the owner and admins need no token
        return transcript
    token = edit_token(body)
    # Store.check_edit_token compares hashes in constant time.
    if token is None or not store().check_edit_token(tid, token):
        raise ApiError("this needs the transcript's edit token", 403, "forbidden")
    return transcript


def frames_of(transcript: Transcript) -> list[dict[str, Any]]:
    """The frames the live panels showed for each entry (guide/replay.py re-derives them)."""
    sandboxes = {t.name for t in current_app.extensions["playground"].targets.values() if t.sandbox}
    # The recorder labels the target "name (host:port)".
    sandbox = transcript.target.split(" ", 1)[0] in sandboxes
    return replay_frames(transcript.entries, sandbox=sandbox)


def _summary(frame: dict[str, Any]) -> str | None:
    explain = frame.get("explain")
    explain = explain if isinstance(explain, dict) else {}
    parts = [explain.get("summary"), explain.get("meaning")]
    parts += [w.get("message") for w in frame.get("warnings") or []]
    if frame.get("malformed"):
        parts.append(f"Malformed: {frame['malformed']}")
    text = " — ".join(dict.fromkeys(p for p in parts if p))  # dict: drop repeated warnings
    return text or None


def explain_of(frames: list[dict[str, Any]]) -> Explain:
    """What each entry means, in words, for the md and html exports. The words depend on
    the explanation, the warnings and the malformation only; frames of one exchange share
    the first two (guide/replay.py FrameMemo), so each such frame is worded once."""
    worded: dict[tuple[int, int, int], str | None] = {}
    by_seq = {}
    for frame in frames:  # all alive while this runs: an id is not reused
        key = (id(frame.get("explain")), id(frame.get("warnings")), id(frame.get("malformed")))
        if key not in worded:
            worded[key] = _summary(frame)
        by_seq[frame["seq"]] = worded[key]

    def explain(entry: Entry) -> str | None:
        return by_seq.get(entry["seq"])

    return explain


_orjson = jsonfast.ORJSON
_ORJSON_OPTIONS = 0
if _orjson is not None:  # Flask's provider words dates and dataclasses its own way: leave them
    _ORJSON_OPTIONS = (
        _orjson.OPT_SORT_KEYS | _orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS
    )


def json_response(body: dict[str, Any]) -> Response:
    """``jsonify(body)``'s JSON value (sorted keys, compact; UTF-8 rather than \\u escapes),
    by orjson: a long transcript's frames are ~4 MB of JSON, which the standard encoder took
    ~0.2 s to write. What orjson refuses (a lone surrogate from a server's bytes, an integer
    beyond 64 bits, a date) and the debug mode's indented output go through jsonify."""
    if _orjson is not None and not current_app.debug:
        try:
            data = _orjson.dumps(body, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
        else:
            return current_app.response_class(data + b"\n", mimetype="application/json")
    return jsonify(body)


def streamed(pieces: Iterator[bytes], mimetype: str) -> Response:
    """A response written as ``pieces`` are made, gzipped on the way when the client takes
    it (web/live/compress.py leaves streamed bodies alone)."""
    if "gzip" not in request.headers.get("Accept-Encoding", ""):
        return Response(pieces, content_type=mimetype)
    response = Response(_gzipped(pieces), content_type=mimetype)
    response.headers["Content-Encoding"] = "gzip"
    response.headers.add("Vary", "Accept-Encoding")
    return response


def _gzipped(pieces: Iterator[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(5, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    for piece in pieces:
        out = packer.compress(piece)
        if out:
            yield out
    yield packer.flush()


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> tuple[Response, int]:
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status


@bp.errorhandler(StoreError)
def _store_error(exc: StoreError) -> tuple[Response, int]:
    return jsonify({"error": {"code": exc.code, "message": exc.message}}), 400


def note_json(note: Note) -> dict[str, Any]:
    """A note as the API shows it: the export shape plus the id that DELETE takes."""
    return {"id": note.id, **note.to_dict()}


def transcript_json(transcript: Transcript) -> dict[str, Any]:
    """Meta, entries, notes and the markers (SMTP steps and notes) of one transcript."""
    return {
        "transcript": transcript.meta(),
        "entries": transcript.entries,
        "notes": [note_json(n) for n in transcript.notes],
        "markers": [m.to_dict() for m in markers_of(transcript.entries, transcript.notes)],
    }


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ApiError(f"{name} must be a whole number", 400, "bad_request")
    return max(low, min(int(raw), high))


@bp.route("/<path:rest>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def unknown(rest: str) -> Response:
    """Anything else under the prefix (ids with slashes, dot segments...): a JSON 404."""
    raise ApiError("no such transcript", 404, "not_found")


@bp.get("")
def list_transcripts() -> Response:
    """Newest first; ``q`` matches title, target, a reply code or the text of any line."""
    q = request.args.get("q", "").strip()
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 10**9)
    # One more than asked tells whether another page exists.
    found = access.visible_list(store(), q or None, limit + 1, offset)
    more = len(found) > limit
    return jsonify(
        {
            "transcripts": [t.meta() for t in found[:limit]],
            "q": q,
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if more else None,
        }
    )


@bp.get("/<tid>")
def get_transcript(tid: str) -> Response:
    """One transcript; ``?frames=1`` adds the frames the live panels showed for each entry."""
    transcript = load(tid)
    body = transcript_json(transcript)
    body["inbox"] = inbox.messages_of(transcript.entries)
    if transcript.source == "captured":  # recorded by the sandbox (docs/api-captured.md)
        body["captured"] = transcript.captured_summary()
    # Events in words, as every export words them: the replay page shows these, not its own.
    body["event_words"] = {
        str(e["seq"]): describe_event(e) for e in transcript.entries if e["kind"] == "event"
    }
    frames = request.args.get("frames")
    if frames in ("1", "true", "yes"):
        body["frames"] = frames_of(transcript)
    elif frames == "compact":
        body.update(compact_frames(frames_of(transcript)))
    elif frames == "lean":  # what the replay page reads: the live console's lean frames
        body.update(lean_replay(frames_of(transcript)))
    token = edit_token()
    if token is not None:
        body["can_edit"] = store().check_edit_token(tid, token)
    if access.mode() != "none":
        body["access"] = access.describe(transcript)
        # The owner (and admins) edit without a token: the page offers them the editor too.
        body["can_edit"] = body.get("can_edit", False) or body["access"]["can_edit"]
    return json_response(body)


@bp.get("/<tid>/export")
def export_transcript(tid: str) -> Response:
    """The transcript as a file in one of the export formats."""
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(
            f"no export format {fmt!r}; there are {', '.join(FORMATS)}", 400, "bad_format"
        )
    transcript = load(tid)
    # Worded from the guide's replay, the frames the replay page reads as lean keys: a lean
    # frame read back with the knowledge document is this frame (tests/test_lean_frames.py),
    # so encoding and reading back here would only do the same work twice.
    explain = explain_of(frames_of(transcript)) if fmt in ("md", "html") else None
    pieces, mimetype, filename = export_stream(transcript, fmt, explain)
    response = streamed(pieces, mimetype)
    inline = request.args.get("download") == "0"
    response.headers["Content-Disposition"] = (
        f'{"inline" if inline else "attachment"}; filename="{filename}"'
    )
    response.headers["Content-Security-Policy"] = _EXPORT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _upload() -> bytes:
    """The uploaded file's bytes, read no further than the cap allows."""
    cap = int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX))
    length = request.content_length
    if length is not None and length > cap + _MULTIPART_SLACK:
        raise ApiError(
            f"the upload is {length} bytes; at most {cap} are accepted", 400, "too_large"
        )
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError("send the transcript as the form field 'file'", 400, "bad_import")
        data: bytes = upload.stream.read(cap + 1)
    else:
        data = request.stream.read(cap + 1)
    if not data.strip():
        raise ApiError("the upload is empty: send a JSON transcript", 400, "bad_import")
    if len(data) > cap:
        raise ApiError(f"the file is larger than {cap} bytes", 400, "too_large")
    return data


@bp.post("/import")
def import_transcript() -> tuple[Response, int]:
    """Store an uploaded JSON transcript (raw body or form field ``file``) as a new one."""
    data = _upload()
    cap = int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX))
    try:
        checked = import_json(data, cap)
    except TranscriptImportError as exc:
        raise ApiError(exc.message, 400, exc.code) from None
    transcript, token = store().create_from_import(checked, access.user_name())
    body = {
        "id": transcript.id,
        "edit_token": token,
        "url": f"/t/{transcript.id}",
        "transcript": transcript.meta(),
    }
    return jsonify(body), 201


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(body, dict):
        raise ApiError("send a JSON object", 400, "bad_request")
    return body


def _text_field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(f"{name} must be a string or null", 400, "bad_field")
    return value


@bp.patch("/<tid>")
def update_transcript(tid: str) -> Response:
    """Change the title, description and (owner only) visibility; fields left out keep theirs."""
    body = _json_body()
    transcript = require_edit(tid, body)
    if "visibility" in body:
        access.set_visibility(store(), transcript, body["visibility"])
    title = _text_field(body, "title") if "title" in body else transcript.title
    description = (
        _text_field(body, "description") if "description" in body else transcript.description
    )
    store().update_meta(tid, title, description)
    return jsonify({"transcript": load(tid).meta()})


@bp.post("/<tid>/notes")
def add_note(tid: str) -> tuple[Response, int]:
    """Attach a plain-text note to one entry (``seq``) or, with seq null, the whole transcript."""
    body = _json_body()
    transcript = require_edit(tid, body)
    seq, text = body.get("seq"), _text_field(body, "text")
    author = _text_field(body, "author")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        raise ApiError("seq must be an entry's seq or null", 400, "bad_field")
    # The JSON format only allows notes on entries that exist (docs/transcript-format.md).
    if seq is not None and seq not in {e["seq"] for e in transcript.entries}:
        raise ApiError(f"there is no entry {seq} in this transcript", 400, "bad_field")
    if text is None:
        raise ApiError("a note needs text", 400, "bad_field")
    if author is not None and len(author) > MAX_AUTHOR:
        raise ApiError(f"an author is at most {MAX_AUTHOR} characters", 400, "too_long")
    note = store().add_note(tid, seq, text, author)
    return jsonify(note_json(note)), 201


@bp.patch("/<tid>/notes/<int:note_id>")
def update_note(tid: str, note_id: int) -> Response:
    """Change the text of one note."""
    body = _json_body()
    require_edit(tid, body)
    text = _text_field(body, "text")
    if text is None:
        raise ApiError("a note needs text", 400, "bad_field")
    note = store().update_note(tid, note_id, text)
    if note is None:
        raise ApiError(f"no note {note_id} on this transcript", 404, "not_found")
    return jsonify(note_json(note))


@bp.delete("/<tid>/notes/<int:note_id>")
def delete_note(tid: str, note_id: int) -> tuple[str, int]:
    """Delete one note."""
    require_edit(tid, _json_body())
    if not store().delete_note(tid, note_id):
        raise ApiError(f"no note {note_id} on this transcript", 404, "not_found")
    return "", 204


@bp.delete("/<tid>")
def delete_transcript(tid: str) -> tuple[str, int]:
    """Delete a transcript with its entries and notes (not while it is still recording)."""
    transcript = require_edit(tid, _json_body())
    if transcript.status == "live":
        raise ApiError("the session is still recording; close it first", 409, "live")
    store().delete(tid)
    return "", 204
