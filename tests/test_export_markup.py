"""Markdown and HTML exports stay inert and read well whatever an imported file holds (#13, #15).

The attack: a transcript imported with a ``target`` holding a backtick, blank lines and
``<img src=x onerror=...>`` gave a Markdown export where the tag stood outside any code span,
so a CommonMark renderer ran the script. Here arbitrary strings go into every field an import
carries, through the real import route, and the export is rendered with markdown-it-py
(CommonMark): nothing but the export's own elements may appear.
"""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.test_import import encode, good
from transcripts.exports._common import describe_event, printable

# Characters that mean something to Markdown or HTML, so that examples hit them often.
_MARKUP = list("`*_[]()<>#+-=|~!&\\:;/\"' \t\n\r1.x") + ["```", "<img src=x onerror=alert(1)>"]
TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(_MARKUP), max_size=20).map("".join),
)
NOTE_TEXT = TEXT.filter(lambda text: bool(text.strip()))
# What the export itself writes: everything else in a rendering came from the data.
BLOCKS = {
    "heading_open",
    "heading_close",
    "paragraph_open",
    "paragraph_close",
    "bullet_list_open",
    "bullet_list_close",
    "list_item_open",
    "list_item_close",
    "inline",
    "fence",
}
INLINE = {"text", "code_inline", "softbreak"}
HEADINGS = {"What the lines mean", "Notes"}
HTML_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "dl", "dt", "dd", "p"}
HTML_TAGS |= {"div", "b", "table", "thead", "tbody", "tr", "th", "td", "span"}
HTML_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class"}


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    """The good v1 document with a drawn string in every text field an import carries."""
    doc = copy.deepcopy(good())
    meta = doc["transcript"]
    for field in ("title", "description", "target", "close_reason"):
        meta[field] = draw(TEXT)
    connect, greeting, mail, reply = doc["entries"]
    connect["data"] = {"host": draw(TEXT), "port": draw(TEXT), "address": draw(TEXT)}
    greeting["lines"] = draw(st.lists(TEXT, min_size=1, max_size=3))
    greeting["malformed"] = draw(st.none() | TEXT)
    mail["text"] = draw(TEXT)
    reply["lines"] = [draw(TEXT)]
    closed = {"seq": 4, "t": 990, "kind": "event", "event": "closed"}
    closed["data"] = {"reason": draw(TEXT), "code": draw(TEXT)}
    error = {"seq": 5, "t": 991, "kind": "event", "event": "error"}
    error["data"] = {"message": draw(TEXT), draw(TEXT): draw(TEXT)}
    doc["entries"] += [closed, error]
    for note in doc["notes"]:
        note["text"], note["author"] = draw(NOTE_TEXT), draw(st.none() | TEXT)
    return doc


def _imported(client: Any, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    created = client.post("/api/transcripts/import", data=encode(doc))
    assert created.status_code == 201, created.get_json()
    tid = created.get_json()["id"]
    return tid, client.get(f"/api/transcripts/{tid}").get_json()


def _expected_lines(stored: dict[str, Any]) -> list[str]:
    lines = []
    for entry in stored["entries"]:
        if entry["kind"] == "sent":
            lines.append("C: " + printable(entry["text"]))
        elif entry["kind"] == "reply":
            lines += ["S: " + printable(text) for text in entry["lines"] or [""]]
        else:
            lines.append("* " + printable(describe_event(entry)))
    return lines


def _walk(tokens: list[Token]) -> list[Token]:
    found = []
    for token in tokens:
        found.append(token)
        found += _walk(token.children or [])
    return found


def _check_markdown(text: str, stored: dict[str, Any]) -> None:
    tokens = MarkdownIt("commonmark").parse(text)
    assert {t.type for t in tokens} <= BLOCKS, {t.type for t in tokens} - BLOCKS
    children = [c for t in tokens for c in _walk(t.children or [])]
    assert {c.type for c in children} <= INLINE, {c.type for c in children} - INLINE
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].content == "\n".join(_expected_lines(stored)) + "\n"
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    levels = [t.tag for t in tokens if t.type == "heading_open"]
    assert levels[0] == "h1" and levels.count("h1") == 1 and set(headings[1:]) <= HEADINGS
    # The escapes are lossless: the title and the target read exactly as they were.
    meta = stored["transcript"]
    title = printable(meta["title"] or f"SMTP session with {meta['target']}").strip()
    assert _plain(tokens[1]) == (title or "Transcript")
    spans = [c.content for c in children if c.type == "code_inline"]
    if meta["target"]:
        assert printable(meta["target"]) in spans


def _plain(inline: Token) -> str:
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs |= {name for name, _value in attrs}


def _check_html(text: str) -> None:
    parser = Tags()
    parser.feed(text)
    assert parser.tags <= HTML_TAGS and parser.attrs <= HTML_ATTRS


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=documents())
def test_no_imported_field_adds_markup_to_markdown_or_html(
    client: Any, doc: dict[str, Any]
) -> None:
    tid, stored = _imported(client, doc)
    markdown = client.get(f"/api/transcripts/{tid}/export?format=md").get_data(as_text=True)
    _check_markdown(markdown, stored)
    rendered = Tags()
    rendered.feed(MarkdownIt("commonmark").render(markdown))
    assert rendered.tags <= {"h1", "h2", "p", "ul", "li", "code", "pre"}
    assert rendered.attrs <= {"class"}  # the fence's language-text
    _check_html(client.get(f"/api/transcripts/{tid}/export?format=html").get_data(as_text=True))


def test_the_target_from_the_report_stays_in_its_code_span(client: Any) -> None:
    doc = good()
    doc["transcript"]["target"] = "x`` y\n\n<img src=x onerror=alert(1)>\n\n`"
    tid, stored = _imported(client, doc)
    markdown = client.get(f"/api/transcripts/{tid}/export?format=md").get_data(as_text=True)
    _check_markdown(markdown, stored)
    html = MarkdownIt("commonmark").render(markdown)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
