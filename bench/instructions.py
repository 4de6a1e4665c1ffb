"""Instructions per NOOP round trip in the worker, playground and bare bridge side by side.

``python bench/instructions.py [--noops N] [--json F]`` runs the app in the production layout
(gunicorn, one gevent worker) and ``bench/bridge.py`` (the bare flask-sock bridge) under
valgrind's callgrind, against the same sandbox (not under valgrind), warms each up, then
counts the instructions their worker executes for ``--noops`` NOOPs back to back on one
console (``callgrind_control`` turns the count on and off around them).

Why: on a shared 2-core machine the worker's CPU time per round trip moves by 20-30 %
between minutes, so a change of a few per cent cannot be seen in ``/proc/PID/stat``; the
instruction count is the same within ~2 % from run to run whatever else the machine is
doing. It counts user-space instructions only (no system calls, no cache misses): it says
whether a change does less work, ``bench/run.py`` says how long the work takes.

Under callgrind the worker is ~40x slower, so the transcript's group commit, which gathers
what came in during its interval, would commit after every round trip or two instead of
every ~50: the interval is stretched by the same factor (``PLAYGROUND_COMMIT_INTERVAL``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs  # noqa: E402
from bench.clients import Bridge, Playground  # noqa: E402

# The production interval (transcripts/writer.py INTERVAL, 20 ms) times callgrind's slowdown.
COMMIT_INTERVAL = "1.0"
BOOT_TIMEOUT = 600.0  # seconds for a worker under callgrind to import the app
WARMUP = 300


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--trace-children=yes", "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.%p"]  # fmt: skip


def _start(which: str, data: Path, ports: procs.SandboxPorts) -> procs.Started:
    vg = _callgrind(data)
    if which == "playground":
        slow = {"PLAYGROUND_WORKER_TIMEOUT": "900", "PLAYGROUND_COMMIT_INTERVAL": COMMIT_INTERVAL}
        return procs.start_app("gunicorn-gevent", data, ports, 100, 1, extra_env=slow, wrap=vg)
    return procs.start_bridge(data, ports, wrap=vg, args=("--timeout", "900"))


def _client(which: str, port: int) -> Any:
    """The first console, once the worker has booted (under callgrind: a minute or more)."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        try:
            return Playground(port) if which == "playground" else Bridge(port)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _total(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def count(which: str, noops: int, warmup: int = WARMUP) -> dict[str, Any]:
    """Instructions the worker of ``which`` ("playground" or "bridge") runs per NOOP."""
    with tempfile.TemporaryDirectory(prefix="playground-instr-") as tmp:
        data = Path(tmp)
        sandbox, ports = procs.start_sandbox(data)
        server = _start(which, data, ports)
        try:
            client = _client(which, server.port)
            client.command("EHLO bench.example")
            for _ in range(warmup):
                client.command("NOOP")
            worker = str(procs.workers(server.proc.pid)[0])
            control = ["callgrind_control"]
            subprocess.run(control + ["--instr=on", worker], check=True, capture_output=True)
            for _ in range(noops):
                client.command("NOOP")
            subprocess.run(control + ["--dump", worker], check=True, capture_output=True)
            subprocess.run(control + ["--instr=off", worker], check=True, capture_output=True)
            client.close()
            dumps = sorted(data.glob(f"callgrind.{worker}.*"))
            if not dumps:
                raise RuntimeError(f"callgrind wrote no dump for worker {worker}")
            total = sum(_total(path) for path in dumps)
        finally:
            server.stop()
            sandbox.stop()
    return {"noops": noops, "instructions": total, "per_round_trip": total / noops}


def missing() -> str | None:
    """Why the count cannot run here, or None."""
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        return None
    return "valgrind is not installed (Debian: apt-get install valgrind)"


def both(noops: int, warmup: int = WARMUP) -> dict[str, Any]:
    """The playground's and the bridge's counts and their ratio (``missing()`` first)."""
    result: dict[str, Any] = {side: count(side, noops, warmup) for side in ("playground", "bridge")}
    result["ratio"] = round(
        result["playground"]["per_round_trip"] / result["bridge"]["per_round_trip"], 2
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noops", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="NOOPs before counting")
    parser.add_argument("--only", choices=("playground", "bridge"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if reason := missing():
        print(reason, file=sys.stderr)
        return 2
    if args.only:
        result: dict[str, Any] = {args.only: count(args.only, args.noops, args.warmup)}
    else:
        result = both(args.noops, args.warmup)
    for name in ("playground", "bridge"):
        if name in result:
            print(f"{name:10s} {result[name]['per_round_trip'] / 1000:8.1f} k instructions per "
                  f"NOOP round trip in the worker ({args.noops} NOOPs)")  # fmt: skip
    if "ratio" in result:
        print(f"playground / bridge: {result['ratio']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
