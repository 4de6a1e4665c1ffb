"""Access control: accounts and the users CLI, login, CSRF, proxy mode, ownership and visibility."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import pytest
import websocket
from argon2 import PasswordHasher, profiles
from sqlalchemy import update

from tests.conftest import LiveServer, WsDriver, build_app
from transcripts.schema import transcripts

PASSWORD = "correct horse battery staple"
# A cheap argon2id so that tests can sign in often; one test checks the real parameters.
CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def make_app(data_dir, sandbox, **config: Any):  # type: ignore[no-untyped-def]
    return build_app(data_dir, sandbox, **{"AUTH": "accounts", "PASSWORD_HASHER": CHEAP, **config})


class Auth:
    """Users made through the real CLI and clients signed in through the real form."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def cli(self, *args: str, stdin: str | None = None) -> Any:
        return self.app.test_cli_runner().invoke(args=["users", *args], input=stdin)

    def create(self, name: str, role: str = "member", team: str | None = None) -> None:
        args = ["create", name, "--role", role, "--password-stdin"]
        result = self.cli(*args, *(["--team", team] if team else []), stdin=PASSWORD + "\n")
        assert result.exit_code == 0, result.output

    def csrf(self, client: Any, path: str = "/login") -> str:
        html = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)

    def login(self, client: Any, name: str, password: str = PASSWORD, next_: str = "") -> Any:
        url = "/login" + (f"?next={next_}" if next_ else "")
        token = self.csrf(client, url)
        return client.post(url, data={"name": name, "password": password, "csrf_token": token})

    def client(self, name: str | None = None) -> Any:
        client = self.app.test_client()
        if name is not None:
            assert self.login(client, name).status_code == 302
        return client


class CookieWs(WsDriver):
    """A WebSocket client that presents headers or a cookie like a signed-in browser."""


def page_token(client: Any) -> str:
    """The CSRF token base.html hands to page scripts."""
    return TOKEN.search(client.get("/transcripts").get_data(as_text=True)).group(1)


@pytest.fixture
def app(data_dir, sandbox):  # type: ignore[no-untyped-def]
    return make_app(data_dir, sandbox)


@pytest.fixture
def auth(app) -> Auth:  # type: ignore[no-untyped-def]
    return Auth(app)


@pytest.fixture
def team(auth: Auth) -> Auth:
    """alice and bob in team red, carol in blue, dave an admin."""
    auth.create("alice", team="red")
    auth.create("bob", team="red")
    auth.create("carol", team="blue")
    auth.create("dave", role="admin")
    return auth


# -- the users CLI and the stored hash -----------------------------------------------------------


def test_cli_creates_lists_and_deletes_users(auth):
    auth.create("alice", role="trainer", team="red")
    auth.create("bob")
    assert auth.cli("list").output.splitlines() == ["alice\ttrainer\tred", "bob\tmember\t-"]
    again = auth.cli("create", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.exit_code != 0 and "already" in again.output
    assert auth.cli("delete", "bob").exit_code == 0
    assert auth.cli("list").output.splitlines() == ["alice\ttrainer\tred"]
    assert auth.cli("delete", "bob").exit_code != 0


@pytest.mark.parametrize(
    "args, stdin",
    [(["create", "x"], "short\n"), (["create", "bad name"], PASSWORD + "\n")],
    ids=["short-password", "name-with-space"],
)
def test_cli_refuses_weak_passwords_and_odd_names(auth, args, stdin):
    result = auth.cli(*args, "--password-stdin", stdin=stdin)
    assert result.exit_code != 0 and auth.cli("list").output == ""


def test_password_is_an_argon2_hash_and_never_plaintext_in_the_database(data_dir, sandbox):
    app = make_app(data_dir, sandbox, PASSWORD_HASHER=None)  # the default, real cost
    Auth(app).create("alice")
    with app.extensions["playground"].store.engine.begin() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar_one()
    assert stored.startswith("$argon2id$") and PasswordHasher().verify(stored, PASSWORD)
    app.extensions["playground"].store.dispose()
    files = [p for p in data_dir.iterdir() if p.name.startswith("playground.db")]
    assert files and all(PASSWORD.encode() not in p.read_bytes() for p in files)


def test_set_password_replaces_it_and_ends_open_sessions(auth):
    auth.create("alice")
    signed_in = auth.client("alice")
    assert signed_in.get("/").status_code == 200
    result = auth.cli("set-password", "alice", "--password-stdin", stdin="another password\n")
    assert result.exit_code == 0
    assert signed_in.get("/").status_code == 302  # the old session no longer counts
    assert auth.login(auth.app.test_client(), "alice").status_code == 401
    assert auth.login(auth.app.test_client(), "alice", "another password").status_code == 302


# -- signing in, and everything refused without it -------------------------------------------


def test_login_with_the_right_password_opens_the_app(auth):
    auth.create("alice")
    client = auth.app.test_client()
    response = auth.login(client, "alice", next_="/transcripts")
    assert response.status_code == 302 and response.headers["Location"] == "/transcripts"
    page = client.get("/")
    assert page.status_code == 200 and "alice" in page.get_data(as_text=True)


@pytest.mark.parametrize("name, password", [("alice", "wrong password"), ("nobody", PASSWORD)])
def test_login_with_a_wrong_name_or_password_is_refused(auth, name, password):
    auth.create("alice")
    client = auth.app.test_client()
    assert auth.login(client, name, password).status_code == 401
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(auth, target):
    auth.create("alice")
    response = auth.login(auth.app.test_client(), "alice", next_=target)
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("path", ["/", "/sandbox", "/transcripts", "/nowhere"])
def test_pages_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/api/targets"), ("GET", "/api/transcripts"), ("GET", "/api/sandbox/messages")]
    + [("POST", "/api/explain"), ("POST", "/api/transcripts/import")],
    ids=["targets", "transcripts", "messages", "explain", "import"],
)
def test_api_answers_401_json(client, method, path):
    response = client.open(path, method=method, json={})
    assert response.status_code == 401 and response.json["error"]["code"] == "login_required"


def test_websocket_needs_a_signed_in_session(auth, sandbox):
    auth.create("alice")
    cookie = "session=" + auth.client("alice").get_cookie("session").value
    with LiveServer(auth.app) as live:
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            websocket.create_connection(live.ws_url, timeout=5)
        assert info.value.status_code == 401
        driver = CookieWs(live.ws_url, cookie=cookie)
        assert driver.connect()["code"] == 220
        transcript = driver.frames[0]["transcript"]
        driver.close()
    assert auth.app.extensions["playground"].store.get(transcript).owner == "alice"


@pytest.mark.parametrize("secure", [True, False], ids=["secure", "plain-http"])
def test_session_cookie_flags(data_dir, sandbox, secure):
    auth = Auth(make_app(data_dir, sandbox, SECURE_COOKIES=secure))
    auth.create("alice")
    cookie = auth.login(auth.app.test_client(), "alice").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure


def test_failed_logins_are_throttled_per_address_before_the_password_is_checked(data_dir, sandbox):
    auth = Auth(make_app(data_dir, sandbox, LOGIN_FAILURES="3 per minute"))
    auth.create("alice")
    client = auth.app.test_client()
    for _ in range(5):  # successes are not counted: a class may sign in together
        assert auth.login(auth.app.test_client(), "alice").status_code == 302
    assert [auth.login(client, "alice", "wrong guess").status_code for _ in range(3)] == [401] * 3
    assert auth.login(client, "alice").status_code == 429  # even the right password
    other = auth.app.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert auth.login(other, "alice").status_code == 302


@pytest.mark.redis
def test_failed_logins_are_counted_across_app_processes_in_redis(data_dir, sandbox, tmp_path):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("set TEST_REDIS_URL to run against a real Redis (CI does)")
    shared = {"REDIS_URL": url, "LOGIN_FAILURES": "2 per minute"}
    shared["LOGIN_LIMIT_PREFIX"] = f"test:logins:{uuid.uuid4().hex}"  # this run only
    one = Auth(make_app(data_dir, sandbox, **shared))
    one.create("alice")
    two = Auth(make_app(data_dir, sandbox, **shared))  # same database, another "process"
    assert auth_codes(one, 2, "wrong guess") == [401, 401]
    assert auth_codes(two, 1, PASSWORD) == [429]


def auth_codes(auth: Auth, times: int, password: str) -> list[int]:
    return [auth.login(auth.app.test_client(), "alice", password).status_code for _ in range(times)]


# -- CSRF --------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(auth):
    auth.create("alice")
    client = auth.app.test_client()
    client.get("/login")
    assert client.post("/login", data={"name": "alice", "password": PASSWORD}).status_code == 400
    assert client.get("/").status_code == 302


def test_logout_needs_the_csrf_token(auth):
    auth.create("alice")
    client = auth.client("alice")
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": page_token(client)}).status_code == 302
    assert client.get("/").status_code == 302


def test_state_changing_api_needs_the_csrf_header(auth):
    auth.create("alice")
    client = auth.client("alice")
    tid = own_transcript(auth.app, "alice")
    refused = client.patch(f"/api/transcripts/{tid}", json={"title": "forged"})
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf"
    headers = {"X-CSRFToken": page_token(client)}
    done = client.patch(f"/api/transcripts/{tid}", json={"title": "mine"}, headers=headers)
    assert done.status_code == 200 and done.json["transcript"]["title"] == "mine"


def test_mode_none_has_no_login_and_no_csrf(data_dir, sandbox):
    client = make_app(data_dir, sandbox, AUTH="none").test_client()
    page = client.get("/")
    assert page.status_code == 200 and not TOKEN.search(page.get_data(as_text=True))
    assert client.post("/api/explain", json={"command": "NOOP"}).status_code == 200


# -- proxy mode --------------------------------------------------------------------------------

PROXY = {"AUTH": "proxy", "ROLE_HEADER": "X-Forwarded-Role", "TEAM_HEADER": "X-Forwarded-Team"}


def test_proxy_mode_trusts_the_user_header_and_nothing_else(data_dir, sandbox):
    client = make_app(data_dir, sandbox, **PROXY).test_client()
    assert client.get("/api/targets").status_code == 401
    assert client.get("/").status_code == 401
    assert client.get("/login").status_code == 401  # no password sign-in behind a proxy
    client.environ_base["HTTP_X_FORWARDED_USER"] = "erin"
    page = client.get("/")
    assert page.status_code == 200 and "erin" in page.get_data(as_text=True)
    assert client.post("/api/explain", json={"command": "NOOP"}).status_code == 400  # CSRF


def test_proxy_role_and_team_headers_decide_access(data_dir, sandbox):
    app = make_app(data_dir, sandbox, **PROXY)
    tid = own_transcript(app, "alice", "private")
    client = app.test_client()
    client.environ_base.update(HTTP_X_FORWARDED_USER="erin", HTTP_X_FORWARDED_TEAM="red")
    assert client.get(f"/api/transcripts/{tid}").status_code == 404
    client.environ_base["HTTP_X_FORWARDED_ROLE"] = "admin"
    assert client.get(f"/api/transcripts/{tid}").status_code == 200
    assert app.extensions["accounts"].get("erin").team == "red"  # recorded for team lookups


def test_proxy_websocket_records_the_owner(data_dir, sandbox):
    app = make_app(data_dir, sandbox, **PROXY)
    with LiveServer(app) as live:
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            websocket.create_connection(live.ws_url, timeout=5)
        assert info.value.status_code == 401
        driver = CookieWs(live.ws_url, header=["X-Forwarded-User: erin"])
        driver.connect()
        transcript = driver.frames[0]["transcript"]
        driver.close()
    assert app.extensions["playground"].store.get(transcript).owner == "erin"


# -- ownership and visibility ------------------------------------------------------------------


def own_transcript(app: Any, owner: str | None, visibility: str = "link") -> str:
    return with_token(app, owner, visibility)[0]


def with_token(app: Any, owner: str | None, visibility: str = "link") -> tuple[str, str]:
    """A closed transcript of ``owner`` with this visibility, and its edit token."""
    store = app.extensions["playground"].store
    transcript, token = store.create("sandbox (127.0.0.1:2525)", owner=owner)
    store.close(transcript.id, "done")
    stmt = update(transcripts).where(transcripts.c.id == transcript.id)
    with store.engine.begin() as conn:
        conn.execute(stmt.values(visibility=visibility))
    return transcript.id, token


SEES = [
    ("private", {"alice": 200, "bob": 404, "carol": 404, "dave": 200}),
    ("team", {"alice": 200, "bob": 200, "carol": 404, "dave": 200}),
    ("link", {"alice": 200, "bob": 200, "carol": 200, "dave": 200}),
]


@pytest.mark.parametrize("visibility, expected", SEES, ids=[v for v, _ in SEES])
def test_visibility_decides_who_sees_a_transcript(team, visibility, expected):
    tid = own_transcript(team.app, "alice", visibility)
    seen = {name: team.client(name).get(f"/api/transcripts/{tid}").status_code for name in expected}
    assert seen == expected
    assert team.client("carol").get("/api/transcripts/no-such-id").status_code == 404


@pytest.mark.parametrize(
    "path", ["/t/{}", "/t/{}/embed", "/api/transcripts/{}", "/api/transcripts/{}/export"]
)
def test_without_login_only_link_transcripts_open(team, path):
    link, shared = own_transcript(team.app, "alice"), own_transcript(team.app, "alice", "team")
    anonymous = team.app.test_client()
    assert anonymous.get(path.format(link)).status_code == 200
    refused = anonymous.get(path.format(shared)).status_code
    assert refused in (302, 401) and anonymous.get(path.format("missing")).status_code == refused


def test_listing_shows_own_and_team_transcripts_only(team):
    mine = own_transcript(team.app, "alice", "private")
    shared = own_transcript(team.app, "alice", "team")
    blue_link = own_transcript(team.app, "carol", "link")

    def listed(name: str) -> set[str]:
        found = team.client(name).get("/api/transcripts").json["transcripts"]
        return {t["id"] for t in found}

    assert listed("alice") == {mine, shared}
    assert listed("bob") == {shared}
    assert listed("carol") == {blue_link}
    assert listed("dave") == {mine, shared, blue_link}
    assert mine not in team.client("bob").get("/transcripts").get_data(as_text=True)


def test_owner_and_admin_edit_without_the_token_others_need_it(team):
    tid = own_transcript(team.app, "alice", "team")
    for name, status in [("alice", 200), ("dave", 200), ("bob", 403)]:
        client = team.client(name)
        headers = {"X-CSRFToken": page_token(client)}
        response = client.patch(f"/api/transcripts/{tid}", json={"title": name}, headers=headers)
        assert response.status_code == status, name
    alice = team.client("alice")
    headers = {"X-CSRFToken": page_token(alice)}
    assert alice.delete(f"/api/transcripts/{tid}", headers=headers).status_code == 204


def test_only_the_owner_changes_visibility(team):
    tid, token = with_token(team.app, "alice", "team")
    bob, alice = team.client("bob"), team.client("alice")
    store = team.app.extensions["playground"].store
    url = f"/api/transcripts/{tid}"
    # The edit token lets bob change the title, but it is not ownership.
    titled = bob.patch(url, json={"title": "t", "edit_token": token}, headers=csrf_header(bob))
    assert titled.status_code == 200
    body = {"visibility": "link", "edit_token": token}
    assert bob.patch(url, json=body, headers=csrf_header(bob)).status_code == 403
    bad = alice.patch(url, json={"visibility": "public"}, headers=csrf_header(alice))
    assert bad.status_code == 400
    done = alice.patch(url, json={"visibility": "private"}, headers=csrf_header(alice))
    assert done.status_code == 200 and store.get(tid).visibility == "private"
    assert bob.get(f"/api/transcripts/{tid}").status_code == 404
    assert alice.get(f"/api/transcripts/{tid}").json["access"]["visibility"] == "private"


def csrf_header(client: Any) -> dict[str, str]:
    return {"X-CSRFToken": page_token(client)}


def test_import_is_owned_by_the_importer(team):
    alice = team.client("alice")
    tid = own_transcript(team.app, None)
    exported = alice.get(f"/api/transcripts/{tid}/export?format=json").data
    made = alice.post("/api/transcripts/import", data=exported, headers=csrf_header(alice))
    assert made.status_code == 201
    assert team.app.extensions["playground"].store.get(made.json["id"]).owner == "alice"


@pytest.fixture
def pg_url() -> Any:
    """A fresh schema on the real PostgreSQL (TEST_DATABASE_URL), dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set (CI sets it to a real PostgreSQL)")
    import psycopg

    schema = "accounts_test_" + uuid.uuid4().hex[:12]
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
def test_users_and_visibility_on_postgresql(data_dir, sandbox, pg_url):
    app = make_app(data_dir, sandbox, DATABASE_URL=pg_url)
    auth = Auth(app)
    for name, team_name in [("alice", "red"), ("bob", "red"), ("carol", "blue")]:
        auth.create(name, team=team_name)
    shared, private = own_transcript(app, "alice", "team"), own_transcript(app, "alice", "private")
    bob = auth.client("bob")
    assert [t["id"] for t in bob.get("/api/transcripts").json["transcripts"]] == [shared]
    assert bob.get(f"/api/transcripts/{private}").status_code == 404
    assert auth.client("carol").get(f"/api/transcripts/{shared}").status_code == 404
    assert auth.cli("create", "alice", "--password-stdin", stdin=PASSWORD + "\n").exit_code != 0
    app.extensions["playground"].store.dispose()
