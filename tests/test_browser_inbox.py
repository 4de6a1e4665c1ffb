"""The sandbox inbox in a real browser: a message shows up while the page is open, search,
the text/HTML/headers/parts/raw views (the HTML frame runs nothing and loads nothing), an
attachment download, the links between a message and its transcript, delete one and all."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.test_inbox import HOSTILE_NAME, _plain, deliver, rich_message

pytestmark = pytest.mark.browser


class _Tracker(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        _Tracker.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tracker() -> Iterator[tuple[str, list[str]]]:
    """A loopback web server standing for a mail tracker: it records every request."""
    _Tracker.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tracker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Tracker.hits
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_message_arrives_while_the_inbox_is_open(page: Any, live: Any, sandbox: Any) -> None:
    page.goto(f"{live.url}/sandbox")
    assert page.locator("#messages td.empty").text_content().startswith("No messages yet")
    deliver(sandbox.config.port, rich_message())
    row = page.locator("#messages tr[data-id]")
    row.wait_for()
    page.locator("#inbox-status", has_text="New message: Caf\u00e9 r\u00e9sum\u00e9").wait_for()
    assert row.locator("td").nth(1).text_content() == "Ren\u00e9e Dupr\u00e9 <renee@example.com>"
    assert (
        row.locator("td").nth(3).text_content()
        == "Caf\u00e9 r\u00e9sum\u00e9 \u2014 notes 2 attachments"
    )
    deliver(sandbox.config.port, _plain("Invoice 42", "Please pay the plumber."))
    page.locator("#messages tr[data-id]", has_text="Invoice 42").wait_for()

    page.get_by_label("Search").fill("plumber")
    page.locator("#inbox-status", has_text="1 message matches “plumber”.").wait_for()
    assert page.locator("#messages tr[data-id]").count() == 1
    assert "q=plumber" in page.url
    page.get_by_label("Search").fill("")
    page.locator("#messages tr[data-id]").nth(1).wait_for()

    page.get_by_role("button", name="Delete “Invoice 42”").click()
    page.locator("#inbox-status", has_text="Deleted “Invoice 42”.").wait_for()
    assert page.locator("#messages tr[data-id]").count() == 1
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete all messages").click()
    page.locator("#inbox-status", has_text="Every message was deleted.").wait_for()
    assert sandbox.mailbox.messages() == []
    page.reload()
    assert page.locator("#messages tr[data-id]").count() == 0


def test_message_views_and_a_frame_that_loads_nothing(
    page: Any, live: Any, sandbox: Any, tracker: tuple[str, list[str]]
) -> None:
    origin, hits = tracker
    msg = rich_message()
    html = msg.get_body(preferencelist=("html",))
    html.set_content(
        f'<p id="hello">Hello <b>Bob</b></p><img src="{origin}/pixel.png">'
        f'<link rel="stylesheet" href="{origin}/style.css">'
        "<script>document.body.dataset.ran = 'yes'</script>",
        subtype="html",
    )
    mid = deliver(sandbox.config.port, msg)
    page.goto(f"{live.url}/sandbox/{mid}")
    tabs = page.get_by_role("tab")
    assert tabs.all_text_contents() == [
        "Text", "HTML", "Headers", "Parts (2 attachments)", "Raw source",
    ]  # fmt: skip
    assert page.locator("#body-text").text_content().startswith("Hello Bj\u00f6rn,")
    assert page.locator("#view-raw").is_hidden()

    # Keyboard: the arrows move between the tabs.
    page.get_by_role("tab", name="Text").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="HTML").get_attribute("aria-selected") == "true"
    frame_el = page.locator("#html-frame")
    assert frame_el.get_attribute("sandbox") == ""
    frame = page.frame_locator("#html-frame")
    assert frame.locator("#hello").text_content() == "Hello Bob"
    assert frame.locator("body").get_attribute("data-ran") is None  # no script ran
    page.wait_for_load_state("networkidle")
    assert hits == []  # neither the image nor the stylesheet was fetched

    page.get_by_role("tab", name="Headers").click()
    headers = page.locator("#headers")
    assert headers.locator("tr", has_text="Subject").locator("td").text_content() == (
        "Caf\u00e9 r\u00e9sum\u00e9 \u2014 notes"
    )
    page.get_by_role("tab", name="Parts (2 attachments)").click()
    with page.expect_download() as info:
        page.locator("#parts li[data-part='1.3'] a").click()
    download = info.value
    assert download.suggested_filename == "_.._etc__passwd_.txt" != HOSTILE_NAME
    page.get_by_role("tab", name="Raw source").click()
    assert "=?utf-8?" in page.locator("#raw").text_content()


def test_message_and_transcript_link_to_each_other(page: Any, live: Any, ws: Any) -> None:
    ws.connect()
    ws.ehlo()
    reply = ws.send_message("alice@example.com", ["bob@example.com"], ["Subject: Linked", "", "Hi"])
    ws.command("QUIT")
    ws.wait_for("closed")
    mid = reply["lines"][-1].rsplit(" ", 1)[-1]
    page.goto(f"{live.url}/sandbox/{mid}")
    page.locator("#transcript-link").click()
    page.wait_for_selector("#replay[data-ready='1']")
    assert page.url.endswith(f"#L{reply['seq']}")
    current = page.locator(f"#L{reply['seq']}")
    assert "target" in current.get_attribute("class")
    current.get_by_role("link", name="Open the message in the sandbox inbox").click()
    page.wait_for_url(f"{live.url}/sandbox/{mid}*")
    assert page.locator("#subject").text_content() == "Linked"

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete this message").click()
    page.wait_for_url(f"{live.url}/sandbox")
    assert page.locator("#messages tr[data-id]").count() == 0


SHOTS = Path(__file__).resolve().parent.parent / "docs"


def test_screenshots_of_the_inbox(browser: Any, live: Any, sandbox: Any, tmp_path: Path) -> None:
    """The inbox with a few messages and a message's HTML view, 1366x800; UPDATE_SCREENSHOT=1
    refreshes docs/screenshot-inbox.png and docs/screenshot-message.png for the README."""
    update = os.environ.get("UPDATE_SCREENSHOT") == "1"
    folder = SHOTS if update else tmp_path
    port = sandbox.config.port
    deliver(port, _plain("Greylisting explained", "Try again in five minutes."))
    deliver(port, _plain("Invoice 42", "Please pay the plumber."))
    mid = deliver(port, rich_message())
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.goto(f"{live.url}/sandbox")
    page.locator("#messages tr[data-id]").nth(2).wait_for()
    page.screenshot(path=str(folder / "screenshot-inbox.png"))
    page.goto(f"{live.url}/sandbox/{mid}#html")
    page.frame_locator("#html-frame").locator("b").wait_for()
    page.screenshot(path=str(folder / "screenshot-message.png"))
    for name in ("screenshot-inbox.png", "screenshot-message.png"):
        assert (folder / name).stat().st_size > 10_000
    context.close()


def test_failure_addresses_are_never_cut_mid_word(page: Any, live: Any) -> None:
    """Each address in "Addresses that fail on purpose" stands on one line (wide and narrow)."""
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(live.url + "/sandbox")
        lines = page.evaluate(
            """() => [...document.querySelectorAll('.scenarios td.triggers code')]
                .map(c => c.getClientRects().length)"""
        )
        assert lines and all(n == 1 for n in lines), (width, lines)
