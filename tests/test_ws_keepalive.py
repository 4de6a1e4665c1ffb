"""The WebSocket keepalive (web/serve/wsserver.py): one thread pings every connection; a
client that never answers is closed with 1008, and a close the server sends to a client that
never replies still ends the route. The client here is a raw socket speaking wsproto, so it
answers nothing unless told to."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import make_server
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from web.serve.wsserver import WholeFrameSock


@contextmanager
def serving(ping: float, ended: threading.Event) -> Iterator[int]:
    """An app with /echo (echoes until closed) and /bye (closes from another thread at once)."""
    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": ping}
    sock = WholeFrameSock(app)

    @sock.route("/echo")
    def echo(ws: Any) -> None:
        try:
            while (data := ws.receive()) is not None:
                ws.send(data)
        finally:
            ended.set()

    @sock.route("/bye")
    def bye(ws: Any) -> None:
        threading.Thread(target=ws.close, args=(1000, "bye")).start()
        try:
            while ws.receive() is not None:
                pass
        finally:
            ended.set()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


class Mute:
    """A WebSocket client that reads frames but answers nothing (no pongs, no close reply)."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.ws.send(Request(host="127.0.0.1", target=path)))
        assert isinstance(self.next_event(), AcceptConnection)

    def next_event(self) -> Any:
        while True:
            for event in self.ws.events():
                return event
            data = self.sock.recv(65536)
            if not data:
                return None
            self.ws.receive_data(data)

    def until_close(self) -> tuple[int, CloseConnection | None]:
        pings = 0
        while (event := self.next_event()) is not None:
            if isinstance(event, Ping):
                pings += 1
            elif isinstance(event, CloseConnection):
                return pings, event
        return pings, None


def test_a_client_that_never_answers_a_ping_is_closed_with_1008() -> None:
    ended = threading.Event()
    with serving(0.2, ended) as port:
        client = Mute(port, "/echo")
        client.sock.sendall(client.ws.send(TextMessage(data="hello")))
        assert isinstance(client.next_event(), TextMessage)  # the echo: it is read in the route
        pings, close = client.until_close()
        client.sock.close()
        assert ended.wait(10)
    assert pings >= 1 and close is not None
    assert (close.code, close.reason) == (1008, "Ping/Pong timeout")


def test_a_server_close_ends_the_route_though_the_client_never_replies() -> None:
    ended = threading.Event()
    with serving(0.2, ended) as port:
        client = Mute(port, "/bye")
        pings, close = client.until_close()
        assert close is not None and close.code == 1000
        assert ended.wait(10)  # the keepalive ends a close nobody answered
        client.sock.close()


def test_the_keepalive_works_for_descriptors_above_1024() -> None:
    """A worker holding a thousand consoles has sockets numbered past select()'s limit; the
    keepalive must still ping them (it once took every such socket for alive, unpinged)."""
    import os

    placeholders = []
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        while fd <= 1100:  # the next sockets (client and server side) come after these
            placeholders.append(fd)
            fd = os.dup(fd)
        placeholders.append(fd)
        ended = threading.Event()
        with serving(0.2, ended) as port:
            client = Mute(port, "/echo")
            assert client.sock.fileno() > 1024
            pings, close = client.until_close()
            client.sock.close()
            assert ended.wait(10)
    finally:
        for placeholder in placeholders:
            os.close(placeholder)
    assert pings >= 1 and close is not None and close.code == 1008
