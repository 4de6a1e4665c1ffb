"""The batch message checker gives exactly what the per-line checker gives, line by line."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_session.guide.message_lines import MessageState, check_data_line, check_data_lines

# Lines built from pieces that make the rules fire, plus arbitrary text (no CR/LF/NUL).
_PIECES = st.sampled_from(
    [".", "..", ". x", "QUIT", " quit ", "RCPT TO:<a@b>", "mail from:<x>", "EHLO h", "HELO",
     "Subject: x", "From: a", "  folded", "", "\u00e9t\u00e9", "\u017fata", "noop", "x" * 250,
     "\u00e9" * 500, "data", "\t DATA \u2028"]
)  # fmt: skip
_TEXT = st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=30)
_LINE = st.one_of(_PIECES, _TEXT, st.tuples(_PIECES, _TEXT).map("".join))


def one_by_one(lines: list[str], state: MessageState) -> list:
    out = []
    for line in lines:
        out += check_data_line(line, state)
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(_LINE, max_size=40), min_size=1, max_size=4),
    st.sets(st.sampled_from(["8BITMIME", "SMTPUTF8"])),
)
def test_batches_warn_exactly_as_line_by_line(batches: list[list[str]], caps: set[str]) -> None:
    slow, fast = MessageState(caps=set(caps)), MessageState(caps=set(caps))
    for batch in batches:
        expected = one_by_one(batch, slow)
        assert check_data_lines(list(batch), fast) == expected
        assert fast == slow  # the same state for what comes next


def test_a_pasted_body_finds_the_few_lines_that_matter() -> None:
    body = ["From: a@example.com", "Subject: s", ""] + ["plain body text"] * 5000
    body[1000] = ".leading dot"
    body[2000] = "RCPT TO:<someone@example.com>"
    body[3000] = "x" * 1200
    body[4000] = "caf\u00e9"
    body.append(".")
    state = MessageState(caps={"SIZE"})
    warnings = check_data_lines(body, state)
    assert [(w.code, w.line) for w in warnings] == [
        ("data:leading-dot", 1000),
        ("data:looks-like-command", 2000),
        ("data:line-too-long", 3000),
        ("data:8bit-without-8bitmime", 4000),
        ("data:missing-header", 5003),  # Date
        ("data:missing-header", 5003),  # Message-ID
    ]
    assert "Date" in warnings[4].message and "Message-ID" in warnings[5].message
    assert warnings == one_by_one(body, MessageState(caps={"SIZE"}))
    assert state.ended and state.index == 5003


def test_prose_that_starts_like_a_command_is_not_a_command() -> None:
    from smtp_session.guide.message_lines import MessageState, check_data_lines

    state = MessageState()
    lines = ["From: a@b.example", "", "mail from: the shop", "MAIL FROM:<a@b.example>"]
    codes = [(w.code, w.line) for w in check_data_lines(lines, state)]
    assert ("data:looks-like-command", 3) in codes
    assert ("data:looks-like-command", 2) not in codes
