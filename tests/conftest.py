"""Fixtures that start real things on loopback: the sandbox, a live app, WebSocket clients."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from app import create_app
from smtp_session.sandbox.mailbox import Mailbox
from smtp_session.sandbox.server import SandboxConfig, SandboxServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store at Alembic's head, made once: each app starts from a copy of it.

    A database at head is not migrated again (transcripts.db.migrate), so an app built on a
    copy skips Alembic; tests/test_store.py runs the migrations themselves.
    """
    from transcripts.db import make_engine, migrate

    path = tmp_path_factory.mktemp("migrated") / "playground.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection closing folds the WAL back into the file
    assert not path.with_name("playground.db-wal").exists()
    return path


@pytest.fixture(autouse=True)
def _seed_store(migrated_db: Path) -> Iterator[None]:
    """Let build_app copy the migrated store instead of running Alembic for every test."""
    global _MIGRATED_DB
    _MIGRATED_DB = migrated_db
    yield
    _MIGRATED_DB = None


_MIGRATED_DB: Path | None = None


def seed_store(data_dir: Path) -> None:
    """Put a copy of the migrated store in ``data_dir`` unless a store is already there."""
    target = data_dir / "playground.db"
    if _MIGRATED_DB is not None and not target.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_MIGRATED_DB, target)


def start_sandbox(data_dir: Path) -> SandboxServer:
    """The real aiosmtpd sandbox on free loopback ports."""
    for attempt in range(3):  # a free port can be taken by another test before we bind it
        server = SandboxServer(
            SandboxConfig(data_dir=data_dir, port=free_port(), tls_port=free_port())
        )
        try:
            server.start()
            return server
        except OSError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _Shared:
    """The session's sandbox: started on first use, again if a test stopped it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.server: SandboxServer | None = None

    def get(self) -> SandboxServer:
        if self.server is None or not self.server._controllers:
            self.server = start_sandbox(self.folder)
        return self.server


@pytest.fixture(scope="session")
def _shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Shared]:
    shared = _Shared(tmp_path_factory.mktemp("shared-sandbox"))
    yield shared
    if shared.server is not None:
        shared.server.stop()


@pytest.fixture
def sandbox(data_dir: Path, _shared_sandbox: _Shared) -> SandboxServer:
    """The session's sandbox, reset for this test: an empty inbox in ``data_dir``, no state.

    Starting a sandbox per test cost ~0.3-0.6 s (two listeners, aiosmtpd's self-test). What
    a test can see of the shared one is reset here: the inbox is a new folder in this test's
    data dir (where the app's inbox page reads it), the scenarios' greylist and attempt
    counts are empty, and its certificate
    is copied into the data dir, where the app looks for the one it pins. A test that needs
    other settings starts its own SandboxServer.
    """
    return reset_sandbox(_shared_sandbox.get(), data_dir)


def reset_sandbox(server: SandboxServer, data_dir: Path) -> SandboxServer:
    """A shared sandbox made new for one test: its inbox in ``data_dir``, no greylist."""
    server.config.data_dir = data_dir
    inbox = Mailbox(data_dir / "sandbox", server.config.max_messages)
    server.mailbox = server.handler.mailbox = inbox
    server.engine.reset()
    server.engine.time_scale = 1.0
    shutil.copytree(server.cert.cert.parent, data_dir / "tls", dirs_exist_ok=True)
    return server


def build_app(data_dir: Path, sandbox: SandboxServer, **config: Any):  # type: ignore[no-untyped-def]
    """An app talking to the test sandbox (not starting its own), with ``config`` on top."""
    if "DATABASE_URL" not in config:
        seed_store(data_dir)
    return create_app(
        {
            "TESTING": True,
            "DATA_DIR": data_dir,
            "START_SANDBOX": False,
            "SANDBOX_PORT": sandbox.config.port,
            "SANDBOX_TLS_PORT": sandbox.config.tls_port,
            "CONNECT_TIMEOUT": 3.0,
            **config,
        }
    )


@pytest.fixture
def app(data_dir: Path, sandbox: SandboxServer):  # type: ignore[no-untyped-def]
    return build_app(data_dir, sandbox)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


class LiveServer:
    """The app served by a real threaded WSGI server on a free port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live(app) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    with LiveServer(app) as server:
        yield server


_DOCUMENTS: dict[str, dict[str, Any]] = {}


def fetch_knowledge(base: str, path: str) -> dict[str, Any]:
    """The knowledge document a session frame names, over HTTP like a browser (cached)."""
    from urllib.request import urlopen

    url = base + path
    if url not in _DOCUMENTS:
        with urlopen(url, timeout=10) as response:
            _DOCUMENTS[url] = json.loads(response.read())
    return _DOCUMENTS[url]


class WsDriver:
    """A real WebSocket client that reads like the transaction it drives.

    Lean frames (docs/protocol.md v2, the default) are read as the browser reads them: the
    keys resolved with the knowledge document the ``session`` frame names, the state kept from
    its changes (smtp_session/guide/lean.py FrameReader). ``frames`` holds what they stand for,
    ``wire`` what came over the socket.
    """

    def __init__(self, url: str, **options: Any) -> None:
        """``options`` go to websocket-client's create_connection (headers, a cookie)."""
        import websocket  # websocket-client

        from smtp_session.guide.lean import FrameReader

        self.ws = websocket.create_connection(url, timeout=10, **options)
        self.base = "http" + url.split("/ws")[0][2:]  # ws://host:port/ws -> http://host:port
        self.frames: list[dict[str, Any]] = []
        self.wire: list[dict[str, Any]] = []
        self.reader = FrameReader(lean=False)

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            self.ws.send(json.dumps(frame))
        elif isinstance(frame, bytes):
            self.ws.send_binary(frame)
        else:
            self.ws.send(frame)

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        self.ws.settimeout(timeout)
        raw = json.loads(self.ws.recv())
        self.wire.append(raw)
        if raw.get("type") == "session" and raw.get("knowledge"):
            self.reader.doc = fetch_knowledge(self.base, raw["knowledge"])
        frame = self.reader.read(raw)
        self.frames.append(frame)
        return frame

    def wait_for(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """Read frames until one of this type (and these field values) arrives."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind} frame {match} within {timeout}s: {self.frames[-5:]}"
                )
            frame = self.next(remaining)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def connect(self, target: str = "sandbox", **extra: Any) -> dict[str, Any]:
        self.send({"type": "connect", "target": target, **extra})
        self.wait_for("session")
        return self.wait_for("reply")  # the greeting

    def command(self, text: str) -> dict[str, Any]:
        """Send one line and return the reply frame that answers it."""
        self.send({"type": "line", "text": text})
        return self.wait_for("reply")

    def ehlo(self, name: str = "client.example") -> dict[str, Any]:
        return self.command(f"EHLO {name}")

    def send_message(self, sender: str, rcpts: list[str], body_lines: list[str]) -> dict[str, Any]:
        """MAIL, RCPT..., DATA, the lines, the dot: returns the reply to the final dot."""
        assert self.command(f"MAIL FROM:<{sender}>")["code"] == 250
        for rcpt in rcpts:
            self.command(f"RCPT TO:<{rcpt}>")
        assert self.command("DATA")["code"] == 354
        self.send({"type": "lines", "lines": [*body_lines, "."]})
        return self.wait_for("reply")

    def record_classic(self) -> dict[str, Any]:
        """EHLO, one message, QUIT on the sandbox, recorded: returns the ``session`` frame."""
        self.connect()
        self.ehlo()
        self.send_message("alice@example.com", ["bob@example.com"], ["Subject: Hi", "", "Hello."])
        self.command("QUIT")
        self.wait_for("closed")
        return next(f for f in self.frames if f["type"] == "session")

    def paste(
        self, lines: list[str], target: str = "sandbox", timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Connect, paste ``lines`` in one frame, and return the frames up to the close."""
        self.connect(target)
        self.send({"type": "lines", "lines": lines})
        self.wait_for("closed", timeout=timeout)
        start = next(i for i, f in enumerate(self.frames) if f["type"] == "session")
        return self.frames[start:]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def ws(live: LiveServer) -> Iterator[WsDriver]:
    driver = WsDriver(live.ws_url)
    yield driver
    driver.close()


def _require(var: str) -> bool:
    import os

    return os.environ.get(var, "") not in ("", "0")


@pytest.fixture(scope="session")
def postfix() -> Iterator[Any]:
    """Debian's Postfix on loopback with its own configuration (tests/postfix.py).

    Skips when Postfix cannot run here, unless REQUIRE_POSTFIX=1 (CI), which fails instead.
    """
    from tests.postfix import Ports, PostfixInstance, missing

    reason = missing()
    if reason is not None:
        if _require("REQUIRE_POSTFIX"):
            pytest.fail(f"REQUIRE_POSTFIX is set but Postfix cannot run: {reason}")
        pytest.skip(f"no Postfix for the real-MTA tests: {reason}")
    with PostfixInstance(Ports(free_port(), free_port(), free_port())) as instance:
        yield instance


@pytest.fixture
def pf_app(data_dir: Path, sandbox: SandboxServer, postfix: Any) -> Iterator[LiveServer]:
    """The app with the Postfix instance's ports as named targets: postfix (STARTTLS,
    PIPELINING, CHUNKING), postfix-tls (implicit TLS), postfix-bare (neither extension)."""
    ports = postfix.ports
    targets = (
        f"postfix=127.0.0.1:{ports.plain},postfix-tls=127.0.0.1:{ports.tls}:tls,"
        f"postfix-bare=127.0.0.1:{ports.bare}"
    )
    with LiveServer(build_app(data_dir, sandbox, TARGETS=targets)) as live:
        yield live


@pytest.fixture
def pws(pf_app: LiveServer) -> Iterator[WsDriver]:
    """A WebSocket client of the app that reaches Postfix."""
    driver = WsDriver(pf_app.ws_url)
    yield driver
    driver.close()


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium driven by Playwright (skips when absent, unless REQUIRE_BROWSER=1)."""
    import shutil

    if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():
        if _require("REQUIRE_BROWSER"):
            pytest.fail("REQUIRE_BROWSER is set but /usr/bin/chromium is missing")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def ws_factory(live: LiveServer) -> Iterator[Any]:
    """Open more WebSocket clients against the live app; all are closed at the end."""
    drivers: list[WsDriver] = []

    def make() -> WsDriver:
        driver = WsDriver(live.ws_url)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        try:
            driver.close()
        except Exception:
            pass


def replies(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reply frames among ``frames``, in order."""
    return [f for f in frames if f["type"] == "reply"]


def wait_until(check: Any, timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something true (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    return check()
