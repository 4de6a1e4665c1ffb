"""Run the sandbox SMTP server as its own process: ``python sandbox_main.py [--port ...]``.

In production the web workers do not start a sandbox each (``PLAYGROUND_START_SANDBOX=0``,
the default in ``wsgi.py``); this process is the one sandbox they all connect to. Settings
come from the same ``PLAYGROUND_*`` variables as the app, flags override them.

With ``PLAYGROUND_CAPTURE`` on (the default) every session it serves is captured into the
shared transcript store (``DATABASE_URL``) and published on the bus (``REDIS_URL``), where the
web workers' Captured page reads it (web/live/captured.py).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from smtp_session.sandbox.scenario_format import ScenarioError, refuse_to_start
from smtp_session.sandbox.server import SandboxServer
from transcripts.process import local_process_is_alive
from transcripts.store import Store
from web.config import from_environ
from web.live.bus import make_bus
from web.live.captured import CaptureWriter
from web.services import capture_sink, sandbox_config

log = logging.getLogger("playground.sandbox")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The sandbox settings: environment first, then command-line flags."""
    env = from_environ()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=env["DATA_DIR"])
    parser.add_argument("--host", default=env["SANDBOX_HOST"])
    parser.add_argument("--port", type=int, default=env["SANDBOX_PORT"])
    parser.add_argument(
        "--tls-port", type=int, default=env["SANDBOX_TLS_PORT"], help="0: no implicit-TLS port"
    )
    # aiosmtpd logs every command at INFO; a busy classroom may want only warnings.
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    parser.add_argument(
        "--capture", type=int, choices=[0, 1], default=int(env["CAPTURE"]), help="0: off"
    )
    return parser.parse_args(argv)


def open_capture(env: dict[str, Any], data_dir: Path) -> tuple[CaptureWriter | None, Any]:
    """The capture sink over the shared store and bus (and the store, to close at exit)."""
    store = Store.open(env["DATABASE_URL"] or f"sqlite:///{data_dir / 'playground.db'}")
    # Captured sessions a previous run of this process left live were cut off by its end.
    store.mark_interrupted(local_process_is_alive)
    bus = make_bus(env["REDIS_URL"])
    return capture_sink({**env, "CAPTURE": True}, store, bus), (store, bus)


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox and serve until SIGTERM or SIGINT."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = from_environ()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    capture, held = open_capture(env, args.data_dir) if args.capture else (None, None)
    try:  # the trainer's scenario files and the port map: every problem, then stop
        settings = sandbox_config(env, args.data_dir, capture)
    except ScenarioError as exc:
        refuse_to_start(exc)
    config = replace(
        settings,
        host=args.host,
        port=args.port,
        tls_port=args.tls_port or None,
    )
    server = SandboxServer(config)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "sandbox SMTP on %s:%s (implicit TLS on %s), capture %s",
        config.host,
        config.port,
        config.tls_port,
        "on" if capture else "off",
    )
    if config.scenario_ports:
        log.info("scenario ports: %s", config.scenario_ports)
    try:
        stop.wait()
    finally:
        server.stop()
        if capture is not None:
            capture.stop()
            store, bus = held
            bus.close()
            store.dispose()


if __name__ == "__main__":
    main()
