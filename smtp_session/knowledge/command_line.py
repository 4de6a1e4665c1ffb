"""Split a command line the user typed into verb, address and ESMTP parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from smtp_session.knowledge.paths import PATH_KEYWORDS, parse_params, parse_path

PATH_VERBS = PATH_KEYWORDS


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
        path = parse_path(argument)
        # Without "FROM:"/"TO:" there is no path to speak of (the checker says what is wrong).
        address = path.address if path.colon and path.keyword else None
        return CommandLine(raw, verb, argument, address, path.param_dict)
    return CommandLine(raw, verb, argument, words=tuple(argument.split()))


__all__ = ["PATH_VERBS", "CommandLine", "parse_command", "parse_params"]
