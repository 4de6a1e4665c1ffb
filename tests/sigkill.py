"""Kill a writing subprocess mid-stream, for the crash-safety tests of the store and writer."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sigkill_while_writing(script: str, *args: str, after: int = 300) -> tuple[str, int]:
    """Run ``script`` (it prints its transcript id, then each seq it acknowledged) and SIGKILL
    it once seq ``after`` is acknowledged; returns the id and the last seq acknowledged."""
    with subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        tid = writer.stdout.readline().strip()
        last = -1
        while last < after:
            last = int(writer.stdout.readline())
        writer.send_signal(signal.SIGKILL)
        for line in writer.stdout.read().split():
            last = int(line)  # acknowledged before the kill landed
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    return tid, last
