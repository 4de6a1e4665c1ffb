"""The message checks of ``checker.check_data_line`` for a whole batch of pasted lines at once.

A pasted message is hundreds of thousands of lines, nearly all of them body text that no
rule fires on. Past the headers, this finds the few lines a rule could fire on with one
regular-expression scan of the joined batch, and runs the exact per-line rule only on those;
the warnings (and the state left behind) are the ones the per-line checker gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .checker import (
    _COMMAND_LIKE,
    MAX_TEXT_LINE,
    CheckWarning,
    MessageState,
    _octets,
    _once,
    check_data_line,
    make_warning,
)

# A superset of the lines each rule can fire on (lines never hold a newline: wire.check_line).
_COMMAND_START = re.compile(r"\n[^\S\n]*(?:quit|rset|data|noop|ehlo|helo|mail|rcpt)", re.I)
_MAX_CHARS_UNDER_LIMIT = MAX_TEXT_LINE // 4  # a character is at most 4 octets in UTF-8


def check_data_lines(lines: list[str], state: MessageState) -> list[CheckWarning]:
    """Warnings for message lines sent together, in order; same result as calling
    ``check_data_line`` on each line in turn."""
    out: list[CheckWarning] = []
    i = 0
    while i < len(lines):
        if state.in_headers or lines[i] == ".":
            out += check_data_line(lines[i], state)
            i += 1
            continue
        try:
            end = lines.index(".", i)
        except ValueError:
            end = len(lines)
        out += _body(lines[i:end], state)
        i = end
    return out


def _body(lines: list[str], state: MessageState) -> list[CheckWarning]:
    """Body lines (past the headers, no "."): the per-line rules, found by scanning."""
    base = state.index
    state.index += len(lines)
    hits: list[tuple[int, int, CheckWarning]] = []  # (line, rule order, warning)
    for k, chars in enumerate(map(len, lines)):
        if chars > _MAX_CHARS_UNDER_LIMIT:
            size = _octets(lines[k])
            if size > MAX_TEXT_LINE:
                hits.append((k, 0, make_warning("data:line-too-long", base + k, size=size)))
    # Each line follows a "\n" here, the first one too: a literal to search for, which the
    # regular-expression engine finds far faster than it tries "^" at every position.
    joined = "\n" + "\n".join(lines)
    for k in _line_numbers(joined, _starting_with(joined, "\n.")):
        if not lines[k].startswith(".."):
            hits.append((k, 1, make_warning("data:leading-dot", base + k)))
    starts = (m.start() for m in _COMMAND_START.finditer(joined))
    for k in _line_numbers(joined, starts):
        if _COMMAND_LIKE.match(lines[k].strip()):
            hits.append((k, 2, make_warning("data:looks-like-command", base + k, text=lines[k])))
    if not joined.isascii() and "8BITMIME" not in state.caps:
        k = next(k for k, line in enumerate(lines) if not line.isascii())
        for warning in _once(state, make_warning("data:8bit-without-8bitmime", base + k)):
            hits.append((k, 3, warning))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [warning for _, _, warning in hits]


def _starting_with(text: str, prefix: str) -> Iterator[int]:
    """Positions of ``prefix`` in ``text`` (str.find: a scan in C)."""
    at = text.find(prefix)
    while at >= 0:
        yield at
        at = text.find(prefix, at + 1)


def _line_numbers(joined: str, positions: Iterable[int]) -> Iterator[int]:
    """The line each position (of a "\n" in ``joined``, in increasing order) starts."""
    line, last = -1, 0
    for pos in positions:
        line += joined.count("\n", last, pos + 1)
        last = pos + 1
        yield line
