"""SMTP Playground: the application factory and the command-line entry point."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from smtp_session.sandbox.scenario_format import ScenarioError, refuse_to_start
from web.auth.access import init_access
from web.auth.security import init_security
from web.classroom.views import init_classroom
from web.config import add_arguments, from_arguments, from_environ
from web.live.compress import init_compression
from web.serve.bindguard import check_bind
from web.serve.closing import closing_responses
from web.serve.serving import make_guarded_server
from web.services import Services
from web.views import (
    api,
    captured,
    classroom_pages,
    inbox,
    pages,
    transcripts_api,
    transcripts_views,
    ws,
)
from web.views.errors import init_errors

log = logging.getLogger("playground")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; settings come from the environment unless ``test_config`` overrides."""
    app = Flask(__name__)
    app.config.update(from_environ())
    if test_config:
        app.config.update(test_config)
    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": app.config["WS_PING"],  # keepalive; a dead browser is noticed
        # Frames a little over MAX_FRAME still arrive so we can answer with an error frame;
        # far larger ones are cut off by the WebSocket layer itself.
        "max_message_size": 4 * app.config["MAX_FRAME"],
        # simple-websocket reads 4 KiB at a time by default: a pasted message's 1 MiB frames
        # took ~250 reads and parser passes each. 64 KiB, not more: a read's buffer at or over
        # the worker's mmap threshold (128 KiB, web/serve/memory.py) is an mmap and a munmap
        # every time, twice per round trip (gevent's first try finds nothing): 8 % of its CPU.
        "receive_bytes": 64 * 1024,
    }
    init_security(app)
    init_compression(app)
    services = Services(app.config)
    app.extensions["playground"] = services
    init_access(app)
    init_errors(app)
    if os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "run" in sys.argv[1:]:
        check_bind(_flask_run_host(), app.config["AUTH"])  # flask run: same rule as app.py
    if app.config["START_SANDBOX"] and _serving():
        services.start_sandbox()
    if app.config["PROXY_HOPS"]:
        # Behind a reverse proxy: take the client address and scheme from its X-Forwarded-*
        # headers, so per-address limits see people rather than the proxy.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    # Werkzeug's server may skip a response's close() (web/serve/closing.py).
    app.wsgi_app = closing_responses(app.wsgi_app)  # type: ignore[method-assign,assignment]
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(transcripts_views.bp)
    app.register_blueprint(transcripts_api.bp)
    app.register_blueprint(classroom_pages.bp)
    app.register_blueprint(captured.bp)
    app.before_request(ws.check_origin)
    init_classroom(app)  # /api/classes and the class sockets (docs/classroom.md)
    ws.sock.init_app(app)
    return app


def _flask_run_host() -> str:
    """The address ``flask run`` will bind (its --host / -h flag or FLASK_RUN_HOST)."""
    args = sys.argv[1:]
    for flag in ("--host", "-h"):
        if flag in args and args.index(flag) + 1 < len(args):
            return args[args.index(flag) + 1]
    for arg in args:
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    return os.environ.get("FLASK_RUN_HOST", "127.0.0.1")


def _serving() -> bool:
    """False under ``flask --app app <command>`` other than ``run`` (users, routes, shell)."""
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":  # set by the flask command itself
        return True
    return "run" in sys.argv[1:]


def main(argv: list[str] | None = None) -> None:
    """``python app.py [--host ...] [--port ...] [--sandbox-port ...] [--data-dir ...]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        app = create_app(from_arguments(args))
    except ScenarioError as exc:  # a trainer's scenario file: every problem, then stop
        refuse_to_start(exc)
    host, port = app.config["HOST"], app.config["PORT"]
    check_bind(host, app.config["AUTH"])
    # werkzeug's server without Flask's banner and run_simple's start-up lines: the one ready
    # line below says what is open (its request log stays on).
    server = make_guarded_server(
        host, port, app, app.config["HEADER_TIMEOUT"], app.config["MAX_CONNECTIONS_PER_ADDRESS"]
    )
    log.info("%s", ready_line(app, server.server_port))
    # SIGTERM (systemd, docker stop, Ctrl-C's sibling) ends like Ctrl-C: atexit commits the
    # queued transcript entries, removes the journal and stops the sandbox.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tune_gc()
    server.serve_forever()  # returns on Ctrl-C


def configure_logging() -> None:
    """INFO from the app; libraries only when something is wrong.

    Alembic says INFO for each plugin and migration step; aiosmtpd logs every connection
    (its own start-up self-test too) and every command at INFO and a mistyped command at
    WARNING, all of which the transcript records. Their errors still show, and the sandbox
    logs a client's failed TLS handshake itself, as one line.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.ERROR)


def ready_line(app: Flask, port: int) -> str:
    """What this process opened, on one line: the app's URL and the sandbox's ports."""
    cfg = app.config
    url = f"http://{_url_host(cfg['HOST'])}:{port}/"
    sandbox = app.extensions["playground"].sandbox
    if sandbox is None:
        where = f"{cfg['SANDBOX_HOST']}:{cfg['SANDBOX_PORT']}"
        why = "did not start (see above)" if cfg["START_SANDBOX"] else "runs apart"
        ready = f"SMTP Playground ready: {url} | sandbox {why}, expected on {where}"
        return ready + _trainer_key(app, url)
    scfg = sandbox.config
    parts = [f"SMTP Playground ready: {url}", f"sandbox SMTP {scfg.host}:{scfg.port} (STARTTLS)"]
    if scfg.tls_port is not None:
        parts.append(f"implicit TLS {scfg.host}:{scfg.tls_port}")
    if scfg.scenario_ports:  # SANDBOX_SCENARIO_PORTS: each port in its scenario
        ports = ", ".join(f"{p}={name}" for p, name in sorted(scfg.scenario_ports.items()))
        parts.append(f"scenario ports {ports}")
    parts.append(f"inbox {url}sandbox")
    return " | ".join(parts) + _trainer_key(app, url)


def _trainer_key(app: Flask, url: str) -> str:
    """PLAYGROUND_AUTH=none: the key that makes a browser a class's trainer (docs/classroom.md)."""
    classroom = app.extensions["playground"].classroom
    if classroom is None or not classroom.trainer_key:
        return ""
    return f" | trainer key {classroom.trainer_key} ({url}class/login)"


def _url_host(host: str) -> str:
    """``host`` as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def tune_gc() -> None:
    """Fewer, shorter garbage-collector pauses for a server holding many consoles.

    A full collection stops every console of the process for as long as it walks the live
    objects (60-340 ms with 1,000 consoles open, measured). The app's own objects, loaded by
    now, live as long as the process: ``freeze`` keeps them out of every pass. Larger young
    generations promote fewer short-lived objects (a round trip's frames, queued entries), so
    full passes come rarely: one instead of five in the benchmark's concurrency part.
    """
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


if __name__ == "__main__":
    main()
