"""What every check shares: the warning record, its texts (from data) and the state guard."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from smtp_session.guide.transaction import Transaction
from smtp_session.knowledge.limits import (
    MAX_COMMAND_OCTETS,
    MAX_LOCAL_PART,
    MAX_PATH,
    MAX_TEXT_LINE,
)
from smtp_session.knowledge.models import load_json


@dataclass(frozen=True)
class CheckWarning:
    """One warning: a stable code, what is wrong, how to fix it, and the rule's source."""

    code: str
    message: str
    fix: str
    rfc: str
    line: int | None = None  # index of the message line, for message checks
    # The values the texts were filled with: a lean frame carries these, not the texts.
    values: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The frame's form ({code, message, fix, rfc, line}); ``.filled`` rides along."""
        out = WarningDict(
            code=self.code, message=self.message, fix=self.fix, rfc=self.rfc, line=self.line
        )
        out.filled = dict(self.values)
        return out

    def at(self, line: int | None) -> CheckWarning:
        """The same warning labelled with another line number."""
        return replace(self, line=line)


class WarningDict(dict[str, Any]):
    """A warning as a frame carries it, with the values its texts were filled with
    (``filled``: not a key, JSON never sees it; the lean encoder reads it, guide/lean.py)."""

    filled: dict[str, str]


# code: (message, fix, source), str.format templates (knowledge/data/warnings.json).
TEXTS: dict[str, tuple[str, str, str]] = {
    code: (t["message"], t["fix"], t["rfc"]) for code, t in load_json("warnings.json").items()
}
# Every template may name these limits; a message never spells a number out itself.
LIMITS = {
    "max_command": MAX_COMMAND_OCTETS,
    "max_line": MAX_TEXT_LINE,
    "max_local": MAX_LOCAL_PART,
    "max_path": MAX_PATH,
}


def make_warning(code: str, line: int | None = None, /, **values: object) -> CheckWarning:
    """Build the warning ``code`` with its texts filled in."""
    message, fix, rfc = (text.format(**LIMITS, **values) for text in TEXTS[code])
    filled = tuple((k, str(v)) for k, v in values.items())
    return CheckWarning(code, message, fix, rfc, line, filled)


def live(tx: Transaction) -> bool:
    """Order checks only mean something on an open connection past the greeting."""
    return tx.connected and tx.greeted and not tx.closed
