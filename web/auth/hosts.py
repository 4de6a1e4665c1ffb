"""Which names the app answers to (the Host allow-list) and which pages may open ``/ws``.

DNS rebinding: a page on ``rebind.attacker.example`` whose name later resolves to 127.0.0.1
reaches the app from the visitor's browser as a same-origin page. Its requests carry
``Host: rebind.attacker.example``, so answering only to the names the app is bound to (plus
``PLAYGROUND_ALLOWED_HOSTS``) shuts it out. The Origin of a WebSocket handshake is checked
against the same list and the port the app serves on, never against the request's own Host,
which whoever sends the request chooses.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, current_app, jsonify, request

from web.serve.bindguard import host_of_bind, is_loopback

log = logging.getLogger(__name__)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6454 §6.2: an origin is serialized as scheme "://" host [":" port], scheme and host in
# lower case, with no path. Anything else in an Origin header is not what a browser sends.
_ORIGIN = re.compile(r"(https?)://(\[[0-9a-f:.]+\]|[a-z0-9._~%!$&'()*+,;=-]+)(?::([0-9]{1,5}))?")


@dataclass(frozen=True)
class Origin:
    """An origin reduced to what is compared: scheme, host, port (the default one filled in)."""

    scheme: str
    host: str
    port: int


def parse_origin(text: str) -> Origin | None:
    """The origin an ``Origin`` header or a PLAYGROUND_ORIGINS entry names, or None."""
    found = _ORIGIN.fullmatch(text)
    if found is None:
        return None
    scheme, host, port = found.groups()
    return Origin(scheme, host.strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])


def host_name(header: str) -> str:
    """The name of a Host header without its port, in lower case (``[::1]:5000`` -> ``::1``)."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _names_for(bound: str) -> set[str]:
    """The names a client may use to reach an app bound to ``bound``."""
    if bound in WILDCARDS:
        return {*LOOPBACK_NAMES, socket.gethostname().lower()}
    if is_loopback(bound):
        return {*LOOPBACK_NAMES, bound.lower()}
    return {bound.lower()}


def allowed_hosts(config: dict[str, Any], environ: dict[str, str] | None = None) -> frozenset[str]:
    """The bound names (python app.py's HOST, gunicorn's PLAYGROUND_BIND) plus the extras."""
    env = os.environ if environ is None else environ
    bound = [config["HOST"]]
    bound += [host_of_bind(b) for b in re.split(r"[\s,]+", env.get("PLAYGROUND_BIND", "")) if b]
    names: set[str] = set()
    for host in bound:
        names |= _names_for(host.strip("[]"))
    names |= {host_name(h) for h in config["ALLOWED_HOSTS"].split(",") if h.strip()}
    return frozenset(names)


def extra_origins(entries: Iterable[str]) -> frozenset[Origin]:
    """PLAYGROUND_ORIGINS parsed; an entry that is not an origin stops the start-up."""
    found = set()
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        origin = parse_origin(entry)
        if origin is None:
            raise ValueError(
                f"PLAYGROUND_ORIGINS: {entry!r} is not an origin; write it as a browser sends "
                "it, like https://docs.example or http://127.0.0.1:8080 (no path)"
            )
        found.add(origin)
    return frozenset(found)


def served_port(req: Request) -> int:
    """The port this request reached: the listening socket's, or behind a proxy its Host's."""
    if not current_app.config["PROXY_HOPS"]:
        for key in ("werkzeug.socket", "gunicorn.socket"):
            raw = req.environ.get(key)
            try:
                address = raw.getsockname() if raw is not None else None
            except (OSError, AttributeError):
                address = None
            if isinstance(address, tuple):
                return int(address[1])
    _name, _, port = req.host.rpartition(":")
    if port.isdigit() and "]" not in port:
        return int(port)
    return DEFAULT_PORTS.get(req.scheme, 80)


def origin_allowed(req: Request) -> bool:
    """Cross-site WebSocket hijacking guard: the Origin is this app or a configured origin.

    Browsers always send Origin on WebSocket handshakes; scripts (no Origin) are not browsers
    carrying someone's cookies, so they pass and meet the same authentication as the pages.
    """
    header = req.headers.get("Origin")
    if header is None:
        return True
    origin = parse_origin(header)
    if origin is None:
        return False
    if origin in current_app.extensions["extra_origins"]:
        return True
    return (
        origin.scheme == req.scheme
        and origin.host in current_app.extensions["allowed_hosts"]
        and origin.port == served_port(req)
    )


def check_host() -> Response | tuple[Response, int] | None:
    """Before every request, the WebSocket's included: refuse a Host not on the list."""
    name = host_name(request.host)
    if name in current_app.extensions["allowed_hosts"]:
        return None
    message = (
        f"This playground does not answer to the name {name[:100]!r}. Reach it by the address "
        "it listens on, or add the name to PLAYGROUND_ALLOWED_HOSTS."
    )
    if request.path.startswith("/api/"):
        return jsonify({"error": {"code": "bad_host", "message": message}}), 400
    return Response(message, 400, content_type="text/plain; charset=utf-8")


def init_hosts(app: Flask) -> None:
    """Work out the allowed names and origins once, and check the Host of every request."""
    app.extensions["allowed_hosts"] = allowed_hosts(app.config)
    if app.config["HOST"] in WILDCARDS and not app.config["ALLOWED_HOSTS"]:
        log.warning(
            "Listening on every address, but answering only to %s: set "
            "PLAYGROUND_ALLOWED_HOSTS to the names people use to reach the playground.",
            ", ".join(sorted(app.extensions["allowed_hosts"])),
        )
    app.extensions["extra_origins"] = extra_origins(app.config["ORIGINS"].split(","))
    app.before_request(check_host)
