"""Part "capture": what recording every sandbox session costs, and how soon one is visible.

Two sandbox processes side by side in one run, alike but for ``PLAYGROUND_CAPTURE`` (on: every
session recorded as a captured transcript in the store, judged, published; off: nothing
recorded). The same clients send whole sessions (connect, EHLO, MAIL, RCPT, DATA, a small
message, QUIT) to each, in rounds that alternate between them so that background load hits
both alike: messages per second with capture on and off, and the overhead as a ratio.

Then the latency a user sees: from the moment a client has its 221 and closes, to the session
being in the store with its summary ended (``status`` no longer ``live``), which is what
``GET /api/captured`` and the Captured page's next snapshot show; p50/p99 over sessions sent
one at a time. The issue asks for "within a second".
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.clients import Direct
from bench.stats import latency as latency_stats

MESSAGE = (
    "From: bench@client.example\r\nTo: bench@sandbox.test\r\nSubject: capture bench\r\n\r\n"
    + "A line of a small message, as most are.\r\n" * 20
    + ".\r\n"
)


def start_sandbox(data_dir: Path, capture: bool) -> tuple[procs.Started, procs.SandboxPorts]:
    """One sandbox process with capture on or off, its store and inbox in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("PLAYGROUND_CAPTURE")
    os.environ["PLAYGROUND_CAPTURE"] = "1" if capture else "0"
    try:
        return procs.start_sandbox(data_dir)
    finally:
        if saved is None:
            os.environ.pop("PLAYGROUND_CAPTURE", None)
        else:
            os.environ["PLAYGROUND_CAPTURE"] = saved


def session(port: int, ehlo: str = "bench.example") -> None:
    """One whole session, each command waiting for its reply (as most clients do)."""
    client = Direct(port)
    try:
        for line in (f"EHLO {ehlo}", "MAIL FROM:<bench@client.example>",
                     "RCPT TO:<bench@sandbox.test>"):  # fmt: skip
            client.command(line)
        assert client.command("DATA").startswith(b"354")
        client.sock.sendall(MESSAGE.encode())
        assert client.read_reply().startswith(b"250")
        client.command("QUIT")
    finally:
        client.close()


def _round(port: int, clients: int, per_client: int) -> float:
    """``clients`` threads sending ``per_client`` sessions each; returns the seconds taken."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(per_client):
                session(port)
        except BaseException as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return elapsed


def visible(store: Any, ehlo: str, timeout: float = 120.0) -> int:
    """Wait until the session whose client said ``ehlo`` is stored as ended; returns when
    (perf_counter_ns). The capture writer keeps sessions in order, so every session before
    it is stored by then too."""
    deadline = time.perf_counter_ns() + int(timeout * 1e9)
    while time.perf_counter_ns() < deadline:
        found = [s for s in store.list_captured(limit=5) if s["ehlo"] == ehlo]
        if found and found[0]["status"] != "live":
            return time.perf_counter_ns()
        time.sleep(0.002)
    raise RuntimeError(f"session {ehlo} not visible as ended within {timeout} s")


def throughput(
    on: int, off: int, store: Any, sessions: int, clients: int, rounds: int
) -> dict[str, Any]:
    """Messages per second with capture on and off, rounds alternating between them. With
    capture on, a round also waits for the sessions to be stored (a marker session sent last
    is visible), so "recorded" counts what the capture keeps up with, not only what the
    sandbox answered."""
    per_client = max(1, sessions // (clients * rounds))
    spent = {"on": 0.0, "off": 0.0, "recorded": 0.0}
    for port in (on, off):  # warm-up: imports, the first store writes, TLS contexts
        _round(port, clients, 2)
    for i in range(rounds):
        order = (("on", on), ("off", off)) if i % 2 == 0 else (("off", off), ("on", on))
        for name, port in order:
            t0 = time.perf_counter_ns()
            spent[name] += _round(port, clients, per_client)
            if name == "on":
                marker = f"drained-{i}.bench.example"
                session(port, marker)
                spent["recorded"] += (visible(store, marker) - t0) / 1e9
    sent = per_client * clients * rounds
    rate = {name: round(sent / seconds, 1) for name, seconds in spent.items()}
    return {
        "messages": sent,
        "clients": clients,
        "capture_on_msg_s": rate["on"],
        "capture_on_recorded_msg_s": rate["recorded"],
        "capture_off_msg_s": rate["off"],
        "overhead_pct": round(100 * (1 - rate["on"] / rate["off"]), 1),
        "recorded_overhead_pct": round(100 * (1 - rate["recorded"] / rate["off"]), 1),
    }


def latency(port: int, store: Any, sessions: int) -> dict[str, Any]:
    """Client closed -> its summary ended in the store (what GET /api/captured shows)."""
    times: list[int] = []
    for i in range(sessions):
        ehlo = f"latency-{i}.bench.example"
        session(port, ehlo)
        t0 = time.perf_counter_ns()
        times.append(visible(store, ehlo, timeout=10.0) - t0)
    return {**latency_stats(times), "max_ms": round(max(times) / 1e6, 2)}


def capture_cost(data_dir: Path, sessions: int, latency_sessions: int) -> dict[str, Any]:
    """Both sandboxes started here, measured, stopped."""
    from transcripts.store import Store  # the store belongs to another module: lazily

    started: list[procs.Started] = []
    store = None
    try:
        on, on_ports = start_sandbox(data_dir / "capture-on", True)
        started.append(on)
        off, off_ports = start_sandbox(data_dir / "capture-off", False)
        started.append(off)
        url = f"sqlite:///{data_dir / 'capture-on' / 'playground.db'}"
        store = Store.open(os.environ.get("DATABASE_URL") or url, upgrade=False)
        result = throughput(on_ports.port, off_ports.port, store, sessions, clients=4, rounds=4)
        result["latency"] = latency(on_ports.port, store, latency_sessions)
        return result
    finally:
        if store is not None:
            store.dispose()
        for proc in reversed(started):
            proc.stop()
