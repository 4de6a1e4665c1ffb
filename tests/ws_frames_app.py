"""A tiny Flask app whose WebSocket sends large frames from two threads: tests/test_ws_frames.py.

``make("stock")`` serves it with flask-sock's own server, ``make("whole")`` with the app's
(web/serve/wsserver.py), so the test can show what each does under the same load. gunicorn loads it
as ``tests.ws_frames_app:make('whole')``.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from typing import Any

from flask import Flask
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from web.serve.wsserver import WholeFrameSock


def pad(writer: str, seq: int, size: int) -> str:
    """``size`` characters that do not compress (permessage-deflate would shrink a run of one
    letter to nothing), the same for the same writer and seq on both sides."""
    raw = random.Random(f"{writer}:{seq}").randbytes(size * 3 // 4)
    return base64.b64encode(raw).decode()


def make(kind: str, ping: float = 1.0) -> Flask:
    """The app: on "N SIZE GAP NAMES", one writer thread per letter of NAMES sends N messages
    of SIZE bytes, GAP seconds apart, then "done"."""
    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": ping}
    sock = Sock(app) if kind == "stock" else WholeFrameSock(app)

    @sock.route("/blast")
    def blast(ws: Any) -> None:
        words = ws.receive().split()
        count, size, gap, names = int(words[0]), int(words[1]), float(words[2]), words[3]

        def writer(name: str) -> None:
            try:
                for seq in range(count):
                    ws.send(json.dumps({"writer": name, "seq": seq, "pad": pad(name, seq, size)}))
                    time.sleep(gap)  # the load's shape, on the server side
            except (ConnectionClosed, OSError):
                pass  # the client gave up on a broken stream

        writers = [threading.Thread(target=writer, args=(name,)) for name in names]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        try:
            ws.send("done")
            ws.receive(timeout=30)  # the client closes when it has read everything
        except (ConnectionClosed, OSError):
            pass

    return app
