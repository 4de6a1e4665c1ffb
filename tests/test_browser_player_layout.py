"""The replay, embed, transcripts, inbox, message and explain pages at 390 and 1366 px: no sideways
scrolling, and the main moves done from the keyboard alone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_inbox import deliver, rich_message

pytestmark = pytest.mark.browser

WIDTHS = {"phone": (390, 844), "wide": (1366, 800)}


@pytest.fixture
def site(ws: Any, sandbox: Any) -> dict[str, str]:
    """A recorded session and a delivered message, so every page has content."""
    session = ws.record_classic()
    mid = deliver(sandbox.config.port, rich_message())
    tid, token = session["transcript"], session["edit_token"]
    return {
        "replay": f"/t/{tid}?edit={token}",
        "embed": f"/t/{tid}/embed",
        "transcripts": "/transcripts",
        "inbox": "/sandbox",
        "message": f"/sandbox/{mid}",
        "explain": "/explain",
    }


@pytest.mark.parametrize("width", list(WIDTHS), ids=list(WIDTHS))
def test_no_page_scrolls_sideways(
    browser: Any, live: Any, site: dict[str, str], width: str
) -> None:
    context = browser.new_context(
        viewport=dict(zip(("width", "height"), WIDTHS[width], strict=True))
    )
    page = context.new_page()
    for name, path in site.items():
        page.goto(live.url + path)
        page.wait_for_load_state("networkidle")
        if name in ("replay", "embed"):
            page.wait_for_selector("#replay[data-ready='1']")
        # The whole page; a wide table scrolls inside its own focusable region.
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= WIDTHS[width][0], f"{name} is {scroll} px wide at {width}"
    context.close()


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was not reached with Tab")


def test_the_player_from_the_keyboard(page: Any, live: Any, site: dict[str, str]) -> None:
    page.goto(live.url + site["embed"])
    page.wait_for_selector("#replay[data-ready='1']")
    total = int(page.locator("#timeline").get_attribute("aria-valuemax"))
    tab_to(page, "#timeline")
    page.keyboard.press("Home")
    assert page.locator("#timeline").get_attribute("aria-valuenow") == "0"
    page.keyboard.press("PageUp")
    page.keyboard.press("ArrowRight")
    assert 0 < int(page.locator("#timeline").get_attribute("aria-valuenow")) <= total
    tab_to(page, "#markers .marker")
    assert page.evaluate("document.activeElement.textContent") == "Greeting"
    page.keyboard.press("Enter")
    assert page.locator(".entry.current").text_content().endswith("SMTP Playground sandbox")


def test_the_inbox_from_the_keyboard(page: Any, live: Any, site: dict[str, str]) -> None:
    page.goto(live.url + site["inbox"])
    tab_to(page, "#inbox-q")
    page.keyboard.type("minutes")
    page.locator("#inbox-status", has_text="1 message matches").wait_for()
    tab_to(page, "#messages tbody a")
    page.keyboard.press("Enter")
    page.wait_for_url("**/sandbox/*")
    tab_to(page, "[role=tab][aria-selected=true]")
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.textContent") == "Raw source"
    assert page.locator("#view-raw").is_visible() and page.locator("#view-text").is_hidden()
    page.keyboard.press("Home")
    assert page.locator("#view-text").is_visible()


@pytest.mark.parametrize("width", list(WIDTHS), ids=list(WIDTHS))
def test_axe_on_the_states_a_reader_reaches(
    browser: Any, live: Any, site: dict[str, str], width: str
) -> None:
    """axe-core (WCAG 2.1 AA) after the moves: notes added and one being edited, each view of
    a message, an inbox search that finds nothing."""
    from tests.axe import assert_accessible

    size = dict(zip(("width", "height"), WIDTHS[width], strict=True))
    context = browser.new_context(viewport=size)
    page = context.new_page()
    page.goto(live.url + site["replay"])
    page.wait_for_selector("#replay[data-ready='1'][data-frames='1']")
    page.get_by_label("Note on the whole transcript").check()
    page.get_by_label("Note text").fill("Read this first")
    page.get_by_role("button", name="Add note").click()
    page.locator("#general-notes .note").wait_for()
    page.locator("#markers .marker", has_text="EHLO").click()
    page.get_by_label("Note on line").check()
    page.get_by_label("Note text").fill("The capabilities")
    page.get_by_role("button", name="Add note").click()
    page.locator(".entry .note").wait_for()
    page.locator("#general-notes").get_by_role("button", name="Edit note").click()
    assert_accessible(page, f"replay with notes, {width}")
    page.goto(live.url + site["message"])
    for tab in ("Text", "HTML", "Headers", "Parts (2 attachments)", "Raw source"):
        page.get_by_role("tab", name=tab).click()
        assert_accessible(page, f"message, {tab} view, {width}")
    page.goto(live.url + site["inbox"])
    page.get_by_label("Search").fill("nothing like it")
    page.locator("#inbox-status", has_text="0 messages match").wait_for()
    assert_accessible(page, f"inbox search, {width}")
    context.close()
