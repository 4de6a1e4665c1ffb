"""The console keeps what the user did: edited message, warnings by transaction, share links
of earlier sessions; it asks before leaving a live session, counts down to the idle timeout
and copies the session with prefixes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.axe import assert_accessible
from tests.conftest import LiveServer, build_app
from tests.test_browser_panels import ConsolePage

pytestmark = pytest.mark.browser


@pytest.fixture
def console(page: Any, live: LiveServer) -> ConsolePage:
    return ConsolePage(page, live)


def test_an_edited_message_is_not_replaced_when_the_354_arrives(
    console: ConsolePage, sandbox: Any
) -> None:
    page = console.page
    page.locator("[data-helper=message] summary").click()
    box = page.get_by_label("Message to send after DATA")
    mine = "From: <carol@client.example>\nTo: <dave@sandbox.test>\nSubject: My own words\n\nHi."
    box.fill(mine)
    console.connect()
    for line in ["EHLO client.example", "MAIL FROM:<carol@client.example>"]:
        console.type(line)
    console.type("RCPT TO:<dave@sandbox.test>")
    console.type("DATA")
    assert box.input_value() == mine  # the 354 arrived and the user's text is still there
    page.get_by_role("button", name='Send message and "."').click()
    page.locator(".line.reply", has_text="queued").wait_for()
    [msg] = sandbox.mailbox.messages()
    assert b"Subject: My own words" in sandbox.mailbox.raw(msg.id)
    # "New Date and Message-ID" restamps those headers and keeps the rest.
    page.get_by_role("button", name="New Date and Message-ID").click()
    assert "Subject: My own words" in box.input_value()


def test_an_untouched_template_still_follows_the_envelope(console: ConsolePage) -> None:
    page = console.page
    console.connect()
    for line in ["EHLO client.example", "MAIL FROM:<erin@client.example>", "RCPT TO:<f@x.test>"]:
        console.type(line)
    console.type("DATA")
    value = page.get_by_label("Message to send after DATA").input_value()
    assert "From: Alice <erin@client.example>" in value


def test_warnings_of_this_transaction_first_older_folded_and_a_clear_button(
    console: ConsolePage,
) -> None:
    page = console.page
    panel = console.panel("warnings")
    console.connect()
    console.type("EHLO client.example")
    console.type("MAIL FROM:alice@client.example")  # no angle brackets: a warning
    current = panel.locator("[data-group=current]")
    assert current.locator(".warning").count() == 1
    console.type("RSET")  # the transaction is over: its warning is folded away
    assert panel.locator("[data-group=current]").locator(".warning").count() == 0
    earlier = panel.locator("details[data-group=earlier]")
    assert earlier.get_attribute("open") is None
    assert "(1)" in earlier.locator("summary").text_content()
    assert not earlier.locator(".warning").first.is_visible()
    console.type("MAIL FROM:<alice@client.example>")
    console.type("RCPT TO:bob@sandbox.test")  # a new mistake in the new transaction
    assert panel.locator("[data-group=current] .warning").count() == 1
    assert "bob@sandbox.test" in panel.locator("[data-group=current] .warning").text_content()
    assert_accessible(page, "warnings panel", "[data-panel=warnings]")
    panel.get_by_role("button", name="Clear warnings").click()
    assert panel.locator(".warning").count() == 0
    panel.locator(".empty").wait_for()


def test_leaving_a_live_session_asks_first(page: Any, live: LiveServer) -> None:
    console = ConsolePage(page, live)
    dialogs: list[str] = []

    def stay(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.reload()  # not connected: leaves without asking
    assert dialogs == []
    console.connect()
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)
    assert dialogs == ["beforeunload"]
    assert not page.is_closed()  # the user chose to stay
    console.type("NOOP")


@pytest.fixture
def impatient(data_dir: Any, sandbox: Any) -> Iterator[LiveServer]:
    app = build_app(data_dir, sandbox, IDLE_TIMEOUT=4.0)
    with LiveServer(app) as live:
        yield live


def test_a_visible_countdown_before_the_idle_timeout(page: Any, impatient: LiveServer) -> None:
    console = ConsolePage(page, impatient)
    countdown = page.locator("#idle")
    assert countdown.is_hidden()
    console.connect()
    countdown.wait_for(state="visible", timeout=10_000)
    assert "closes this session in" in countdown.text_content()
    assert countdown.get_attribute("role") == "timer"
    page.locator("#status", has_text="Closed").wait_for(timeout=10_000)
    assert page.locator(".line.info", has_text="idle").count() == 1
    assert countdown.is_hidden()


def test_reconnecting_keeps_the_earlier_sessions_share_links(console: ConsolePage) -> None:
    page = console.page
    console.connect()
    first = page.evaluate("document.body.dataset.transcript")
    console.quit()
    console.connect()
    second = page.evaluate("document.body.dataset.transcript")
    assert first != second
    sessions = page.locator("#share-links .share-session")
    assert sessions.count() == 2
    assert sessions.nth(0).get_attribute("data-transcript") == second  # newest first
    assert sessions.nth(1).get_attribute("data-transcript") == first
    href = sessions.nth(1).locator("[data-link=view]").get_attribute("href")
    assert href.endswith(f"/t/{first}")


def test_copy_with_c_s_prefixes_and_swaks_style(browser: Any, live: LiveServer) -> None:
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    try:
        page = context.new_page()
        console = ConsolePage(page, live)
        console.connect()
        console.type("EHLO client.example")
        console.type("STARTTLS")
        page.locator(".line.info", has_text="* TLS TLSv").wait_for()
        console.type("EHLO client.example")

        def copied(button: str) -> list[str]:
            page.get_by_role("button", name=button, exact=True).click()
            page.locator("#status", has_text="Copied").wait_for()
            return page.evaluate("navigator.clipboard.readText()").split("\n")

        plain = copied("Copy")
        assert "C: EHLO client.example" in plain
        assert any(line.startswith("S: 220 ") for line in plain)
        assert any(line.startswith("S: 250") for line in plain)
        swaks = copied("Copy as swaks")
        assert swaks[0].startswith("=== ")
        assert swaks.count(" -> EHLO client.example") == 1  # before TLS
        assert swaks.count(" ~> EHLO client.example") == 1  # after TLS, encrypted
        assert " -> STARTTLS" in swaks
        assert any(line.startswith("<-  220 ") for line in swaks)
        assert any(line.startswith("<~  250") for line in swaks)
        console.quit()
    finally:
        context.close()
