"""A real browser walks the STARTTLS + AUTH lesson, sees the TLS panel, and tries other servers."""

from __future__ import annotations

import pytest

from smtp_session.guide.lessons import load_lessons
from tests.test_browser_panels import console  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser


def test_starttls_and_auth_lesson_with_the_tls_panel(console):  # noqa: F811
    page = console.page
    lesson = {lesson.id: lesson for lesson in load_lessons()}["auth-login-plain"]
    lessons = page.locator("#lesson")
    page.locator("#lesson-picker option", has_text=lesson.title).wait_for(state="attached")
    page.locator("#lesson-picker").select_option(lesson.id)
    console.connect()
    for step in lesson.steps:
        lessons.get_by_role("button", name=f"Insert hint: {step.hint}").click()
        page.locator("#input").press("Enter")
        page.locator(f"#lesson [data-step='{step.id}'][data-status=done]").wait_for()
        if step.id == "starttls":
            tls = page.locator("[data-panel=tls]")
            tls.get_by_text("TLSv1.3").wait_for()
            verification = tls.locator("[data-field=verification]").text_content()
            assert "sandbox certificate" in verification and "pinned" in verification
    lessons.locator("[data-field=complete]").wait_for()
    # The password the user typed never shows up redacted in their own console, but the
    # transcript keeps only the marker.
    assert page.locator(".line.sent.auth").count() >= 2


def test_another_server_outside_the_policy_is_refused_in_words(console):  # noqa: F811
    page = console.page
    page.locator("#target").select_option("custom")
    page.locator("#custom-host").fill("smtp.example.com")
    page.locator("#preset").select_option("587")
    page.get_by_role("button", name="Connect", exact=True).click()
    error = page.locator(".line.error", has_text="PLAYGROUND_ALLOWED_TARGETS")
    error.wait_for()
    assert "smtp.example.com" in error.text_content()
    assert page.get_by_role("button", name="Connect", exact=True).is_enabled()
    # The refusal is said once: the close that follows does not repeat it, nor end in "..".
    page.locator("#status", has_text="Closed").wait_for()
    closed = page.locator(".line.info", has_text="connection closed")
    assert closed.all_text_contents() == ["* connection closed"]
    status = page.locator("#status").text_content()
    assert "PLAYGROUND_ALLOWED_TARGETS" in status and ".." not in status
