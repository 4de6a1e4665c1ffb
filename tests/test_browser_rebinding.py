"""DNS rebinding in a real chromium: a page from a name that resolves to 127.0.0.1 (#13).

Chromium is launched with ``--host-resolver-rules`` so that ``rebind.attacker.example`` is
127.0.0.1, the state a rebinding attack reaches. The attacker's page itself is the first answer
the browser got (served here by Playwright, as the attacker's server would); everything the
page then asks for goes over the network to the real app on 127.0.0.1. Chromium's own Local
Network Access checks are switched off: they are Chromium's, and the app must not need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer, build_app
from tests.test_hosts import REBIND, _import_one

ATTACK_PAGE = """<!DOCTYPE html><html><body><script>
window.attack = (async () => {
  const result = {};
  try {
    const response = await fetch('/api/transcripts');
    result.status = response.status;
    result.body = await response.text();
  } catch (error) { result.fetchError = String(error); }
  result.ws = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onerror = () => resolve('error');
  });
  return result;
})();
</script></body></html>"""


@pytest.fixture
def rebinding_browser(browser: Any) -> Iterator[Any]:
    """A chromium of its own in which the attacker's name resolves to 127.0.0.1."""
    own = browser.browser_type.launch(
        executable_path="/usr/bin/chromium",
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--host-resolver-rules=MAP {REBIND} 127.0.0.1",
            # Chromium's own Local Network Access checks would refuse a page it counts as
            # public reaching 127.0.0.1; other browsers have none, so the app must hold alone.
            "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,"
            "PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults",
        ],
    )
    yield own
    own.close()


def _attack(rebinding_browser: Any, live: LiveServer) -> dict[str, Any]:
    context = rebinding_browser.new_context()
    page = context.new_page()
    url = f"http://{REBIND}:{live.port}/"
    # Only the attacker's page is answered here; its fetch and WebSocket reach the real app.
    page.route(url, lambda route: route.fulfill(body=ATTACK_PAGE, content_type="text/html"))
    try:
        page.goto(url)
        result: dict[str, Any] = page.evaluate("window.attack")
        return result
    finally:
        context.close()


def test_a_rebound_page_reads_nothing_and_opens_no_websocket(rebinding_browser, live):
    tid = _import_one(live)
    result = _attack(rebinding_browser, live)
    assert result.get("status") == 400, result  # the app itself answered, and refused
    assert tid not in result["body"] and "PLAYGROUND_ALLOWED_HOSTS" in result["body"]
    assert result["ws"] == "error"


def test_the_same_page_gets_through_once_the_name_is_allowed(rebinding_browser, data_dir, sandbox):
    """The control: the attack is real, and only the Host list stops it."""
    with LiveServer(build_app(data_dir, sandbox, ALLOWED_HOSTS=REBIND)) as live:
        tid = _import_one(live)
        result = _attack(rebinding_browser, live)
    assert result["status"] == 200 and tid in result["body"]
    assert result["ws"] == "open"
