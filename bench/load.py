"""Parts 4 and 5: many sessions held open, 100 active at once, and connect/disconnect churn.

The client is asyncio (``websockets``) so that 1,000 open sessions cost the client little and
the numbers are the server's.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.clients import reply_done
from bench.procs import cpu_seconds, usage, workers
from bench.stats import latency

OPEN_PARALLEL = 25  # sessions being opened at once: a class arriving, not a SYN flood


async def wait_for(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """Read frames until one of type ``kind``; an error or close frame is a failure."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == kind:
            return frame
        if frame["type"] in ("error", "closed") and kind != "closed":
            raise RuntimeError(f"waiting for {kind}: {frame}")


async def connect_ws(url: str, headers: dict[str, str] | None = None) -> ClientConnection:
    """A WebSocket to the app; the server's pings are answered, ours are off."""
    return await connect(
        url,
        open_timeout=60,
        ping_interval=None,
        compression=None,
        max_size=None,
        additional_headers=headers,
    )


async def open_session(url: str) -> ClientConnection:
    """A WebSocket with an SMTP session behind it, greeting read."""
    ws = await connect_ws(url)
    await ws.send(json.dumps({"type": "connect", "target": "sandbox"}))
    greeting = await wait_for(ws, "reply")
    assert greeting["code"] == 220, greeting
    return ws


async def command(ws: ClientConnection, line: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "line", "text": line}))
    return await wait_for(ws, "reply")


async def _open_many(url: str, n: int) -> list[ClientConnection]:
    gate = asyncio.Semaphore(OPEN_PARALLEL)

    async def one() -> ClientConnection:
        async with gate:
            return await open_session(url)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _close_all(sessions: list[ClientConnection]) -> None:
    async def one(ws: ClientConnection) -> None:
        try:
            await ws.send(json.dumps({"type": "close"}))
        finally:
            await ws.close()

    await asyncio.gather(*(one(ws) for ws in sessions), return_exceptions=True)


async def _active(
    sessions: list[Any],
    per_session: int,
    pace: float = 0.0,
    pid: int = 0,
    ask: Callable[[Any, str], Awaitable[Any]] = command,
    sandbox_pid: int = 0,
) -> dict[str, Any]:
    """Every session sends NOOPs at once: back to back (pace 0, the server saturated) or
    one every ``pace`` seconds (an offered load, closer to people typing). With ``pid`` and
    ``sandbox_pid``, the CPU each side spent per round trip: the server's worker, the
    sandbox behind it and these clients (this process), so the machine's ceiling can be
    read off the run: every core busy, no round trip could go faster than their sum."""
    samples: list[int] = []

    async def drive(ws: Any) -> None:
        await asyncio.sleep(pace * random.random())  # paced senders do not start in step
        for _ in range(per_session):
            t0 = time.perf_counter_ns()
            await ask(ws, "NOOP")
            samples.append(time.perf_counter_ns() - t0)
            if pace:
                await asyncio.sleep(max(0.0, pace - (time.perf_counter_ns() - t0) / 1e9))

    procs = workers(pid) if pid else []
    sandbox = [sandbox_pid] if sandbox_pid else []
    cpu0, sb0, me0 = cpu_seconds(procs), cpu_seconds(sandbox), time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(drive(ws) for ws in sessions))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(procs) - cpu0
    sb, me = cpu_seconds(sandbox) - sb0, time.process_time() - me0
    rate = round(len(samples) / wall)
    out = {"sessions": len(sessions), "pace_s": pace, **latency(samples), "rt_per_s": rate}
    if procs and cpu > 0:  # the worker's own CPU: round trips it serves per CPU-second
        n = len(samples)
        out["rt_per_cpu_s"] = round(n / cpu)
        out["worker_cpu_share"] = round(cpu / wall, 2)
        out["cpu_ms_per_rt"] = {
            "worker": round(cpu * 1000 / n, 3),
            "clients": round(me * 1000 / n, 3),
            **({"sandbox": round(sb * 1000 / n, 3)} if sandbox else {}),
        }
        spent = sum(out["cpu_ms_per_rt"].values())
        out["machine_ceiling_rt_per_s"] = round((os.cpu_count() or 1) * 1000 / spent)
    return out


async def bridge_command(ws: ClientConnection, line: str) -> bytes:
    """A line through the bare bridge (bytes both ways), and the reply to it."""
    await ws.send(line.encode() + b"\r\n")
    return await _bridge_reply(ws)


async def _bridge_reply(ws: ClientConnection) -> bytes:
    """Bridge frames until they hold a whole SMTP reply."""
    reply = b""
    while not reply_done(reply):
        got = await ws.recv()
        reply += got if isinstance(got, bytes) else got.encode()
    return reply


async def bridge_back_to_back(
    port: int, count: int, per_session: int, pid: int, sandbox_pid: int = 0
) -> dict[str, Any]:
    """The reference for the back-to-back figure: ``count`` consoles through the bare
    flask-sock bridge (bench/bridge.py) on the same machine, in the same run, NOOPs back to
    back. What the machine lets the stack alone do is the ceiling the playground is read
    against."""
    url = f"ws://127.0.0.1:{port}/"
    gate = asyncio.Semaphore(OPEN_PARALLEL)

    async def one() -> ClientConnection:
        async with gate:
            ws = await connect_ws(url)
            greeting = await _bridge_reply(ws)
            assert greeting.startswith(b"220"), greeting
            await bridge_command(ws, "EHLO bench.example")
            return ws

    sessions = list(await asyncio.gather(*(one() for _ in range(count))))
    try:
        return await _active(sessions, per_session, pid=pid, ask=bridge_command,
                             sandbox_pid=sandbox_pid)  # fmt: skip
    finally:
        await _close_all(sessions)


async def concurrency(
    url: str,
    app_pid: int,
    levels: list[int],
    active: int,
    per_session: int,
    sandbox_pid: int = 0,
    bridge: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Footprint at each level of idle sessions, then ``active`` of them busy at once; with
    ``bridge`` (its port and pid), the same back-to-back load through the bare bridge."""
    warm = await open_session(url)  # imports and pools are warm before the baseline
    await command(warm, "NOOP")
    await _close_all([warm])
    await asyncio.sleep(1.5)
    base = usage(app_pid)
    result: dict[str, Any] = {"baseline": base.as_dict(), "idle": {}}
    sessions: list[ClientConnection] = []
    try:
        for level in levels:
            sessions += await _open_many(url, level - len(sessions))
            await asyncio.sleep(1.0)
            now = usage(app_pid)
            per = (now.rss_mb - base.rss_mb) / level
            result["idle"][str(level)] = {
                **now.as_dict(),
                "rss_growth_mb": round(now.rss_mb - base.rss_mb, 1),
                "kb_per_session": round(per * 1024, 1),
                "pss_kb_per_session": round((now.pss_mb - base.pss_mb) / level * 1024, 1),
                "threads_per_session": round((now.threads - base.threads) / level, 2),
            }
        result["active"] = await _active(
            sessions[:active], per_session, pid=app_pid, sandbox_pid=sandbox_pid
        )
        paced = max(10, per_session // 5)
        result["active_paced"] = await _active(sessions[:active], paced, 0.5, pid=app_pid)
    finally:
        await _close_all(sessions)
    if bridge:  # (port, pid): the same load through the bare bridge, after the playground's
        port, pid = bridge
        ref = await bridge_back_to_back(port, active, per_session, pid, sandbox_pid)
        result["active_bridge"] = ref
        mine = result["active"]
        mine["vs_bridge"] = round(mine["rt_per_s"] / ref["rt_per_s"], 2)
        if "rt_per_cpu_s" in mine and "rt_per_cpu_s" in ref:
            mine["per_cpu_vs_bridge"] = round(mine["rt_per_cpu_s"] / ref["rt_per_cpu_s"], 2)
    return result


async def _cycle(url: str) -> None:
    ws = await open_session(url)
    try:
        for line in ("EHLO bench.example", "MAIL FROM:<churn@client.example>"):
            await command(ws, line)
        await command(ws, "RCPT TO:<churn@sandbox.test>")
        assert (await command(ws, "DATA"))["code"] == 354
        body = ["Subject: churn", "", "one short message", "."]
        await ws.send(json.dumps({"type": "lines", "lines": body}))
        assert (await wait_for(ws, "reply"))["code"] == 250
        await command(ws, "QUIT")
        await wait_for(ws, "closed")
    finally:
        await ws.close()


async def _cycles(url: str, n: int, parallel: int) -> float:
    gate = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with gate:
            await _cycle(url)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t0


async def churn(url: str, app_pid: int, cycles: int, parallel: int = 10) -> dict[str, Any]:
    """``cycles`` full connect/transact/disconnect sessions; the footprint before and after."""
    # Pools, caches and lazily started helper threads (gevent's resolver pool, gthread's
    # executor) reach their working size first; growth after that is what a leak looks like.
    await _cycles(url, max(5 * parallel, cycles // 5), parallel)
    await asyncio.sleep(1.5)
    before = usage(app_pid)
    wall = await _cycles(url, cycles, parallel)
    await asyncio.sleep(2.0)  # reader threads finish their last join after the close
    after = usage(app_pid)
    return {
        "cycles": cycles,
        "parallel": parallel,
        "cycles_per_s": round(cycles / wall, 1),
        "before": before.as_dict(),
        "after": after.as_dict(),
        "threads_delta": after.threads - before.threads,
        "fds_delta": after.fds - before.fds,
        "rss_delta_mb": round(after.rss_mb - before.rss_mb, 1),
    }
