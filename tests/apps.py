"""A real ``python app.py`` as a subprocess, for tests that kill, restart or pair apps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


class AppProcess:
    """``python app.py`` on free loopback ports, with its own data dir.

    It starts its own sandbox unless ``sandbox`` (plain and TLS ports) is given, and uses the
    SQLite file in the data dir whatever the test run's environment says, unless ``env``
    names a DATABASE_URL (or REDIS_URL) itself.
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        sandbox: tuple[int, int] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.data_dir = data_dir
        self.python = python
        self.env = dict(env or {})
        self.sandbox = sandbox
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.proc: subprocess.Popen[bytes] | None = None
        self.sandbox_ports: tuple[int, int] | None = None
        self.log = ""  # what it wrote to stderr, read when it is stopped

    def start(self, *extra: str) -> AppProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [self.python, "app.py", "--port", str(self.port), *extra]
        plain, tls = self.sandbox_ports = self.sandbox or (free_port(), free_port())
        args += ["--sandbox-port", str(plain), "--sandbox-tls-port", str(tls)]
        args += ["--data-dir", str(self.data_dir)]
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(self.env)
        if self.sandbox is not None:
            env["PLAYGROUND_START_SANDBOX"] = "0"
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"app.py exited: {stderr[-2000:]}")
            try:
                self.get("/api/transcripts")
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("app.py did not answer within 30 s")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.loads(response.read())

    def kill(self) -> None:
        """SIGKILL, and reap it: a zombie's pid would still look alive."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.log = self.proc.stderr.read().decode("utf-8", "replace")
            self.proc.stderr.close()
