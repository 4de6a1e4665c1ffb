"""Error pages: people get the site's page with its navigation; /api/* callers get JSON."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import abort

from tests.conftest import build_app

NAV = ["Console", "Transcripts", "Sandbox inbox", "Captured", "Explain", "Classroom"]


def assert_site_page(response: Any, status: int, back: str) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    nav = re.search(r"<nav>(.*?)</nav>", html, re.S)
    assert nav is not None and all(f">{label}</a>" in nav.group(1) for label in NAV)
    assert re.search(rf'<a id="error-back" href="{re.escape(back)}">Back to ', html)
    return html


# What was asked for, and where the page's link leads back to.
UNKNOWN = {
    "transcript": ("/t/no-such-transcript", "/transcripts"),
    "embed": ("/t/no-such-transcript/embed", "/transcripts"),
    "sandbox-message": ("/sandbox/no-such-message", "/sandbox"),
    "elsewhere": ("/no/such/page", "/"),
}


@pytest.mark.parametrize("path, back", UNKNOWN.values(), ids=UNKNOWN.keys())
def test_unknown_pages_are_the_sites_404_with_a_way_back(client, path, back):
    html = assert_site_page(client.get(path), 404, back)
    assert "There is nothing at this address." in html


def test_a_method_the_page_does_not_take_is_405_in_words(client):
    html = assert_site_page(client.post("/transcripts"), 405, "/transcripts")
    assert "does not answer that kind of request" in html


def test_a_refused_websocket_origin_says_why_on_the_page(client):
    response = client.get("/ws", headers={"Origin": "http://evil.example"})
    html = assert_site_page(response, 403, "/")
    assert "origin may not open the playground" in html


@pytest.mark.parametrize("status", [400, 403, 404, 405, 413, 429, 500])
def test_every_listed_status_gets_the_styled_page(data_dir, sandbox, status):
    app = build_app(data_dir, sandbox)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # let a crash reach its handler, as in production

    @app.get("/fails/<int:code>")
    def fails(code: int) -> str:
        if code == 500:
            raise RuntimeError("internals that stay in the log")
        abort(code)

    html = assert_site_page(app.test_client().get(f"/fails/{status}"), status, "/")
    assert "internals" not in html


def test_api_errors_stay_json_in_each_apis_shape(client):
    missing = client.get("/api/sandbox/messages/no-such-message/raw")
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "There is nothing at this address.", "code": "not_found"}
    assert client.get("/api/no-such-endpoint").get_json()["code"] == "not_found"
    wrong_method = client.put("/api/sandbox/messages")  # GET lists, DELETE empties; no PUT
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["code"] == "method_not_allowed"
    transcript = client.get("/api/transcripts/no-such-transcript")
    assert transcript.status_code == 404
    assert transcript.get_json()["error"]["code"] == "not_found"
    assert client.put("/api/transcripts").get_json()["error"]["code"] == "method_not_allowed"


def test_the_404_page_in_the_browser_has_the_navigation(page, live):
    response = page.goto(live.url + "/t/no-such-transcript")
    assert response is not None and response.status == 404
    nav = page.locator("header.topbar nav a")
    assert nav.all_text_contents() == NAV
    page.locator("#error-back").click()
    page.wait_for_url(live.url + "/transcripts")
