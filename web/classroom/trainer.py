"""Who is a trainer: the ``trainer`` (or ``admin``) role with access control, the trainer key
without it (``PLAYGROUND_AUTH=none`` on a classroom machine).

The key is ``PLAYGROUND_TRAINER_KEY`` or one made at the first start and kept in
``DATA_DIR/trainer_key``, so every process sharing the data folder agrees on it. It comes as the
``X-Trainer-Key`` header, or once through ``POST /api/classes/trainer-login``, which leaves a
signed session flag (a fingerprint of the key: a new key ends old logins).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from flask import current_app, request, session

from web.auth.access import mode, viewer
from web.classroom.store import ClassInfo

TRAINER_ROLES = ("trainer", "admin")
HEADER = "X-Trainer-Key"
_SESSION_FLAG = "class_trainer"


def load_trainer_key(config: dict[str, Any]) -> str:
    """The configured key, or the one in the data folder (made now if there is none)."""
    if config.get("TRAINER_KEY"):
        return str(config["TRAINER_KEY"])
    path = Path(config["DATA_DIR"]) / "trainer_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(12)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


def _key() -> str:
    found: str = current_app.extensions["playground"].classroom.trainer_key
    return found


def fingerprint(key: str) -> str:
    return hashlib.sha256(b"trainer:" + key.encode()).hexdigest()[:32]


def key_matches(given: Any) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), _key().encode())


def trainer_name() -> str | None:
    """The name the asker runs classes under, or None if they are no trainer."""
    if mode() == "none":
        if key_matches(request.headers.get(HEADER, "")):
            return "trainer"
        flag = session.get(_SESSION_FLAG)
        if isinstance(flag, str) and hmac.compare_digest(flag, fingerprint(_key())):
            return "trainer"
        return None
    user = viewer()
    if user is not None and user.role in TRAINER_ROLES:
        return user.name
    return None


def is_admin() -> bool:
    user = viewer()
    return user is not None and user.is_admin


def runs(info: ClassInfo) -> bool:
    """Whether the asker may run this class: its trainer, or an admin."""
    name = trainer_name()
    return name is not None and (name == info.trainer or is_admin())


def log_in() -> None:
    session[_SESSION_FLAG] = fingerprint(_key())


def log_out() -> None:
    session.pop(_SESSION_FLAG, None)
