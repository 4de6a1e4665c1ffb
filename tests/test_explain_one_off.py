"""End of data's "queued as" reply is explained afresh each time, never cached.

Its queue id never recurs: cached, those explanations only evicted the ones that do repeat and
pinned memory a worker never reused (bench churn: +6.1 MB -> +4.9 MB with QuietTrim).
"""

from __future__ import annotations

from smtp_session.guide import guide as guide_module
from smtp_session.guide import lean
from smtp_session.guide.guide import Guide
from smtp_session.guide.lean import LeanEncoder
from smtp_session.guide.lean_read import read_frames
from smtp_session.knowledge.explain import one_off
from smtp_session.wire.events import ReplyReceived
from smtp_session.wire.reply import parse_reply


def queued(guide: Guide, queue_id: str) -> dict:
    reply = parse_reply(f"250 2.0.0 Ok: queued as {queue_id}\r\n")
    return guide.frame_for(ReplyReceived(reply=reply, after=".", line=".", answers=7))


def test_the_end_of_data_reply_is_one_off_and_others_are_not() -> None:
    assert one_off(250, ".") and one_off(250, "BDAT 10 LAST")
    assert not one_off(250, "NOOP") and not one_off(250, "RCPT TO:<a@b>")
    assert not one_off(554, ".")  # a refusal's words recur
    assert not one_off(250, None)


def test_each_queued_reply_gets_its_own_facts_and_nothing_is_cached() -> None:
    guide = Guide(sandbox=True)
    cached = guide_module._explain_reply.cache_info().currsize
    lean_cached = len(lean._CACHE._items)
    encoder = LeanEncoder()
    frames = [queued(guide, qid) for qid in ("4QfX1a2B3c", "4QfX9z8Y7w", "4QfX1a2B3c")]
    assert [f["explain"]["facts"]["queue_id"] for f in frames] == [
        "4QfX1a2B3c",
        "4QfX9z8Y7w",
        "4QfX1a2B3c",
    ]
    assert frames[0]["explain"] is not frames[2]["explain"]  # worked out afresh
    leans = [encoder.encode(f) for f in frames]
    assert guide_module._explain_reply.cache_info().currsize == cached
    assert len(lean._CACHE._items) == lean_cached
    # and the lean frames still read back to the full ones
    read = read_frames(leans)
    assert [r["explain"] for r in read] == [f["explain"] for f in frames]


def test_a_repeating_reply_is_still_shared() -> None:
    guide = Guide(sandbox=True)
    reply = parse_reply("250 2.0.0 Ok\r\n")
    hits = guide_module._explain_reply.cache_info().hits
    a = guide.frame_for(ReplyReceived(reply=reply, after="NOOP", line="NOOP", answers=1))
    b = guide.frame_for(ReplyReceived(reply=reply, after="NOOP", line="NOOP", answers=2))
    assert a["explain"]["keys"] == b["explain"]["keys"]
    assert guide_module._explain_reply.cache_info().hits >= hits + 1
