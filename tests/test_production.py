"""The production layout for real: gunicorn (gevent workers) + the sandbox as its own process.

gunicorn serves ``wsgi:app`` with ``gunicorn.conf.py`` on a free port, ``sandbox_main.py`` runs
the one sandbox, and a real WebSocket client drives SMTP through them. Which worker served a
connection is read from /proc (the worker that holds the server end of the TCP connection).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smtp_session.sandbox.mailbox import Mailbox
from tests.conftest import WsDriver, free_port

pytest.importorskip("gunicorn", reason="gunicorn is not installed (requirements.txt pins it)")
pytest.importorskip("gevent", reason="gevent is not installed (the production worker class)")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _wait_until(
    check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what}: the process exited ({proc.returncode}):\n{log.read_text()}")
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within 30 s:\n{log.read_text()}")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def _serving(port: int) -> bool:
    """A worker has loaded the app and answers (listening alone: the master's socket)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/api/transcripts")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Deployment:
    data_dir: Path
    port: int
    sandbox_port: int
    master: int
    log: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def workers(self) -> list[int]:
        return _children(self.master)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """sandbox_main.py, then gunicorn -c gunicorn.conf.py wsgi:app with two gevent workers."""
    data_dir = tmp_path_factory.mktemp("production")
    sandbox_port, tls_port, port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PLAYGROUND_DATA_DIR": str(data_dir),
        "PLAYGROUND_SANDBOX_PORT": str(sandbox_port),
        "PLAYGROUND_SANDBOX_TLS_PORT": str(tls_port),
        "PLAYGROUND_BIND": f"127.0.0.1:{port}",
        "PLAYGROUND_WORKERS": str(WORKERS),
        # Every session here comes from 127.0.0.1; the per-address limits are not under test.
        "PLAYGROUND_MAX_SESSIONS": "100",
        "PLAYGROUND_SESSIONS_PER_MINUTE": "1000",
    }
    env.pop("PLAYGROUND_START_SANDBOX", None)  # wsgi.py's default (0) is what we test
    sandbox_log, gunicorn_log = data_dir / "sandbox.log", data_dir / "gunicorn.log"
    sandbox = _spawn([sys.executable, "sandbox_main.py"], env, sandbox_log)
    server = None
    try:
        _wait_until(lambda: _listening(sandbox_port), "sandbox listening", sandbox, sandbox_log)
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
        server = _spawn(cmd, env, gunicorn_log)
        deployment = Deployment(data_dir, port, sandbox_port, server.pid, gunicorn_log)
        _wait_until(lambda: _listening(port), "gunicorn listening", server, gunicorn_log)
        _wait_until(lambda: _serving(port), "gunicorn serving", server, gunicorn_log)
        _wait_until(
            lambda: len(deployment.workers()) == WORKERS, "two workers", server, gunicorn_log
        )
        yield deployment
    finally:
        if server is not None:
            _stop(server)
        _stop(sandbox)


def _tcp_table() -> list[list[str]]:
    """Rows of /proc/net/tcp: [sl, local, remote, state, ..., inode (index 9), ...]."""
    return [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


def _socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets process ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed between the listing and the read
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _worker_serving(deployment: Deployment, client_port: int) -> int | None:
    """The worker holding the server end of the connection from ``client_port``."""
    inode = next(
        (
            row[9]
            for row in _tcp_table()
            if _port(row[1]) == deployment.port and _port(row[2]) == client_port
        ),
        None,
    )
    return next((w for w in deployment.workers() if inode in _socket_inodes(w)), None)


def test_a_full_transaction_through_gunicorn_reaches_the_standalone_sandbox(
    deployment: Deployment,
) -> None:
    ws = WsDriver(deployment.ws_url)
    try:
        assert ws.connect()["code"] == 220
        assert ws.ehlo()["code"] == 250
        done = ws.send_message(
            "teacher@client.example",
            ["student@sandbox.test"],
            ["Subject: via gunicorn", "", "Hello from a gevent worker."],
        )
        assert done["code"] == 250 and done["enhanced"] == "2.0.0"
        assert ws.command("QUIT")["code"] == 221
        assert ws.wait_for("closed")["code"] == "server_closed"
    finally:
        ws.close()
    stored = Mailbox(deployment.data_dir / "sandbox").messages()
    assert [m.subject for m in stored] == ["via gunicorn"]
    assert stored[0].rcpt_tos == ["student@sandbox.test"]


def test_both_workers_serve_sessions(deployment: Deployment) -> None:
    workers = deployment.workers()
    owners: dict[int, int] = {}
    drivers: list[WsDriver] = []
    try:
        # Sessions stay open, so each new connection may land on either worker (they race to
        # accept on one socket); 80 held connections all on one worker would mean the other
        # one is not serving. The pause lets an idle worker reach accept() first.
        for _ in range(80):
            time.sleep(0.05)
            ws = WsDriver(deployment.ws_url)
            drivers.append(ws)
            assert ws.connect()["code"] == 220
            assert ws.command("NOOP")["code"] == 250
            owner = _worker_serving(deployment, ws.ws.sock.getsockname()[1])
            assert owner in workers
            owners[owner] = owners.get(owner, 0) + 1
            if len(owners) == WORKERS:
                break
    finally:
        for ws in drivers:
            ws.close()
    assert sorted(owners) == sorted(workers), f"sessions per worker: {owners}"


def test_workers_leave_the_sandbox_to_its_own_process(deployment: Deployment) -> None:
    held = set().union(*(_socket_inodes(p) for p in [deployment.master, *deployment.workers()]))
    listening = {_port(row[1]) for row in _tcp_table() if row[3] == "0A" and row[9] in held}
    assert listening == {deployment.port}  # 0A is TCP_LISTEN; no SMTP listener in gunicorn
    # A worker that tried would have found the port taken and said so.
    assert "sandbox not started" not in deployment.log.read_text()
