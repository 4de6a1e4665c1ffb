"""Profile the playground's NOOP round trip: ``python bench/profile.py [--noops N] [--out F]``.

Starts the sandbox and the app in the production layout (gunicorn, one gevent worker), opens
one console, and sends ``--noops`` NOOPs back to back while ``py-spy record`` samples the
worker (when py-spy is on PATH or next to the interpreter); prints the worker's CPU time per
round trip (``/proc/PID/stat``) either way. The flamegraph/speedscope file shows where it goes.
``--no-spy`` measures without the sampler, ``--gil`` samples only the thread holding the GIL
(on-CPU Python), and ``--repeat N`` measures N rounds and prints each and the lowest: on a
loaded machine the lowest CPU per round trip is the one least inflated by the others.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs  # noqa: E402
from bench.clients import Playground  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noops", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=Path("profile.speedscope.json"))
    parser.add_argument("--format", default="speedscope", help="py-spy's --format")
    parser.add_argument("--no-spy", action="store_true", help="measure without py-spy")
    parser.add_argument("--gil", action="store_true", help="py-spy --gil: on-CPU samples only")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of --noops NOOPs")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(procs.BIN))
    spy = None if args.no_spy else spy
    with tempfile.TemporaryDirectory(prefix="playground-profile-") as tmp:
        data = Path(tmp)
        sandbox, ports = procs.start_sandbox(data)
        app = procs.start_app("gunicorn-gevent", data, ports, 100, 1)
        try:
            client = Playground(app.port)
            client.command("EHLO bench.example")
            for _ in range(200):
                client.command("NOOP")
            worker = procs.workers(app.proc.pid)
            recorder = None
            if spy:
                cmd = [spy, "record", "--pid", str(worker[0]), "--rate", "500", "--nonblocking",
                       "--format", args.format, "--output", str(args.out)]  # fmt: skip
                recorder = subprocess.Popen(cmd + ["--gil"] * args.gil, stdout=subprocess.DEVNULL)
                time.sleep(1.0)  # py-spy attaches
            cpus = []
            for _ in range(args.repeat):
                cpu0, t0 = procs.cpu_seconds(worker), time.perf_counter()
                for _ in range(args.noops):
                    client.command("NOOP")
                cpu, wall = procs.cpu_seconds(worker) - cpu0, time.perf_counter() - t0
                cpus.append(cpu / args.noops * 1000)
                print(f"{args.noops} NOOPs: {wall / args.noops * 1000:.3f} ms per round trip, "
                      f"worker CPU {cpus[-1]:.3f} ms per round trip")  # fmt: skip
            client.close()
            if recorder is not None:
                recorder.send_signal(2)
                recorder.wait(30)
            if args.repeat > 1:
                print(f"lowest worker CPU per round trip: {min(cpus):.3f} ms")
            if recorder is not None:
                print(f"profile: {args.out}")
        finally:
            app.stop()
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
