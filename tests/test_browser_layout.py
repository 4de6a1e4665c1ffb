"""The console page at phone, tablet and desktop widths: console first, nothing sideways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.axe import assert_accessible
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

# (width, height, the console's least width there)
SIZES = {
    "phone-360": (360, 740, 330),
    "phone-390": (390, 844, 360),
    "tablet-768": (768, 1024, 700),
    "desktop-1366": (1366, 768, 700),
}


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def sized(request: Any, browser: Any) -> Iterator[tuple[Any, int]]:
    width, height, least = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page, least
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def no_sideways_scroll(page: Any) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_console_first_wide_enough_and_connect_clickable(
    sized: tuple[Any, int], live: LiveServer
) -> None:
    page, least = sized
    page.goto(live.url + "/")
    page.locator("#lesson-picker option").nth(1).wait_for(state="attached")
    console = page.locator("#console").bounding_box()
    panels = page.locator("#panels").bounding_box()
    assert console["width"] >= least, console
    viewport = page.viewport_size
    if viewport["width"] < 960:  # stacked: the console above the guide, both full width
        assert panels["y"] >= console["y"] + console["height"], (console, panels)
        assert console["width"] >= viewport["width"] - 32
    no_sideways_scroll(page)
    # A real click (Playwright refuses when something covers the button) opens the session.
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    for line in ["EHLO client.example", "MAIL FROM:<a-rather-long-address@client.example>"]:
        page.locator("#input").fill(line)
        page.locator("#input").press("Enter")
    page.locator(".line.reply").nth(2).wait_for()
    no_sideways_scroll(page)
    assert page.locator("#input").is_enabled()
    page.get_by_role("button", name="Disconnect").click()
    page.locator("#status", has_text="Closed").wait_for()


@pytest.fixture
def pages(ws_factory: Any, sandbox: Any) -> list[str]:
    tid = ws_factory().record_classic()["transcript"]
    [msg] = sandbox.mailbox.messages()
    return ["/sandbox", f"/sandbox/{msg.id}", "/transcripts", f"/t/{tid}", f"/t/{tid}/embed"]


def test_no_page_scrolls_sideways_at_360(browser: Any, live: LiveServer, pages: list[str]) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        for path in pages:
            page.goto(live.url + path)
            page.wait_for_load_state("networkidle")
            no_sideways_scroll(page)
    finally:
        context.close()


def test_stacked_console_passes_axe(sized: tuple[Any, int], live: LiveServer) -> None:
    page, _ = sized
    page.goto(live.url + "/")
    page.locator("#lesson-picker option").nth(1).wait_for(state="attached")
    assert_accessible(page, f"console at {page.viewport_size['width']} px")


@pytest.mark.parametrize("width", [390, 768, 1366])
def test_high_contrast_at_150_percent_still_fits(browser: Any, live: LiveServer, width: int):
    """A projector's settings: high contrast and the largest text, at every width."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    context.add_init_script(
        "localStorage.setItem('smtp-playground-theme', 'contrast');"
        "localStorage.setItem('smtp-playground-font-scale', '1.5');"
    )
    page = context.new_page()
    try:
        page.goto(live.url + "/")
        page.locator("#lesson-picker option").nth(1).wait_for(state="attached")
        assert page.evaluate("document.documentElement.dataset.theme") == "contrast"
        no_sideways_scroll(page)
        page.get_by_role("button", name="Connect", exact=True).click()
        page.wait_for_selector(".line.reply.r2xx")
        no_sideways_scroll(page)
        assert_accessible(page, f"console, high contrast, 150 %, {width} px")
        page.get_by_role("button", name="Disconnect").click()
        page.locator("#status", has_text="Closed").wait_for()
    finally:
        context.close()
