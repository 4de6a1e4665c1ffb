"""Turns session events into frames with what the panels need (explanations come later)."""

from __future__ import annotations

from typing import Any

from smtp_session.session import Event


class Guide:
    """Per-session teaching state: attaches explanations and state to each frame."""

    def __init__(self, sandbox: bool) -> None:
        self.sandbox = sandbox

    def frame_for(self, event: Event) -> dict[str, Any]:
        data = dict(event.data)
        reply = data.pop("reply", None)
        if reply is not None:
            data.update(reply.to_dict())
        return {"type": event.type, **data}
