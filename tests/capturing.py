"""Fixtures for the captured-session tests: a sandbox that captures into the test's own app.

The session's shared sandbox (tests/conftest.py) does not capture: most tests do not want a
second transcript of every console session. This one is shared the same way, its sink a relay
to the ``CaptureWriter`` (web/live/captured.py) of the app the current test built, which stores
into that app's store and publishes on its bus, as ``Services.start_sandbox`` wires it in
production. Import ``sandbox`` and ``app`` from here to replace conftest's in a module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from tests.conftest import build_app, free_port, reset_sandbox
from web.live.captured import CaptureWriter


class RelaySink:
    """A ``CaptureSink`` that hands each record to the current test's writer (or drops it)."""

    def __init__(self) -> None:
        self.target: CaptureWriter | None = None

    def submit(self, record: Any) -> None:
        target = self.target
        if target is not None:
            target.submit(record)


class _Capturing:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.relay = RelaySink()
        self.server: SandboxServer | None = None

    def get(self) -> SandboxServer:
        if self.server is None or not self.server._controllers:
            for attempt in range(3):  # a free port can be taken before we bind it
                server = SandboxServer(
                    SandboxConfig(
                        data_dir=self.folder,
                        port=free_port(),
                        tls_port=free_port(),
                        capture=self.relay,
                    )  # fmt: skip
                )
                try:
                    server.start()
                    break
                except OSError:
                    if attempt == 2:
                        raise
            self.server = server
        return self.server


@pytest.fixture(scope="session")
def _capturing_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Capturing]:
    shared = _Capturing(tmp_path_factory.mktemp("capturing-sandbox"))
    yield shared
    if shared.server is not None:
        shared.server.stop()


@pytest.fixture
def sandbox(data_dir: Path, _capturing_sandbox: _Capturing) -> SandboxServer:
    """The capturing sandbox, reset for this test (as conftest's ``sandbox``)."""
    return reset_sandbox(_capturing_sandbox.get(), data_dir)


@pytest.fixture
def app(data_dir: Path, sandbox: SandboxServer, _capturing_sandbox: _Capturing) -> Iterator[Any]:
    """The app, with the sandbox's sessions captured into its store and onto its bus."""
    built = build_app(data_dir, sandbox)
    yield from capture_into(built, _capturing_sandbox.relay)


def capture_into(app: Any, relay: RelaySink) -> Iterator[Any]:
    """Point ``relay`` at a new writer for ``app`` while the caller's test runs."""
    services = app.extensions["playground"]
    writer = CaptureWriter(services.store, services.bus)
    services.capture = writer
    relay.target = writer
    try:
        yield app
    finally:
        relay.target = None
        writer.stop()
