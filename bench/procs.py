"""The processes a benchmark run starts (sandbox, app, websockify) and what /proc says of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The classroom part signs in as the trainer with this key (X-Trainer-Key, docs/classroom.md).
TRAINER_KEY = "bench-trainer-key"
BIN = Path(sys.executable).parent

# How each --server choice starts the app. Every one gets the same sandbox (its own process)
# and PLAYGROUND_START_SANDBOX=0, as in production.
SERVERS: dict[str, list[str]] = {
    "embedded": [sys.executable, "app.py", "--port", "{port}"],
    "gunicorn-threads": [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
        "--bind", "127.0.0.1:{port}", "--workers", "{workers}", "--worker-class", "gthread",
        # A WebSocket holds its pool thread for the whole session: 1,000 consoles over two
        # workers need (with the kernel's uneven spread) well over 500 threads each.
        "--threads", "{threads}", "--worker-connections", "{connections}",
    ],
    # gunicorn.conf.py's own worker class (gevent's, with the per-address connection cap):
    # a --worker-class here would replace it with plain gevent, which production does not run.
    "gunicorn-gevent": [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app",
        "--bind", "127.0.0.1:{port}", "--workers", "{workers}",
        "--worker-connections", "{connections}",
    ],
}  # fmt: skip


# bench/bridge.py under gunicorn, one gevent worker (start_bridge adds the bind).
BRIDGE_COMMAND = [
    sys.executable, "-m", "gunicorn", "bench.bridge:app", "--worker-class", "gevent",
    "--workers", "1", "--access-logfile", "/dev/null", "--log-level", "warning",
]  # fmt: skip


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """Block until something accepts on ``port``; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


@dataclass
class Started:
    """A child process and the port it serves."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers (the whole process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def _spawn(name: str, cmd: list[str], env: dict[str, str], log: Path, port: int) -> Started:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    started = Started(name, proc, port)
    try:
        wait_port(port, proc)
    except RuntimeError:
        started.stop()
        raise
    return started


@dataclass
class SandboxPorts:
    port: int
    tls_port: int


def start_sandbox(data_dir: Path) -> tuple[Started, SandboxPorts]:
    """The sandbox as its own process, logging warnings only (so logging is not measured)."""
    ports = SandboxPorts(free_port(), free_port())
    cmd = [sys.executable, "sandbox_main.py", "--data-dir", str(data_dir), "--port"]
    cmd += [str(ports.port), "--tls-port", str(ports.tls_port), "--log-level", "WARNING"]
    return _spawn("sandbox", cmd, dict(os.environ), data_dir / "sandbox.log", ports.port), ports


def start_app(
    kind: str,
    data_dir: Path,
    sandbox: SandboxPorts,
    sessions: int,
    workers: int = 2,
    extra_env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
) -> Started:
    """The web app in one of the SERVERS layouts, pointed at the sandbox (``wrap``: a command
    it runs under, e.g. valgrind; ``extra_env``: settings on top of the benchmark's)."""
    port = free_port()
    fields = {"port": port, "threads": sessions + 50, "connections": 2 * sessions + 100,
              "workers": workers}  # fmt: skip
    cmd = (wrap or []) + [part.format(**fields) for part in SERVERS[kind]]
    env = dict(os.environ)
    env.update(
        PLAYGROUND_DATA_DIR=str(data_dir),
        PLAYGROUND_START_SANDBOX="0",
        PLAYGROUND_SANDBOX_PORT=str(sandbox.port),
        PLAYGROUND_SANDBOX_TLS_PORT=str(sandbox.tls_port),
        PLAYGROUND_ACCESS_LOG="/dev/null",  # one line per WebSocket is not what we measure
        PLAYGROUND_LOG_LEVEL="warning",
        # Every benchmark session comes from 127.0.0.1: the per-address limits (5 open, 30 a
        # minute, 500 frames/s) would measure the limiter, not the transport.
        PLAYGROUND_MAX_SESSIONS="100000",
        PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS="100000",
        PLAYGROUND_SESSIONS_PER_MINUTE="1000000",
        PLAYGROUND_FRAME_RATE="0",
        PLAYGROUND_TRAINER_KEY=TRAINER_KEY,
    )
    env.update(extra_env or {})
    return _spawn(kind, cmd, env, data_dir / f"{kind}.log", port)


def start_websockify(data_dir: Path, sandbox: SandboxPorts) -> Started:
    """websockify proxying WebSocket to the sandbox's TCP port: the off-the-shelf bridge."""
    exe = BIN / "websockify"
    cmd = [str(exe) if exe.exists() else "websockify"]
    port = free_port()
    cmd += [f"127.0.0.1:{port}", f"127.0.0.1:{sandbox.port}"]
    return _spawn("websockify", cmd, dict(os.environ), data_dir / "websockify.log", port)


def start_bridge(
    data_dir: Path, sandbox: SandboxPorts, wrap: list[str] | None = None, args: tuple[str, ...] = ()
) -> Started:
    """bench/bridge.py under gunicorn (one gevent worker): the stack's own floor."""
    port = free_port()
    cmd = (wrap or []) + BRIDGE_COMMAND + ["--bind", f"127.0.0.1:{port}", *args]
    env = {**os.environ, "BRIDGE_TARGET_PORT": str(sandbox.port)}
    return _spawn("bridge", cmd, env, data_dir / "bridge.log", port)


# -- /proc -------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (gunicorn: the master and its workers)."""
    found = [pid]
    for p in found:
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                found.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return found


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


@dataclass
class Usage:
    """A process tree's footprint: summed RSS and PSS (PSS counts shared pages once), threads."""

    processes: int
    rss_mb: float
    pss_mb: float
    threads: int
    fds: int

    def as_dict(self) -> dict[str, float]:
        return dict(vars(self))


def usage(pid: int) -> Usage:
    """Sum over the process tree rooted at ``pid``, read from /proc."""
    rss = pss = threads = fds = n = 0
    for p in tree(pid):
        try:
            rss += _status_kb(p, "VmRSS")
            threads += _status_kb(p, "Threads")
            pss += _pss_kb(p)
            fds += len(os.listdir(f"/proc/{p}/fd"))
            n += 1
        except (FileNotFoundError, ProcessLookupError):
            continue  # a worker that exited between the listing and the read
    return Usage(n, round(rss / 1024, 1), round(pss / 1024, 1), threads, fds)


def raise_fd_limit() -> None:
    """1,000 sessions need ~2,000 descriptors here and more in the app; children inherit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (from /proc/PID/stat), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / tick


def workers(pid: int) -> list[int]:
    """The processes under ``pid`` (gunicorn's workers), or ``pid`` itself if it has none."""
    return tree(pid)[1:] or [pid]
