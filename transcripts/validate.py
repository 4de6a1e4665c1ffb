"""The shape of a transcript entry and note (format v1), checked field by field.

``Store.append`` and the importer use the same rules, so whatever is stored can be exported
and imported again. Errors name the field: ``entries[12].code must be an integer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from smtp_session.errors import PlaygroundError
from transcripts import schema

KINDS = ("sent", "reply", "event")
LINE_KINDS = ("command", "data", "auth-response")
# "held": lines a reply took the meaning of, not sent (docs/protocol.md).
EVENTS = (
    "connect",
    "tls",
    "error",
    "closed",
    "lesson",
    "discarded",
    "mx",
    "warning",
    "limit",
    "held",
)
MAX_TEXT = 16_384  # a sent line; RFC 5321 §4.5.3.1.6 allows 1,000 octets, we allow slack
MAX_REPLY_LINE = 4_096
MAX_REPLY_LINES = 520  # smtp_session.wire.reply caps a reply at 512 lines
MAX_EXPLAIN = 64
MAX_T_MS = 7 * 24 * 3600 * 1000  # a week: no playground session lasts longer
# RFC 3463 §2: class.subject.detail
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


class Invalid(PlaygroundError):
    """A value breaks the transcript format; callers re-raise it as their own error."""

    code = "invalid"


Check = Callable[[Any, str], None]


def _int(lo: int, hi: int) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"{where} must be an integer")
        if not lo <= value <= hi:
            raise Invalid(f"{where} must be between {lo} and {hi}")

    return check


def _str(max_len: int, pattern: re.Pattern[str] | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str):
            raise Invalid(f"{where} must be a string")
        if len(value) > max_len:
            raise Invalid(f"{where} is longer than {max_len} characters")
        if pattern is not None and not pattern.match(value):
            raise Invalid(f"{where} is not in the expected form")

    return check


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any, where: str) -> None:
        if value not in choices:
            raise Invalid(f"{where} must be one of {', '.join(choices)}")

    return check


def _optional(inner: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is not None:
            inner(value, where)

    return check


def _list_of(inner: Check, max_items: int) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise Invalid(f"{where} must be a list")
        if len(value) > max_items:
            raise Invalid(f"{where} has more than {max_items} items")
        for i, item in enumerate(value):
            inner(item, f"{where}[{i}]")

    return check


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be an object")


def _timestamp(value: Any, where: str) -> None:
    _str(40)(value, where)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{where} must be an ISO 8601 date and time") from None


# field: (required, check), per kind; the common fields apply to every entry.
Fields = Mapping[str, tuple[bool, Check]]
_COMMON: Fields = {
    "seq": (True, _int(0, 10**9)),
    "t": (True, _int(0, MAX_T_MS)),
    "kind": (True, _one_of(KINDS)),
    "step": (False, _optional(_str(64))),
    "explain": (False, _list_of(_str(200), MAX_EXPLAIN)),
}
_BY_KIND: dict[str, Fields] = {
    "sent": {
        "text": (True, _str(MAX_TEXT)),
        "line_kind": (True, _one_of(LINE_KINDS)),
    },
    "reply": {
        "code": (True, _optional(_int(0, 999))),
        "enhanced": (False, _optional(_str(16, _ENHANCED))),
        "lines": (True, _list_of(_str(MAX_REPLY_LINE), MAX_REPLY_LINES)),
        "malformed": (False, _optional(_str(500))),
        "after": (False, _optional(_str(64))),
        "answers": (False, _optional(_int(0, 10**9))),  # the seq of the line it answers
    },
    "event": {
        "event": (True, _one_of(EVENTS)),
        "data": (False, _object),
    },
}
_ENTRY_FIELDS = {kind: {**_COMMON, **fields} for kind, fields in _BY_KIND.items()}
NOTE_FIELDS: Fields = {
    "seq": (True, _optional(_int(0, 10**9))),
    "text": (True, _str(schema.MAX_NOTE)),
    "author": (False, _optional(_str(schema.MAX_AUTHOR))),
    "created_at": (False, _optional(_timestamp)),
}
META_FIELDS: Fields = {
    "id": (False, _optional(_str(64))),
    "title": (False, _optional(_str(schema.MAX_TITLE))),
    "description": (False, _optional(_str(schema.MAX_DESCRIPTION))),
    "target": (True, _str(schema.MAX_TARGET)),
    "created_at": (False, _optional(_timestamp)),
    "ended_at": (False, _optional(_timestamp)),
    "status": (False, _optional(_one_of(schema.STATUSES))),
    "close_reason": (False, _optional(_str(schema.MAX_TITLE))),
    "entry_count": (False, _optional(_int(0, 10**9))),
    "last_code": (False, _optional(_int(0, 999))),
}


def check_fields(value: Any, fields: Fields, where: str) -> None:
    """Every required field present, no unknown field, each value of the right type."""
    _object(value, where)
    for name in value:
        if name not in fields:
            raise Invalid(f"{where} has an unknown field {name!r}")
    for name, (required, check) in fields.items():
        if name in value:
            check(value[name], f"{where}.{name}")
        elif required:
            raise Invalid(f"{where}.{name} is missing")


def check_entry(entry: Any, where: str = "entry") -> None:
    """Raise Invalid unless ``entry`` has the v1 entry shape."""
    if plain_entry(entry):
        return
    _object(entry, where)
    kind = entry.get("kind")
    _one_of(KINDS)(kind, f"{where}.kind")
    check_fields(entry, _ENTRY_FIELDS[kind], where)


# -- the entries the live recorder builds, checked without the general walk ----------------
_SENT_KEYS = frozenset(_ENTRY_FIELDS["sent"])
_REPLY_KEYS = frozenset(_ENTRY_FIELDS["reply"])
_SENT_REQUIRED = frozenset(k for k, (required, _) in _ENTRY_FIELDS["sent"].items() if required)
_REPLY_REQUIRED = frozenset(k for k, (required, _) in _ENTRY_FIELDS["reply"].items() if required)


def _short(value: Any, max_len: int) -> bool:
    return value is None or type(value) is str and len(value) <= max_len


def _strs(value: Any, max_items: int, max_len: int) -> bool:
    if type(value) is not list or len(value) > max_items:
        return False
    for item in value:
        if type(item) is not str or len(item) > max_len:
            return False
    return True


def plain_entry(entry: Any) -> bool:
    """True if ``entry`` is a sent or reply entry of plain values (str, int, None, lists of
    str) that ``check_entry`` accepts: the two entries of every round trip, checked in a
    few comparisons. False says nothing: ``check_entry`` then decides, with its words."""
    if type(entry) is not dict:
        return False
    kind = entry.get("kind")
    if type(kind) is not str:
        return False
    keys = entry.keys()
    seq, t = entry.get("seq"), entry.get("t")
    if type(seq) is not int or not 0 <= seq <= 10**9 or type(t) is not int:
        return False
    if not 0 <= t <= MAX_T_MS or not _short(entry.get("step"), 64):
        return False
    if "explain" in entry and not _strs(entry["explain"], MAX_EXPLAIN, 200):
        return False
    if kind == "sent":
        return (
            keys <= _SENT_KEYS
            and keys >= _SENT_REQUIRED
            and type(entry["text"]) is str
            and len(entry["text"]) <= MAX_TEXT
            and entry["line_kind"] in LINE_KINDS
            and type(entry["line_kind"]) is str
        )
    if kind != "reply" or not keys <= _REPLY_KEYS or not keys >= _REPLY_REQUIRED:
        return False
    code, answers, enhanced = entry["code"], entry.get("answers"), entry.get("enhanced")
    return (
        (code is None or type(code) is int and 0 <= code <= 999)
        and (answers is None or type(answers) is int and 0 <= answers <= 10**9)
        and (enhanced is None or _short(enhanced, 16) and bool(_ENHANCED.match(enhanced)))
        and _short(entry.get("malformed"), 500)
        and _short(entry.get("after"), 64)
        and _strs(entry["lines"], MAX_REPLY_LINES, MAX_REPLY_LINE)
    )
