"""The benchmark still runs end to end (``bench/run.py --quick``): a smoke test, not a
measurement. Its figures are never asserted here (docs: speed is measured in bench/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


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


def test_instruction_counts_put_the_playground_beside_the_bridge(tmp_path: Path) -> None:
    """bench/instructions.py: callgrind counts what each worker runs for the NOOPs (a few
    here; the figures of docs/production.md come from 1,000)."""
    if shutil.which("valgrind") is None:
        if os.environ.get("REQUIRE_VALGRIND"):
            pytest.fail("REQUIRE_VALGRIND is set but valgrind is not installed")
        pytest.skip("valgrind is not installed (Debian: apt-get install valgrind)")
    out = tmp_path / "instructions.json"
    proc = subprocess.run(
        [sys.executable, "bench/instructions.py", "--noops", "20", "--warmup", "20",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    playground, bridge = figures["playground"], figures["bridge"]
    assert playground["noops"] == bridge["noops"] == 20
    # A NOOP through gevent, a WebSocket frame each way and a socket each way is tens of
    # thousands of instructions: a count far below that missed the worker or the NOOPs.
    assert bridge["per_round_trip"] > 20_000
    # The playground parses, paces, explains and records each line on top of the relay.
    assert playground["per_round_trip"] > bridge["per_round_trip"]
    assert figures["ratio"] == pytest.approx(
        playground["per_round_trip"] / bridge["per_round_trip"]
    )
    assert "playground / bridge:" in proc.stdout
