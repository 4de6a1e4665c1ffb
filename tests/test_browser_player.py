"""The replay player in a real browser: the seekable timeline and its markers, the keys, the
embed options, whole-transcript notes and the embed snippet, on a session recorded over the
console WebSocket against the real sandbox (STARTTLS, AUTH, a message, QUIT)."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import DEMO_PASSWORD, DEMO_USER

pytestmark = pytest.mark.browser

STEPS = ["Greeting", "EHLO", "STARTTLS", "EHLO", "AUTH", "Message 1", "QUIT"]


@pytest.fixture
def recorded(ws: Any) -> tuple[str, str]:
    """EHLO, STARTTLS, EHLO, AUTH PLAIN, one message, QUIT: (id, edit token)."""
    ws.connect()
    ws.ehlo()
    assert ws.command("STARTTLS")["code"] == 220
    ws.wait_for("tls")
    ws.ehlo()
    plain = base64.b64encode(f"\0{DEMO_USER}\0{DEMO_PASSWORD}".encode()).decode()
    assert ws.command(f"AUTH PLAIN {plain}")["code"] == 235
    reply = ws.send_message("alice@example.com", ["bob@example.com"], ["Subject: Hi", "", "Hi."])
    assert reply["code"] == 250
    ws.command("QUIT")
    ws.wait_for("closed")
    frame = next(f for f in ws.frames if f["type"] == "session")
    return frame["transcript"], frame["edit_token"]


@pytest.fixture
def player(page: Any, live: Any, recorded: tuple[str, str]) -> Iterator[Any]:
    page.add_init_script(WATCH)
    page.goto(f"{live.url}/t/{recorded[0]}")
    page.wait_for_selector("#replay[data-ready='1'][data-frames='1']")
    yield page


# Every value the slider and the play button take, recorded in the page as they change.
WATCH = """
document.addEventListener('DOMContentLoaded', () => {
  window.seen = { now: [], pressed: [], live: [] };
  new MutationObserver(() => {
    window.seen.now.push(Number(document.getElementById('timeline').getAttribute('aria-valuenow')));
    window.seen.pressed.push(document.getElementById('play').getAttribute('aria-pressed'));
    window.seen.live.push(document.getElementById('position').getAttribute('aria-live'));
  }).observe(document.getElementById('replay'), { attributes: true, subtree: true,
    attributeFilter: ['aria-valuenow', 'aria-pressed', 'aria-live'] });
});
"""


def position(page: Any) -> tuple[int, int]:
    match = re.match(r"(\d+) / (\d+)", page.locator("#position").text_content())
    assert match
    return int(match.group(1)), int(match.group(2))


def slider_now(page: Any) -> int:
    return int(page.locator("#timeline").get_attribute("aria-valuenow"))


def test_timeline_is_a_slider_with_a_marker_per_step(player: Any) -> None:
    slider = player.get_by_role("slider", name="Position in the recording")
    _, total = position(player)
    assert slider.get_attribute("aria-valuemax") == str(total)
    assert slider_now(player) == total  # opened at the end
    assert slider.get_attribute("aria-valuetext").startswith(f"Line {total} of {total}")
    assert player.locator("#markers .marker").all_text_contents() == STEPS
    assert player.locator("#timeline .tick").count() == len(STEPS)

    # A click at the left edge shows nothing yet; at the right edge, everything.
    box = slider.bounding_box()
    player.mouse.click(box["x"] + 1, box["y"] + box["height"] / 2)
    assert slider_now(player) <= 1
    # Dragging from the left to the right edge moves through the session.
    player.mouse.move(box["x"] + 2, box["y"] + 12)
    player.mouse.down()
    left = slider_now(player)
    player.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 12)
    middle = slider_now(player)
    player.mouse.move(box["x"] + box["width"] - 1, box["y"] + 12)
    player.mouse.up()
    assert left <= middle <= total and slider_now(player) == total
    assert player.locator(".entry.future").count() == 0

    # A marker button goes to its line.
    player.locator("#markers .marker", has_text="AUTH").click()
    auth = player.locator(".entry.current .line.sent")
    assert auth.text_content().startswith("AUTH PLAIN")
    assert player.locator(".entry:not(.future)").count() == slider_now(player)


def test_keys_move_through_the_recording(player: Any) -> None:
    _, total = position(player)
    player.locator("#timeline").focus()
    player.keyboard.press("Home")
    assert slider_now(player) == 0 and player.locator(".entry:not(.future)").count() == 0
    player.keyboard.press("]")
    assert "ESMTP" in player.locator(".entry.current").text_content()  # the greeting
    greeting = slider_now(player)
    player.keyboard.press("]")
    assert "EHLO" in player.locator(".entry.current").text_content()
    player.keyboard.press("[")
    assert slider_now(player) == greeting
    player.keyboard.press(".")
    assert slider_now(player) == greeting + 1
    player.keyboard.press(",")
    assert slider_now(player) == greeting
    player.keyboard.press("End")
    assert slider_now(player) == total
    player.keyboard.press("0")
    assert slider_now(player) == 0
    player.keyboard.press("5")
    half = slider_now(player)
    player.keyboard.press("9")
    assert 0 < half <= slider_now(player) <= total
    # Space plays from anywhere in the player, even a focused marker (Enter presses it).
    player.keyboard.press("Home")
    player.locator("#markers .marker").first.focus()
    player.keyboard.press("Space")
    player.locator("#position", has_text=f"{total} / {total}").wait_for()
    assert "true" in player.evaluate("window.seen.pressed")
    # Playing, the position is not read out line by line; paused, it is.
    assert "off" in player.evaluate("window.seen.live")
    assert player.locator("#position").get_attribute("aria-live") == "polite"
    player.locator("#markers .marker", has_text="QUIT").press("Enter")
    assert "QUIT" in player.locator(".entry.current").text_content()
    player.keyboard.press("f")
    player.wait_for_function("document.fullscreenElement?.id === 'replay'")
    player.locator("#fullscreen[aria-pressed='true']").wait_for()
    player.keyboard.press("f")
    player.wait_for_function("document.fullscreenElement === null")


def test_stepping_over_starttls_lands_after_the_handshake(player: Any) -> None:
    player.locator("#markers .marker", has_text="STARTTLS").click()
    assert player.locator(".entry.current").text_content().endswith("STARTTLS")
    player.keyboard.press("ArrowRight")  # the 220 and the handshake are one step
    current = player.locator(".entry.current").text_content()
    assert "TLS established" in current
    shown = player.locator(".entry:not(.future) .line").all_text_contents()
    assert any("Ready to start TLS" in line for line in shown)
    steps = player.locator("#panels .step.current")
    assert steps.get_attribute("data-step") == "starttls"
    assert player.locator("#panels [data-badge='tls']").text_content() == "TLS on"


def test_embed_options_autoplay_speed_theme_markers(
    page: Any, live: Any, recorded: tuple[str, str]
) -> None:
    tid = recorded[0]
    page.goto(f"{live.url}/t/{tid}/embed?autoplay=1&speed=16&idle=0.2&theme=light&markers=0")
    page.wait_for_selector("#replay[data-ready='1']")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert page.locator("#speed").input_value() == "16"
    assert page.locator("#markers").is_hidden() and page.locator(".tick").count() == 0
    _, total = position(page)
    page.locator("#position", has_text=f"{total} / {total}").wait_for(timeout=15000)
    page.locator("#play", has_text="Play").wait_for()

    # A poster at the start shows nothing until play; t= starts a later part of the session.
    page.goto(f"{live.url}/t/{tid}/embed?poster=start")
    page.wait_for_selector("#replay[data-ready='1']")
    assert position(page)[0] == 0 and page.locator(".entry:not(.future)").count() == 0
    page.goto(f"{live.url}/t/{tid}/embed?t=9999")
    page.wait_for_selector("#replay[data-ready='1']")
    assert position(page)[0] == total

    # loop=1: after the end it starts again by itself.
    page.add_init_script(WATCH)
    page.goto(f"{live.url}/t/{tid}/embed?autoplay=1&loop=1&speed=16&idle=0.1")
    page.wait_for_selector("#replay[data-ready='1']")
    page.wait_for_function(
        f"() => {{ const now = window.seen.now, end = now.indexOf({total});"
        " return end !== -1 && now.slice(end).some((v) => v < 3); }",
        timeout=15000,
    )


def test_whole_transcript_notes_from_the_page(
    page: Any, live: Any, recorded: tuple[str, str]
) -> None:
    tid, token = recorded
    page.goto(f"{live.url}/t/{tid}?edit={token}")
    page.wait_for_selector("#replay[data-ready='1']")
    page.get_by_label("Note on the whole transcript").check()
    page.get_by_label("Note text").fill("Watch the <second> EHLO.")
    page.get_by_role("button", name="Add note").click()
    general = page.locator("#general-notes")
    general.locator(".note-text", has_text="Watch the <second> EHLO.").wait_for()
    assert general.get_by_role("heading").text_content() == "Notes on the whole transcript"

    general.get_by_role("button", name="Edit note").click()
    general.get_by_label("Note text").fill("Watch the second EHLO after STARTTLS.")
    general.get_by_role("button", name="Save note").click()
    general.locator(".note-text", has_text="after STARTTLS").wait_for()
    page.locator("#edit-status", has_text="Note saved.").wait_for()

    # A note on a line puts a marker on the timeline.
    page.locator("#markers .marker", has_text="QUIT").click()
    page.get_by_label("Note on line").check()
    page.get_by_label("Note text").fill("Polite goodbye")
    page.get_by_role("button", name="Add note").click()
    page.locator("#markers .marker", has_text="Note: Polite goodbye").wait_for()
    assert page.locator(".tick-note").count() == 1

    # A reader without the token sees both notes, and in the asciicast too.
    reader = page.context.browser.new_context()
    other = reader.new_page()
    other.goto(f"{live.url}/t/{tid}")
    other.wait_for_selector("#replay[data-ready='1']")
    assert other.locator("#general-notes .note-text").text_content().endswith("after STARTTLS.")
    assert other.locator(".note-edit").count() == 0
    cast = other.request.get(f"{live.url}/api/transcripts/{tid}/export?format=cast").text()
    assert '"m", "Note: Polite goodbye"' in cast and "after STARTTLS." in cast
    reader.close()

    general.get_by_role("button", name="Delete note").click()
    page.locator("#edit-status", has_text="Note deleted.").wait_for()
    assert general.is_hidden()


def test_embed_snippet_follows_the_choices(
    browser: Any, live: Any, recorded: tuple[str, str]
) -> None:
    tid = recorded[0]
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page = context.new_page()
    page.goto(f"{live.url}/t/{tid}")
    page.wait_for_selector("#replay[data-ready='1']")
    snippet = page.locator("#embed-snippet")
    assert snippet.input_value().startswith(f'<iframe src="{live.url}/t/{tid}/embed"')
    form = page.locator("#embed-form")
    form.get_by_label("Autoplay").check()
    form.get_by_label("Loop").check()
    form.get_by_label("Markers").uncheck()
    form.get_by_label("Start at (s)").fill("1.5")
    form.get_by_label("Speed").select_option("2")
    form.get_by_label("Theme").select_option("contrast")
    query = "autoplay=1&amp;loop=1&amp;t=1.5&amp;speed=2&amp;theme=contrast&amp;markers=0"
    assert f"/t/{tid}/embed?{query}" in snippet.input_value()
    page.get_by_role("button", name="Copy snippet").click()
    page.locator("#embed-status", has_text="Snippet copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == snippet.input_value()
    href = page.locator("#embed-preview").get_attribute("href")
    page.goto(href)
    page.wait_for_selector("#replay[data-ready='1']")
    assert page.evaluate("document.documentElement.dataset.theme") == "contrast"
    page.goto(f"{live.url}/t/{tid}/embed?theme=high-contrast")  # the other name for it
    page.wait_for_selector("#replay[data-ready='1']")
    assert page.evaluate("document.documentElement.dataset.theme") == "contrast"
    context.close()


SHOTS = Path(__file__).resolve().parent.parent / "docs"


def test_screenshot_of_the_player(
    browser: Any, live: Any, recorded: tuple[str, str], tmp_path: Path
) -> None:
    """The player at the STARTTLS step with a note, 1366x800; UPDATE_SCREENSHOT=1 refreshes
    docs/screenshot-player.png for the README."""
    tid, token = recorded
    update = os.environ.get("UPDATE_SCREENSHOT") == "1"
    path = SHOTS / "screenshot-player.png" if update else tmp_path / "player.png"
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.goto(f"{live.url}/t/{tid}?edit={token}")
    page.wait_for_selector("#replay[data-ready='1'][data-frames='1']")
    page.locator("#markers .marker", has_text="STARTTLS").click()
    page.keyboard.press("ArrowRight")
    page.get_by_label("Note on line").check()
    page.get_by_label("Note text").fill(
        "The 220 and the handshake: from here on, everything is encrypted."
    )
    page.get_by_role("button", name="Add note").click()
    page.locator(".entry .note").wait_for()
    page.locator("#timeline").focus()
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    context.close()
