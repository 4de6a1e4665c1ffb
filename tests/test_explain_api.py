"""POST /api/explain and GET /api/lessons through the real app (docs/api.md is the contract)."""

from __future__ import annotations

import base64
import json

import pytest

from smtp_session.guide.lessons import load_lessons
from smtp_session.knowledge import COMMANDS, ENHANCED_DETAILS, ENHANCED_SUBJECTS, EXTENSIONS
from smtp_session.knowledge.explain import MAX_REQUEST_BYTES
from web.views.api import MAX_EXPLAIN_BODY


def explain(client, body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/explain", json=body)


def test_reply_in_context_is_explained_from_the_knowledge_base(client):
    resp = explain(client, {"reply": "550 5.1.1 <x@y.example>: User unknown", "after": "RCPT"})
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["kind"] == "reply" and data["code"] == 550 and data["class"] == "permanent"
    assert data["context"] == "RCPT"
    assert data["enhanced"]["subject"] == ENHANCED_SUBJECTS[1].title
    assert data["enhanced"]["detail"] == ENHANCED_DETAILS["X.1.1"].title
    assert "enhanced:5.1.1" in data["keys"]


def test_multiline_ehlo_reply_lists_capabilities(client):
    reply = "250-mx.example\r\n250-SIZE 35882577\r\n250-XFROBNICATE\r\n250 AUTH PLAIN LOGIN"
    data = explain(client, {"reply": reply, "after": "EHLO"}).get_json()
    caps = {c["keyword"]: c for c in data["facts"]["capabilities"]}
    assert caps["SIZE"]["title"] == EXTENSIONS["SIZE"].title
    assert caps["SIZE"]["facts"]["limit_bytes"] == 35882577
    assert caps["XFROBNICATE"]["known"] is False
    assert [m["name"] for m in caps["AUTH"]["facts"]["mechanisms"]] == ["PLAIN", "LOGIN"]


def test_auth_challenge_is_decoded(client):
    data = explain(client, {"reply": "334 VXNlcm5hbWU6", "after": "AUTH"}).get_json()
    assert data["code"] == 334 and data["facts"]["challenge"] == "Username:"


def test_reply_without_context_and_null_after(client):
    data = explain(client, {"reply": "221 2.0.0 Bye", "after": None}).get_json()
    assert data["code"] == 221 and data["context"] is None


def test_malformed_reply_is_explained_not_refused(client):
    resp = explain(client, {"reply": "hello there"})
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["summary"] == "Malformed reply" and data["malformed"]


def test_command_with_parameters(client):
    line = "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME"
    data = explain(client, {"command": line}).get_json()
    assert data["kind"] == "command" and data["verb"] == "MAIL"
    assert data["summary"] == COMMANDS["MAIL"].summary
    assert data["address"] == "a@b.example"
    assert {p["name"] for p in data["parameters"]} == {"SIZE", "BODY"}
    assert all(p["known"] for p in data["parameters"])


def test_auth_command_never_decodes_the_initial_response(client):
    secret = base64.b64encode(b"\0demo\0demo-password").decode()
    resp = explain(client, {"command": f"AUTH PLAIN {secret}"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "demo-password" not in body
    assert resp.get_json()["facts"]["initial_response"] is True


def test_unknown_command_is_an_answer(client):
    data = explain(client, {"command": "FROB x"}).get_json()
    assert data["known"] is False and data["verb"] == "FROB"


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "just a string",
        {},
        {"reply": "250 ok", "command": "NOOP"},
        {"reply": 250},
        {"command": ["NOOP"]},
        {"reply": "250 ok", "after": 5},
        {"reply": "250 ok", "after": "R" * 65},
    ],
    ids=[
        "array",
        "string",
        "empty-object",
        "both-fields",
        "reply-not-string",
        "command-not-string",
        "after-not-string",
        "after-too-long",
    ],
)
def test_malformed_requests_are_400_with_error_and_code(client, body):
    resp = explain(client, body)
    assert resp.status_code == 400
    data = resp.get_json()
    assert data["code"] == "bad_explain_request" and data["error"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"\xff\xfe{}", b'{"reply": "250 ok"'],
    ids=["broken-json", "empty-body", "not-utf8", "truncated"],
)
def test_bodies_that_are_not_json_are_400(client, raw):
    resp = client.post("/api/explain", data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "The body must be a JSON object.", "code": "bad_json"}


def test_json_null_is_400(client):
    resp = client.post("/api/explain", data=b"null", content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_explain_request"


def test_text_over_the_bound_is_413(client):
    resp = explain(client, {"command": "NOOP " + "x" * MAX_REQUEST_BYTES})
    assert resp.status_code == 413 and resp.get_json()["code"] == "too_large"


def test_body_over_the_bound_is_refused_unread(client):
    raw = json.dumps({"command": "NOOP", "pad": "x" * MAX_EXPLAIN_BODY}).encode()
    resp = client.post("/api/explain", data=raw, content_type="application/json")
    assert resp.status_code == 413 and resp.get_json()["code"] == "too_large"


def test_get_is_not_allowed(client):
    assert client.get("/api/explain").status_code == 405


def test_lessons_list_every_lesson_in_order_with_steps(client):
    resp = client.get("/api/lessons")
    assert resp.status_code == 200
    data = resp.get_json()
    expected = load_lessons()
    assert [item["id"] for item in data] == [lesson.id for lesson in expected]
    first = data[0]
    assert set(first) >= {"id", "title", "summary", "level", "target", "steps"}
    assert [s["id"] for s in first["steps"]] == [s.id for s in expected[0].steps]
    assert set(first["steps"][0]) >= {"id", "title", "instructions", "hint"}


@pytest.mark.parametrize(
    "command, code",
    [
        pytest.param("MAIL FROM: <a@example.com>", "syntax:space-after-colon", id="space"),
        pytest.param("RCPT TO:bob@example.com", "syntax:missing-brackets", id="brackets"),
        pytest.param("EHOL client.example", "verb:misspelt", id="misspelt"),
    ],
)
def test_a_command_comes_back_with_its_warnings_and_their_fixes(client, command, code):
    from smtp_session.guide.checker import TEXTS

    body = client.post("/api/explain", json={"command": command}).get_json()
    [warning] = [w for w in body["warnings"] if w["code"] == code]
    assert warning["fix"] and warning["rfc"] == TEXTS[code][2]


def test_a_correct_command_has_no_warnings(client):
    body = client.post("/api/explain", json={"command": "MAIL FROM:<a@example.com>"}).get_json()
    assert body["warnings"] == []


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("AUTH", "auth:missing-mechanism"),
        ("EHLO 127.0.0.1", "syntax:address-literal"),
        ("MAIL FROM:<a@b.example> SIZE=big", "param:bad-value"),
        ("RCPT TO:<a@@b.example>", "syntax:two-ats"),
    ],
    ids=["bare-auth", "bare-ip", "bad-size", "two-ats"],
)
def test_api_keeps_the_warnings_a_line_shows_by_itself(client, line, code):
    data = explain(client, {"command": line}).get_json()
    assert code in [w["code"] for w in data["warnings"]]
