"""Part 3: DATA throughput of one large message, playground ('lines' frames) vs direct socket."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench import load
from bench.clients import Direct
from bench.stats import ratio

FRAME_BUDGET = 900_000  # bytes of JSON per 'lines' frame: under the app's 1 MiB MAX_FRAME
ENVELOPE = (
    "EHLO bench.example",
    "MAIL FROM:<bench@client.example>",
    "RCPT TO:<bench@sandbox.test>",
)


def message_lines(size_bytes: int) -> list[str]:
    """A deterministic message of ~size_bytes in 76-column lines, already dot-stuffed.

    Every 997th line starts with a dot, so both paths carry stuffed lines (RFC 5321 §4.5.2).
    """
    head = ["From: bench@client.example", "To: bench@sandbox.test", "Subject: bench", ""]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    lines = list(head)
    total, i = sum(len(x) + 2 for x in head), 0
    while total < size_bytes:
        line = "".join(alphabet[(i * 7 + k) % 64] for k in range(76))
        if i % 997 == 0:
            line = ".." + line[2:]
        lines.append(line)
        total += 78
        i += 1
    return lines


def batches(lines: list[str]) -> list[str]:
    """'lines' frames, JSON-encoded, each under FRAME_BUDGET bytes."""
    frames, batch, size = [], [], 0
    for line in lines:
        if batch and size + len(line) + 4 > FRAME_BUDGET:
            frames.append(json.dumps({"type": "lines", "lines": batch}))
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 4
    frames.append(json.dumps({"type": "lines", "lines": [*batch, "."]}))
    return frames


def _direct(port: int, lines: list[str]) -> tuple[float, bytes]:
    client = Direct(port)
    client.sock.settimeout(600)  # a 20 MB message on a loaded machine takes longer than 10 s
    for line in ENVELOPE:
        client.command(line)
    assert client.command("DATA").startswith(b"354")
    payload = "\r\n".join(lines).encode() + b"\r\n.\r\n"
    t0 = time.perf_counter()
    reply = client.send_raw(payload)
    elapsed = time.perf_counter() - t0
    client.close()
    return elapsed, reply


async def _playground_async(port: int, frames: list[str]) -> tuple[float, dict[str, Any], int]:
    ws = await load.connect_ws(f"ws://127.0.0.1:{port}/ws")
    try:
        await ws.send(json.dumps({"type": "connect", "target": "sandbox"}))
        await load.wait_for(ws, "reply")
        for line in ENVELOPE:
            await load.command(ws, line)
        assert (await load.command(ws, "DATA"))["code"] == 354
        counts = {"sent": 0}

        async def read() -> dict[str, Any]:
            # Frames come back while we send (one 'sent' per line); reading them concurrently,
            # pings answered, is what a browser does and keeps both TCP windows open.
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "sent":
                    counts["sent"] += 1
                elif frame["type"] in ("reply", "error", "closed"):
                    return frame

        t0 = time.perf_counter()
        reader = asyncio.create_task(read())
        try:
            for frame in frames:
                await ws.send(frame)
        except BaseException:
            reader.cancel()  # the send's error is the one to report; collect the reader's
            await asyncio.gather(reader, return_exceptions=True)
            raise
        reply = await asyncio.wait_for(reader, 600)
        return time.perf_counter() - t0, reply, counts["sent"]
    finally:
        await ws.close()


def _playground(port: int, frames: list[str]) -> tuple[float, dict[str, Any], int]:
    return asyncio.run(_playground_async(port, frames))


def data_throughput(size_mb: float, sandbox_port: int, app_port: int, reps: int) -> dict[str, Any]:
    """MB/s of the same message both ways; best of ``reps`` each (least disturbed run)."""
    size = int(size_mb * 1_000_000)
    lines = message_lines(size)
    frames = batches(lines)
    wire_mb = (sum(len(x) + 2 for x in lines) + 3) / 1e6
    direct_s, playground_s, sent_frames = [], [], 0
    for _ in range(reps):
        elapsed, reply = _direct(sandbox_port, lines)
        assert reply.startswith(b"250"), reply
        direct_s.append(elapsed)
        elapsed, frame, sent_frames = _playground(app_port, frames)
        assert frame.get("code") == 250, frame
        playground_s.append(elapsed)
    direct_mbps = wire_mb / min(direct_s)
    playground_mbps = wire_mb / min(playground_s)
    return {
        "message_mb": round(wire_mb, 2),
        "lines": len(lines),
        "frames": len(frames),
        "sent_frames_back": sent_frames,
        "direct_mb_s": round(direct_mbps, 2),
        "playground_mb_s": round(playground_mbps, 2),
        "ratio": ratio(playground_mbps, direct_mbps),
    }
