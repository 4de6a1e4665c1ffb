"""A real browser pastes the README's Quick start: each reply under its command, the held-back
message said in words, the status line following the state."""

from __future__ import annotations

import re

import pytest

from tests.test_pacing import readme_paste

pytestmark = pytest.mark.browser

PASTE_JS = """text => {
  const input = document.getElementById('input');
  input.focus();
  const data = new DataTransfer();
  data.setData('text', text);
  const options = { clipboardData: data, bubbles: true, cancelable: true };
  input.dispatchEvent(new ClipboardEvent('paste', options));
}"""


def console_lines(page) -> list[str]:
    return [t.replace("\u00a0", "") for t in page.locator("#screen .line").all_text_contents()]


def connect(page, live) -> None:
    page.goto(live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")  # the greeting


def test_the_readme_paste_shows_each_reply_under_its_command(page, live):
    connect(page, live)
    page.evaluate(PASTE_JS, "\n".join(readme_paste()) + "\n")
    page.locator(".line.reply", has_text="221").wait_for()
    lines = console_lines(page)
    expected = [
        ("MAIL FROM:<alice@example.com>", "250"),
        ("RCPT TO:<bob@example.com>", "250"),
        ("DATA", "354"),
        (".", "250"),
        ("QUIT", "221"),
    ]
    for command, code in expected:
        at = lines.index(command)
        assert lines[at + 1].startswith(code + " "), (command, lines[at : at + 3])
    # The final "." is the end of the data, not "a line of the message".
    page.locator("#screen .line.sent", has_text=re.compile(r"^\.$")).click()
    exchange = page.locator("[data-panel='exchange']").text_content()
    assert "end of the data" in exchange and "A line of the message" not in exchange


def test_a_refused_data_holds_the_message_back_and_says_so(page, live, sandbox):
    connect(page, live)
    paste = [line.replace("bob@example.com", "unknown@sandbox.test") for line in readme_paste()]
    page.evaluate(PASTE_JS, "\n".join(paste[:-1]) + "\n")  # without the QUIT
    page.locator(".line.info", has_text="4 lines were not sent").wait_for()
    lines = console_lines(page)
    assert "  (not sent) Subject: Test" in lines and "Subject: Test" not in lines
    assert not [line for line in lines if line.startswith("500 ")]
    status = page.locator("#status").text_content()
    assert "Type the message" not in status and "RCPT" in status  # MAIL stands, no recipient
    page.locator("[data-step='message']").wait_for()
    assert page.locator("[data-step='message']").get_attribute("data-status") not in (
        "done",
        "current",
    )


def test_after_the_message_the_status_line_moves_on(page, live):
    connect(page, live)
    page.evaluate(PASTE_JS, "\n".join(readme_paste()[:-1]) + "\n")
    page.locator(".line.reply", has_text="queued as").wait_for()
    assert "accepted the message" in page.locator("#status").text_content()
    assert page.locator("#prompt").text_content() == ">"


def test_an_empty_line_is_not_sent_and_the_console_says_why(page, live):
    connect(page, live)
    page.locator("#input").press("Enter")
    page.locator(".line.error", has_text="empty line was not sent").wait_for()
    assert not [line for line in console_lines(page) if line.startswith("500 ")]
