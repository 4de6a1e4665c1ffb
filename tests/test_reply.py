"""The reply parser: RFC 5321 §4.2 grammar, RFC 3463 enhanced codes, and the bounds it keeps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_session.wire.reply import MAX_LINE, Reply, ReplyParser, parse_reply


def feed_all(data: bytes, parser: ReplyParser | None = None) -> list[Reply]:
    """Feed everything, then flush as if the connection ended."""
    parser = parser or ReplyParser()
    return parser.feed(data) + parser.flush()


# -- well-formed replies ------------------------------------------------------------------


def test_multi_line_reply() -> None:
    [reply] = ReplyParser().feed(b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
    assert reply.code == 250 and reply.malformed is None and reply.line_endings == "CRLF"
    assert reply.lines == ("250-mx.example", "250-PIPELINING", "250 SIZE 1000")
    assert reply.texts == ["mx.example", "PIPELINING", "SIZE 1000"]
    assert reply.reply_class == "positive"


def test_code_alone_is_a_whole_reply() -> None:
    [reply] = ReplyParser().feed(b"250\r\n")
    assert reply.code == 250 and reply.texts == [""] and reply.malformed is None


def test_replies_in_one_read_come_out_in_order() -> None:
    replies = ReplyParser().feed(b"250 first\r\n354 second\r\n")
    assert [r.code for r in replies] == [250, 354]


@pytest.mark.parametrize(
    ("line", "enhanced", "text"),
    [
        ("550 5.1.1 User unknown", "5.1.1", "User unknown"),
        ("550 User unknown", None, "User unknown"),
        ("550 2.1.1 class does not match", "2.1.1", "class does not match"),
        ("250 2.01.005 leading zeros", "2.1.5", "leading zeros"),
        ("451 4.7.1", "4.7.1", ""),
        ("250 2.0.0x not followed by space", None, "2.0.0x not followed by space"),
    ],
    ids=["present", "absent", "class-mismatch", "leading-zeros", "code-only", "glued"],
)
def test_enhanced_code(line: str, enhanced: str | None, text: str) -> None:
    reply = parse_reply(line)
    assert reply.enhanced == enhanced and reply.texts == [text]


# -- broken replies are returned, never raised ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"hello there\r\n", None, "three-digit code"),
        (b"abc ok\r\n", None, "three-digit code"),
        ("٢٥٠ arabic-indic digits\r\n".encode(), None, "three-digit code"),
        (b"2500 four digits\r\n", None, "three-digit code"),
        (b"\r\n", None, "three-digit code"),
        (b"250-first\r\n251 second\r\n", 251, "code changes"),
        (b"999 too big\r\n", 999, "not a valid reply code"),
        (b"099 too small\r\n", 99, "not a valid reply code"),
    ],
    ids=[
        "no-code",
        "letters",
        "unicode-digits",
        "four-digits",
        "empty-line",
        "code-change",
        "code-999",
        "code-099",
    ],
)
def test_malformed(data: bytes, code: int | None, words: str) -> None:
    [reply] = ReplyParser().feed(data)
    assert reply.code == code and reply.malformed is not None and words in reply.malformed
    assert reply.enhanced is None and reply.reply_class in (None, "positive")


def test_enhanced_class_mismatch_is_kept_and_flagged() -> None:
    reply = parse_reply("550 4.4.7 QUEUE.Expired; message expired")
    assert reply.enhanced == "4.4.7" and reply.enhanced_mismatch
    assert reply.reply_class == "permanent" and reply.texts == ["QUEUE.Expired; message expired"]


def test_code_change_takes_the_last_lines_code() -> None:
    # RFC 5321 §4.2.1: one code per reply; like smtplib we act on the last line.
    reply = parse_reply("220-laposte.net\r\n421 4.2.1 Service refuse")
    assert reply.code == 421 and reply.enhanced == "4.2.1" and "last line" in reply.malformed


def test_lf_only_line_ends_are_noted() -> None:
    [reply] = ReplyParser().feed(b"220-lf.example\n220 ready\n")
    assert reply.code == 220 and reply.line_endings == "LF" and len(reply.lines) == 2


def test_cr_only_line_ends_are_noted() -> None:
    parser = ReplyParser()
    assert parser.feed(b"220-cr.example\r220 ready\r") == []  # the last CR may get its LF
    [reply] = parser.end_bare_cr()
    assert reply.code == 220 and reply.line_endings == "CR"
    assert reply.lines == ("220-cr.example", "220 ready")


def test_a_trailing_cr_waits_for_its_lf() -> None:
    parser = ReplyParser()
    assert parser.feed(b"250 ok\r") == [] and parser.awaiting_lf
    [reply] = parser.feed(b"\n")
    assert reply.line_endings == "CRLF" and not parser.awaiting_lf


def test_a_late_lf_after_a_bare_cr_is_not_a_new_line() -> None:
    parser = ReplyParser()
    parser.feed(b"250 ok\r")
    [first] = parser.end_bare_cr()
    [second] = parser.feed(b"\n251 next\r\n")
    assert first.line_endings == "CR" and second.code == 251 and second.malformed is None
    assert parser.end_bare_cr() == []


def test_overlong_line_is_cut() -> None:
    [reply] = ReplyParser().feed(b"250 " + b"x" * 5000 + b"\r\n")
    assert reply.truncated and len(reply.lines[0]) == MAX_LINE
    assert reply.malformed is not None and str(MAX_LINE) in reply.malformed


def test_endless_line_is_cut_without_waiting_for_its_end() -> None:
    parser = ReplyParser(max_line=100)
    [reply] = parser.feed(b"250 " + b"y" * 500)
    assert reply.truncated and len(reply.lines[0]) == 100 and not parser.pending


def test_multi_line_reply_is_bounded_in_lines() -> None:
    parser = ReplyParser(max_reply_lines=10)
    replies = parser.feed(b"250-more\r\n" * 25)
    assert [len(r.lines) for r in replies] == [10, 10] and all(r.truncated for r in replies)
    assert replies[0].malformed is not None and "10 lines" in replies[0].malformed
    assert len(parser._lines) == 5


def test_multi_line_reply_is_bounded_in_bytes() -> None:
    line = b"250-" + b"z" * 96 + b"\r\n"  # 102 bytes on the wire
    replies = ReplyParser(max_reply_bytes=1000).feed(line * 21)
    assert [len(r.lines) for r in replies] == [10, 10] and replies[0].truncated
    assert replies[0].malformed is not None and "1000 bytes" in replies[0].malformed


def test_flush_at_eof_returns_the_unfinished_reply() -> None:
    parser = ReplyParser()
    assert parser.feed(b"250-first\r\n250 no line end") == []
    [reply] = parser.flush()
    assert reply.code == 250 and reply.lines == ("250-first", "250 no line end")
    assert reply.malformed is not None and "connection ended" in reply.malformed
    assert parser.flush() == [] and not parser.pending


def test_parse_reply_refuses_two_replies_and_nothing() -> None:
    assert parse_reply("250 a\r\n251 b").malformed == "more than one reply"
    assert parse_reply("").malformed is not None


def test_to_dict_has_what_the_panels_show() -> None:
    data = parse_reply("550 5.1.1 <x@example.com>: User unknown").to_dict()
    assert data["code"] == 550 and data["enhanced"] == "5.1.1" and data["class"] == "permanent"
    assert data["text"] == "<x@example.com>: User unknown" and data["malformed"] is None


# -- properties ---------------------------------------------------------------------------

BOUNDS = {"max_line": 64, "max_reply_bytes": 400, "max_reply_lines": 8}
SMTPISH = st.lists(
    st.sampled_from([b"250", b"-", b" ", b"\r", b"\n", b"\r\n", b"5.1.1", b"x" * 70, b"\xff"]),
    max_size=80,
).map(b"".join)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=3000), SMTPISH), st.lists(st.integers(0, 5000)))
def test_any_bytes_in_any_chunks_never_raise_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    parser = ReplyParser(**BOUNDS)
    replies: list[Reply] = []
    for piece in chunked(data, cuts):
        replies += parser.feed(piece)
        assert len(parser._buf) <= BOUNDS["max_line"]
        assert len(parser._lines) < BOUNDS["max_reply_lines"]
        assert parser._size <= BOUNDS["max_reply_bytes"]
    replies += parser.end_bare_cr() + parser.flush()
    assert not parser.pending
    for reply in replies:
        assert 1 <= len(reply.lines) <= BOUNDS["max_reply_lines"]
        assert all(len(line) <= BOUNDS["max_line"] for line in reply.lines)
        assert reply.code is None or 0 <= reply.code <= 999
        reply.to_dict()  # every reply can be shown


@settings(max_examples=200, deadline=None)
@given(SMTPISH.filter(lambda d: len(d) < 64), st.lists(st.integers(0, 100)))
def test_chunking_does_not_change_short_input(data: bytes, cuts: list[int]) -> None:
    whole = feed_all(data, ReplyParser(**BOUNDS))
    parser = ReplyParser(**BOUNDS)
    pieces = [r for piece in chunked(data, cuts) for r in parser.feed(piece)]
    assert pieces + parser.flush() == whole
