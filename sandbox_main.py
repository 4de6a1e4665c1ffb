"""Run the sandbox SMTP server as its own process: ``python sandbox_main.py [--port ...]``.

In production the web workers do not start a sandbox each (``PLAYGROUND_START_SANDBOX=0``,
the default in ``wsgi.py``); this process is the one sandbox they all connect to. Settings
come from the same ``PLAYGROUND_*`` variables as the app, flags override them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from smtp_session.sandbox.scenario_format import ScenarioError, from_settings, refuse_to_start
from smtp_session.sandbox.server import SandboxConfig, SandboxServer
from web.config import from_environ

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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox and serve until SIGTERM or SIGINT."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = from_environ()
    try:  # the trainer's scenario files and the port map: every problem, then stop
        _scenarios, ports = from_settings(env["SCENARIOS_DIR"], env["SANDBOX_SCENARIO_PORTS"])
    except ScenarioError as exc:
        refuse_to_start(exc)
    config = SandboxConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        tls_port=args.tls_port or None,
        auth_require_tls=env["SANDBOX_AUTH_REQUIRE_TLS"],
        scenarios_dir=Path(env["SCENARIOS_DIR"]) if env["SCENARIOS_DIR"] else None,
        scenario_ports=ports,
    )
    server = SandboxServer(config)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "sandbox SMTP on %s:%s (implicit TLS on %s)", config.host, config.port, config.tls_port
    )
    if config.scenario_ports:
        log.info("scenario ports: %s", config.scenario_ports)
    try:
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
