"""The worker gives large freed buffers back to the system (gunicorn.conf.py's post_fork).

Each case runs in a fresh interpreter, so that the allocator starts as a worker's does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A DATA of a few MB arrives in frames of up to 1 MiB: after the first one is freed, glibc
# serves every later 1 MiB buffer from the heap, between small blocks that pin it.
PROGRAM = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from web.serve.memory import fix_mmap_threshold

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    if sys.argv[1] == "fixed" and not fix_mmap_threshold():
        sys.exit(3)
    first = bytearray(1 << 20)
    del first
    big, pins = [], []
    for _ in range(40):
        big.append(bytearray(1 << 20))
        pins.append(bytearray(64 * 1024))
    held = rss_mb()
    big.clear()
    print(held - rss_mb())
    """
)


def freed_mb(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(out.stdout)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_forty_freed_megabytes_go_back_to_the_system_with_the_fixed_threshold() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt: Linux only")
    assert freed_mb("fixed") >= 35  # of the 40 MiB freed
    # and the reason for the setting: glibc's own dynamic threshold keeps them
    assert freed_mb("default") < 5
