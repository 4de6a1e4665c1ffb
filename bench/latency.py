"""Part 1 (round trip) and part 2 (session setup): direct socket vs websockify vs playground."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.clients import Bridge, Direct, Playground, Websockify
from bench.procs import cpu_seconds, workers
from bench.stats import latency, ratio

ROUND = 100  # commands per client per round; rounds rotate so drift hits all three alike


def roundtrip(
    n: int,
    sandbox_port: int,
    websockify_port: int,
    app_port: int,
    bridge_port: int | None = None,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """NOOP p50/p99 over ``n`` commands on each path, interleaved in rounds; with ``pids``
    (path -> server pid), the CPU time its workers spent per round trip (utime + stime from
    /proc/PID/stat, over that path's rounds only)."""
    clients: dict[str, Any] = {
        "direct": Direct(sandbox_port),
        "websockify": Websockify(websockify_port),
        "playground": Playground(app_port),
    }
    if bridge_port is not None:
        clients["flask-sock bridge"] = Bridge(bridge_port)
    samples: dict[str, list[int]] = {name: [] for name in clients}
    procs = {name: workers(pid) for name, pid in (pids or {}).items() if name in clients}
    cpu = {name: 0.0 for name in procs}
    try:
        for client in clients.values():
            client.command("EHLO bench.example")
            for _ in range(50):  # warm-up, not counted
                client.command("NOOP")
        done = 0
        while done < n:
            count = min(ROUND, n - done)
            for name, client in clients.items():
                before = cpu_seconds(procs[name]) if name in procs else 0.0
                samples[name] += _time_commands(client, count)
                if name in procs:
                    cpu[name] += cpu_seconds(procs[name]) - before
            done += count
    finally:
        for client in clients.values():
            client.close()
    result: dict[str, Any] = {name: latency(s) for name, s in samples.items()}
    result["playground"]["transcript"] = clients["playground"].transcript
    direct = result["direct"]
    for name in result:
        if name == "direct":
            continue
        result[name]["p50_ratio"] = ratio(result[name]["p50_ms"], direct["p50_ms"])
        result[name]["p99_ratio"] = ratio(result[name]["p99_ms"], direct["p99_ms"])
    for name, seconds in cpu.items():
        result[name]["cpu_ms_per_rt"] = round(seconds * 1000 / n, 3)
    mine = result["playground"]
    for ref in ("flask-sock bridge", "websockify"):
        if ref in result:
            mine[f"p50_vs_{ref.split()[-1]}"] = ratio(mine["p50_ms"], result[ref]["p50_ms"])
    return result


def _time_commands(client: Any, count: int) -> list[int]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter_ns()
        client.command("NOOP")
        out.append(time.perf_counter_ns() - t0)
    return out


def _timed(n: int, once: Callable[[], int]) -> dict[str, float]:
    return latency([once() for _ in range(n)])


def setup(n: int, sandbox_port: int, tls_port: int, app_port: int) -> dict[str, Any]:
    """Connect-to-greeting (plain, implicit TLS) and STARTTLS time, playground vs direct."""
    cases: dict[str, tuple[Callable[[], int], Callable[[], int]]] = {
        "connect_plain": (
            lambda: _connect(lambda: Playground(app_port)),
            lambda: _connect(lambda: Direct(sandbox_port)),
        ),
        "connect_tls": (
            lambda: _connect(lambda: Playground(app_port, "sandbox-tls")),
            lambda: _connect(lambda: Direct(tls_port, tls=True)),
        ),
        "starttls": (
            lambda: _starttls_playground(app_port),
            lambda: _starttls_direct(sandbox_port),
        ),
    }
    result: dict[str, Any] = {}
    for name, (playground, direct) in cases.items():
        mine, ref = _timed(n, playground), _timed(n, direct)
        result[name] = {
            "playground": mine,
            "direct": ref,
            "p50_ratio": ratio(mine["p50_ms"], ref["p50_ms"]),
        }
    return result


def _connect(factory: Callable[[], Any]) -> int:
    t0 = time.perf_counter_ns()
    client = factory()  # returns once the 220 greeting has been read
    elapsed = time.perf_counter_ns() - t0
    client.close()
    return elapsed


def _starttls_playground(port: int) -> int:
    client = Playground(port)
    client.command("EHLO bench.example")
    t0 = time.perf_counter_ns()
    client.send({"type": "line", "text": "STARTTLS"})
    client.wait_for("tls")
    elapsed = time.perf_counter_ns() - t0
    client.close()
    return elapsed


def _starttls_direct(port: int) -> int:
    client = Direct(port)
    client.command("EHLO bench.example")
    t0 = time.perf_counter_ns()
    client.starttls()
    elapsed = time.perf_counter_ns() - t0
    client.close()
    return elapsed
