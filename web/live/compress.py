"""gzip for large JSON answers: a long transcript's frames shrink about twentyfold."""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

MIN_SIZE = 32 * 1024  # below this, compressing costs more than it saves


def compress_json(response: Response) -> Response:
    """Compress a large JSON body when the client accepts gzip."""
    if (
        response.mimetype != "application/json"
        or response.direct_passthrough
        or response.is_streamed
        or "Content-Encoding" in response.headers
        or "gzip" not in request.headers.get("Accept-Encoding", "")
    ):
        return response
    body = response.get_data()
    if len(body) < MIN_SIZE:
        return response
    response.set_data(gzip.compress(body, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.headers.add("Vary", "Accept-Encoding")
    return response


def init_compression(app: Flask) -> None:
    app.after_request(compress_json)
