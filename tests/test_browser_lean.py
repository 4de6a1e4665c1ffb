"""Lean frames in a real browser: the panels' texts come from the knowledge document, the
socket carries keys, and the browser reads a session's frames exactly as Python does.

The console, the replay page and the embed all read lean frames (static/js/knowledge.js).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from smtp_session.guide.document import knowledge_document
from tests.conftest import wait_until
from tests.test_browser_panels import ConsolePage
from tests.test_lean_frames import record

pytestmark = pytest.mark.browser

NOOP_MEANING = knowledge_document()["layers"]["reply:250:NOOP"]["says"]


def test_panels_show_the_documents_texts_and_the_socket_carries_none(page: Any, live: Any):
    received: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: received.append(p)))
    knowledge = []
    page.on("request", lambda r: knowledge.append(r.url) if "/knowledge/" in r.url else None)
    console = ConsolePage(page, live)
    console.connect()
    console.type("EHLO client.example")
    console.type("NOOP")
    assert console.field("meaning") == NOOP_MEANING
    assert console.field("next") == "What next: Carry on."
    frames = [json.loads(text) for text in received if isinstance(text, str)]
    session = next(f for f in frames if f["type"] == "session")
    assert session["frames"] == "lean" and knowledge == [live.url + session["knowledge"]]
    noop = next(f for f in frames if f["type"] == "reply" and f.get("after") == "NOOP")
    wire = next(t for t in received if isinstance(t, str) and json.loads(t) == noop)
    assert NOOP_MEANING not in wire and "Carry on." not in wire
    assert "state" not in noop  # NOOP changed nothing; the page kept the state
    print(f"NOOP reply frame over the socket: {len(wire.encode())} B")
    # The steps panel still follows the state the page kept from the changes.
    assert console.step_status("ehlo") == "done" or console.step_status("ehlo") == "current"
    console.quit()


def test_the_browser_reads_lean_frames_as_python_does(page: Any, live: Any, ws: Any) -> None:
    """knowledge.js's reader against the replay's full frames, for a session with every kind
    of explanation (tests/test_lean_frames.py: AUTH, STARTTLS, errors, unknowns, BDAT)."""
    tid = record(ws)
    store = live.app.extensions["playground"].store
    wait_until(lambda: (t := store.get(tid)) and t.status == "closed")
    page.goto(f"{live.url}/t/{tid}")
    page.wait_for_selector("#replay[data-frames='1']")
    same = page.evaluate(
        """async (tid) => {
          const js = '/static/js/knowledge.js';
          const { loadKnowledge, FrameReader, readFrames } = await import(js);
          const get = async (q) => (await fetch(`/api/transcripts/${tid}?frames=${q}`)).json();
          const [lean, full, doc] = await Promise.all([get('lean'), get('1'), loadKnowledge()]);
          const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
            ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
          const reader = new FrameReader(doc, true);
          const one = lean.frames.map((f) => JSON.stringify(canon(reader.read(f))));
          const all = readFrames(doc, lean.frames).map((f) => JSON.stringify(canon(f)));
          const want = full.frames.map((f) => JSON.stringify(canon(f)));
          return { n: want.length, one: one.filter((f, i) => f !== want[i]).length,
                   all: all.filter((f, i) => f !== want[i]).length };
        }""",
        tid,
    )
    assert same["n"] > 40 and same["one"] == 0 and same["all"] == 0, same


@pytest.mark.parametrize("path", ["", "/embed"])
def test_replay_and_embed_show_the_documents_texts(page: Any, live: Any, ws: Any, path: str):
    tid = ws.record_classic()["transcript"]
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    greeting = next(f for f in ws.frames if f["type"] == "reply")
    page.goto(f"{live.url}/t/{tid}{path}#L{greeting['seq']}")
    page.wait_for_selector("#replay[data-frames='1']")
    meaning = page.locator("[data-panel=exchange] [data-field=meaning]").first
    meaning.wait_for()
    assert meaning.text_content() == greeting["explain"]["meaning"]
    assert any("frames=lean" in url for url in asked)
    assert not any("frames=compact" in url or "frames=1" in url for url in asked)


def test_without_the_document_the_console_asks_for_full_frames(page: Any, live: Any) -> None:
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(p)))
    page.route("**/knowledge/*", lambda route: route.abort())
    console = ConsolePage(page, live)
    console.connect()
    console.type("NOOP")
    assert console.field("meaning")  # explained all the same, from full frames
    connect = next(json.loads(p) for p in sent if '"connect"' in p)
    assert connect["frames"] == "full"
    console.quit()
