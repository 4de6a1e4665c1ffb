"""The worker gives large freed buffers back to the system (gunicorn.conf.py's post_fork).

Each case runs in a fresh interpreter, so that the allocator starts as a worker's does.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
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


def run_program(program: str, mode: str) -> float:
    """Run a case in a fresh interpreter; the number it prints (MB)."""
    out = subprocess.run(
        [sys.executable, "-c", program, mode, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(out.stdout)


def freed_mb(mode: str) -> float:
    return run_program(PROGRAM, mode)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_forty_freed_megabytes_go_back_to_the_system_with_the_fixed_threshold() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt: Linux only")
    assert freed_mb("fixed") >= 35  # of the 40 MiB freed
    # and the reason for the setting: glibc's own dynamic threshold keeps them
    assert freed_mb("default") < 5


# Many small blocks (below the mmap threshold, so from the heap) freed out of order: glibc keeps
# the pages mapped until malloc_trim walks the heap, which QuietTrim's pass does.
TRIM_PROGRAM = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from web.serve.memory import QuietTrim

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    blocks = [bytearray(100 * 1024) for _ in range(400)]
    pins = blocks[::40]  # a few survivors keep the heap's top from shrinking by itself
    del blocks
    held = rss_mb()
    if sys.argv[1] == "trim":
        QuietTrim().run_once()
    print(held - rss_mb())
    """
)


def trimmed_mb(mode: str) -> float:
    return run_program(TRIM_PROGRAM, mode)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux only")
def test_a_quiet_pass_gives_freed_heap_pages_back() -> None:
    # 40 MB of 100 KB blocks freed, 10 of them kept: without a trim glibc keeps nearly all
    assert trimmed_mb("none") < 5
    assert trimmed_mb("trim") >= 30


def test_a_burst_of_ends_costs_one_pass_once_it_is_quiet() -> None:
    from web.serve.memory import QuietTrim

    trim = QuietTrim(quiet=0.2, spacing=0.0)
    for _ in range(50):
        trim.opened()
    for _ in range(50):
        trim.ended()
    assert trim.passed.wait(10), "no pass after the burst went quiet"
    assert trim.passes == 1
    trim.passed.clear()
    trim.opened()
    trim.ended()  # a later end: one more pass, once quiet again
    assert trim.passed.wait(10)
    assert trim.passes == 2


def test_steady_ends_still_get_a_pass_within_at_most() -> None:
    from web.serve.memory import QuietTrim

    trim = QuietTrim(quiet=60.0, spacing=0.0, at_most=0.3)
    stop = threading.Event()

    def keep_ending() -> None:
        while not stop.is_set():
            trim.opened()
            trim.ended()
            stop.wait(0.02)

    t = threading.Thread(target=keep_ending, daemon=True)
    t.start()
    try:
        assert trim.passed.wait(10), "churn that never goes quiet must not put passes off"
    finally:
        stop.set()
        t.join()


def test_no_full_pass_while_many_consoles_are_open() -> None:
    # A full collection stops every open console (60-340 ms with 1,000 open): a class in
    # session, one student leaving now and then, never pays for it.
    from web.serve.memory import QuietTrim

    trim = QuietTrim(quiet=0.05, spacing=0.0, few=3)
    for _ in range(10):
        trim.opened()
    for _ in range(5):
        trim.ended()  # 9, 8, ... 5 open: more than few
    assert not trim.passed.wait(0.5), "a pass ran with 5 consoles open"
    assert trim.passes == 0
    trim.ended()
    trim.ended()  # 3 open: few enough
    assert trim.passed.wait(10)
    assert trim.passes == 1 and trim.open == 3


GEVENT_PROGRAM = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import web.serve.memory  # before the patch, as gunicorn.conf.py's post_fork imports it
    web.serve.memory.enable_quiet_trim()  # as post_fork does

    from gevent import monkey
    monkey.patch_all()
    import gevent
    import web.views.ws  # the app's WebSocket routes, loaded after the patch as in a worker
    from web.serve.memory import quiet_trim

    def console(n):
        trim = quiet_trim()  # as each WebSocket route asks for it: the first ones at once
        trim.quiet, trim.spacing = 0.05, 0.0
        trim.opened()
        gevent.sleep(0.001 * (n % 7))
        trim.ended()

    for round in range(3):
        gevent.joinall([gevent.spawn(console, n) for n in range(40)], timeout=10)
        trim = quiet_trim()
        assert trim.passed.wait(10), "no pass"
        trim.passed.clear()
    print("passes", trim.passes, "open", trim.open)
    """
)


def test_quiet_trim_under_gevent_never_blocks_the_worker() -> None:
    # Made, opened and ended from many greenlets at once while the pass's thread (a greenlet)
    # starts: a native lock held across a switch (Thread.start(), find_library's subprocess)
    # twice blocked the whole worker (gunicorn killed it).
    out = subprocess.run(
        [sys.executable, "-c", GEVENT_PROGRAM, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "open 0" in out.stdout
    assert int(out.stdout.split()[1]) >= 3
