"""Small modules: one over ~300 lines says why at its top (STYLE.md, "Small modules")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 300


def test_a_module_over_the_limit_says_why_in_its_docstring() -> None:
    unexplained = []
    for top in ("smtp_session", "web", "transcripts"):
        for path in (ROOT / top).rglob("*.py"):
            text = path.read_text()
            if text.count("\n") <= LIMIT:
                continue
            doc = ast.get_docstring(ast.parse(text)) or ""
            if f"Over {LIMIT} lines" not in doc:
                unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, f"modules over {LIMIT} lines with no reason at the top: {unexplained}"
