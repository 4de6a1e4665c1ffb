"""Themes (dark, light from the system, high contrast) and the text size, kept per browser."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def theme_of(page: Any) -> str:
    return page.evaluate("document.documentElement.dataset.theme")


def colour(page: Any, selector: str, prop: str = "background-color") -> str:
    return page.evaluate(
        "([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p)",
        [selector, prop],
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_default_follows_prefers_color_scheme(browser: Any, live: LiveServer, scheme: str):
    context = browser.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(live.url + "/")
        assert theme_of(page) == scheme
        assert page.locator("#theme").input_value() == "auto"
        body = colour(page, "body")
        assert body == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(15, 20, 25)")
    finally:
        context.close()


def test_theme_and_text_size_by_keyboard_kept_across_pages_and_reloads(
    browser: Any, live: LiveServer
) -> None:
    context = browser.new_context(color_scheme="light")
    try:
        page = context.new_page()
        page.goto(live.url + "/")
        size = float(colour(page, "#console", "font-size").removesuffix("px"))
        # Keyboard only: Tab to the theme control, choose with the arrow keys.
        page.locator("#theme").focus()
        page.keyboard.press("End")  # the last choice: high contrast
        assert page.locator("#theme").input_value() == "contrast"
        assert theme_of(page) == "contrast"
        assert colour(page, "body") == "rgb(0, 0, 0)"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "font-scale"
        page.keyboard.press("End")  # 150 %
        bigger = float(colour(page, "#console", "font-size").removesuffix("px"))
        assert bigger == pytest.approx(size * 1.5)
        # Kept per browser: another page, then a reload, in the same context.
        page.goto(live.url + "/transcripts")
        assert theme_of(page) == "contrast"
        assert page.locator("#font-scale").input_value() == "1.5"
        page.reload()
        assert theme_of(page) == "contrast"
        # Back to the system's choice.
        page.locator("#theme").select_option("auto")
        assert theme_of(page) == "light"
    finally:
        context.close()
    fresh = browser.new_context(color_scheme="dark")  # another browser profile: its own choice
    try:
        page = fresh.new_page()
        page.goto(live.url + "/")
        assert theme_of(page) == "dark"
    finally:
        fresh.close()
