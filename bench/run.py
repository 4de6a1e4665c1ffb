"""Side-by-side benchmark: ``python bench/run.py [--quick] [--json out.json] [--server ...]``.

Starts its own sandbox, app and websockify on free loopback ports, measures every part against
the same sandbox in one run, prints a table and (with --json) writes the figures. Every loop is
bounded and every process it starts is stopped at the end. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench import classroom, instructions, latency, load, procs, report, throughput  # noqa: E402
from bench.capture import capture_cost  # noqa: E402
from bench.transcripts_cost import transcripts_cost  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """How much each part does; --quick keeps the whole run well under a minute."""

    roundtrips: int
    setups: int
    data_mb: float
    data_reps: int
    levels: tuple[int, ...]
    active: int
    per_active: int
    churn: int
    transcript_entries: int
    capture_sessions: int = 1200  # whole sessions per side (capture on, capture off)
    capture_latency: int = 100  # sessions timed one at a time: end -> summary visible
    instruction_noops: int = 1000  # NOOPs counted under callgrind, per side
    instruction_warmup: int = 300


FULL = Sizes(3000, 100, 20.0, 3, (100, 500, 1000), 100, 100, 1000, 10_000)
QUICK = Sizes(300, 10, 2.0, 1, (20, 50), 20, 10, 50, 500, 80, 10, 20, 20)
PARTS = (
    "roundtrip",
    "setup",
    "data",
    "churn",
    "concurrency",
    "transcripts",
    "capture",
    "classroom",
    "instructions",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--readme", type=Path, help="write the README's table (Markdown) here")
    parser.add_argument("--server", choices=sorted(procs.SERVERS), default="gunicorn-gevent")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (gunicorn-*)")
    return parser.parse_args(argv)


def with_rows(result: dict[str, Any], db: Path) -> dict[str, Any]:
    """What the round trips left in the transcript store: rows and bytes (payload + search
    text, as SQLite stores them) per NOOP round trip, for the capacity table."""
    time.sleep(0.5)  # the group commit runs every 20 ms
    tid = result["playground"].pop("transcript", None)
    if not db.exists() or tid is None:
        return result
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows, size = conn.execute(
            "SELECT count(*), coalesce(sum(length(payload) + coalesce(length(text), 0)), 0)"
            " FROM entries WHERE transcript_id = ?",
            (tid,),
        ).fetchone()
    trips = result["playground"]["n"] + 52  # + the greeting, EHLO and 50 warm-up NOOPs
    result["playground"]["db_rows_per_rt"] = round(rows / trips, 2)
    result["playground"]["db_bytes_per_rt"] = round(size / trips)
    return result


def instruction_counts(noops: int, warmup: int) -> dict[str, Any]:
    """bench/instructions.py for both sides, or why it cannot run here."""
    reason = instructions.missing()
    return {"skipped": reason} if reason else instructions.both(noops, warmup)


def measure(args: argparse.Namespace, sizes: Sizes, data_dir: Path) -> dict[str, Any]:
    """Start the processes, run the chosen parts in order, stop everything."""
    started: list[procs.Started] = []
    r: dict[str, Any] = {}
    try:
        sandbox, ports = procs.start_sandbox(data_dir)
        started.append(sandbox)
        app = procs.start_app(args.server, data_dir, ports, max(sizes.levels), args.workers)
        started.append(app)
        wsfy = procs.start_websockify(data_dir, ports)
        started.append(wsfy)
        bridge = procs.start_bridge(data_dir, ports)
        started.append(bridge)
        url = f"ws://127.0.0.1:{app.port}/ws"
        steps = {
            "roundtrip": lambda: with_rows(
                latency.roundtrip(
                    sizes.roundtrips,
                    ports.port,
                    wsfy.port,
                    app.port,
                    bridge.port,
                    {
                        "playground": app.proc.pid,
                        "flask-sock bridge": bridge.proc.pid,
                        "direct": sandbox.proc.pid,
                    },  # the sandbox's own cost per NOOP
                ),
                data_dir / "playground.db",
            ),
            "setup": lambda: latency.setup(sizes.setups, ports.port, ports.tls_port, app.port),
            "data": lambda: throughput.data_throughput(
                sizes.data_mb, ports.port, app.port, sizes.data_reps
            ),
            # Churn before concurrency: gthread keeps the pool threads 1,000 sessions created.
            "churn": lambda: asyncio.run(load.churn(url, app.proc.pid, sizes.churn)),
            "concurrency": lambda: asyncio.run(
                load.concurrency(
                    url,
                    app.proc.pid,
                    list(sizes.levels),
                    sizes.active,
                    sizes.per_active,
                    sandbox_pid=sandbox.proc.pid,
                    bridge=(bridge.port, bridge.proc.pid),
                )
            ),
            "transcripts": lambda: transcripts_cost(data_dir, sizes.transcript_entries),
            # Two sandboxes of its own, capture on and off, side by side (bench/capture.py).
            "capture": lambda: capture_cost(
                data_dir / "capture", sizes.capture_sessions, sizes.capture_latency
            ),
            # Issue 18: a class of 200 (20 with --quick), its dashboard and one watcher.
            "classroom": lambda: asyncio.run(
                classroom.classroom(app.port, app.proc.pid, quick=args.quick)
            ),
            # Its own sandbox and servers under callgrind, after everything timed.
            "instructions": lambda: instruction_counts(
                sizes.instruction_noops, sizes.instruction_warmup
            ),
        }
        for part in PARTS:
            if part in args.only:
                t0 = time.monotonic()
                print(f"... {part}", file=sys.stderr, flush=True)
                try:
                    r[part] = steps[part]()
                except Exception as exc:  # one part failing is a finding; the others still run
                    r.setdefault("failed", {})[part] = f"{type(exc).__name__}: {exc}"
                    print(f"!!! {part} failed: {exc!r}", file=sys.stderr, flush=True)
                r.setdefault("seconds", {})[part] = round(time.monotonic() - t0, 1)
    except BaseException:
        for log in sorted(data_dir.glob("*.log")):  # the run's logs vanish with its temp dir
            print(f"--- {log.name} (last lines)", *log.read_text().splitlines()[-15:],
                  sep="\n", file=sys.stderr)  # fmt: skip
        raise
    finally:
        for proc in reversed(started):
            proc.stop()
    return r


def _machine() -> str:
    """The CPU model and memory, from /proc (Linux), for the record."""
    model, mem = platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}{mem}"


def main(argv: list[str] | None = None) -> int:
    """Run, print the table and the verdicts, write JSON if asked."""
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    procs.raise_fd_limit()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="playground-bench-") as tmp:
        results = measure(args, sizes, Path(tmp))
    results["targets"] = report.verdicts(results)
    results["run"] = {
        "server": args.server,
        "workers": args.workers if args.server != "embedded" else 1,
        "quick": args.quick,
        "sizes": vars(sizes),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": _machine(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"server: {args.server}  workers: {results['run']['workers']}  quick: {args.quick}  "
          "load before/after: "
          f"{results['run']['loadavg_before']} / {results['run']['loadavg_after']}")  # fmt: skip
    print(report.table(results))
    for v in results["targets"]:
        print(f"[{v['status']}] {v['target']}" + (f": {v['measured']}" if v["measured"] else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.readme:
        args.readme.parent.mkdir(parents=True, exist_ok=True)
        args.readme.write_text(report.markdown(results) + "\n" + report.capacity(results))
    # A missed target is a finding; a part that could not run is a failure (CI smoke runs).
    return 1 if results.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
