"""The message checker: warns about message lines (inside DATA) before they are sent.

Lines are judged against the headers/body rules of RFC 5322 and the transparency rules of
RFC 5321, incrementally: a :class:`MessageState` carries what the lines so far have shown.
A pasted message is hundreds of thousands of lines, nearly all body text no rule fires on,
so the rules run over a batch at once: one regular-expression scan of the joined batch
finds the few lines a rule could fire on, and the exact rule runs only on those. A single
typed line is a batch of one (:func:`check_data_line`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from smtp_session.guide.check_base import CheckWarning, make_warning
from smtp_session.knowledge.limits import MAX_TEXT_LINE, octets

# Headers RFC 5322 §3.6 requires (From, Date) or asks for (Message-ID).
REQUIRED_HEADERS = (
    ("from", "From", "From: You <you@example.org>", "required"),
    ("date", "Date", "Date: Mon, 1 Jan 2024 10:00:00 +0000", "required; some servers add it"),
    ("message-id", "Message-ID", "Message-ID: <1@example.org>", "expected; servers may add it"),
)
# RFC 5322 §3.6: the origination date and the originator fields occur exactly once.
_ONCE = ("from", "date")
_HEADER = re.compile(r"^[!-9;-~]+:")  # RFC 5322 §2.2: printable US-ASCII except the colon
# A body line only looks like a command when it has a command's shape: "mail from: the
# shop" is prose, "MAIL FROM:<a@b.example>" is a command typed too early (RFC 5321 §4.1.2).
_COMMAND_LIKE = re.compile(
    r"^(QUIT|RSET|DATA|NOOP|(EHLO|HELO) [\w.-]+|(MAIL FROM|RCPT TO):\s*(<[^>]*>|\S+@\S+)( .*)?)$",
    re.I,
)
# A superset of the lines each rule can fire on (lines never hold a newline: wire.check_line).
_COMMAND_START = re.compile(r"\n[^\S\n]*(?:quit|rset|data|noop|ehlo|helo|mail|rcpt)", re.I)
_MAX_CHARS_UNDER_LIMIT = MAX_TEXT_LINE // 4  # a character is at most 4 octets in UTF-8


@dataclass
class MessageState:
    """What the incremental message checker has seen of the message so far."""

    caps: set[str] = field(default_factory=set)
    index: int = 0
    in_headers: bool = True
    saw_header: bool = False
    headers: set[str] = field(default_factory=set)
    warned: set[str] = field(default_factory=set)
    ended: bool = False


def check_data_line(line: str, state: MessageState) -> list[CheckWarning]:
    """Warnings for one message line about to be sent; a lone "." ends the message."""
    return check_data_lines([line], state)


def check_data_lines(lines: list[str], state: MessageState) -> list[CheckWarning]:
    """Warnings for message lines sent together, in order (the same as sending them one by
    one); a lone "." ends the message."""
    out: list[CheckWarning] = []
    start = 0
    while start < len(lines):
        try:
            end = lines.index(".", start)
        except ValueError:
            end = len(lines)
        out += _lines(lines[start:end], state)
        if end < len(lines):
            state.ended = True
            out += finish_message(state)
        start = end + 1
    return out


def _lines(lines: list[str], state: MessageState) -> list[CheckWarning]:
    """Lines other than ".": the header section while it lasts, then every line's rules."""
    if not lines:
        return []
    base = state.index
    state.index += len(lines)
    hits: list[tuple[int, int, CheckWarning]] = []  # (line, rule order, warning)
    k = 0
    while state.in_headers and k < len(lines):  # a handful of lines, one at a time
        hits += [(k, 0, w) for w in _header_section(lines[k], state, base + k)]
        k += 1
    for k, chars in enumerate(map(len, lines)):
        if chars > _MAX_CHARS_UNDER_LIMIT:
            size = octets(lines[k])
            if size > MAX_TEXT_LINE:
                hits.append((k, 1, make_warning("data:line-too-long", base + k, size=size)))
    # Each line follows a "\n" here, the first one too: a literal to search for, which the
    # regular-expression engine finds far faster than it tries "^" at every position.
    joined = "\n" + "\n".join(lines)
    for k in _line_numbers(joined, _starting_with(joined, "\n.")):
        if not lines[k].startswith(".."):
            hits.append((k, 2, make_warning("data:leading-dot", base + k)))
    for k in _line_numbers(joined, (m.start() for m in _COMMAND_START.finditer(joined))):
        if _COMMAND_LIKE.match(lines[k].strip()):
            hits.append((k, 3, make_warning("data:looks-like-command", base + k, text=lines[k])))
    if not joined.isascii() and "8BITMIME" not in state.caps:
        k = next(k for k, line in enumerate(lines) if not line.isascii())
        hits += [
            (k, 4, w) for w in _once(state, make_warning("data:8bit-without-8bitmime", base + k))
        ]
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [warning for _, _, warning in hits]


def _header_section(line: str, state: MessageState, index: int) -> list[CheckWarning]:
    """RFC 5322 §2.1: header fields, then an empty line, then the body."""
    if _HEADER.match(line):
        state.saw_header = True
        name = line.split(":", 1)[0].strip()
        out = []
        if name.lower() in _ONCE and name.lower() in state.headers:
            out.append(make_warning("data:duplicate-header", index, header=name))
        state.headers.add(name.lower())
        if not line.isascii() and "SMTPUTF8" not in state.caps:
            out += _once(state, make_warning("data:utf8-header-without-smtputf8", index))
        return out
    if state.saw_header and line[:1] in (" ", "\t"):
        return []  # RFC 5322 §2.2.3: a folded continuation of the previous header
    state.in_headers = False
    if not state.saw_header:
        return [make_warning("data:no-headers", index)]
    if line:
        return [make_warning("data:no-blank-line", index)]
    return []


def _once(state: MessageState, warning: CheckWarning) -> list[CheckWarning]:
    if warning.code in state.warned:
        return []
    state.warned.add(warning.code)
    return [warning]


def finish_message(state: MessageState) -> list[CheckWarning]:
    """Warnings for the message as a whole, when its end is sent."""
    return [
        make_warning("data:missing-header", state.index, header=name, example=ex, note=note)
        for key, name, ex, note in REQUIRED_HEADERS
        if key not in state.headers
    ]


def check_message(lines: list[str], caps: set[str]) -> list[CheckWarning]:
    """Warnings for a whole DATA body (with or without its final "." line)."""
    state = MessageState(caps={c.upper() for c in caps})
    out: list[CheckWarning] = []
    for index, line in enumerate(lines):
        if state.ended:
            out.append(make_warning("data:dot-ends-message", index - 1))
            break
        out += check_data_line(line, state)
    if not state.ended:
        out += finish_message(state)
    return out


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
