"""The front end asks the server, it does not copy it: sandbox names, the demo login and event
wording come from the server; one set of DOM helpers (static/js/dom.js)."""

from __future__ import annotations

import json
import re
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

from smtp_session.sandbox.scenarios import page_data
from tests.conftest import LiveServer, WsDriver

JS = Path(__file__).parent.parent / "static" / "js"


def test_the_console_page_carries_the_sandbox_names(client: Any) -> None:
    html = client.get("/").get_data(as_text=True)
    found = re.search(r"<div id=\"sandbox-data\" hidden data-json='([^']*)'>", html)
    assert found and json.loads(html_unescape(found.group(1))) == page_data()


def test_no_module_copies_what_the_server_or_dom_js_owns() -> None:
    copies = {
        "a DOM helper": re.compile(r"^(?:export )?(?:const \$ =|const el =|function el\()", re.M),
        "reply classes": re.compile(r"\br2xx\b"),
        "a sandbox name or the demo login": re.compile(r"sandbox\.test|demo-password|'demo'"),
    }
    found = [
        f"{path.name}: {what}"
        for path in sorted(JS.glob("*.js"))
        if path.name != "dom.js"
        for what, pattern in copies.items()
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_replay_page_words_events_as_the_exports_do(
    ws: WsDriver, live: LiveServer, page: Any, client: Any
) -> None:
    ws.connect("sandbox")
    ws.command("STARTTLS")
    ws.wait_for("tls")
    ws.command("QUIT")
    ws.wait_for("closed")
    tid = next(f for f in ws.frames if f["type"] == "session")["transcript"]
    page.goto(f"{live.url}/t/{tid}")
    page.wait_for_selector("#replay[data-ready='1']")
    shown = [t.strip() for t in page.locator(".line.info, .line.error").all_text_contents()]
    text = client.get(f"/api/transcripts/{tid}/export?format=txt").get_data(as_text=True)
    exported = [line for line in text.splitlines() if line.startswith("* ")]
    assert shown and shown == exported
    assert any("TLS established (starttls)" in line for line in shown)
