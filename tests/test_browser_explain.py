"""The explain page in a real browser: a pasted bounce is explained per recipient."""

from __future__ import annotations

import pytest

from tests.test_bounces import MIME_DSN

pytestmark = pytest.mark.browser


def test_pasted_bounce_is_explained_per_recipient(page, live) -> None:  # type: ignore[no-untyped-def]
    page.goto(live.url + "/explain")
    page.get_by_label("A bounce message").check()
    page.get_by_label("Text").fill(MIME_DSN)
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector("[data-field=recipient]")
    sections = page.locator("[data-field=recipient]")
    assert sections.count() == 2
    assert "user@docker-mail.tld" in sections.nth(0).inner_text()
    assert "5.1.1" in sections.nth(0).inner_text()
    assert "delayed" in sections.nth(1).inner_text()


def test_pasted_reply_shows_its_evidence(page, live) -> None:  # type: ignore[no-untyped-def]
    page.goto(live.url + "/explain")
    page.get_by_label("Text").fill("452 4.2.2 Mailbox over quota")
    page.select_option("#explain-after", "RCPT")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector(".evidence li")
    assert page.locator('.evidence li[data-used="yes"]').count() == 1
    assert "Too many recipients" in page.locator(".contradiction").inner_text()
    # the pasted text reaches the page as text, never as markup
    page.get_by_label("Text").fill("550 <img src=x onerror=alert(1)> refused")
    page.get_by_role("button", name="Explain").click()
    page.get_by_text("<img src=x onerror=alert(1)>", exact=False).first.wait_for()
    assert page.locator("#explain-result img").count() == 0


def test_at_phone_width_the_page_and_a_bounce_explained_fit(browser, live) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live.url + "/explain")
    width = "() => document.documentElement.scrollWidth"
    assert page.evaluate(width) <= 390
    page.get_by_label("A bounce message").check()
    page.get_by_label("Text").fill(MIME_DSN)
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector("[data-field=recipient]")
    assert page.evaluate(width) <= 390
    context.close()
