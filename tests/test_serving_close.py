"""Responses are closed when sent, even when the client resets the connection at once.

Werkzeug's server drains the socket after a response and calls the response's ``close()``
only if that read succeeds. A browser that resets the connection once it has a static file
made the read fail, the file stayed open until the garbage collector found it, and its
``ResourceWarning`` failed a browser test (web/serve/closing.py).
"""

from __future__ import annotations

import gc
import io
import socket
import struct
import warnings
from pathlib import Path

from werkzeug.test import EnvironBuilder

from tests.conftest import LiveServer

ASSET = "/static/js/knowledge.js"
ASSET_BYTES = (Path(__file__).parent.parent / "static/js/knowledge.js").stat().st_size


def _get_then_reset(port: int) -> bytes:
    """GET the asset over HTTP/1.0, read the whole response, then reset (RST, not FIN)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(f"GET {ASSET} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < ASSET_BYTES:
        chunk = conn.recv(65536)
        if not chunk:
            break
        received += chunk
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    return received


def test_a_static_file_is_closed_when_the_client_resets_after_reading_it(app) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with LiveServer(app) as server:
            responses = [_get_then_reset(server.port) for _ in range(60)]
        gc.collect()
    assert all(r.startswith(b"HTTP/1.") and b" 200 " in r.split(b"\r\n")[0] for r in responses)
    assert all(len(r.partition(b"\r\n\r\n")[2]) == ASSET_BYTES for r in responses)
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == [], leaked[:3]


def test_a_response_is_closed_once_its_last_chunk_is_taken(app) -> None:  # type: ignore[no-untyped-def]
    environ = EnvironBuilder(path=ASSET).get_environ()
    started: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        response = app.wsgi_app(environ, lambda status, *rest: started.append(status))
        body = b"".join(iter(response))  # what a server does, here without calling close()
        del response
        gc.collect()
    assert started[0].startswith("200") and len(body) == ASSET_BYTES
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == [], leaked


def test_gunicorns_file_wrapper_is_left_to_gunicorn(app) -> None:  # type: ignore[no-untyped-def]
    class FileWrapper:
        def __init__(self, file: io.BufferedReader, block_size: int = 8192) -> None:
            self.file = file

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(lambda: self.file.read(8192), b"")

        def close(self) -> None:
            self.file.close()

    environ = EnvironBuilder(path=ASSET).get_environ()
    environ["wsgi.file_wrapper"] = FileWrapper
    response = app.wsgi_app(environ, lambda *a: None)
    assert isinstance(response, FileWrapper), "gunicorn gets its own wrapper back (sendfile)"
    response.close()
