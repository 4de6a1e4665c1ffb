"""Facts derived from a reply's text: decoded AUTH challenges and queue ids of accepted mail."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

# How common servers word "accepted, here is my queue id" after the final "." (RFC 5321
# §4.2.5 leaves the text free, so these are conventions, checked in order).
QUEUE_ID_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Postfix", re.compile(r"\bqueued as\s+([A-Za-z0-9._-]+)", re.IGNORECASE)),
    ("Exim", re.compile(r"\bid=([A-Za-z0-9._-]+)", re.IGNORECASE)),
    ("Gmail", re.compile(r"\bOK\s+\d+\s+(\S+)\s+-\s+gsmtp\b", re.IGNORECASE)),
    ("qmail", re.compile(r"^ok\s+\d+\s+qp\s+(\d+)", re.IGNORECASE)),
    (
        "sendmail",
        re.compile(r"^<?([A-Za-z0-9._@-]+)>?\s+Message accepted for delivery", re.IGNORECASE),
    ),
    (
        "Exchange",
        re.compile(r"^<?([^\s>]+)>?\s+\[InternalId=\d+[^\]]*\].*Queued mail", re.IGNORECASE),
    ),
)


def queue_id_of(text: str) -> dict[str, Any]:
    """The queue id a 250 after end-of-data names, and which server's wording it matched."""
    for form, pattern in QUEUE_ID_FORMS:
        for line in text.splitlines():
            m = pattern.search(line)
            if m:
                return {"queue_id": m.group(1), "queue_id_form": form}
    return {"queue_id": None}


def challenge_of(text: str) -> dict[str, Any]:
    """Decode a 334 challenge (RFC 4954 §4: base64, possibly empty) for display."""
    raw = text.strip()
    if not raw:
        return {"challenge": "", "challenge_note": "empty challenge: send your initial response"}
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return {"challenge": None, "challenge_raw": raw, "challenge_error": "not valid base64"}
    decoded = data.decode("utf-8", "replace")
    facts: dict[str, Any] = {"challenge": decoded, "challenge_raw": raw}
    error = _oauth_error(decoded)
    if error is not None:
        # XOAUTH2/OAUTHBEARER report failure as a JSON challenge (RFC 7628 §3.2.2).
        facts["oauth_error"] = error
    return facts


def _oauth_error(decoded: str) -> dict[str, Any] | None:
    if not decoded.startswith("{"):
        return None
    try:
        value = json.loads(decoded)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "status" in value else None


def greeting_facts(text: str) -> dict[str, Any]:
    """The name a 220 greeting gives, and whether it says ESMTP (RFC 5321 §4.3.1)."""
    words = text.split()
    return {
        "domain": words[0] if words else None,
        "esmtp": any(w.upper() == "ESMTP" for w in words[1:]),
    }
