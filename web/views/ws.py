"""The WebSocket endpoint ``/ws``: a plain receive loop; the session does the rest."""

from __future__ import annotations

import socket
from typing import Any

from flask import abort, current_app, request
from simple_websocket import ConnectionClosed

from web.auth.access import user_name
from web.auth.hosts import origin_allowed
from web.live import jsonfast
from web.live.live import LiveSession
from web.serve.wsserver import WholeFrameSock

sock = WholeFrameSock()  # flask-sock, every frame written whole (web/serve/wsserver.py)


def check_origin() -> None:
    """Refuse a WebSocket handshake from another site's page (cross-site WebSocket hijacking)."""
    if request.path != "/ws":
        return
    if not origin_allowed(request):
        abort(403, "This page's origin may not open the playground's WebSocket.")


def _no_delay(environ: dict[str, Any]) -> None:
    """Small frames leave at once: Nagle's algorithm cost ~40 ms per round trip otherwise."""
    for key in ("werkzeug.socket", "gunicorn.socket"):
        raw = environ.get(key)
        if raw is not None:
            try:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass


@sock.route("/ws")
def console_socket(ws: Any) -> None:
    """Relay frames between one browser tab and its SMTP session."""
    _no_delay(request.environ)
    services = current_app.extensions["playground"]
    live = LiveSession(
        services,
        send=lambda frame: ws.send(jsonfast.dumps(frame)),
        cork=ws.corked,
        client=request.remote_addr or "",
        user=user_name(),
    )
    try:
        while True:
            data = ws.receive()
            if data is None:
                break
            live.handle(data)
    except ConnectionClosed:
        pass
    finally:
        live.shutdown("the browser went away")
