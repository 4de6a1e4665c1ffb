"""The sandbox inbox over HTTP, with mail delivered to the real sandbox by smtplib and by the
console WebSocket: decoded headers, text/HTML bodies, the MIME tree and its attachments,
search, the ETag for live updates, delete, and the links to and from the transcript."""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import unquote

import pytest

from smtp_session.sandbox.mime import safe_filename
from tests.test_accounts import Auth, make_app, page_token

HOSTILE_NAME = "../../etc/\u202epasswd\x07.txt"
HTML = (
    '<p style="color:red">Hello <b>Bob</b></p><img src="http://127.0.0.1:9/pixel.png">'
    "<script>document.title = 'ran'</script>"
)


def rich_message(subject: str = "Caf\u00e9 r\u00e9sum\u00e9 \u2014 notes") -> EmailMessage:
    """Text and HTML alternatives, a PDF and a file whose name tries to climb folders."""
    msg = EmailMessage()
    msg["From"] = formataddr(("Ren\u00e9e Dupr\u00e9", "renee@example.com"))
    msg["To"] = formataddr(("Bj\u00f6rn", "bjorn@example.net"))
    msg["Subject"] = subject  # policy.default writes it as RFC 2047 encoded words
    msg.set_content("Hello Bj\u00f6rn,\nthe minutes are attached.\n")
    msg.add_alternative(HTML, subtype="html")
    msg.add_attachment(b"%PDF-1.4 minutes", maintype="application", subtype="pdf",
                       filename="minutes.pdf")  # fmt: skip
    msg.add_attachment(b"not a password file", maintype="text", subtype="plain",
                       filename=HOSTILE_NAME)  # fmt: skip
    return msg


def deliver(port: int, msg: EmailMessage) -> str:
    """Send through the real sandbox; returns the queue id its 250 named."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail(parseaddr(msg["From"])[1])
        smtp.rcpt(parseaddr(msg["To"])[1])
        code, answer = smtp.data(msg.as_bytes(policy=policy.SMTP))  # CRLF line ends
    assert code == 250
    return answer.decode().rsplit(" ", 1)[-1]


def test_headers_are_decoded_and_bodies_split(client: Any, sandbox: Any) -> None:
    raw = rich_message().as_bytes(policy=policy.SMTP)
    assert b"=?utf-8?" in raw  # the wire form really is encoded
    mid = deliver(sandbox.config.port, rich_message())
    [listed] = client.get("/api/sandbox/messages").get_json()
    assert listed["id"] == mid and listed["subject"] == "Caf\u00e9 r\u00e9sum\u00e9 \u2014 notes"
    assert listed["from_header"] == "Ren\u00e9e Dupr\u00e9 <renee@example.com>"
    assert listed["to_header"] == "Bj\u00f6rn <bjorn@example.net>" and listed["attachments"] == 2
    body = client.get(f"/api/sandbox/messages/{mid}").get_json()
    headers = {h["name"]: h["value"] for h in body["headers"]}
    assert headers["Subject"] == listed["subject"] and headers["From"] == listed["from_header"]
    assert body["text"] == "Hello Bj\u00f6rn,\nthe minutes are attached.\n"
    assert body["has_html"] is True
    tree = body["parts"]
    assert tree["content_type"] == "multipart/mixed"
    kinds = [(c["id"], c["content_type"], c["attachment"]) for c in tree["children"]]
    assert kinds == [
        ("1.1", "multipart/alternative", False),
        ("1.2", "application/pdf", True),
        ("1.3", "text/plain", True),
    ]
    page = client.get(f"/sandbox/{mid}").get_data(as_text=True)
    assert "Ren\u00e9e Dupr\u00e9" in page and "=?utf-8?" not in page.split('id="raw"')[0]


def test_html_is_served_with_remote_content_blocked(client: Any, sandbox: Any) -> None:
    mid = deliver(sandbox.config.port, rich_message())
    response = client.get(f"/api/sandbox/messages/{mid}/html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'")
    assert "script-src" not in csp  # default-src 'none' forbids every script
    assert "pixel.png" in response.get_data(as_text=True)  # shown as sent; the CSP blocks it
    page = client.get(f"/sandbox/{mid}").get_data(as_text=True)
    assert 'sandbox=""' in page and f'src="/api/sandbox/messages/{mid}/html"' in page
    plain = deliver(sandbox.config.port, _plain("Only text"))
    assert client.get(f"/api/sandbox/messages/{plain}/html").status_code == 404


def _plain(subject: str, body: str = "Hello.") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.net", subject
    msg.set_content(body)
    return msg


def test_attachments_download_under_safe_names(client: Any, sandbox: Any) -> None:
    mid = deliver(sandbox.config.port, rich_message())
    pdf = client.get(f"/api/sandbox/messages/{mid}/parts/1.2")
    assert pdf.data == b"%PDF-1.4 minutes" and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == (
        "attachment; filename=\"minutes.pdf\"; filename*=UTF-8''minutes.pdf"
    )
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    hostile = client.get(f"/api/sandbox/messages/{mid}/parts/1.3")
    assert hostile.data == b"not a password file"
    disposition = hostile.headers["Content-Disposition"]
    name = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert name == safe_filename(HOSTILE_NAME, "x") and "/" not in name and "\u202e" not in name
    assert name == "_.._etc__passwd_.txt"
    for bad in ("1.9", "2", "1.x", "1.1"):  # missing, not ours, not a number, a multipart
        assert client.get(f"/api/sandbox/messages/{mid}/parts/{bad}").status_code == 404


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("..", "fallback.bin"),
        ("C:\\Windows\\evil.exe", "C__Windows_evil.exe"),
        (".bashrc", "bashrc"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
        (None, "fallback.bin"),
    ],
    ids=["plain", "dots", "windows-path", "hidden", "long", "none"],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, "fallback.bin") == expected


def test_search_matches_subject_from_to_and_body(client: Any, sandbox: Any) -> None:
    port = sandbox.config.port
    ids = {
        "rich": deliver(port, rich_message()),
        "invoice": deliver(port, _plain("Invoice 42", "Please pay the plumber.")),
    }

    def found(q: str) -> list[str]:
        listed = client.get("/api/sandbox/messages", query_string={"q": q}).get_json()
        return sorted(m["id"] for m in listed)

    assert found("r\u00e9sum\u00e9") == [ids["rich"]]  # the decoded subject
    assert found("ren\u00e9e") == [ids["rich"]]  # the From display name
    assert found("bjorn@") == [ids["rich"]]  # To
    assert found("PLUMBER") == [ids["invoice"]]  # the body, any case
    assert found("nothing like it") == []
    assert found("") == sorted(ids.values())
    page = client.get("/sandbox", query_string={"q": "plumber"}).get_data(as_text=True)
    assert "Invoice 42" in page and "notes" not in page.split("Addresses that fail")[0]


def test_etag_changes_when_mail_arrives_or_goes(client: Any, sandbox: Any) -> None:
    first = client.get("/api/sandbox/messages")
    etag = first.headers["ETag"]
    again = client.get("/api/sandbox/messages", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    mid = deliver(sandbox.config.port, _plain("Arrives"))
    changed = client.get("/api/sandbox/messages", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and [m["id"] for m in changed.get_json()] == [mid]
    assert changed.headers["ETag"] != etag
    # The same inbox searched is another answer, with its own tag.
    searched = client.get(
        "/api/sandbox/messages?q=x", headers={"If-None-Match": changed.headers["ETag"]}
    )
    assert searched.status_code == 200


def test_delete_one_then_all(client: Any, sandbox: Any) -> None:
    port = sandbox.config.port
    one, two, three = (deliver(port, _plain(s)) for s in ("one", "two", "three"))
    assert client.delete(f"/api/sandbox/messages/{two}").status_code == 204
    assert client.get(f"/api/sandbox/messages/{two}").status_code == 404
    assert client.get(f"/sandbox/{two}").status_code == 404
    assert client.delete(f"/api/sandbox/messages/{two}").status_code == 404
    assert client.delete("/api/sandbox/messages/..%2F..%2Fsecret_key").status_code == 404
    listed = [m["id"] for m in client.get("/api/sandbox/messages").get_json()]
    assert listed == [three, one]
    assert client.delete("/api/sandbox/messages").status_code == 204
    assert client.get("/api/sandbox/messages").get_json() == []
    assert not list(sandbox.mailbox.folder.glob("*.eml"))


def test_message_and_transcript_link_both_ways(client: Any, ws: Any) -> None:
    ws.connect()
    ws.ehlo()
    reply = ws.send_message("alice@example.com", ["bob@example.com"], ["Subject: Linked", "", "Hi"])
    mid = reply["lines"][-1].rsplit(" ", 1)[-1]
    ws.command("QUIT")
    tid = next(f for f in ws.frames if f["type"] == "session")["transcript"]
    detail = client.get(f"/api/sandbox/messages/{mid}").get_json()
    link = detail["transcript"]
    assert link["id"] == tid and link["seq"] == reply["seq"]
    assert link["url"] == f"/t/{tid}#L{reply['seq']}"
    page = client.get(f"/sandbox/{mid}").get_data(as_text=True)
    assert f'href="/t/{tid}#L{reply["seq"]}"' in page
    back = client.get(f"/api/transcripts/{tid}").get_json()["inbox"]
    assert back == [{"seq": reply["seq"], "id": mid, "url": f"/sandbox/{mid}"}]
    # Once the message is deleted, the transcript no longer points at it.
    client.delete(f"/api/sandbox/messages/{mid}")
    assert client.get(f"/api/transcripts/{tid}").get_json()["inbox"] == []


def test_with_accounts_deleting_needs_the_csrf_token(data_dir: Any, sandbox: Any) -> None:
    app = make_app(data_dir, sandbox)
    auth = Auth(app)
    auth.create("alice", team="red")
    mid = deliver(sandbox.config.port, _plain("Keep me"))
    assert app.test_client().get("/api/sandbox/messages").status_code == 401
    alice = auth.client("alice")
    refused = alice.delete(f"/api/sandbox/messages/{mid}")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf"
    token = page_token(alice)
    ok = alice.delete(f"/api/sandbox/messages/{mid}", headers={"X-CSRFToken": token})
    assert ok.status_code == 204
