"""The HTML export as a reader opens it, in chromium at phone, tablet and desktop widths (#15).

No sideways scrolling of the page, no protocol word broken in the middle (a long one scrolls
inside its own cell instead), and meta values that fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_import import encode, good

TOKEN = "dGhpcyBpcyBhIHZlcnkgbG9uZyBiYXNlNjQgdG9rZW4gd2l0aCBubyBzcGFjZXMgYXQgYWxs"
# Each word of each protocol line: how many visual lines it spans (more than one: broken).
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('td.line')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const words = /\\S+/g;
      let m;
      while ((m = words.exec(node.textContent))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""
CUT_VALUES = """() => [...document.querySelectorAll('dd, h1, .explain, .note')]
  .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent)"""


def _export(client: Any, tmp_path: Path) -> Path:
    doc = good()
    doc["transcript"]["target"] = "a-rather-long-mail-exchanger-name.subdomain.example.org:25"
    greeting = doc["entries"][1]
    greeting["lines"] = [
        "220-mx.example.org ESMTP Postfix (Debian/GNU) ready for a conversation with you today",
        f"220 {TOKEN} and some ordinary words that have to wrap at spaces only",
    ]
    doc["entries"][2]["text"] = "MAIL FROM:<someone.with.a.long.address@subdomain.example.net>"
    created = client.post("/api/transcripts/import", data=encode(doc)).get_json()
    html = client.get(f"/api/transcripts/{created['id']}/export?format=html").get_data()
    path = tmp_path / "export.html"
    path.write_bytes(html)
    return path


@pytest.mark.parametrize("width", [390, 768, 1366], ids=lambda w: f"{w}px")
def test_the_html_export_reads_well_at_every_width(browser, client, tmp_path, width):
    path = _export(client, tmp_path)
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        page.goto(path.as_uri())
        scroll, inner = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll <= inner, f"the page scrolls sideways: {scroll} px in {inner} px"
        assert page.evaluate(BROKEN_WORDS) == []
        assert page.evaluate(CUT_VALUES) == []
        assert page.get_by_text("Postfix (Debian/GNU) ready").is_visible()
    finally:
        context.close()
