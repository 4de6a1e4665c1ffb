"""Classroom part (issue 18): a class of 200 on one worker, its dashboard and one watcher.

Each student is a console socket that joined the class (``class_join``), opened a sandbox
session and then sends a command every ``pace`` seconds (NOOP and HELP by turns, so their
replies, 250 and 214, tell the rows apart). The run alternates rounds **without** and **with**
the trainer's dashboard socket and one watcher open (ABAB, so drift hits both alike) and
reports, side by side:

- the students' round trip (command sent -> reply frame) p50/p99 in each kind of round;
- the dashboard's update latency: from a student's reply frame reaching the student to the
  dashboard's first ``student`` row that shows that reply (its ``last_code`` and a
  ``last_active`` after the command left) reaching the trainer; p50/p99;
- the watcher's: the same reply as a ``console`` frame on the watch socket;
- memory: the server tree's RSS/PSS before the class and with every student in it, per
  student.

Client and server share this machine's clock, so wall-clock times compare across sockets.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

from bench.load import OPEN_PARALLEL, _close_all, connect_ws, wait_for
from bench.procs import TRAINER_KEY, tree, usage
from bench.stats import latency

COMMANDS = (("NOOP", 250), ("HELP", 214))


@dataclass(frozen=True)
class ClassSizes:
    students: int
    pace: float  # seconds between one student's commands
    round_s: float  # length of one round (without or with the dashboard)
    rounds: int  # pairs of rounds


FULL = ClassSizes(200, 2.0, 30.0, 2)
QUICK = ClassSizes(20, 2.0, 4.0, 1)


def _now_ms() -> float:
    return time.time() * 1000


@dataclass
class Pending:
    """A student's last command: when it left, the reply code it gets, when the reply came."""

    sent_ms: float
    code: int
    reply_ms: float | None = None
    row_ms: float | None = None  # the dashboard row came before the student's reply frame
    watch_ms: float | None = None


@dataclass
class Student:
    ws: ClientConnection
    id: str
    turn: int = 0
    # The last few commands: a row can come after the next command left (a slow dashboard).
    history: deque[Pending] = field(default_factory=lambda: deque(maxlen=4))

    def shown(self, code: int, last_active: float, attr: str) -> list[Pending]:
        """The commands a row or frame showing reply ``code`` accounts for: the newest one
        with that code sent before ``last_active``, and any older one it made old news of."""
        for i in range(len(self.history) - 1, -1, -1):
            p = self.history[i]
            if p.code == code and last_active >= p.sent_ms - 5 and getattr(p, attr) is None:
                return [q for q in list(self.history)[: i + 1] if getattr(q, attr) is None]
        return []

    samples: dict[str, list[int]] = field(default_factory=lambda: {"without": [], "with": []})


@dataclass
class Run:
    """What the sockets measured; ``phase`` is the kind of round now."""

    phase: str = "without"
    dashboard_ns: list[int] = field(default_factory=list)
    watch_ns: list[int] = field(default_factory=list)
    rows: int = 0
    # Rows that showed no new reply, and replies that shared one row with a later reply.
    other_rows: dict[str, int] = field(default_factory=dict)
    overflow: int = 0
    stop: bool = False


def _post(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A trainer's API call (the X-Trainer-Key header stands for the signed-in trainer)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Trainer-Key": TRAINER_KEY},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


async def _join(url: str, code: str, n: int) -> Student:
    """A console socket in the class with a sandbox session open (greeting read)."""
    ws = await connect_ws(url)
    await ws.send(json.dumps({"type": "class_join", "code": code, "name": f"student-{n:03}"}))
    joined = await wait_for(ws, "class_joined")
    await ws.send(json.dumps({"type": "connect", "target": "sandbox"}))
    greeting = await wait_for(ws, "reply")
    assert greeting["code"] == 220, greeting
    return Student(ws, joined["student"]["id"])


async def _join_all(url: str, code: str, n: int) -> list[Student]:
    gate = asyncio.Semaphore(OPEN_PARALLEL)

    async def one(i: int) -> Student:
        async with gate:
            return await _join(url, code, i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def _matched(run: Run, p: Pending) -> None:
    """A viewer's frame for ``p`` came and so did the reply: one latency sample each (from
    the reply reaching the student to the frame reaching the viewer, whichever came first)."""
    if p.reply_ms is None:
        return
    if p.row_ms is not None and p.row_ms >= 0:
        run.dashboard_ns.append(int(max(0.0, p.row_ms - p.reply_ms) * 1e6))
        p.row_ms = -1.0  # counted
    if p.watch_ms is not None and p.watch_ms >= 0:
        run.watch_ns.append(int(max(0.0, p.watch_ms - p.reply_ms) * 1e6))
        p.watch_ms = -1.0


async def _drive(s: Student, run: Run, pace: float) -> None:
    """One student: a command every ``pace`` s, timed from send to its reply frame."""
    await asyncio.sleep(pace * random.random())  # students do not type in step
    while not run.stop:
        line, code = COMMANDS[s.turn % 2]
        s.turn += 1
        t0 = time.perf_counter_ns()
        phase = run.phase
        p = Pending(_now_ms(), code)
        s.history.append(p)
        await s.ws.send(json.dumps({"type": "line", "text": line}))
        reply = await wait_for(s.ws, "reply")
        p.reply_ms = _now_ms()
        assert reply["code"] == code, reply
        s.samples.setdefault(phase, []).append(time.perf_counter_ns() - t0)
        _matched(run, p)
        await asyncio.sleep(max(0.0, pace - (time.perf_counter_ns() - t0) / 1e9))


async def _dashboard(url: str, by_id: dict[str, Student], run: Run, opened: asyncio.Event) -> None:
    """The trainer's dashboard: every ``student`` row matched to the command it shows."""
    async with await connect_ws(url, {"X-Trainer-Key": TRAINER_KEY}) as ws:
        await wait_for(ws, "dashboard")
        for student in by_id.values():  # commands from before it opened are not its to show
            for p in student.history:
                p.row_ms = -1.0
        opened.set()
        async for message in ws:
            frame = json.loads(message)
            if frame["type"] == "overflow":
                run.overflow += frame.get("dropped", 0)
            if frame["type"] != "student":
                continue
            run.rows += 1
            row = frame["row"]
            s = by_id.get(row["id"])
            shown = (
                s.shown(row.get("last_code"), row.get("last_active") or 0, "row_ms") if s else []
            )
            now = _now_ms()
            for p in shown:
                p.row_ms = now
                _matched(run, p)
            if not shown:  # a row for a command just sent (the reply before), a lesson, ...
                run.other_rows["no new reply"] = run.other_rows.get("no new reply", 0) + 1
            elif len(shown) > 1:  # coalesced: one row for several replies
                run.other_rows["coalesced"] = run.other_rows.get("coalesced", 0) + len(shown) - 1


async def _watcher(url: str, s: Student, run: Run, opened: asyncio.Event) -> None:
    """One watch view on ``s``: when each of their replies arrives as a ``console`` frame."""
    async with await connect_ws(url, {"X-Trainer-Key": TRAINER_KEY}) as ws:
        await ws.send(json.dumps({"type": "watch", "student": s.id}))
        await wait_for(ws, "console_snapshot")
        for p in s.history:
            p.watch_ms = -1.0
        opened.set()
        async for message in ws:
            frame = json.loads(message)
            inner = frame.get("frame") or {}
            if frame["type"] == "console" and inner.get("type") == "reply":
                for p in s.shown(inner.get("code") or 0, _now_ms(), "watch_ms")[-1:]:
                    p.watch_ms = _now_ms()
                    _matched(run, p)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree rooted at ``pid`` (/proc/PID/stat)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (after pid and comm)
    return total / tick


async def _round(seconds: float, pid: int, cpu: dict[str, float], phase: str) -> None:
    """One round; the server's CPU seconds in it are added to ``cpu[phase]``, this client's
    (every student and viewer socket is in this one process) to ``cpu["client " + phase]``."""
    before, mine = cpu_seconds(pid), time.process_time()
    await asyncio.sleep(seconds)
    cpu[phase] = round(cpu.get(phase, 0.0) + cpu_seconds(pid) - before, 2)
    key = f"client {phase}"
    cpu[key] = round(cpu.get(key, 0.0) + time.process_time() - mine, 2)


async def classroom(app_port: int, app_pid: int, quick: bool = False) -> dict[str, Any]:
    """The whole part: open a class, 200 students join, rounds without and with the dashboard."""
    sizes = QUICK if quick else FULL
    url = f"ws://127.0.0.1:{app_port}/ws"
    klass = await asyncio.to_thread(_post, app_port, "/api/classes", {"title": "bench"})
    dash_url = f"ws://127.0.0.1:{app_port}/ws/class/{klass['id']}"
    await asyncio.sleep(1.0)
    base = usage(app_pid)
    students = await _join_all(url, klass["code"], sizes.students)
    await asyncio.sleep(1.5)
    joined = usage(app_pid)
    by_id = {s.id: s for s in students}
    run = Run()
    drivers = [asyncio.create_task(_drive(s, run, sizes.pace)) for s in students]
    with_usage = None
    cpu: dict[str, float] = {}
    try:
        await asyncio.sleep(sizes.pace)  # every student is sending before the first round
        for s in students:
            s.samples = {"without": [], "with": []}
        for _ in range(sizes.rounds):
            run.phase = "without"
            await _round(sizes.round_s, app_pid, cpu, "without")
            opened = [asyncio.Event(), asyncio.Event()]
            viewers = [
                asyncio.create_task(_dashboard(dash_url, by_id, run, opened[0])),
                asyncio.create_task(_watcher(dash_url, students[0], run, opened[1])),
            ]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 30)
            run.phase = "with"
            await _round(sizes.round_s, app_pid, cpu, "with")
            run.phase = "closing"  # the viewers closing is neither kind of round
            with_usage = usage(app_pid)
            for task in viewers:
                task.cancel()
            await asyncio.gather(*viewers, return_exceptions=True)
    finally:
        run.stop = True
        await asyncio.gather(*drivers, return_exceptions=True)
        await _close_all([s.ws for s in students])
    n = len(students)
    rss = joined.rss_mb - base.rss_mb
    pss = joined.pss_mb - base.pss_mb
    return {
        "students": n,
        "pace_s": sizes.pace,
        "round_s": sizes.round_s,
        "rounds": sizes.rounds,
        "roundtrip_without": latency([x for s in students for x in s.samples["without"]]),
        "roundtrip_with": latency([x for s in students for x in s.samples["with"]]),
        "dashboard_update": latency(run.dashboard_ns),
        "watch_update": latency(run.watch_ns),
        # The server's CPU seconds per second of round: what the dashboard costs it, apart
        # from how busy the rest of the machine is.
        "server_cpu": {k: round(v / (sizes.round_s * sizes.rounds), 3) for k, v in cpu.items()},
        "dashboard_rows": run.rows,
        "dashboard_other_rows": run.other_rows,
        "overflow_dropped": run.overflow,
        "memory": {
            "before": base.as_dict(),
            "joined": joined.as_dict(),
            "with_dashboard": with_usage.as_dict() if with_usage else None,
            "kb_per_student": round(rss / n * 1024, 1),
            "pss_kb_per_student": round(pss / n * 1024, 1),
        },
    }
