"""The Captured page in a real browser: a session appears while an smtplib client is still in
it, then its end; it opens in the replay, live, which then shows the rest; the page passes
axe-core in every theme, wide and at 390 px, and works from the keyboard."""

from __future__ import annotations

import smtplib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests import capturing
from tests.axe import assert_accessible
from tests.capture_kit import RawClient
from tests.test_browser_a11y import CASES, WIDTHS, themed_context
from tests.test_browser_screenshots import target
from tests.test_captured_api import message, send

pytestmark = pytest.mark.browser

# A sandbox that captures into each test's app (tests/capturing.py).
_capturing_sandbox, sandbox, app = capturing._capturing_sandbox, capturing.sandbox, capturing.app


class HeldSession:
    """An smtplib client stopped mid-session (EHLO said); ``finish`` sends a message and QUIT."""

    def __init__(self, port: int, ehlo: str) -> None:
        self.smtp = smtplib.SMTP("127.0.0.1", port, ehlo, timeout=10)
        self.smtp.ehlo()

    def finish(self) -> None:
        self.smtp.sendmail("alice@client.example", ["bob@sandbox.test"], message("held"))
        self.smtp.quit()


def row_of(page: Any, ehlo: str, status: str | None = None) -> Any:
    """The row of the session whose client said EHLO ``ehlo`` (once in ``status``)."""
    state = f"[data-status='{status}']" if status else ""
    return page.locator(f"#sessions tr[data-id]{state}", has_text=ehlo)


def test_a_session_arrives_live_ends_and_opens_in_the_replay(
    page: Any, live: Any, sandbox: Any
) -> None:
    page.goto(f"{live.url}/captured")
    page.locator("#captured[data-stream='open']").wait_for()
    held = HeldSession(sandbox.config.port, "browser.example")
    row = row_of(page, "browser.example")
    row.wait_for()
    page.locator("#captured-status", has_text="New session from 127.0.0.1").wait_for()
    assert row.locator(".state-badge").text_content() == "live"
    assert row.locator("td").nth(1).text_content().startswith("127.0.0.1:")

    # Opened while the client is still connected: the replay follows it live, over the
    # session's event stream (not by polling).
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url))
    row.locator("a.open").click()
    page.locator("#replay[data-ready='1']").wait_for()
    page.locator("#status-badge", has_text="live").wait_for()
    page.locator("#screen .line.sent", has_text="EHLO browser.example").wait_for()
    held.finish()
    page.locator("#screen .line.sent", has_text="DATA").wait_for()
    page.locator("#screen .line.reply", has_text="221").wait_for()
    page.locator("#status-badge", has_text="closed").wait_for()
    page.locator("#replay[data-frames='1']").wait_for()
    page.locator(".inbox-link").first.wait_for()  # the 250 links to the message
    # The panels explain the client's lines as the client's, not "yours".
    page.locator("#screen .line.sent", has_text="EHLO browser.example").click()
    page.locator("#panels h3", has_text="The client sent").wait_for()
    page.locator("#panels", has_text="The client names itself browser.example").wait_for()
    assert page.locator("#title").text_content().startswith("Captured session from 127.0.0.1:")
    tid = page.url.split("#")[0].rsplit("/", 1)[-1]
    assert any(f"/api/captured/{tid}/events" in url for url in streams), streams

    page.go_back()
    row = row_of(page, "browser.example", "closed")
    row.wait_for()
    assert row.locator("td").nth(3).text_content() == "delivered"
    assert row.locator("td").nth(5).text_content() == "1"


def test_the_end_of_a_session_is_announced(page: Any, live: Any, sandbox: Any) -> None:
    page.goto(f"{live.url}/captured")
    page.locator("#captured[data-stream='open']").wait_for()
    HeldSession(sandbox.config.port, "announce.example").finish()
    page.locator("#captured-status", has_text="ended: delivered").wait_for()
    row_of(page, "announce.example", "closed").wait_for()


def test_the_page_from_the_keyboard(page: Any, live: Any, sandbox: Any) -> None:
    HeldSession(sandbox.config.port, "keys.example").finish()
    page.goto(f"{live.url}/captured")
    row_of(page, "keys.example").wait_for()
    page.locator("#captured[data-stream='open']").wait_for()
    # From the header's Captured link (the current page), Tab reaches the live switch, the
    # table region and the session's link; Enter opens it.
    assert page.get_by_role("link", name="Captured").get_attribute("aria-current") == "page"
    page.get_by_label("Show sessions as they arrive").focus()
    page.keyboard.press("Space")
    page.locator("#stream-state", has_text="Live updates are off.").wait_for()
    page.keyboard.press("Space")
    page.locator("#captured[data-stream='open']").wait_for()
    link = row_of(page, "keys.example").locator("a.open")
    for _ in range(10):
        page.keyboard.press("Tab")
        if link.evaluate("(a) => a === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached the session's link")
    page.keyboard.press("Enter")
    page.locator("#replay[data-ready='1']").wait_for()
    assert "/t/" in page.url
    # Nobody owns a captured session: the page offers its edit token, and then the editor.
    page.get_by_role("button", name="Add notes to this captured session").focus()
    page.keyboard.press("Enter")
    page.locator("#editor:not([hidden])").wait_for()
    page.get_by_label("Note on the whole transcript").check()
    page.get_by_label("Note text").fill("Seen from the keyboard.")
    page.get_by_role("button", name="Add note").click()
    page.locator("#general-notes-list", has_text="Seen from the keyboard.").wait_for()


@pytest.fixture(params=CASES, ids=[f"{w}-{t}" for w, t in CASES])
def sized(request: Any, browser: Any) -> Any:
    width, theme = request.param
    context = themed_context(browser, *WIDTHS[width], theme)
    yield context.new_page()
    context.close()


def test_the_page_is_accessible_in_every_theme_and_at_390_px(
    sized: Any, live: Any, sandbox: Any
) -> None:
    held = HeldSession(sandbox.config.port, "axe-live.example")
    HeldSession(sandbox.config.port, "axe-done.example").finish()
    sized.goto(f"{live.url}/captured")
    row_of(sized, "axe-done.example", "closed").wait_for()
    row_of(sized, "axe-live.example").locator(".state-badge", has_text="live").wait_for()
    assert_accessible(sized, "the Captured page")
    overflow = sized.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    held.finish()


def test_screenshot_of_the_captured_page(
    browser: Any, live: Any, sandbox: Any, tmp_path: Path
) -> None:
    """The Captured page with five clients' sessions, one still live, at 1366 px wide (down to
    the table's end); UPDATE_SCREENSHOT=1 refreshes docs/screenshot-captured.png for the README."""
    port = sandbox.config.port
    send(port, "laptop.example")
    send(port, "newsletter.example", count=3)
    with smtplib.SMTP("127.0.0.1", port, "crm.example", timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("crm@client.example")
        assert smtp.rcpt("unknown@sandbox.test")[0] == 550
    legacy = RawClient(port)  # a bare LF, and it hangs up without QUIT: two warnings
    legacy.send(b"EHLO legacy-app.example\n")
    legacy.close()
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{live.url}/captured")
        page.locator("#captured[data-stream='open']").wait_for()
        held = HeldSession(port, "relay.example")
        page.locator("#captured-status", has_text="New session from 127.0.0.1").wait_for()
        live_row = row_of(page, "relay.example", "live")
        expect(live_row.locator(".state-badge")).to_have_text("live")
        legacy_row = row_of(page, "legacy-app.example", "closed")
        expect(legacy_row.locator("td.outcome")).to_have_text("dropped")
        expect(legacy_row.locator("td").nth(4)).to_have_text("2")
        expect(row_of(page, "newsletter.example", "closed").locator("td").nth(5)).to_have_text("3")
        expect(row_of(page, "laptop.example", "closed").locator("td.outcome")).to_have_text(
            "delivered"
        )
        expect(row_of(page, "crm.example", "closed").locator("td.outcome")).to_have_text("refused")
        expect(page.locator("#sessions tr[data-id]")).to_have_count(5)
        for row in page.locator("#sessions tr[data-id]").all():
            expect(row).to_be_in_viewport()
        # The page down to the table's end, not the empty rest of the 800 px.
        bottom = page.locator("#sessions").bounding_box()
        height = min(800, round(bottom["y"] + bottom["height"] + 24))
        path = target(tmp_path, "screenshot-captured.png")
        page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 1366, "height": height})
        assert path.stat().st_size > 10_000
        held.finish()
    finally:
        context.close()
