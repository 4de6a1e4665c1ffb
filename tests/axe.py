"""axe-core in the browser tests: inject the npm copy into a page and run the WCAG A/AA rules.

axe-core is pinned in package.json/package-lock.json and installed by ``make test`` (``npm ci``)
into node_modules/, never vendored. Every browser test file can call :func:`assert_accessible`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

AXE_JS = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# The rule sets the developers' guide asks for: WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _axe_path() -> Path:
    if not AXE_JS.exists():
        reason = f"axe-core is not installed ({AXE_JS} missing): run `make test` or `npm ci`"
        if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE_JS


def axe_violations(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """The axe-core WCAG 2.1 AA violations on the page as it is now (``context``: a selector)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        try:
            page.add_script_tag(path=str(_axe_path()))
        except Exception:  # the pages' CSP (script-src 'self') refuses inline scripts
            page.evaluate(f"() => {{ {_axe_path().read_text(encoding='utf-8')}\n}}")
            assert page.evaluate("() => typeof window.axe === 'object'"), "axe-core did not load"
    return page.evaluate(
        """async ([context, tags]) => {
            const result = await axe.run(context || document,
                                         {runOnly: {type: 'tag', values: tags}});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => ({target: n.target.join(' '),
                                                        summary: n.failureSummary})),
            }));
        }""",
        [context, WCAG_TAGS],
    )


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations in words, one rule a paragraph, for an assertion message."""
    parts = []
    for v in violations:
        nodes = "\n".join(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
        parts.append(f"{v['id']} ({v['impact']}): {v['help']}\n{nodes}")
    return "\n".join(parts)


def assert_accessible(page: Any, where: str = "", context: str | None = None) -> None:
    """Fail with every WCAG 2.1 A/AA violation axe-core finds on the page, in words."""
    violations = axe_violations(page, context)
    assert not violations, f"axe-core on {where or page.url}:\n{describe(violations)}"
