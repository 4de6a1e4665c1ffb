"""Slow and greedy clients: the defaults and the refusal both servers share.

Imports nothing but the standard library, so that gunicorn can load web/serve/gworker.py in its
master before gevent has patched anything (like web/serve/bindguard.py).
"""

from __future__ import annotations

DEFAULT_HEADER_TIMEOUT_S = 10.0  # request line and headers, in total
DEFAULT_MAX_PER_ADDRESS = 256  # open connections per client address (a class behind one NAT)


def refusal(limit: int) -> bytes:
    """The whole answer to one connection too many from an address."""
    body = f"Too many connections from your address (the limit is {limit}). Close some.\n"
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
    )
    return (head + body).encode()
