"""The guide panels, helpers and lessons in a real browser against the real sandbox."""

from __future__ import annotations

import base64
import hmac
import os
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from smtp_session.guide.checker import make_warning
from smtp_session.guide.lessons import load_lessons
from smtp_session.knowledge import (
    COMMANDS,
    ENHANCED_CLASSES,
    ENHANCED_DETAILS,
    ENHANCED_SUBJECTS,
    human_size,
)
from web.live import frames

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"


class ConsolePage:
    """Drives the console page like a learner: connect, type lines, read the panels."""

    def __init__(self, page, live) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        page.goto(live.url + "/")

    def connect(self) -> None:
        self.page.get_by_role("button", name="Connect", exact=True).click()
        self.page.wait_for_selector(".line.reply.r2xx")

    def replies(self) -> int:
        return self.page.locator(".line.reply[data-seq]").count()

    def type(self, text: str) -> None:
        """Type one line, press Enter and wait for the reply that answers it."""
        before = self.replies()
        self.page.locator("#input").fill(text)
        self.page.locator("#input").press("Enter")
        self.page.locator(".line.reply[data-seq]").nth(before).wait_for()

    def quit(self) -> None:
        """End the session cleanly, so no TLS connection is left to the sandbox's teardown."""
        self.type("QUIT")
        self.page.locator("#status", has_text="Closed").wait_for()

    def panel(self, name: str):  # type: ignore[no-untyped-def]
        return self.page.locator(f"[data-panel={name}]")

    def field(self, name: str) -> str:
        return self.panel("exchange").locator(f"[data-field={name}]").first.text_content()

    def step_status(self, step: str) -> str | None:
        return self.panel("steps").locator(f"[data-step={step}]").get_attribute("data-status")


@pytest.fixture
def console(page, live):  # type: ignore[no-untyped-def]
    return ConsolePage(page, live)


def test_unknown_recipient_reply_is_explained_with_its_enhanced_code(console):
    console.connect()
    console.type("EHLO client.example")
    console.type("MAIL FROM:<alice@client.example>")
    assert console.step_status("ehlo") == "done"
    assert console.step_status("mail") == "current"
    console.type("RCPT TO:<unknown@sandbox.test>")
    reply = console.panel("exchange").locator(".exchange-reply")
    assert reply.get_attribute("data-class") == "permanent"
    assert "permanent" in console.field("reply-class")
    assert console.field("code") == "550"
    assert console.field("enhanced-class") == ENHANCED_CLASSES[5].title
    assert console.field("enhanced-subject") == ENHANCED_SUBJECTS[1].title
    assert console.field("enhanced-detail") == ENHANCED_DETAILS["X.1.1"].title
    assert console.field("next")
    # The command it answered is shown with it.
    assert console.field("verb") == "RCPT"
    badge = console.panel("steps").locator("[data-badge=recipients]").text_content()
    assert badge == "0 accepted, 1 rejected"


def test_reply_panel_lists_its_evidence_and_the_one_it_follows(console):
    console.connect()
    console.type("EHLO client.example")
    console.type("MAIL FROM:<alice@client.example>")
    console.type("RCPT TO:<full@sandbox.test>")  # 452 4.2.2: the enhanced code overrules 452
    evidence = console.panel("exchange").locator("[data-field=evidence] li")
    layers = [evidence.nth(i).get_attribute("data-layer") for i in range(evidence.count())]
    assert layers[0] == "enhanced" and "context" in layers and layers[-1] == "class"
    assert (
        console.panel("exchange").locator('[data-field=evidence] li[data-used="yes"]').count() == 1
    )
    clash = console.panel("exchange").locator("[data-field=contradiction]").text_content()
    assert "4.2.2" in clash and "Too many recipients" in clash


def test_missing_brackets_warns_with_the_fix_and_does_not_block(console):
    console.connect()
    console.type("EHLO client.example")
    console.type("MAIL FROM:<alice@client.example>")
    console.type("RCPT TO:bob@example.com")
    expected = make_warning(
        "syntax:missing-brackets", verb="RCPT", keyword="TO", address="bob@example.com"
    )
    item = console.panel("warnings").locator("[data-code='syntax:missing-brackets']")
    assert item.locator("[data-field=message]").text_content() == expected.message
    assert item.locator("[data-field=fix]").text_content() == f"Fix: {expected.fix}"
    assert expected.rfc in item.text_content()
    # Warnings never block: the line went out and the server answered it.
    assert console.page.locator(".line.sent", has_text="RCPT TO:bob@example.com").count() == 1


def test_clicking_earlier_lines_shows_their_explanation(console, sandbox):
    console.connect()
    console.type("EHLO client.example")
    console.type("NOOP")
    console.page.locator(".line.sent", has_text="EHLO client.example").click()
    assert console.field("verb") == "EHLO"
    summary = console.panel("exchange").locator(".exchange-command .summary").text_content()
    assert COMMANDS["EHLO"].summary in summary
    console.page.locator(".line.reply", has_text="SIZE").click()
    size = console.panel("exchange").locator("[data-keyword=SIZE] [data-field=size]")
    assert size.text_content() == f"Largest message: {human_size(sandbox.config.data_size_limit)}"
    assert (
        console.panel("exchange").locator(".exchange-command [data-field=verb]").text_content()
        == "EHLO"
    )
    assert console.page.locator(".line.selected").count() == 1


def test_keyboard_only_tab_to_a_line_and_enter(console):
    console.connect()
    console.type("EHLO client.example")
    console.type("NOOP")
    page = console.page
    page.locator("#clear").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "line" in focused.split()
    page.keyboard.press("Enter")  # the newest line: the 250 answering NOOP
    assert console.field("code") == "250"
    assert console.field("verb") == "NOOP"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Home")
    page.keyboard.press("Enter")  # the first line that can be explained: the connection
    assert "Connected to" in console.panel("exchange").text_content()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('selected')")


def test_auth_encoder_computes_plain_login_and_cram_md5(console):
    page = console.page
    helper = page.locator("[data-helper=auth]")
    plain = base64.b64encode(b"\0demo\0demo-password").decode()
    assert helper.locator("[data-out=plain]").text_content() == f"AUTH PLAIN {plain}"
    page.locator("[data-helper=auth] select").select_option("LOGIN")
    assert helper.locator("[data-out=login-user]").text_content() == "ZGVtbw=="
    password = base64.b64encode(b"demo-password").decode()
    assert helper.locator("[data-out=login-password]").text_content() == password
    # RFC 2195 §2's own example, then the demo user against a challenge of ours.
    page.locator("[data-helper=auth] select").select_option("CRAM-MD5")
    page.get_by_label("User name", exact=True).fill("tim")
    page.get_by_label("Password", exact=True).fill("tanstaaftanstaaf")
    page.get_by_label("CRAM-MD5 challenge (decoded)").fill(
        "<1896.697170952@postoffice.reston.mci.net>"
    )
    response = helper.locator("[data-out=cram-response]").text_content()
    assert response == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
    challenge = "<12345.67890@sandbox.test>" + "x" * 100  # longer than one MD5 block
    page.get_by_label("User name", exact=True).fill("demo")
    page.get_by_label("Password", exact=True).fill("demo-password")
    page.get_by_label("CRAM-MD5 challenge (decoded)").fill(challenge)
    digest = hmac.new(b"demo-password", challenge.encode(), "md5").hexdigest()
    expected = base64.b64encode(f"demo {digest}".encode()).decode()
    assert helper.locator("[data-out=cram-response]").text_content() == expected


def test_cram_md5_login_against_the_sandbox_with_the_helper(console):
    console.connect()
    console.type("EHLO client.example")
    console.type("STARTTLS")
    console.page.locator("[data-panel=tls]").wait_for()
    console.type("EHLO client.example")
    console.page.locator("[data-helper=auth] select").select_option("CRAM-MD5")
    console.type("AUTH CRAM-MD5")
    assert console.field("code") == "334"
    console.page.locator("[data-helper=auth] .out-line", has_text="3.").get_by_role(
        "button", name="Insert"
    ).click()
    console.page.locator("#input").press("Enter")
    console.page.locator(".line.reply", has_text="235").wait_for()
    auth = console.panel("steps").locator("[data-badge=auth]")
    auth.filter(has_text="logged in").wait_for()
    assert auth.text_content() == "logged in"
    console.quit()


def test_tls_panel_after_starttls(console):
    console.connect()
    console.type("EHLO client.example")
    console.type("STARTTLS")
    tls = console.panel("tls")
    tls.wait_for()
    text = tls.text_content()
    assert "TLSv1.3" in text and "sandbox.test" in text and "STARTTLS" in text
    verification = tls.locator("[data-field=verification]").text_content()
    assert verification.startswith("sandbox certificate, trusted (pinned SHA-256")
    assert console.panel("steps").locator("[data-badge=tls]").text_content() == "TLS on"
    # RFC 3207 §4.2: greet again, said until done.
    note = tls.locator("[data-field=tls-ehlo-note]")
    assert note.is_visible() and "send EHLO again" in note.text_content()
    console.type("EHLO client.example")
    assert note.is_hidden()
    console.quit()
    assert note.is_hidden()


def test_next_command_buttons_and_message_template_send_a_real_message(console, sandbox):
    console.connect()
    page = console.page
    console.type("EHLO client.example")
    page.locator("[data-panel=steps] button", has_text="MAIL").click()
    assert page.locator("#input").input_value() == "MAIL FROM:<alice@client.example>"
    page.locator("#input").press("Enter")
    page.locator("[data-panel=steps] button", has_text="RCPT").wait_for()
    console.type("RCPT TO:<bob@sandbox.test>")
    console.type("DATA")
    page.locator("[data-helper=message] summary").click()
    page.get_by_role("button", name='Send message and "."').click()
    page.locator(".line.reply", has_text="queued").wait_for()
    assert page.locator("[data-panel=exchange] [data-field=queue-id]").count() == 1
    [msg] = sandbox.mailbox.messages()
    raw = sandbox.mailbox.raw(msg.id).decode()
    headers = dict(line.split(": ", 1) for line in raw.split("\r\n\r\n")[0].split("\r\n"))
    assert parsedate_to_datetime(headers["Date"]).tzinfo is not None
    assert headers["Message-ID"].startswith("<") and headers["Message-ID"].endswith(
        "@client.example>"
    )
    assert headers["To"] == "<bob@sandbox.test>"


def test_share_links_and_a_live_note(console):
    console.connect()
    page = console.page
    console.type("EHLO client.example")
    transcript = page.evaluate("document.body.dataset.transcript")
    view = page.locator("[data-link=view]").get_attribute("href")
    edit = page.locator("[data-link=edit]").get_attribute("href")
    assert view.endswith(f"/t/{transcript}")
    assert edit.startswith(f"{view}?edit=") and len(edit) > len(view) + 6
    page.locator(".line.sent", has_text="EHLO").click()
    page.locator("#note-text").fill("Here we introduce ourselves.")
    page.get_by_role("button", name="Add note").click()
    page.locator("#notes li", has_text="Here we introduce ourselves.").wait_for()
    assert "has-note" in page.locator(".line.sent", has_text="EHLO").get_attribute("class")


@pytest.mark.skipif("lesson" not in frames.FIELDS, reason="the server has no lesson frames yet")
def test_first_lesson_end_to_end_following_the_hints(console):
    page = console.page
    lesson = load_lessons()[0]
    lessons = page.locator("#lesson")
    page.locator("#lesson-picker option", has_text=lesson.title).wait_for(state="attached")
    page.locator("#lesson-picker").select_option(lesson.id)
    step = lambda s: lessons.locator(f"[data-step='{s.id}']")  # noqa: E731
    assert step(lesson.steps[0]).get_attribute("data-status") == "current"
    console.connect()
    for s in lesson.steps:
        if s.id != lesson.steps[0].id:
            assert step(s).get_attribute("data-status") == "current"
            if s.hint == ".":  # the message step: the helper sends the message and the dot
                page.locator("[data-helper=message] summary").click()
                page.get_by_role("button", name='Send message and "."').click()
            else:
                lessons.get_by_role("button", name=f"Insert hint: {s.hint}").click()
                assert page.locator("#input").input_value() == s.hint
                page.locator("#input").press("Enter")
        page.locator(f"#lesson [data-step='{s.id}'][data-status=done]").wait_for()
    lessons.locator("[data-field=complete]").wait_for()


def test_screenshot_mid_session(console, tmp_path):
    """The panels mid-session at 1280x800; UPDATE_SCREENSHOT=1 refreshes docs/screenshot.png."""
    page = console.page
    path = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "shot.png"
    page.locator("#lesson-picker option", has_text="first").first.wait_for(state="attached")
    console.connect()
    for line in (
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:bob@example.com",
        "RCPT TO:<unknown@sandbox.test>",
    ):
        console.type(line)
    page.evaluate("document.getElementById('guide').scrollIntoView()")
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
