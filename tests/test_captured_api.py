"""The captured-sessions API against its contract (docs/api-captured.md), with sessions a real
client (smtplib) sends to the real sandbox: the routes and fields the doc names are the ones
the app serves, paging, the two event streams (snapshot, live entries, the end, reconnecting
with Last-Event-ID, a bounded lifetime), the Origin rule and who may see them."""

from __future__ import annotations

import json
import re
import smtplib
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import pytest

from tests import capturing
from tests.conftest import LiveServer, build_app
from tests.sse import EventStream
from tests.test_accounts import Auth, make_app
from web.live.bus import make_bus
from web.live.captured import CaptureWriter

DOC = (Path(__file__).parent.parent / "docs" / "api-captured.md").read_text(encoding="utf-8")
WAIT_S = 5.0

# A sandbox that captures into each test's app (tests/capturing.py).
_capturing_sandbox, sandbox, app = capturing._capturing_sandbox, capturing.sandbox, capturing.app


def section(heading: str) -> str:
    return DOC.split(heading + "\n", 1)[1].split("\n## ", 1)[0]


def first_column(text: str) -> list[str]:
    """The names in the first cell of each row of the first table in ``text``."""
    names = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            found = re.fullmatch(r"`([^`]+)`", line.strip("|").split("|")[0].strip())
            if found:
                names.append(found.group(1))
    return names


def message(subject: str) -> bytes:
    """A small message with the headers RFC 5322 asks for (no warning to give)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alice@client.example", "bob@sandbox.test", subject
    msg["Date"], msg["Message-ID"] = formatdate(), make_msgid(domain="client.example")
    msg.set_content("Hello.\n")
    return msg.as_bytes(policy=policy.SMTP)


def send(port: int, ehlo: str, count: int = 1) -> list[str]:
    """A whole smtplib session with ``count`` messages; returns their inbox ids."""
    ids = []
    with smtplib.SMTP("127.0.0.1", port, ehlo, timeout=10) as smtp:
        for i in range(count):
            smtp.ehlo_or_helo_if_needed()
            smtp.mail("alice@client.example")
            smtp.rcpt("bob@sandbox.test")
            code, answer = smtp.data(message(f"{ehlo} {i}"))
            assert code == 250
            ids.append(answer.decode().rsplit(" ", 1)[-1])
    return ids


def get(live: LiveServer, path: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(f"{live.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body.startswith(b"{") else body.decode()


@pytest.fixture
def stream(live: LiveServer) -> Iterator[EventStream]:
    with EventStream(f"{live.url}/api/captured/events") as events:
        events.wait_for("snapshot")
        yield events


def ended(stream: EventStream, ehlo: str) -> dict[str, Any]:
    while True:
        summary: dict[str, Any] = stream.wait_for("ended", WAIT_S).data["summary"]
        if summary["ehlo"] == ehlo:
            return summary


# -- the contract ----------------------------------------------------------------------------


def test_the_documented_routes_are_the_served_ones(app: Any) -> None:
    documented = set(re.findall(r"^### `(GET|POST|PATCH|PUT|DELETE) ([^`?\[]+)", DOC, re.M))
    served = {
        (method, re.sub(r"<(?:\w+:)?\w+>", "<id>", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("captured.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == served


def test_the_summary_has_the_documented_fields(
    live: LiveServer, sandbox: Any, stream: EventStream
) -> None:
    [mid] = send(sandbox.config.port, "fields.example")
    summary = ended(stream, "fields.example")
    assert sorted(summary) == sorted(first_column(section("## Summary")))
    status, listed = get(live, "/api/captured")
    assert status == 200 and sorted(listed) == ["before", "limit", "next_before", "sessions"]
    stored = listed["sessions"][0]
    assert stored["id"] == summary["id"] and sorted(stored) == sorted(summary)
    assert {k: stored[k] for k in ("ehlo", "outcome", "messages")} == {
        k: summary[k] for k in ("ehlo", "outcome", "messages")
    }
    assert summary["messages"] == [mid] and summary["outcome"] == "delivered"
    assert summary["ehlo"] == "fields.example" and summary["warnings"] == 0


def test_the_stream_events_are_the_documented_ones(
    live: LiveServer, sandbox: Any, stream: EventStream
) -> None:
    send(sandbox.config.port, "events.example")
    ended(stream, "events.example")
    names = {e.name for e in stream.events}
    documented = set(first_column(section("### `GET /api/captured/events` (server-sent events)")))
    assert {"started", "entry", "ended"} <= names <= documented
    assert stream.retry == 2000
    started = next(e for e in stream.events if e.name == "started")
    assert started.data["summary"]["status"] == "live" and started.data["id"]


# -- the list ----------------------------------------------------------------------------------


def test_paging_with_before(live: LiveServer, sandbox: Any, stream: EventStream) -> None:
    for name in ("one", "two", "three"):
        send(sandbox.config.port, f"{name}.example")
        ended(stream, f"{name}.example")
    _, first = get(live, "/api/captured?limit=2")
    assert [s["ehlo"] for s in first["sessions"]] == ["three.example", "two.example"]
    assert first["next_before"] == first["sessions"][-1]["id"]
    _, rest = get(live, f"/api/captured?limit=2&before={first['next_before']}")
    assert [s["ehlo"] for s in rest["sessions"]][:1] == ["one.example"]
    assert get(live, "/api/captured?limit=x")[0] == 400
    assert get(live, "/api/captured?before=../x")[0] == 400


def test_one_session_and_what_is_not_one(
    live: LiveServer, sandbox: Any, stream: EventStream, ws: Any
) -> None:
    send(sandbox.config.port, "one-session.example")
    summary = ended(stream, "one-session.example")
    status, body = get(live, f"/api/captured/{summary['id']}?since=2")
    assert status == 200 and body["summary"]["id"] == summary["id"]
    assert body["url"] == f"/t/{summary['id']}"
    assert body["entries"][0]["seq"] == 2
    console = ws.record_classic()["transcript"]  # a console transcript is not a captured one
    assert get(live, f"/api/captured/{console}")[0] == 404
    status, body = get(live, "/api/captured/no-such-id")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_an_edit_token_to_annotate_a_captured_session(
    live: LiveServer, sandbox: Any, stream: EventStream
) -> None:
    send(sandbox.config.port, "notes.example")
    tid = ended(stream, "notes.example")["id"]
    client = live.app.test_client()
    first = client.post(f"/api/captured/{tid}/edit-token")
    assert first.status_code == 201 and first.json["url"] == f"/t/{tid}"
    note = {"seq": 2, "text": "The client's EHLO."}
    token = {"X-Edit-Token": first.json["edit_token"]}
    assert client.post(f"/api/transcripts/{tid}/notes", json=note, headers=token).status_code == 201
    second = client.post(f"/api/captured/{tid}/edit-token").json["edit_token"]
    assert client.post(f"/api/transcripts/{tid}/notes", json=note, headers=token).status_code == 403
    token = {"X-Edit-Token": second}
    assert client.post(f"/api/transcripts/{tid}/notes", json=note, headers=token).status_code == 201
    assert [n["text"] for n in client.get(f"/api/transcripts/{tid}").json["notes"]] == [
        "The client's EHLO.",
        "The client's EHLO.",
    ]
    assert client.post("/api/captured/no-such-id/edit-token").status_code == 404


# -- one session's stream ---------------------------------------------------------------------


class HeldSession:
    """An smtplib client stopped mid-session: connected, EHLO said, the rest on ``finish``."""

    def __init__(self, port: int, ehlo: str) -> None:
        self.smtp = smtplib.SMTP("127.0.0.1", port, ehlo, timeout=10)
        self.smtp.ehlo()

    def finish(self) -> None:
        self.smtp.sendmail("alice@client.example", ["bob@sandbox.test"], message("held"))
        self.smtp.quit()


def test_a_live_session_streams_its_entries_then_its_end(
    live: LiveServer, sandbox: Any, stream: EventStream
) -> None:
    held = HeldSession(sandbox.config.port, "held.example")
    tid = stream.wait_for("started", WAIT_S).data["id"]
    with EventStream(f"{live.url}/api/captured/{tid}/events") as one:
        first = one.wait_for("entry", WAIT_S)
        assert first.id == "0" and first.data["entry"]["seq"] == 0
        threading.Thread(target=held.finish).start()
        end = one.wait_for("ended", WAIT_S)
        assert end.data["summary"]["outcome"] == "delivered"
        assert one.next(WAIT_S) is None  # the stream closes after the end
        seqs = [int(e.id) for e in one.events if e.name == "entry"]
        assert seqs == list(range(len(seqs))) and len(seqs) > 6  # every entry, in order
    # Reconnecting where it left off (Last-Event-ID) sends only what came after.
    with EventStream(f"{live.url}/api/captured/{tid}/events", {"Last-Event-ID": "4"}) as again:
        resent = [e for e in iter(lambda: again.next(WAIT_S), None) if e.name == "entry"]
        assert [int(e.id) for e in resent] == seqs[5:]
        assert again.events[-1].name == "ended"


def test_where_the_bus_does_not_reach_the_streams_poll_the_store(
    data_dir: Path, sandbox: Any, _capturing_sandbox: Any
) -> None:
    # The sandbox captures as from another process with no Redis between: into the app's
    # store, but on a bus this app does not hear (sandbox_main.py without REDIS_URL).
    app = build_app(data_dir, sandbox)
    writer = CaptureWriter(app.extensions["playground"].store, make_bus(None))
    _capturing_sandbox.relay.target = writer
    try:
        with LiveServer(app) as live, EventStream(f"{live.url}/api/captured/events") as events:
            events.wait_for("snapshot")
            held = HeldSession(sandbox.config.port, "polled.example")
            tid = events.wait_for("started", WAIT_S).data["id"]
            with EventStream(f"{live.url}/api/captured/{tid}/events") as one:
                assert one.wait_for("entry", WAIT_S).data["entry"]["seq"] == 0
                held.finish()
                assert one.wait_for("ended", WAIT_S).data["summary"]["outcome"] == "delivered"
                seqs = [int(e.id) for e in one.events if e.name == "entry"]
                assert seqs == list(range(len(seqs)))
            assert ended(events, "polled.example")["id"] == tid
    finally:
        _capturing_sandbox.relay.target = None
        writer.stop()


def test_a_stream_ends_after_its_lifetime_and_says_when_to_come_back(
    data_dir: Path, sandbox: Any
) -> None:
    app = build_app(data_dir, sandbox, CAPTURED_STREAM_SECONDS=0.3)
    with LiveServer(app) as live, EventStream(f"{live.url}/api/captured/events") as events:
        events.wait_for("snapshot")
        assert events.wait_for("reconnect", WAIT_S).data == {"after_ms": 2000}
        assert events.next(WAIT_S) is None and events.ended


def test_a_foreign_origin_may_not_follow(live: LiveServer) -> None:
    with EventStream(
        f"{live.url}/api/captured/events", {"Origin": "http://evil.example"}
    ) as events:
        assert events.status == 403
    with EventStream(f"{live.url}/api/captured/events", {"Origin": live.url}) as events:
        assert events.status == 200
    # A name the app does not answer to (DNS rebinding) is refused before any stream starts.
    with EventStream(f"{live.url}/api/captured/events", {"Host": "rebind.example"}) as events:
        assert events.status == 400


# -- who may see them -------------------------------------------------------------------------


def test_with_accounts_only_signed_in_users_see_captured_sessions(
    data_dir: Path, sandbox: Any
) -> None:
    app = make_app(data_dir, sandbox)
    auth = Auth(app)
    auth.create("teacher")
    stranger = auth.client()
    for path in ("/api/captured", "/api/captured/events"):
        response = stranger.get(path)
        assert response.status_code == 401 and response.json["error"]["code"] == "login_required"
    assert stranger.get("/captured").status_code == 302  # to the sign-in page
    member = auth.client("teacher")
    assert member.get("/api/captured").status_code == 200
    assert member.get("/captured").status_code == 200
