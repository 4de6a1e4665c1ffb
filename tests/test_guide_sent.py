"""A sent frame is built field by field in Guide._sent: it still carries its event's fields."""

from __future__ import annotations

from smtp_session.guide.guide import Guide
from smtp_session.wire.events import Sent


def test_a_sent_frame_carries_every_field_of_its_event_but_its_line_number() -> None:
    guide = Guide(sandbox=True)
    event = Sent(text="NOOP", kind="command", verb="NOOP", n=4)
    frame = guide.frame_for(event)
    fields = {k: v for k, v in event.fields().items() if k != "n"}
    assert {k: frame[k] for k in fields} == fields and "n" not in frame
    assert list(frame)[: len(fields) + 2] == ["type", *fields, "step"]  # the order it had
