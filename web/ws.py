"""The WebSocket endpoint ``/ws``: a plain receive loop; the session does the rest."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from .live import LiveSession

sock = Sock()


@sock.route("/ws")
def console_socket(ws: Any) -> None:
    """Relay frames between one browser tab and its SMTP session."""
    services = current_app.extensions["playground"]
    live = LiveSession(
        services,
        send=lambda frame: ws.send(json.dumps(frame)),
        client=request.remote_addr or "",
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
