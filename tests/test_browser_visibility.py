"""Who may see a transcript, chosen by its owner on the replay page (PLAYGROUND_AUTH=accounts)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.axe import assert_accessible
from tests.conftest import LiveServer
from tests.test_accounts import PASSWORD, Auth, make_app, with_token

pytestmark = pytest.mark.browser


@pytest.fixture
def team_live(data_dir, sandbox):  # type: ignore[no-untyped-def]
    """alice and bob in team red, carol in blue; the app served for a browser."""
    app = make_app(data_dir, sandbox)
    auth = Auth(app)
    for name, team in (("alice", "red"), ("bob", "red"), ("carol", "blue")):
        auth.create(name, team=team)
    with LiveServer(app) as live:
        yield live, auth


def sign_in(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.locator("#name").fill(name)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".signed-in", has_text=name).wait_for()


def status_for(auth: Auth, name: str | None, tid: str) -> int:
    client = auth.client(name) if name else auth.app.test_client()
    code: int = client.get(f"/api/transcripts/{tid}").status_code
    return code


def test_the_owner_sets_visibility_from_the_replay_page(team_live: Any, browser: Any) -> None:
    live, auth = team_live
    tid, _token = with_token(auth.app, "alice", "private")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live.url, "alice")
    page.goto(f"{live.url}/t/{tid}")
    page.wait_for_selector("#replay[data-ready='1']")
    form = page.locator("#visibility-form")
    assert form.is_visible()  # the owner edits without the edit token
    assert form.get_by_label("Only me (and admins)").is_checked()
    assert page.locator("#access").text_content() == "Visible to its owner only · recorded by alice"
    assert [status_for(auth, n, tid) for n in ("bob", "carol", None)] == [404, 404, 401]
    assert_accessible(page, "replay page with the visibility choice")

    form.get_by_label("My team").check()
    form.get_by_role("button", name="Save visibility").click()
    page.locator("#edit-status", has_text="Visibility saved: My team.").wait_for()
    assert page.locator("#access").text_content().startswith("Visible to the owner's team")
    assert [status_for(auth, n, tid) for n in ("bob", "carol", None)] == [200, 404, 401]

    form.get_by_label("Anyone with the link").check()
    form.get_by_role("button", name="Save visibility").click()
    page.locator("#edit-status", has_text="Visibility saved: Anyone with the link").wait_for()
    assert [status_for(auth, n, tid) for n in ("bob", "carol", None)] == [200, 200, 200]
    page.reload()
    page.wait_for_selector("#replay[data-ready='1']")
    assert form.get_by_label("Anyone with the link").is_checked()
    context.close()

    # A team-mate sees it but may neither edit nor change who sees it.
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live.url, "bob")
    page.goto(f"{live.url}/t/{tid}")
    page.wait_for_selector("#replay[data-ready='1']")
    assert page.locator("#editor").is_hidden() and page.locator("#visibility-form").is_hidden()
    assert page.locator("#access").text_content().startswith("Visible to anyone with the link")
    context.close()


def test_without_users_there_is_no_visibility_to_set(page: Any, live: Any, ws: Any) -> None:
    ws.connect()
    ws.command("QUIT")
    ws.wait_for("closed")
    frame = next(f for f in ws.frames if f["type"] == "session")
    page.goto(f"{live.url}/t/{frame['transcript']}?edit={frame['edit_token']}")
    page.wait_for_selector("#replay[data-ready='1']")
    assert page.locator("#editor").is_visible()
    assert page.locator("#visibility-form").is_hidden() and page.locator("#access").is_hidden()
