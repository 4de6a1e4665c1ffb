"""docs/architecture.md is the map of the tree: every package folder is on it, and every
path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_package_folder_is_on_the_map() -> None:
    packages = [
        p.parent.relative_to(ROOT).as_posix()
        for top in ("smtp_session", "web", "transcripts")
        for p in (ROOT / top).rglob("__init__.py")
        if "versions" not in p.parts
    ]
    missing = []
    for pkg in packages:
        leaf = pkg.split("/")[-1]
        if f"{pkg}/" not in DOC and not re.search(rf"(?<![\w/.]){re.escape(leaf)}/", DOC):
            missing.append(pkg)
    assert not missing, f"package folders missing from docs/architecture.md: {missing}"


def test_every_path_the_map_names_exists() -> None:
    named = set(
        re.findall(r"\b((?:smtp_session|web|transcripts|static|tests|bench)/[\w/.-]+\.\w+)", DOC)
    )
    gone = sorted(p for p in named if "*" not in p and not (ROOT / p).exists())
    assert not gone, f"docs/architecture.md names files that do not exist: {gone}"
