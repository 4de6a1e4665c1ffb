"""axe-core (WCAG 2.0/2.1, A and AA) on every page, in every theme, wide and at 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.axe import assert_accessible
from tests.conftest import LiveServer
from tests.test_accounts import Auth, make_app

pytestmark = pytest.mark.browser

WIDTHS = {"wide": (1366, 800), "phone": (390, 844)}
# Dark and light as the system asks for them (the default "auto"); high contrast as chosen.
THEMES = {"dark": ("dark", None), "light": ("light", None), "contrast": ("dark", "contrast")}
CASES = [(w, t) for w in WIDTHS for t in THEMES]


@pytest.fixture
def site(data_dir: Any, sandbox: Any, ws_factory: Any, live: LiveServer) -> dict[str, str]:
    """One recorded transcript and one delivered message, so every page has content."""
    session = ws_factory().record_classic()
    [msg] = sandbox.mailbox.messages()
    tid, token = session["transcript"], session["edit_token"]
    return {
        "console": "/",
        "inbox": "/sandbox",
        "message": f"/sandbox/{msg.id}",
        "transcripts": "/transcripts",
        "replay": f"/t/{tid}",
        "replay-editing": f"/t/{tid}?edit={token}",
        "embed": f"/t/{tid}/embed",
        "explain": "/explain",
    }


def themed_context(browser: Any, width: int, height: int, theme: str) -> Any:
    """A browser context at this size in this theme, as a user would get it."""
    scheme, stored = THEMES[theme]
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    if stored:
        context.add_init_script(f"localStorage.setItem('smtp-playground-theme', '{stored}')")
    return context


@pytest.fixture(params=CASES, ids=[f"{w}-{t}" for w, t in CASES])
def sized(request: Any, browser: Any) -> Iterator[Any]:
    width, theme = request.param
    context = themed_context(browser, *WIDTHS[width], theme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


PAGES = [
    *("console", "inbox", "message", "transcripts", "replay", "replay-editing", "embed"),
    "explain",
]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_passes_axe(sized: Any, live: LiveServer, site: dict[str, str], name: str):
    sized.goto(live.url + site[name])
    sized.wait_for_load_state("networkidle")
    theme = sized.evaluate("document.documentElement.dataset.theme")
    assert_accessible(sized, f"{name} ({theme} theme)")


def test_console_mid_session_passes_axe(sized: Any, live: LiveServer) -> None:
    """The console with every panel filled: lesson, exchange, warnings, share links."""
    sized.goto(live.url + "/")
    sized.locator("#lesson-picker").select_option(index=1)
    sized.get_by_role("button", name="Connect", exact=True).click()
    sized.wait_for_selector(".line.reply.r2xx")
    for line in ["EHLO client.example", "MAIL FROM:alice@example.com"]:
        sized.locator("#input").fill(line)
        sized.locator("#input").press("Enter")
    sized.locator(".line.reply", has_text="MAIL").or_(sized.locator(".warning")).first.wait_for()
    sized.locator(".line.reply").nth(2).wait_for()
    assert_accessible(sized, "console mid-session")


def test_login_page_passes_axe(sized: Any, data_dir: Any, sandbox: Any) -> None:
    app = make_app(data_dir, sandbox)
    Auth(app).create("alice", team="red")
    with LiveServer(app) as server:
        sized.goto(server.url + "/login")
        assert_accessible(sized, "login")


def test_html_export_passes_axe(
    sized: Any, live: LiveServer, site: dict[str, str], tmp_path: Any
) -> None:
    """The HTML export is a page too (opened from a file, offline)."""
    import urllib.request

    tid = site["replay"].rsplit("/", 1)[1]
    url = f"{live.url}/api/transcripts/{tid}/export?format=html"
    with urllib.request.urlopen(url, timeout=10) as response:
        path = tmp_path / "session.html"
        path.write_bytes(response.read())
    sized.goto(path.as_uri())
    assert_accessible(sized, "HTML export")


def test_sandbox_scenarios_table_by_keyboard(sized: Any, live: LiveServer) -> None:
    """Every scenario is listed; the table's region takes focus and scrolls from the keyboard."""
    from smtp_session.sandbox.scenario_format import load_scenarios
    from tests.conftest import wait_until

    sized.goto(live.url + "/sandbox")
    rows = sized.locator("#scenarios tbody tr")
    assert rows.count() == len(load_scenarios())
    region = sized.get_by_role("region", name="Scenarios: the sandbox failing on purpose")
    region.focus()
    assert region.evaluate("r => document.activeElement === r")
    if (
        region.evaluate("r => r.scrollWidth - r.clientWidth") > 0
    ):  # at 390 px: wider than the screen
        region.press("ArrowRight")
        assert wait_until(lambda: region.evaluate("r => r.scrollLeft") > 0)
    assert_accessible(sized, "sandbox scenarios")
