"""Who runs a class with access control on: the ``trainer`` role (accounts mode), not members;
a student's display name is their account name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from smtp_session.sandbox.server import SandboxServer
from tests.classroom_helpers import ClassWs, join
from tests.conftest import LiveServer, wait_until
from tests.test_accounts import PASSWORD, Auth, make_app

TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')
FORM_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Browser:
    """A signed-in user over real HTTP: the session cookie and the page's CSRF token."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.http = requests.Session()
        form = FORM_TOKEN.search(self.http.get(url + "/login").text)
        assert form is not None
        data = {"name": name, "password": PASSWORD, "csrf_token": form.group(1)}
        assert self.http.post(url + "/login", data=data, allow_redirects=False).status_code == 302
        page = TOKEN.search(self.http.get(url + "/transcripts").text)
        assert page is not None
        self.http.headers["X-CSRFToken"] = page.group(1)

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.url + path, json=body, timeout=10)

    def ws(self, path: str) -> ClassWs:
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        ws_url = self.url.replace("http://", "ws://") + path
        return ClassWs(ws_url, key=None, cookie=cookie)


@pytest.fixture
def accounts_live(data_dir: Path, sandbox: SandboxServer) -> Iterator[LiveServer]:
    app = make_app(data_dir, sandbox)
    auth = Auth(app)
    auth.create("tina")
    auth.create("sam")
    auth.create("otto", role="trainer")  # a trainer, but not of this class
    result = auth.cli("set-role", "tina", "trainer")
    assert result.exit_code == 0 and "tina is now trainer" in result.output
    with LiveServer(app) as server:
        yield server


def test_the_trainer_role_runs_classes_and_members_join_them(accounts_live: LiveServer) -> None:
    tina, sam = Browser(accounts_live.url, "tina"), Browser(accounts_live.url, "sam")
    assert tina.call("GET", "/api/classes/me").json() == {
        "trainer": True,
        "name": "tina",
        "mode": "accounts",
    }
    refused = sam.call("POST", "/api/classes", {})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_trainer"
    assert tina.call("POST", "/api/classes/trainer-login", {"key": "x"}).status_code == 404
    opened = tina.call("POST", "/api/classes", {"title": "Accounts"})
    assert opened.status_code == 201
    info = opened.json()
    assert info["trainer"] == "tina"
    assert sam.call("GET", f"/api/classes/{info['id']}").status_code == 403
    drivers = [tina.ws(f"/ws/class/{info['id']}"), sam.ws("/ws")]
    try:
        board, console = drivers
        board.wait_for("dashboard")
        joined = join(console, info["code"], "Someone Else")
        assert joined["student"]["name"] == "sam"  # the account name, not the typed one
        assert board.row(joined["student"]["id"], connected=True)["name"] == "sam"
        # A member's handshake on the dashboard is refused before any frame.
        with pytest.raises(websocket.WebSocketBadStatusException, match="403"):
            drivers.append(sam.ws(f"/ws/class/{info['id']}"))
        # What sam records in the class his trainer may read, even when he makes it private.
        console.connect()
        tid = next(f for f in console.frames if f["type"] == "session")["transcript"]
        path = f"/api/transcripts/{tid}"
        assert wait_until(lambda: sam.call("GET", path).status_code == 200)
        assert sam.call("PATCH", path, {"visibility": "private"}).status_code == 200
        assert wait_until(lambda: tina.call("GET", path).status_code == 200)
        assert tina.call("GET", path).json()["transcript"]["id"] == tid
        assert Browser(accounts_live.url, "otto").call("GET", path).status_code == 404
    finally:
        for driver in drivers:
            driver.close()
    anonymous = accounts_live.ws_url + f"/class/{info['id']}/follow"
    with pytest.raises(websocket.WebSocketBadStatusException, match="401"):
        websocket.create_connection(anonymous, timeout=10).close()


def test_behind_a_proxy_the_role_header_makes_a_trainer(
    data_dir: Path, sandbox: SandboxServer
) -> None:
    app = make_app(data_dir, sandbox, AUTH="proxy", ROLE_HEADER="X-Forwarded-Role")
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_USER"] = "pat"
    assert client.get("/api/classes/me").json["trainer"] is False
    client.environ_base["HTTP_X_FORWARDED_ROLE"] = "trainer"
    assert client.get("/api/classes/me").json == {"trainer": True, "name": "pat", "mode": "proxy"}
    assert client.get("/api/classes").json == {"classes": []}
