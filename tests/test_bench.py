"""The benchmark still runs end to end (``bench/run.py --quick``): a smoke test, not a
measurement. Its figures are never asserted here (docs: speed is measured in bench/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)  # ~85 s here, a third of it the callgrind part's two boots
def test_the_quick_benchmark_runs_every_part_against_every_reference(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert "failed" not in results
    parts = ("roundtrip", "setup", "data", "churn", "concurrency", "transcripts", "capture")
    for part in (*parts, "classroom"):
        assert part in results, part
    capture = results["capture"]
    assert capture["capture_on_msg_s"] > 0 and capture["capture_off_msg_s"] > 0
    assert capture["latency"]["n"] > 0
    klass = results["classroom"]  # a class of 20 with --quick: every figure was measured
    assert klass["students"] == 20 and klass["dashboard_update"]["n"] > 0
    assert klass["roundtrip_without"]["n"] > 0 and klass["roundtrip_with"]["n"] > 0
    paths = results["roundtrip"]
    assert set(paths) == {"direct", "websockify", "flask-sock bridge", "playground"}
    assert all(paths[p]["p50_ratio"] > 0 for p in paths if p != "direct")
    assert results["data"]["playground_mb_s"] > 0 and results["data"]["direct_mb_s"] > 0
    assert results["run"]["server"] == "gunicorn-gevent" and results["run"]["workers"] == 1
    assert {t["status"] for t in results["targets"]} <= {"met", "MISSED", "not measured"}
    # Beside each verdict, what the run measured for it (by how much it is met or missed).
    assert all(t["measured"] for t in results["targets"] if t["status"] != "not measured")
    assert "NOOP round trip p50/p99, flask-sock bridge" in proc.stdout  # the printed table
    check_instructions(results["instructions"], proc.stdout)
    # The back-to-back load runs through the bare bridge too, each side's CPU per round trip
    # (worker, clients, sandbox) measured, so the machine's ceiling is in the run.
    mine, ref = results["concurrency"]["active"], results["concurrency"]["active_bridge"]
    assert ref["sessions"] == mine["sessions"] == 20 and ref["n"] == mine["n"] > 0
    for side in (mine, ref):
        assert set(side["cpu_ms_per_rt"]) == {"worker", "clients", "sandbox"}
        assert all(v > 0 for v in side["cpu_ms_per_rt"].values())
        assert side["machine_ceiling_rt_per_s"] > 0
    assert mine["vs_bridge"] > 0
    assert "through the bare bridge (back to back)" in proc.stdout


def check_instructions(figures: dict[str, Any], table: str) -> None:
    """The callgrind part (bench/instructions.py): what each worker ran for the NOOPs."""
    if shutil.which("valgrind") is None:
        assert not os.environ.get("REQUIRE_VALGRIND"), "REQUIRE_VALGRIND: valgrind is missing"
        assert "valgrind is not installed" in figures["skipped"]
        return
    playground, bridge = figures["playground"], figures["bridge"]
    assert playground["noops"] == bridge["noops"] == 20
    # A NOOP through gevent, a WebSocket frame each way and a socket each way is tens of
    # thousands of instructions: a count far below that missed the worker or the NOOPs.
    assert bridge["per_round_trip"] > 20_000
    # The playground parses, paces, explains and records each line on top of the relay.
    assert playground["per_round_trip"] > bridge["per_round_trip"]
    assert figures["ratio"] == round(playground["per_round_trip"] / bridge["per_round_trip"], 2)
    assert "instructions per NOOP round trip in the worker (callgrind)" in table
