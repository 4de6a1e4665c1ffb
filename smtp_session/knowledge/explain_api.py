"""The explain API's one request: a reply, a command or a whole bounce, checked and answered.

Apart from explain.py so that the bounce explainer, which builds on ``explain_reply``, is
imported by neither of them in a cycle.
"""

from __future__ import annotations

from typing import Any

from smtp_session.knowledge.explain import (
    MAX_AFTER_CHARS,
    MAX_REQUEST_BYTES,
    ExplainError,
    command_warnings,
    explain_command,
    explain_reply,
)
from smtp_session.knowledge.explain_bounce import explain_bounce
from smtp_session.wire.reply import parse_reply

_REQUEST_FIELDS = ("reply", "command", "bounce")


def explain_request(data: object) -> dict[str, Any]:
    """Answer the HTTP API: {"reply", "after"}, {"command"} or {"bounce"} (a whole DSN)."""
    if not isinstance(data, dict):
        raise ExplainError("The request must be a JSON object.")
    given = [f for f in _REQUEST_FIELDS if f in data]
    if len(given) != 1:
        raise ExplainError('Send exactly one of "reply", "command" or "bounce".')
    field = given[0]
    text = data[field]
    if not isinstance(text, str):
        raise ExplainError(f'"{field}" must be a string.')
    if len(text.encode("utf-8", "surrogatepass")) > MAX_REQUEST_BYTES:
        raise ExplainError(
            f'"{field}" is longer than {MAX_REQUEST_BYTES // 1024} KiB.', code="too_large"
        )
    if field == "command":
        return {"kind": "command", **explain_command(text), "warnings": command_warnings(text)}
    if field == "bounce":
        return {"kind": "bounce", **explain_bounce(text)}
    after = data.get("after")
    if after is not None and not isinstance(after, str):
        raise ExplainError('"after" must be a string such as "RCPT" or "end-of-data", or null.')
    if after is not None and len(after) > MAX_AFTER_CHARS:
        raise ExplainError(f'"after" is longer than {MAX_AFTER_CHARS} characters.')
    return {"kind": "reply", **explain_reply(parse_reply(text), after)}
