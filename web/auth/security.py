"""Web hardening: the secret key, cookie flags, response headers and the Host allow-list."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask, Response, request

from web.auth.hosts import init_hosts

log = logging.getLogger(__name__)

# No inline script anywhere: every script is a module served from /static. The embed page may
# be framed by documentation sites; every other page may not (clickjacking).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors {ancestors}"
)


def load_secret_key(data_dir: Path) -> str:
    """The session-signing key, generated once and kept (0600) in the data directory."""
    path = Path(data_dir) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def add_security_headers(response: Response) -> Response:
    """CSP, nosniff, no referrer leaks; framing only for /embed pages."""
    embed = request.path.endswith("/embed")
    response.headers.setdefault(
        "Content-Security-Policy", CSP.format(ancestors="*" if embed else "'none'")
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not embed:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_security(app: Flask) -> None:
    """Key, cookie flags, headers for every response; the Host check before anything else."""
    init_hosts(app)  # the first before_request: a stranger's name hears 400, nothing more
    app.config.setdefault("SECRET_KEY", None)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = load_secret_key(app.config["DATA_DIR"])
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config.get("SECURE_COOKIES", False),
    )
    app.after_request(add_security_headers)
    if app.config.get("AUTH") == "accounts" and not app.config.get("SECURE_COOKIES"):
        log.warning(
            "PLAYGROUND_AUTH=accounts without PLAYGROUND_SECURE_COOKIES=1: session cookies may "
            "travel over plain HTTP. Set it once the playground is served over HTTPS."
        )
