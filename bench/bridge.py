"""The smallest flask-sock bridge: WebSocket bytes to the sandbox's TCP port and back.

A reference for the round trip, not part of the product: it runs on the same stack the
playground is fixed to (Flask, flask-sock, gunicorn with gevent) and does nothing else, so
the gap between it and the playground is what the playground's own work costs, and the gap
between it and a direct socket is what the stack costs.
``gunicorn -k gevent bench.bridge:app`` with BRIDGE_TARGET_PORT set.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from flask import Flask
from flask_sock import Sock

app = Flask(__name__)
sock = Sock(app)
TARGET = ("127.0.0.1", int(os.environ.get("BRIDGE_TARGET_PORT", "2525")))


@sock.route("/")
def bridge(ws: Any) -> None:
    """Relay bytes both ways until either side closes."""
    upstream = socket.create_connection(TARGET)
    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pump() -> None:
        while data := upstream.recv(65536):
            ws.send(data)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while (data := ws.receive()) is not None:
            upstream.sendall(data if isinstance(data, bytes) else data.encode())
    finally:
        upstream.close()
