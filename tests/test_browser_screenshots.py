"""The README's screenshots, taken from the real page: the phone layout and the light theme.

UPDATE_SCREENSHOT=1 writes them to docs/; otherwise they go to a temporary folder, so the
test still proves the pages render and the files are worth keeping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.test_browser_panels import ConsolePage

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parent.parent / "docs"


def target(tmp_path: Path, name: str) -> Path:
    return DOCS / name if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / name


def a_session(console: ConsolePage, lesson: str) -> None:
    page = console.page
    page.locator("#lesson-picker option", has_text=lesson).first.wait_for(state="attached")
    page.locator("#lesson-picker").select_option(
        label=page.locator("#lesson-picker option", has_text=lesson).first.text_content()
    )
    console.connect()
    for line in (
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:bob@sandbox.test",
    ):
        console.type(line)


def test_screenshot_of_the_phone_layout(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, color_scheme="dark"
    )
    try:
        console = ConsolePage(context.new_page(), live)
        a_session(console, "first")
        path = target(tmp_path, "screenshot-phone.png")
        console.page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 20_000
        console.quit()
    finally:
        context.close()


def test_screenshot_of_the_light_theme(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 800}, color_scheme="light")
    try:
        console = ConsolePage(context.new_page(), live)
        a_session(console, "first")
        assert console.page.evaluate("document.documentElement.dataset.theme") == "light"
        path = target(tmp_path, "screenshot-light.png")
        console.page.screenshot(path=str(path))
        assert path.stat().st_size > 20_000
        console.quit()
    finally:
        context.close()
