"""A recorded session replayed in a real browser: notes, share link, stepping, panels, exports."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTE = 'The server lists <its> extensions & "keywords" here.'


def api_json(live: Any, path: str) -> Any:
    with urllib.request.urlopen(live.url + path, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def recorded(ws: Any) -> tuple[str, str]:
    """A classic transaction recorded over the console WebSocket: (id, edit token)."""
    frame = ws.record_classic()
    return frame["transcript"], frame["edit_token"]


@pytest.fixture
def fresh(browser: Any) -> Iterator[Any]:
    """A page in a new browser context: no cookies, no storage, no edit token."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def seq_of(frames: list[dict[str, Any]], kind: str, start: str) -> int:
    return next(f["seq"] for f in frames if f["type"] == kind and f["text"].startswith(start))


def position(page: Any) -> int:
    text = page.locator("#position").text_content()
    match = re.match(r"(\d+) / (\d+)", text)
    assert match, text
    return int(match.group(1))


def test_note_by_the_owner_then_replay_from_the_share_link(
    page: Any, fresh: Any, live: Any, recorded: tuple[str, str]
) -> None:
    tid, token = recorded
    frames = api_json(live, f"/api/transcripts/{tid}?frames=1")["frames"]
    ehlo = seq_of(frames, "sent", "EHLO")

    # The owner opens the page with the token, which leaves the address bar at once.
    page.goto(f"{live.url}/t/{tid}?edit={token}")
    page.wait_for_selector("#replay[data-ready='1']")
    assert "edit=" not in page.url
    assert page.locator("#editor").is_visible()
    page.locator(f"#L{ehlo} .lines").click()
    assert page.locator("#note-target").text_content() == f"Note on line {ehlo}"
    page.locator("#note-text").fill(NOTE)
    page.get_by_role("button", name="Add note").click()
    page.locator(f"#L{ehlo} .note", has_text=NOTE).wait_for()
    page.locator("#edit-title").fill("My first <b>session</b>")
    page.get_by_role("button", name="Save title and description").click()
    page.locator("#title", has_text="My first <b>session</b>").wait_for()

    # Someone else opens the share link at the EHLO reply.
    reply = ehlo + 1
    fresh.goto(f"{live.url}/t/{tid}#L{reply}")
    fresh.wait_for_selector("#replay[data-ready='1']")
    assert fresh.locator("#title").text_content() == "My first <b>session</b>"
    assert fresh.locator(f"#L{ehlo} .note").text_content() == NOTE  # text, not markup
    assert fresh.locator("#editor").is_hidden() and fresh.locator(".note-delete").count() == 0
    target = fresh.locator(f"#L{reply}")
    assert "target" in target.get_attribute("class") and "current" in target.get_attribute("class")
    assert target.is_visible() and fresh.locator(f"#L{reply + 1}").is_hidden()
    assert position(fresh) == reply + 1
    meaning = frames[reply]["explain"]["meaning"]
    assert meaning in fresh.locator("#panels").text_content()

    # Step through with the keyboard: back one exchange, then forward again.
    fresh.keyboard.press("ArrowLeft")
    back = position(fresh)
    assert back < reply + 1 and fresh.locator(f"#L{reply}").is_hidden()
    fresh.keyboard.press("ArrowRight")
    assert position(fresh) == reply + 1
    assert meaning in fresh.locator("#panels").text_content()

    # A marker seeks to its step; play runs to the end with the original (short) timing.
    fresh.locator(".marker", has_text="Message 1").click()
    mail = seq_of(frames, "sent", "MAIL FROM")
    assert position(fresh) - 1 >= mail and fresh.locator(f"#L{mail}").is_visible()
    fresh.locator("#speed").select_option("8")
    fresh.keyboard.press("Space")
    assert fresh.locator("#play").get_attribute("aria-pressed") == "true"
    fresh.locator("#position", has_text=f"{len(frames)} / {len(frames)}").wait_for(timeout=10000)
    fresh.locator("#play", has_text="Play").wait_for()
    assert fresh.locator(".entry.future").count() == 0
    assert "closed" in fresh.locator("#status-badge").text_content()


def test_play_from_the_start_reveals_lines_in_order(
    fresh: Any, live: Any, recorded: tuple[str, str]
) -> None:
    tid = recorded[0]
    # The slowest speed: a scripted session lasts a few hundred ms, Pause must come first.
    fresh.goto(f"{live.url}/t/{tid}?speed=0.1")
    fresh.wait_for_selector("#replay[data-ready='1']")
    total = fresh.locator(".entry").count()
    assert position(fresh) == total  # opened at the end: the whole session is shown
    fresh.get_by_role("button", name="▶ Play").click()
    fresh.get_by_role("button", name="❚❚ Pause").click()
    paused = position(fresh)
    assert paused < total and fresh.locator(".entry:not(.future)").count() == paused
    fresh.wait_for_timeout(300)
    assert position(fresh) == paused  # paused means paused


def test_embed_plays_without_editing(fresh: Any, live: Any, recorded: tuple[str, str]) -> None:
    tid, token = recorded
    fresh.goto(f"{live.url}/t/{tid}/embed?edit={token}")
    fresh.wait_for_selector("#replay[data-ready='1']")
    assert fresh.locator(".topbar").count() == 0 and fresh.locator("#editor").count() == 0
    fresh.keyboard.press("ArrowLeft")
    assert position(fresh) < fresh.locator(".entry").count()


def test_list_deletes_only_what_this_browser_may(page: Any, live: Any, ws_factory: Any) -> None:
    made = []
    for _ in range(2):
        ws = ws_factory()
        ws.connect()
        ws.command("QUIT")
        ws.wait_for("closed")
        frame = next(f for f in ws.frames if f["type"] == "session")
        made.append((frame["transcript"], frame["edit_token"]))
    (mine, token), (theirs, _) = made
    page.goto(f"{live.url}/transcripts")
    page.evaluate(
        "([id, token]) => localStorage.setItem('smtp-playground-edit-tokens',"
        " JSON.stringify({[id]: token, __proto__: 'x'}))",
        [mine, token],
    )
    page.reload()  # the list is drawn by script: wait for it, don't read it at once
    expect(page.locator(f"tr[data-id='{mine}'] button.delete")).to_have_count(1)
    expect(page.locator(f"tr[data-id='{theirs}']")).to_have_count(1)
    expect(page.locator(f"tr[data-id='{theirs}'] button")).to_have_count(0)
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-id='{mine}'] button.delete").click()
    page.locator("#list-status", has_text="Deleted").wait_for()
    expect(page.locator(f"tr[data-id='{mine}']")).to_have_count(0)
    with pytest.raises(urllib.error.HTTPError):
        api_json(live, f"/api/transcripts/{mine}")
    stored = page.evaluate("localStorage.getItem('smtp-playground-edit-tokens')")
    assert mine not in stored
    page.locator("#q").fill("221")
    page.get_by_role("button", name="Search").click()  # a GET form: a new page
    expect(page).to_have_url(re.compile(r"/transcripts\?q=221$"))
    expect(page.get_by_role("link", name="Show all")).to_be_visible()
    expect(page.locator("#transcript-list tr[data-id]")).to_have_count(1)
    expect(page.locator(f"tr[data-id='{theirs}']")).to_have_count(1)


def test_html_export_renders_offline(
    browser: Any, live: Any, recorded: tuple[str, str], tmp_path: Path
) -> None:
    tid, token = recorded
    request = urllib.request.Request(
        f"{live.url}/api/transcripts/{tid}/notes",
        data=json.dumps({"seq": 1, "text": NOTE}).encode(),
        headers={"Content-Type": "application/json", "X-Edit-Token": token},
    )
    urllib.request.urlopen(request, timeout=10).close()
    with urllib.request.urlopen(f"{live.url}/api/transcripts/{tid}/export?format=html") as r:
        path = tmp_path / "session.html"
        path.write_bytes(r.read())
    context = browser.new_context(offline=True)
    fetched: list[str] = []
    context.on("request", lambda req: fetched.append(req.url))
    page = context.new_page()
    page.goto(path.as_uri())
    assert page.locator("h1").text_content().startswith("SMTP session with sandbox")
    rows = page.locator("tbody tr")
    assert rows.count() == len(api_json(live, f"/api/transcripts/{tid}")["entries"])
    assert page.locator(".note").text_content() == NOTE
    assert page.locator("tr.C", has_text="EHLO client.example").is_visible()
    assert page.locator("script").count() == 0
    assert fetched == [path.as_uri()]
    context.close()
