"""Split a command line the user typed into verb, address and ESMTP parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 5321 §4.1.1.2/§4.1.1.3: "FROM:" / "TO:" then the path; we accept stray spaces
# around the colon so the explanation still works (the checker warns about them).
_PATH_PREFIX = re.compile(r"^(FROM|TO)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
PATH_VERBS = {"MAIL": "FROM", "RCPT": "TO"}


@dataclass(frozen=True)
class CommandLine:
    """A command line taken apart (nothing is validated here)."""

    raw: str
    verb: str
    argument: str
    address: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    words: tuple[str, ...] = ()


def parse_command(line: str) -> CommandLine:
    """Take a line like "MAIL FROM:<a@b> SIZE=100" apart; verbs are case-insensitive."""
    raw = line.rstrip("\r\n")
    parts = raw.strip().split(None, 1)
    if not parts:
        return CommandLine(raw=raw, verb="", argument="")
    # RFC 5321 §2.4: verbs are case-insensitive.
    verb, argument = parts[0].upper(), (parts[1] if len(parts) > 1 else "")
    if verb in PATH_VERBS:
        address, rest = _split_path(argument)
        return CommandLine(raw, verb, argument, address, parse_params(rest))
    return CommandLine(raw, verb, argument, words=tuple(argument.split()))


def _split_path(argument: str) -> tuple[str | None, str]:
    """("FROM:<a@b> SIZE=1") -> ("a@b", "SIZE=1"); address None when there is no FROM:/TO:."""
    m = _PATH_PREFIX.match(argument.strip())
    if not m:
        return None, ""
    rest = m.group(2).strip()
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            return rest[1:], ""
        return rest[1:end], rest[end + 1 :]
    words = rest.split(None, 1)
    if not words:
        return None, ""
    return words[0], (words[1] if len(words) > 1 else "")


def parse_params(text: str) -> dict[str, str | None]:
    """ "SIZE=100 SMTPUTF8" -> {"SIZE": "100", "SMTPUTF8": None} (RFC 5321 §4.1.2 esmtp-param)."""
    params: dict[str, str | None] = {}
    for word in text.split():
        name, sep, value = word.partition("=")
        params[name.upper()] = value if sep else None
    return params
