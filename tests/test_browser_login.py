"""A real browser is sent to the login page, signs in, drives the console, and signs out."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer
from tests.test_accounts import PASSWORD, Auth, make_app

pytestmark = pytest.mark.browser


@pytest.fixture
def accounts_live(data_dir, sandbox):  # type: ignore[no-untyped-def]
    app = make_app(data_dir, sandbox)
    Auth(app).create("alice", team="red")
    with LiveServer(app) as live:
        yield live


def sign_in(page, password: str) -> None:
    page.locator("#name").fill("alice")
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_then_use_the_console(page, accounts_live):
    page.goto(accounts_live.url + "/transcripts")
    assert page.url.startswith(accounts_live.url + "/login?next=")
    sign_in(page, "not the password")
    page.locator("#login-error", has_text="Wrong name or password").wait_for()

    sign_in(page, PASSWORD)
    page.wait_for_url(accounts_live.url + "/transcripts")
    assert page.locator(".signed-in").text_content() == "alice"
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.goto(accounts_live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")  # the sandbox's 220 greeting, over /ws
    assert page.locator(".line.reply").first.text_content().startswith("220 ")
    assert page.locator('meta[name="csrf-token"]').get_attribute("content")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(accounts_live.url + "/login")
    page.goto(accounts_live.url + "/")
    assert page.url.startswith(accounts_live.url + "/login?next=")
