"""The transcripts HTTP API and pages against the real store: read, search, export, import, edit.

Sessions are recorded by driving the real console WebSocket against the real sandbox; other
transcripts are written through the real Store. Nothing under test is mocked.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.cram import cram_response
from smtp_session.sandbox.server import DEMO_PASSWORD, DEMO_USER
from transcripts.exports import FORMATS
from transcripts.exports.markdown import inline as escape

XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Api:
    """The transcripts API through Flask's test client, reading like the calls it makes."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, tid: str, **args: str) -> Any:
        return self.client.get(f"/api/transcripts/{tid}", query_string=args)

    def search(self, q: str, **args: Any) -> list[str]:
        found = self.client.get("/api/transcripts", query_string={"q": q, **args}).get_json()
        return [t["id"] for t in found["transcripts"]]

    def export(self, tid: str, fmt: str) -> Any:
        return self.client.get(f"/api/transcripts/{tid}/export", query_string={"format": fmt})

    def note(self, tid: str, token: str, seq: int | None, text: str) -> Any:
        body = {"seq": seq, "text": text}
        return self.client.post(
            f"/api/transcripts/{tid}/notes", json=body, headers={"X-Edit-Token": token}
        )

    def import_(self, data: bytes) -> Any:
        return self.client.post(
            "/api/transcripts/import", data=data, content_type="application/json"
        )


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


@pytest.fixture
def store(app: Any) -> Any:
    return app.extensions["playground"].store


def session_id(ws: Any) -> tuple[str, str]:
    frame = next(f for f in reversed(ws.frames) if f["type"] == "session")
    return frame["transcript"], frame["edit_token"]


@pytest.fixture
def recorded(ws: Any) -> tuple[str, str]:
    """A whole classic transaction recorded over the console WebSocket: (id, edit token)."""
    ws.connect()
    ws.ehlo()
    reply = ws.send_message(
        "alice@example.com", ["bob@example.com"], ["Subject: Test", "", "Hello Bob."]
    )
    assert reply["code"] == 250
    ws.command("QUIT")
    ws.wait_for("closed")
    return session_id(ws)


def add(store: Any, title: str, target: str, exchange: list[tuple[str, int | None]]) -> str:
    """A closed transcript written through the real Store: (sent line, reply code) pairs."""
    transcript, _token = store.create(target=target, title=title)
    seq = 0
    for line, code in exchange:
        store.append(
            transcript.id,
            {"seq": seq, "t": seq * 10, "kind": "sent", "text": line, "line_kind": "command"},
        )
        if code is not None:
            text = f"{code} {'greylisted, try later' if code == 451 else 'ok'}"
            reply = {"seq": seq + 1, "t": seq * 10 + 5, "kind": "reply", "code": code}
            store.append(transcript.id, {**reply, "lines": [text], "after": line.split()[0]})
        seq += 2
    store.close(transcript.id, "QUIT")
    return str(transcript.id)


# -- reading and searching ---------------------------------------------------------------


@pytest.fixture
def library(store: Any) -> dict[str, str]:
    return {
        "grey": add(store, "Greylisting at example.org", "mx.example.org:25", [("MAIL", 451)]),
        "reject": add(store, "Unknown user", "mail.example.net:25", [("RCPT", 550)]),
        "tls": add(store, "Plain", "smtp.example.com:587", [("STARTTLS", 220)]),
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("greylisting", {"grey"}),
        ("example.net", {"reject"}),
        ("550", {"reject"}),
        ("451", {"grey"}),
        ("try later", {"grey"}),
        ("starttls", {"tls"}),
        ("example", {"grey", "reject", "tls"}),
        ("no such words", set()),
        ("100%_", set()),
    ],
    ids=["title", "target", "code-550", "code-451", "reply-text", "sent-text", "many", "none",
         "wildcards"],
)  # fmt: skip
def test_search_matches_title_target_code_and_text(
    api: Api, library: dict[str, str], q: str, expected: set[str]
) -> None:
    names = {library[name]: name for name in library}
    assert {names[tid] for tid in api.search(q)} == expected


def test_list_pages_newest_first(api: Api, library: dict[str, str]) -> None:
    first = api.client.get("/api/transcripts?limit=2").get_json()
    assert [t["id"] for t in first["transcripts"]] == [library["tls"], library["reject"]]
    assert first["next_offset"] == 2
    rest = api.client.get("/api/transcripts?limit=2&offset=2").get_json()
    assert [t["id"] for t in rest["transcripts"]] == [library["grey"]]
    assert rest["next_offset"] is None
    row = rest["transcripts"][0]
    assert (row["title"], row["status"], row["entry_count"], row["last_code"]) == (
        "Greylisting at example.org", "closed", 2, 451,
    )  # fmt: skip
    assert api.client.get("/api/transcripts?limit=x").status_code == 400


def test_get_has_meta_entries_notes_and_replay_frames(api: Api, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    note = api.note(tid, token, 1, "The banner names the host.").get_json()
    body = api.get(tid).get_json()
    assert body["transcript"]["status"] == "closed" and body["transcript"]["id"] == tid
    assert [e["seq"] for e in body["entries"]] == list(range(len(body["entries"])))
    assert body["notes"] == [{**note, "seq": 1, "text": "The banner names the host."}]
    assert "frames" not in body and "can_edit" not in body
    frames = api.get(tid, frames="1").get_json()["frames"]
    assert [f["seq"] for f in frames] == [e["seq"] for e in body["entries"]]
    ehlo = next(f for f in frames if f["type"] == "sent" and f["text"].startswith("EHLO"))
    assert ehlo["explain"]["verb"] == "EHLO" and ehlo["explain"]["summary"]
    greeting = next(f for f in frames if f["type"] == "reply")
    assert greeting["code"] == 220 and greeting["explain"]["context"] == "greeting"
    assert api.get(tid, edit=token).get_json()["can_edit"] is True
    assert api.get(tid, edit="wrong").get_json()["can_edit"] is False


def test_whole_transcript_notes_are_added_edited_deleted_and_exported(
    api: Api, recorded: tuple[str, str]
) -> None:
    tid, token = recorded
    headers = {"X-Edit-Token": token}
    made = api.note(tid, token, None, "Read this before the EHLO.")
    assert made.status_code == 201 and made.get_json()["seq"] is None
    note_id = made.get_json()["id"]
    path = f"/api/transcripts/{tid}/notes/{note_id}"
    edited = api.client.patch(path, json={"text": "Read this first."}, headers=headers)
    assert edited.status_code == 200
    assert edited.get_json() == {**made.get_json(), "text": "Read this first."}
    assert [n["text"] for n in api.get(tid).get_json()["notes"]] == ["Read this first."]
    for fmt in ("txt", "md", "html", "cast", "json"):
        assert "Read this first." in api.export(tid, fmt).get_data(as_text=True), fmt
    empty = api.client.patch(path, json={"text": "  "}, headers=headers)
    assert empty.status_code == 400 and empty.get_json()["error"]["code"] == "too_long"
    missing = api.client.patch(f"{path}0", json={"text": "x"}, headers=headers)
    assert missing.status_code == 404
    assert api.client.delete(path, headers=headers).status_code == 204
    assert api.get(tid).get_json()["notes"] == []


def test_markers_name_each_step(api: Api, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    body = api.get(tid).get_json()
    kinds = [(m["kind"], m["label"]) for m in body["markers"]]
    assert kinds == [
        ("greeting", "Greeting"),
        ("ehlo", "EHLO"),
        ("mail", "Message 1"),
        ("quit", "QUIT"),
    ]
    by_seq = {e["seq"]: e for e in body["entries"]}
    assert all(by_seq[m["seq"]]["t"] == m["t"] for m in body["markers"])
    assert by_seq[body["markers"][2]["seq"]]["text"].startswith("MAIL FROM:")
    note = api.note(tid, token, body["markers"][3]["seq"], "Polite goodbye").get_json()
    markers = api.get(tid).get_json()["markers"]
    assert markers[-1] == {
        "seq": note["seq"], "t": by_seq[note["seq"]]["t"], "kind": "note",
        "label": "Note: Polite goodbye",
    }  # fmt: skip


def test_markers_of_an_implicit_tls_session(api: Api, ws: Any) -> None:
    ws.connect("sandbox-tls")
    ws.ehlo()
    ws.command("QUIT")
    ws.wait_for("closed")
    tid = session_id(ws)[0]
    markers = [(m["kind"], m["label"]) for m in api.get(tid).get_json()["markers"]]
    # The handshake comes before the greeting on this port (RFC 8314 §3.3).
    assert markers == [
        ("tls", "TLS (implicit)"), ("greeting", "Greeting"), ("ehlo", "EHLO"), ("quit", "QUIT"),
    ]  # fmt: skip


UNKNOWN = ["nope", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "a" * 32, "x%00y", "import%2F..", "a" * 300]


@pytest.mark.parametrize(
    "tid", UNKNOWN, ids=["word", "dotdot", "dots", "random", "nul", "slash", "long"]
)
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/export?format=json"), ("PATCH", ""), ("POST", "/notes"),
     ("PATCH", "/notes/1"), ("DELETE", "/notes/1"), ("DELETE", "")],
    ids=["get", "export", "patch", "note", "edit-note", "delete-note", "delete"],
)  # fmt: skip
def test_unknown_ids_are_404_json(client: Any, tid: str, method: str, suffix: str) -> None:
    response = client.open(f"/api/transcripts/{tid}{suffix}", method=method, json={})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/t/{}", "/t/{}/embed"], ids=["replay", "embed"])
def test_pages_of_unknown_ids_are_404(client: Any, path: str) -> None:
    assert client.get(path.format("no-such-transcript")).status_code == 404


# -- exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
def test_every_export_has_its_mimetype_and_a_download_name(
    api: Api, recorded: tuple[str, str], fmt: str
) -> None:
    response = api.export(recorded[0], fmt)
    _render, mimetype, ext = FORMATS[fmt]
    assert response.status_code == 200
    assert response.headers["Content-Type"] == mimetype
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="smtp-[a-z0-9-]+-[\w-]{{8}}\.{ext}"', disposition)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "fmt", ["zip", "", "JSON", "../json"], ids=["zip", "empty", "case", "path"]
)
def test_unknown_export_format_is_400(api: Api, recorded: tuple[str, str], fmt: str) -> None:
    response = api.export(recorded[0], fmt)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_format"


def test_json_export_round_trips_through_import(api: Api, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    api.note(tid, token, 3, "EHLO lists the extensions.")
    api.note(tid, token, None, "A whole transaction.")
    exported = api.export(tid, "json").data
    made = api.import_(exported)
    assert made.status_code == 201, made.get_json()
    new = made.get_json()
    assert new["id"] != tid and new["url"] == f"/t/{new['id']}"
    before, after = api.get(tid).get_json(), api.get(new["id"]).get_json()
    assert after["entries"] == before["entries"]
    strip = [{k: v for k, v in n.items() if k != "id"} for n in before["notes"]]
    assert [{k: v for k, v in n.items() if k != "id"} for n in after["notes"]] == strip
    assert after["transcript"]["target"] == before["transcript"]["target"]
    assert after["transcript"]["status"] == "closed"
    # The import's own token edits it; the original's does not.
    assert api.note(new["id"], new["edit_token"], None, "mine").status_code == 201
    assert api.note(new["id"], token, None, "not mine").status_code == 403


def test_asciicast_is_a_header_then_timed_events(api: Api, recorded: tuple[str, str]) -> None:
    header, *events = api.export(recorded[0], "cast").data.decode().splitlines()
    meta = json.loads(header)
    assert meta["version"] == 2 and meta["width"] >= 80 and meta["height"] > 0
    parsed = [json.loads(line) for line in events]
    body = api.get(recorded[0]).get_json()
    output = [event for event in parsed if event[1] == "o"]
    assert len(output) == len(body["entries"])
    times = [event[0] for event in parsed]
    assert times == sorted(times) and {event[1] for event in parsed} == {"o", "m"}
    assert [e[2] for e in parsed if e[1] == "m"] == [m["label"] for m in body["markers"]]
    assert any("EHLO client.example" in event[2] for event in output)


def test_markdown_has_the_explanations_and_notes(api: Api, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    api.note(tid, token, 1, "Note on the greeting")
    text = api.export(tid, "md").data.decode()
    frames = api.get(tid, frames="1").get_json()["frames"]
    summaries = {f["explain"]["summary"] for f in frames if isinstance(f.get("explain"), dict)}
    assert "Service ready" in summaries
    for summary in summaries:
        assert escape(summary) in text
    assert "Note on the greeting" in text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "srcset")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_export_runs_and_loads_nothing(api: Api, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    api.client.patch(
        f"/api/transcripts/{tid}", json={"title": XSS}, headers={"X-Edit-Token": token}
    )
    api.note(tid, token, 2, XSS)
    response = api.export(tid, "html")
    page = response.data.decode()
    parsed = _Tags()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert parsed.urls == []
    assert not re.search(r"url\(|@import|https?://", page, re.IGNORECASE)
    assert XSS in "".join(parsed.text)  # shown as text, twice (title and note)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


# -- import ------------------------------------------------------------------------------

BAD_IMPORTS = {
    "not-json": b"{nope",
    "array": b"[]",
    "wrong-format": json.dumps({"format": "other", "version": 1}).encode(),
    "unknown-field": json.dumps(
        {
            "format": "smtp-playground-transcript",
            "version": 1,
            "transcript": {"target": "x"},
            "entries": [],
            "extra": 1,
        }
    ).encode(),  # fmt: skip
    "bad-entry": json.dumps(
        {
            "format": "smtp-playground-transcript",
            "version": 1,
            "transcript": {"target": "x"},
            "entries": [{"seq": -1, "t": 0, "kind": "sent"}],
        }
    ).encode(),  # fmt: skip
    "not-utf8": b"\xff\xfe{}",
    "empty": b"",
}


@pytest.mark.parametrize("data", list(BAD_IMPORTS.values()), ids=list(BAD_IMPORTS))
def test_malformed_imports_are_refused_with_a_message(api: Api, data: bytes) -> None:
    response = api.import_(data)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_import" and len(error["message"]) > 10
    assert api.search("") == []


def test_oversized_import_is_refused(app: Any, api: Api, recorded: tuple[str, str]) -> None:
    exported = api.export(recorded[0], "json").data
    app.config["IMPORT_MAX_BYTES"] = len(exported) - 1
    response = api.import_(exported)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "too_large"
    app.config["IMPORT_MAX_BYTES"] = len(exported)
    assert api.import_(exported).status_code == 201


def test_import_as_a_form_upload(api: Api, recorded: tuple[str, str], tmp_path: Path) -> None:
    import io

    exported = api.export(recorded[0], "json").data
    data = {"file": (io.BytesIO(exported), "session.json")}
    response = api.client.post("/api/transcripts/import", data=data)
    assert response.status_code == 201
    assert api.get(response.get_json()["id"]).get_json()["entries"]


# -- editing needs the edit token ---------------------------------------------------------


def _edits(tid: str) -> list[tuple[str, str, dict[str, Any], int]]:
    return [
        ("PATCH", f"/api/transcripts/{tid}", {"title": "New"}, 200),
        ("POST", f"/api/transcripts/{tid}/notes", {"seq": 1, "text": "hi"}, 201),
        ("PATCH", f"/api/transcripts/{tid}/notes/{{note}}", {"text": "changed"}, 200),
        ("DELETE", f"/api/transcripts/{tid}/notes/{{note}}", {}, 204),
        ("DELETE", f"/api/transcripts/{tid}", {}, 204),
    ]


EDIT_IDS = ["patch", "add-note", "edit-note", "delete-note", "delete"]


@pytest.mark.parametrize("which", range(len(EDIT_IDS)), ids=EDIT_IDS)
@pytest.mark.parametrize(
    "given", [None, "", "wrong", "TOKEN-PREFIX"], ids=["none", "empty", "wrong", "prefix"]
)
def test_edits_without_the_token_are_403(
    api: Api, recorded: tuple[str, str], which: int, given: str | None
) -> None:
    tid, token = recorded
    note = api.note(tid, token, 1, "keep me").get_json()
    method, path, body, _ok = _edits(tid)[which]
    headers = (
        {} if given is None else {"X-Edit-Token": token[:10] if given == "TOKEN-PREFIX" else given}
    )
    response = api.client.open(
        path.format(note=note["id"]), method=method, json=body, headers=headers
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    after = api.get(tid).get_json()
    assert after["transcript"]["title"] is None and [n["text"] for n in after["notes"]] == [
        "keep me"
    ]


@pytest.mark.parametrize("which", range(len(EDIT_IDS)), ids=EDIT_IDS)
@pytest.mark.parametrize("where", ["header", "query", "json"])
def test_edits_with_the_token_succeed(
    api: Api, recorded: tuple[str, str], which: int, where: str
) -> None:
    tid, token = recorded
    note = api.note(tid, token, 1, "first").get_json()
    method, path, body, ok = _edits(tid)[which]
    path = path.format(note=note["id"])
    headers = {"X-Edit-Token": token} if where == "header" else {}
    query = {"edit": token} if where == "query" else {}
    body = {**body, "edit_token": token} if where == "json" else body
    response = api.client.open(path, method=method, json=body, headers=headers, query_string=query)
    assert response.status_code == ok, response.get_data(as_text=True)
    status = api.get(tid).status_code
    assert status == (404 if EDIT_IDS[which] == "delete" else 200)


def test_xss_titles_and_notes_come_back_as_data(api: Api, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    headers = {"X-Edit-Token": token}
    patched = api.client.patch(
        f"/api/transcripts/{tid}", json={"title": XSS, "description": XSS}, headers=headers
    )
    assert patched.get_json()["transcript"]["title"] == XSS
    assert api.note(tid, token, 0, XSS).status_code == 201
    body = api.get(tid).get_json()
    assert body["transcript"]["description"] == XSS and body["notes"][0]["text"] == XSS
    for page in (f"/t/{tid}", f"/t/{tid}/embed", "/transcripts", f"/transcripts?q={XSS[:8]}"):
        html = api.client.get(page).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;img src=x onerror=" in html, page


@pytest.mark.parametrize(
    ("body", "code"),
    [({"seq": 999, "text": "x"}, "bad_field"), ({"seq": "1", "text": "x"}, "bad_field"),
     ({"seq": 1}, "bad_field"), ({"seq": 1, "text": "   "}, "too_long"),
     ({"seq": 1, "text": "x" * 4001}, "too_long"),
     ({"seq": 1, "text": "x", "author": "a" * 101}, "too_long"),
     ({"seq": True, "text": "x"}, "bad_field")],
    ids=["no-such-line", "seq-string", "no-text", "blank", "long", "long-author", "seq-bool"],
)  # fmt: skip
def test_bad_notes_are_400(api: Api, recorded: tuple[str, str], body: dict, code: str) -> None:
    tid, token = recorded
    response = api.client.post(
        f"/api/transcripts/{tid}/notes", json=body, headers={"X-Edit-Token": token}
    )
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code
    assert api.get(tid).get_json()["notes"] == []


def test_patch_keeps_fields_left_out_and_refuses_long_titles(
    api: Api, recorded: tuple[str, str]
) -> None:
    tid, token = recorded
    url, headers = f"/api/transcripts/{tid}", {"X-Edit-Token": token}
    api.client.patch(url, json={"title": "T", "description": "D"}, headers=headers)
    api.client.patch(url, json={"title": "T2"}, headers=headers)
    meta = api.get(tid).get_json()["transcript"]
    assert (meta["title"], meta["description"]) == ("T2", "D")
    assert api.client.patch(url, json={"title": "x" * 201}, headers=headers).status_code == 400
    assert api.client.patch(url, json={"title": 5}, headers=headers).status_code == 400
    assert api.get(tid).get_json()["transcript"]["title"] == "T2"


def test_a_session_still_recording_is_not_deleted(api: Api, ws: Any) -> None:
    ws.connect()
    tid, token = session_id(ws)
    response = api.client.delete(f"/api/transcripts/{tid}", headers={"X-Edit-Token": token})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "live"
    assert api.get(tid).get_json()["transcript"]["status"] == "live"


def test_only_the_embed_may_be_framed(client: Any, recorded: tuple[str, str]) -> None:
    tid = recorded[0]
    embed = client.get(f"/t/{tid}/embed")
    assert embed.status_code == 200 and "X-Frame-Options" not in embed.headers
    assert "frame-ancestors 'none'" not in embed.headers.get("Content-Security-Policy", "")
    for page in (f"/t/{tid}", "/transcripts"):
        assert client.get(page).headers["X-Frame-Options"] == "DENY", page
    assert client.get(f"/t/{tid}").headers["Referrer-Policy"] == "no-referrer"


# -- credentials never stored, exported or logged -------------------------------------------


PLAIN = b64(f"\0{DEMO_USER}\0{DEMO_PASSWORD}")


def _login(ws: Any, mechanism: str) -> None:
    """One session: STARTTLS, EHLO again, log in with ``mechanism``, QUIT."""
    ws.connect()
    ws.ehlo()
    assert ws.command("STARTTLS")["code"] == 220
    ws.wait_for("tls")
    ws.ehlo()
    if mechanism == "PLAIN":
        reply = ws.command(f"AUTH PLAIN {PLAIN}")
    elif mechanism == "LOGIN":
        assert ws.command("AUTH LOGIN")["code"] == 334
        assert ws.command(b64(DEMO_USER))["code"] == 334
        reply = ws.command(b64(DEMO_PASSWORD))
    else:
        challenge = ws.command("AUTH CRAM-MD5")["lines"][0][4:]
        answer = cram_response(DEMO_USER, DEMO_PASSWORD, base64.b64decode(challenge).decode())
        reply = ws.command(b64(answer))
    assert reply["code"] == 235, reply
    ws.command("QUIT")
    ws.wait_for("closed")


def test_no_password_in_the_database_exports_or_logs(
    app: Any, api: Api, ws: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ids = []
    for mechanism in ("PLAIN", "LOGIN", "CRAM-MD5"):
        _login(ws, mechanism)
        ids.append(session_id(ws)[0])
    secrets = [DEMO_PASSWORD, b64(DEMO_PASSWORD), PLAIN]
    secrets += [s.encode().hex() for s in secrets[:1]]
    haystacks = {"logs": caplog.text}
    for tid in ids:
        haystacks[f"{tid} api"] = api.get(tid, frames="1").get_data(as_text=True)
        for fmt in FORMATS:
            haystacks[f"{tid} {fmt}"] = api.export(tid, fmt).data.decode()
    data_dir = Path(app.config["DATA_DIR"])
    # The database, its WAL and shared memory, and the journal of entries not yet committed.
    files = [*data_dir.glob("playground.db*"), *data_dir.glob("journal/*")]
    assert any(p.parent.name == "journal" for p in files)
    for path in files:
        haystacks[path.name] = path.read_bytes().decode("latin-1")
    assert len(haystacks) >= 3 + 3 * (len(FORMATS) + 1)
    markers = "".join(haystacks[f"{tid} txt"] for tid in ids)
    assert "redacted" in markers and "CRAM-MD5 response" in markers
    for name, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {name}"


def test_large_json_answers_are_gzipped_for_clients_that_accept_it(client):
    import gzip
    import json as _json

    store = client.application.extensions["playground"].store
    transcript, _token = store.create(target="sandbox (127.0.0.1:2525)")
    for seq in range(400):
        store.append(
            transcript.id,
            {"seq": seq, "t": seq, "kind": "sent", "text": "NOOP", "line_kind": "command"},
        )
    plain = client.get(f"/api/transcripts/{transcript.id}?frames=1")
    packed = client.get(
        f"/api/transcripts/{transcript.id}?frames=1", headers={"Accept-Encoding": "gzip"}
    )
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.data) * 5 < len(plain.data)
    assert _json.loads(gzip.decompress(packed.data)) == plain.get_json()


def test_compact_frames_carry_the_same_explanations_in_less_space(client):
    store = client.application.extensions["playground"].store
    transcript, _token = store.create(target="sandbox (127.0.0.1:2525)")
    store.append(
        transcript.id,
        {
            "seq": 0,
            "t": 0,
            "kind": "reply",
            "code": 220,
            "lines": ["220 hi ESMTP"],
            "after": "greeting",
        },
    )
    for seq in range(1, 201):
        entry = (
            {"seq": seq, "t": seq, "kind": "sent", "text": "NOOP", "line_kind": "command"}
            if seq % 2
            else {
                "seq": seq,
                "t": seq,
                "kind": "reply",
                "code": 250,
                "lines": ["250 2.0.0 Ok"],
                "after": "NOOP",
            }
        )
        store.append(transcript.id, entry)
    full = client.get(f"/api/transcripts/{transcript.id}?frames=1").get_json()["frames"]
    compact = client.get(f"/api/transcripts/{transcript.id}?frames=compact").get_json()
    assert len(compact["explanations"]) < 5 < len(full)
    state = None
    for whole, slim in zip(full, compact["frames"], strict=True):
        if "explain_ref" in slim:
            assert compact["explanations"][slim["explain_ref"]] == whole["explain"]
        state = slim.get("state", state)
        if "state" in whole:
            assert state == whole["state"]


def test_every_page_has_each_site_link_once_and_marks_where_you_are(
    client: Any, recorded: tuple[str, str]
) -> None:
    tid, _token = recorded
    pages = {"/": "Console", "/transcripts": "Transcripts", "/sandbox": "Sandbox inbox",
             f"/t/{tid}": None}  # fmt: skip
    for path, current in pages.items():
        html = client.get(path).get_data(as_text=True)
        nav = html[html.index("<nav>") : html.index("</nav>")]
        for label in ("Console", "Transcripts", "Sandbox inbox"):
            assert nav.count(f">{label}</a>") == 1, (path, label)
        marked = re.findall(r'aria-current="page">([^<]+)<', nav)
        assert marked == ([current] if current else []), path
