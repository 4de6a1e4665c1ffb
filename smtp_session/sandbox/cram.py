"""CRAM-MD5 (RFC 2195): challenge, response and check, shared by the sandbox and the helpers."""

from __future__ import annotations

import hmac
import os
import time


def make_challenge(hostname: str) -> str:
    """A unique challenge in the RFC 2195 §2 form ``<random.timestamp@hostname>``."""
    return f"<{int.from_bytes(os.urandom(6), 'big')}.{int(time.time())}@{hostname}>"


def cram_response(user: str, password: str, challenge: str) -> str:
    """The client's answer before base64: ``user hex(HMAC-MD5(password, challenge))``."""
    digest = hmac.new(password.encode(), challenge.encode(), "md5").hexdigest()
    return f"{user} {digest}"


def check_cram_response(challenge: str, answer: bytes, users: dict[str, str]) -> str | None:
    """The user name if the answer is right for one of ``users``, else None."""
    try:
        user, digest = answer.decode("utf-8").rsplit(" ", 1)
    except (UnicodeDecodeError, ValueError):
        return None
    password = users.get(user)
    if password is None:
        return None
    expected = cram_response(user, password, challenge).rsplit(" ", 1)[1]
    return user if hmac.compare_digest(expected, digest.lower()) else None
