"""verb_of: the cached verb is the verb of the whole line, whatever its length."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smtp_session.wire.dialogue import verb_of


def plain(line: str) -> str:
    return line.split(" ", 1)[0].split(":", 1)[0].upper()


@given(st.text(alphabet=st.sampled_from("aZ: .<>@-\t"), max_size=80))
def test_the_verb_is_the_whole_lines_verb(line: str) -> None:
    assert verb_of(line) == plain(line)
    assert verb_of(line) == plain(line)  # again, from the cache


def test_long_lines_and_long_first_words() -> None:
    for line in ["MAIL FROM:<" + "a" * 5000 + "@example.com>", "X" * 40 + " tail", "y" * 33,
                 "rcpt to:<b@example.com>", "NOOP", "", "DATA", "ehlo " + "h" * 100]:  # fmt: skip
        assert verb_of(line) == plain(line), line
