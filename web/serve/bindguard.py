"""Refuse to serve beyond this machine without access control.

Imports nothing but the standard library, so ``gunicorn.conf.py`` can use it in the master
before gevent has patched anything.
"""

from __future__ import annotations

import ipaddress

ACCESS_CONTROLLED = ("accounts", "proxy")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth_mode: str) -> None:
    """Refuse to serve beyond this machine without access control."""
    if is_loopback(host) or auth_mode in ACCESS_CONTROLLED:
        return
    raise SystemExit(
        f"Refusing to listen on {host}: anyone who can reach this address could open SMTP "
        "connections through it. Configure access control first: set PLAYGROUND_AUTH=accounts "
        "(and create users with `flask --app app users create`) or PLAYGROUND_AUTH=proxy behind "
        "a reverse proxy that authenticates users. See docs/security.md."
    )


def host_of_bind(bind: str) -> str:
    """The host part of a gunicorn bind (``HOST:PORT``, ``[v6]:PORT``, ``unix:PATH``)."""
    if bind.startswith("unix:") or bind.startswith("fd://"):
        return "localhost"  # a local socket: only this machine reaches it
    if bind.startswith("["):
        return bind[1 : bind.index("]")]
    return bind.rsplit(":", 1)[0] if ":" in bind else bind
