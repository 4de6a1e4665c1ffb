"""What the guide attaches to live frames: explanations, state, warnings, lessons, redaction."""

from __future__ import annotations

import pytest

from smtp_session.guide.lessons import load_lessons
from smtp_session.knowledge import ENHANCED_DETAILS, ENHANCED_SUBJECTS, REPLY_CODES


def test_reply_frames_carry_the_explanation_and_the_server_side_step(ws):
    greeting = ws.connect()
    assert greeting["explain"]["summary"] == REPLY_CODES[220].summary
    assert greeting["state"]["step"] == "greeting"
    ehlo = ws.ehlo()
    assert ehlo["state"]["step"] == "ehlo"
    assert "SIZE" in ehlo["state"]["capabilities"]
    keywords = [c["keyword"] for c in ehlo["explain"]["facts"]["capabilities"]]
    assert "8BITMIME" in keywords and "STARTTLS" in keywords
    ws.command("MAIL FROM:<alice@example.com>")
    rcpt = ws.command("RCPT TO:<unknown@sandbox.test>")
    enhanced = rcpt["explain"]["enhanced"]
    assert enhanced["subject"] == ENHANCED_SUBJECTS[1].title
    assert enhanced["detail"] == ENHANCED_DETAILS["X.1.1"].title
    # A rejected recipient is not a recipient: the state still waits for one.
    assert rcpt["state"]["accepted_recipients"] == []
    assert rcpt["state"]["rejected_recipients"][0]["code"] == 550


def test_state_follows_replies_not_what_was_typed(ws):
    ws.connect()
    ws.ehlo()
    ws.command("MAIL FROM:<a@example.com>")
    ws.command("RCPT TO:<b@example.com>")
    reset = ws.command("RSET")
    assert reset["state"]["mail_from"] is None and reset["state"]["accepted_recipients"] == []
    # A second message on the same connection after RSET.
    final = ws.send_message("a@example.com", ["b@example.com"], ["Subject: 2", "", "x"])
    assert final["state"]["messages_sent"] == 1


def test_rcpt_out_of_sequence_is_not_a_refused_recipient(ws):
    ws.connect()
    ws.ehlo()
    ws.command("MAIL FROM:<a@example.com>")
    ws.command("RSET")
    out_of_order = ws.command("RCPT TO:<b@example.com>")
    assert out_of_order["code"] == 503
    # RFC 5321 §4.1.4: a bad-sequence 503 never judged the recipient.
    assert out_of_order["state"]["rejected_recipients"] == []
    assert out_of_order["state"]["accepted_recipients"] == []
    ws.command("MAIL FROM:<a@example.com>")
    refused = ws.command("RCPT TO:<unknown@sandbox.test>")
    assert refused["code"] == 550
    rejected = refused["state"]["rejected_recipients"]
    assert [(r["address"], r["code"]) for r in rejected] == [("unknown@sandbox.test", 550)]


@pytest.mark.parametrize(
    "line, code",
    [
        pytest.param("RCPT TO:<b@example.com>", "order:rcpt-before-mail", id="rcpt-before-mail"),
        pytest.param("EHOL client.example", "verb:misspelt", id="misspelt-verb"),
        pytest.param("MAIL FROM: <a@example.com>", "syntax:space-after-colon", id="space"),
    ],
)
def test_sent_frames_carry_warnings_that_never_block(ws, line, code):
    ws.connect()
    ws.ehlo()
    ws.send({"type": "line", "text": line})
    sent = ws.wait_for("sent")
    assert code in [w["code"] for w in sent["warnings"]]
    assert all(w["fix"] for w in sent["warnings"])
    assert ws.wait_for("reply")  # the line was sent all the same


def test_first_lesson_progresses_on_real_replies(ws):
    lesson = {lesson.id: lesson for lesson in load_lessons()}["first-email"]
    ws.send({"type": "lesson", "lesson": "first-email"})
    started = ws.wait_for("lesson")
    assert [s["status"] for s in started["lesson"]["steps"]][0] == "current"
    ws.send({"type": "connect", "target": "sandbox"})
    passed: list[str] = []
    for step in lesson.steps:
        if step.id == "connect":
            pass
        elif step.id == "message":
            ws.send({"type": "lines", "lines": ["Subject: hi", "", "Hello.", "."]})
        else:
            ws.send({"type": "line", "text": step.hint})
        frame = ws.wait_for("lesson")
        while not frame["passed"]:  # the frame sent on connect passes nothing by itself
            frame = ws.wait_for("lesson")
        passed += frame["passed"]
    assert passed == [s.id for s in lesson.steps]
    assert frame["complete"] is True


def test_unknown_lesson_is_refused(ws):
    ws.send({"type": "lesson", "lesson": "no-such-lesson"})
    error = ws.wait_for("error")
    assert error["code"] == "bad_lesson" and "first-email" in error["message"]


def test_auth_answers_are_redacted_in_frames_but_the_typist_sees_them(ws):
    ws.connect()
    ws.ehlo()
    ws.command("STARTTLS")
    ws.wait_for("tls")
    ws.ehlo()
    ws.send({"type": "lines", "lines": ["AUTH LOGIN", "ZGVtbw==", "ZGVtby1wYXNzd29yZA=="]})
    ok = None
    while ok is None or ok["after"] != "auth-response" or ok["code"] != 235:
        ok = ws.wait_for("reply")
    sent = [f for f in ws.frames if f["type"] == "sent"]
    password = [f for f in sent if f.get("original") == "ZGVtby1wYXNzd29yZA=="]
    assert password and "ZGVtby1wYXNzd29yZA==" not in password[0]["text"]
    assert password[0]["redacted"] is True


def test_every_line_is_shown_before_the_reply_it_caused(ws):
    ws.connect()
    ws.send({"type": "lines", "lines": ["NOOP"] * 40})
    for _ in range(40):
        ws.wait_for("reply", after="NOOP")
    order = [f["type"] for f in ws.frames if f["type"] in ("sent", "reply")]
    sent_so_far = 0
    for kind in order[1:]:  # after the greeting
        if kind == "sent":
            sent_so_far += 1
        else:
            assert sent_so_far > 0, "a reply arrived before the line it answers"
            sent_so_far -= 1
    seqs = [f["seq"] for f in ws.frames if "seq" in f]
    assert seqs == sorted(seqs)


def test_a_pasted_message_is_recorded_line_by_line(ws, app):
    ws.connect()
    ws.ehlo()
    body = ["Subject: many"] + [""] + [f"line {i}" for i in range(1000)]
    final = ws.send_message("a@example.com", ["b@example.com"], body)
    assert final["code"] == 250
    transcript = app.extensions["playground"].store.get(ws.frames[0]["transcript"])
    texts = [e["text"] for e in transcript.entries if e.get("line_kind") == "data"]
    assert texts == [*body, "."]
    seqs = [e["seq"] for e in transcript.entries]
    assert seqs == list(range(len(seqs)))


def test_an_accented_address_to_a_server_without_smtputf8_is_warned_and_explained(ws, client):
    ws.connect()
    ehlo = ws.ehlo()
    assert "SMTPUTF8" not in ehlo["state"]["capabilities"]  # the sandbox reads ASCII only
    ws.send({"type": "line", "text": "MAIL FROM:<jos\u00e9@client.example>"})
    sent = ws.wait_for("sent")
    assert [w["code"] for w in sent["warnings"]] == ["client:utf8-without-smtputf8"]
    reply = ws.wait_for("reply")
    assert reply["code"] == 500
    used = [e for e in reply["explain"]["evidence"] if e["used"]]
    assert [e["key"] for e in used] == ["server:aiosmtpd-strict-ascii"]
    assert "ASCII only" in reply["explain"]["meaning"]
    ws.command("QUIT")
    ws.wait_for("closed")
    # The replay says it once, as the console did.
    tid = ws.frames[0]["transcript"]
    frames = client.get(f"/api/transcripts/{tid}?frames=1").get_json()["frames"]
    [mail] = [f for f in frames if f["type"] == "sent" and f["text"].startswith("MAIL")]
    assert [w["code"] for w in mail["warnings"]] == ["client:utf8-without-smtputf8"]
