"""The command-line entry points: python app.py and flask --app app run, bound to loopback."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _listening_on(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp)."""
    found = set()
    with open("/proc/net/tcp") as f:
        for row in f.read().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hexport = local.split(":")
            if int(hexport, 16) == port and state == "0A":
                octets = [str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)]
                found.add(".".join(octets))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("how", ["python", "flask"])
def test_the_app_starts_with_its_sandbox_on_loopback_only(tmp_path, how):
    port, smtp_port, tls_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PLAYGROUND_DATA_DIR": str(tmp_path),
        "PLAYGROUND_SANDBOX_PORT": str(smtp_port),
        "PLAYGROUND_SANDBOX_TLS_PORT": str(tls_port),
    }
    if how == "python":
        cmd = [sys.executable, "app.py", "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        page = _wait_http(f"http://127.0.0.1:{port}/", proc)
        assert "SMTP Playground" in page
        assert _listening_on(port) == {"127.0.0.1"}
        assert _listening_on(smtp_port) == {"127.0.0.1"}
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            assert smtp.ehlo()[0] == 250
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


def test_settings_come_from_flags_and_environment():
    from web.config import add_arguments, from_arguments, from_environ

    env = from_environ({"PLAYGROUND_SANDBOX_PORT": "3525", "PLAYGROUND_START_SANDBOX": "0"})
    assert env["SANDBOX_PORT"] == 3525 and env["START_SANDBOX"] is False
    assert env["HOST"] == "127.0.0.1"
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "8080", "--data-dir", "/tmp/x"])
    assert from_arguments(args) == {"PORT": 8080, "DATA_DIR": Path("/tmp/x")}


def test_serving_processes_tune_the_garbage_collector_for_many_consoles() -> None:
    """python app.py and wsgi.py call tune_gc(): start-up objects out of full passes, larger
    young generations (docs/production.md, garbage-collector pauses)."""
    import gc

    from app import tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 10_000  # the app's modules and their objects
        assert gc.get_threshold() == (10_000, 20, 100)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert "tune_gc()" in (ROOT / "wsgi.py").read_text()
