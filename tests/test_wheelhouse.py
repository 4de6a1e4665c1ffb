"""A room with no network: `make wheelhouse`, then install and start with the index switched off.

Building the wheelhouse needs the package index; when it cannot be reached the test skips with
pip's words, unless REQUIRE_WHEELHOUSE=1 (set by .ci/run), which makes it mandatory. The
install itself runs with pip's configuration ignored, ``--no-index``, and, where the machine
allows it (root, util-linux's unshare), in a network namespace with no network at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apps import ROOT, AppProcess

pytestmark = pytest.mark.slow

UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|ConnectTimeout|ProxyError|Max retries|"
    r"from versions: none"
)


def _build(wheelhouse: Path) -> None:
    """``make wheelhouse`` into ``wheelhouse``; skip (or fail in CI) if the index is unreachable."""
    done = subprocess.run(
        ["make", "--no-print-directory", "wheelhouse", f"WHEELHOUSE={wheelhouse}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode == 0:
        return
    words = (done.stdout + done.stderr)[-1500:]
    if UNREACHABLE.search(words) and os.environ.get("REQUIRE_WHEELHOUSE", "") in ("", "0"):
        pytest.skip(f"the package index is unreachable, no wheelhouse to build: {words}")
    raise AssertionError(f"make wheelhouse failed:\n{words}")


def _offline(command: list[str]) -> list[str]:
    """``command`` in a network namespace of its own (no interface up), where one can be made."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n", *command]
    return command


def test_the_app_installs_and_starts_from_the_wheelhouse_with_no_index(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    _build(wheelhouse)
    wheels = sorted(p.name for p in wheelhouse.iterdir())
    assert wheels and all(name.endswith(".whl") for name in wheels), wheels

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no extra index or find-links from the machine's pip
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    install += ["--no-index", "--find-links", str(wheelhouse), "--require-hashes"]
    install += ["-r", str(ROOT / "requirements.lock")]
    done = subprocess.run(_offline(install), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    # The app from that venv (and nothing else) starts, opens its sandbox and serves the console.
    app = AppProcess(tmp_path / "data", python=str(venv / "bin" / "python")).start()
    try:
        assert app.get("/api/transcripts") is not None
    finally:
        app.stop()
