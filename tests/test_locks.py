"""The hashed locks agree with the human-edited requirements files (`make lock` was run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def _name(raw: str) -> str:
    """PEP 503 normalised name: Flask-WTF, flask_wtf and flask.wtf are one package."""
    return re.sub(r"[-_.]+", "-", raw).lower()


def top_level(path: Path) -> dict[str, str]:
    """The pins of a requirements file and the files it includes with -r."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(top_level(path.parent / line[3:].strip()))
        elif match := PIN.match(line):
            pins[_name(match[1])] = match[3]
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """Each locked package's version and how many hashes it carries."""
    entries: dict[str, tuple[str, int]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = _name(match[1])
            entries[current] = (match[3], 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


@pytest.mark.parametrize(
    ("source", "lock"),
    [
        ("requirements.txt", "requirements.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
        ("bench/requirements.txt", "bench/requirements.lock"),
    ],
    ids=["runtime", "dev", "bench"],
)
def test_every_top_level_pin_is_locked_at_its_version(source: str, lock: str) -> None:
    pins = top_level(ROOT / source)
    entries = locked(ROOT / lock)
    stale = {
        name: (version, entries.get(name, ("missing", 0))[0])
        for name, version in pins.items()
        if entries.get(name, ("", 0))[0] != version
    }
    assert not stale, f"{lock} is stale, run `make lock`: {stale}"


@pytest.mark.parametrize(
    ("lock", "least"),
    [("requirements.lock", 20), ("requirements-dev.lock", 20), ("bench/requirements.lock", 10)],
)
def test_every_locked_package_carries_a_hash(lock: str, least: int) -> None:
    entries = locked(ROOT / lock)
    assert len(entries) > least  # the transitive dependencies are there, not just the top level
    assert not [name for name, (_, hashes) in entries.items() if hashes == 0]


def test_the_bench_lock_runs_the_dev_versions() -> None:
    """`make bench` installs into the dev venv: it must not move a package the suite tests."""
    dev = locked(ROOT / "requirements-dev.lock")
    bench = locked(ROOT / "bench/requirements.lock")
    assert {
        n: (v, bench[n][0]) for n, (v, _) in dev.items() if n in bench and bench[n][0] != v
    } == {}


def test_the_dev_lock_runs_the_runtime_versions() -> None:
    runtime = locked(ROOT / "requirements.lock")
    dev = locked(ROOT / "requirements-dev.lock")
    differ = {n: (v, dev.get(n, ("missing", 0))[0]) for n, (v, _) in runtime.items()}
    assert {n: pair for n, pair in differ.items() if pair[0] != pair[1]} == {}


def test_the_runtime_lock_holds_no_test_or_lint_tool() -> None:
    runtime = locked(ROOT / "requirements.lock")
    app_needs = set(top_level(ROOT / "requirements.txt"))
    tools = set(top_level(ROOT / "requirements-dev.txt")) - app_needs
    assert tools and not tools & set(runtime)
