"""The live recorder's fast path for entries (transcripts/validate.plain_entry, orjson in
transcripts/rows.entry_row) stores exactly what the general path stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from transcripts import StoreError
from transcripts.rows import entry_row
from transcripts.validate import Invalid, check_entry, plain_entry


def stdlib_payload(entry: dict[str, Any]) -> str:
    """What entry_row stored before the fast path (json, then ASCII for a lone surrogate)."""
    payload = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError:
        payload = json.dumps(entry, separators=(",", ":"), allow_nan=False)
    return payload


def sent(text: str, **extra: Any) -> dict[str, Any]:
    entry = {"seq": 3, "t": 120, "step": None, "kind": "sent", "text": text}
    return {**entry, "line_kind": "command", "explain": ["command.noop"], **extra}


def reply(lines: list[str], **extra: Any) -> dict[str, Any]:
    entry = {"seq": 4, "t": 121, "step": "mail", "kind": "reply", "code": 250}
    return {**entry, "enhanced": "2.1.0", "lines": lines, "malformed": None, "after": "MAIL",
            "answers": 3, "explain": ["reply.250", "warning:x"], **extra}  # fmt: skip


def test_every_code_point_is_stored_as_the_standard_library_wrote_it() -> None:
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 4000):
        text = "".join(points[start : start + 4000])
        for entry in (sent(text), reply([text, "", text[:5]])):
            assert plain_entry(entry)
            assert entry_row("t1", entry)["payload"] == stdlib_payload(entry)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(sent("NOOP \udc80"), id="lone-surrogate"),
        pytest.param(reply(["250 ok \ud800"]), id="reply-lone-surrogate"),
        pytest.param(
            {**sent("x"), "kind": "event", "event": "mx", "data": {"f": 1.5e16}},
            id="event-with-a-float",
        ),  # fmt: skip
        pytest.param(reply(["250 ok"], code=None, enhanced=None, answers=None), id="nones"),
    ],
)
def test_unusual_entries_are_stored_as_before(entry: dict[str, Any]) -> None:
    if entry["kind"] == "event":
        entry = {k: v for k, v in entry.items() if k not in ("text", "line_kind")}
    assert entry_row("t1", entry)["payload"] == stdlib_payload(entry)


class Text(str):
    pass


BROKEN = {
    "bool-seq": sent("x", seq=True),
    "negative-t": sent("x", t=-1),
    "float-t": sent("x", t=1.0),
    "long-text": sent("x" * 16_385),
    "bad-line-kind": sent("x", line_kind="typed"),
    "unknown-field": sent("x", colour="red"),
    "long-step": sent("x", step="s" * 65),
    "explain-not-str": sent("x", explain=[1]),
    "explain-too-many": sent("x", explain=["k"] * 65),
    "code-too-big": reply(["x"], code=1000),
    "bool-code": reply(["x"], code=False),
    "bad-enhanced": reply(["x"], enhanced="2.1.0x"),
    "enhanced-class-3": reply(["x"], enhanced="3.1.0"),
    "lines-not-list": reply("x"),  # type: ignore[arg-type]
    "line-too-long": reply(["x" * 4097]),
    "answers-negative": reply(["x"], answers=-1),
    "long-after": reply(["x"], after="A" * 65),
}


@pytest.mark.parametrize("entry", list(BROKEN.values()), ids=list(BROKEN))
def test_the_fast_check_never_takes_what_the_general_one_refuses(entry: dict[str, Any]) -> None:
    assert not plain_entry(entry)
    with pytest.raises(Invalid):
        check_entry(entry)
    with pytest.raises(StoreError):
        entry_row("t1", entry)
    missing = {k: v for k, v in sent("x").items() if k != "line_kind"}
    assert not plain_entry(missing)


def test_subclassed_values_take_the_general_path_with_the_same_result() -> None:
    entry = sent(Text("NOOP é"))
    assert not plain_entry(entry)
    assert entry_row("t1", entry)["payload"] == stdlib_payload(entry)
    assert entry_row("t1", reply(["250 2.0.0\n"], enhanced="2.0.0\n"))  # re.match's "$"
