"""Typed records of the SMTP knowledge base, built once from the JSON files in ``data/``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Command:
    """One SMTP command verb and what a learner needs to know about it."""

    verb: str
    syntax: str
    summary: str
    allowed_when: str
    replies: dict[int, str]
    rfc: tuple[str, ...]
    extension: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (reply codes as a list of {code, meaning})."""
        # Built by hand: dataclasses.asdict deep-copies recursively and was the largest cost
        # of re-deriving a long transcript's frames for replay.
        return {
            "verb": self.verb,
            "syntax": self.syntax,
            "summary": self.summary,
            "allowed_when": self.allowed_when,
            "replies": [{"code": c, "meaning": m} for c, m in self.replies.items()],
            "rfc": list(self.rfc),
            "extension": self.extension,
        }


@dataclass(frozen=True)
class AuthMechanism:
    """A SASL mechanism as used with AUTH."""

    name: str
    summary: str
    how: str
    example: str
    needs_tls: bool
    registered: bool
    rfc: tuple[str, ...]


@dataclass(frozen=True)
class Parameter:
    """An ESMTP parameter of MAIL FROM or RCPT TO."""

    name: str
    commands: tuple[str, ...]
    syntax: str
    meaning: str
    extension: str
    values: dict[str, str]
    rfc: tuple[str, ...]


@dataclass(frozen=True)
class ReplyContext:
    """What a reply code means when it answers one particular command."""

    meaning: str
    next: str
    rfc: tuple[str, ...] = ()
    # Enhanced codes ("X.5.3") that fit this meaning; another specific one contradicts it.
    enhanced: tuple[str, ...] = ()
    # The code is defined for this command alone (RFC 1985's 459 for ETRN): nothing is
    # more specific, not even an enhanced code.
    defines: bool = False


@dataclass(frozen=True)
class ReplyCode:
    """A three-digit reply code: a generic meaning plus meanings per context."""

    code: int
    summary: str
    meaning: str
    next: str
    rfc: tuple[str, ...]
    contexts: dict[str, ReplyContext] = field(default_factory=dict)


@dataclass(frozen=True)
class EnhancedPart:
    """A class (2/4/5), subject (X.N) or detail (X.N.M) of the enhanced status codes."""

    key: str
    title: str
    explanation: str
    rfc: tuple[str, ...]
    word: str | None = None
    next: str | None = None
    deprecated: bool = False


@dataclass(frozen=True)
class Extension:
    """An EHLO keyword (service extension)."""

    keyword: str
    title: str
    summary: str
    params: str
    registered: bool
    status: str
    rfc: tuple[str, ...]


def load_json(name: str) -> dict[str, Any]:
    """Read one data file shipped inside this package."""
    text = resources.files(__package__).joinpath("data", name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_json_list(name: str) -> list[dict[str, Any]]:
    """Read one data file that holds a list of records."""
    text = resources.files(__package__).joinpath("data", name).read_text("utf-8")
    data: list[dict[str, Any]] = json.loads(text)
    return data


def _tuple_rfc(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "rfc": tuple(entry.get("rfc", ()))}


def load_commands() -> dict[str, Command]:
    """COMMANDS keyed by verb."""
    out = {}
    for verb, e in load_json("commands.json").items():
        replies = {int(code): meaning for code, meaning in e.pop("replies").items()}
        out[verb] = Command(verb=verb, replies=replies, **_tuple_rfc(e))
    return out


def load_auth_mechanisms() -> dict[str, AuthMechanism]:
    """AUTH_MECHANISMS keyed by SASL name."""
    return {
        k: AuthMechanism(name=k, **_tuple_rfc(e))
        for k, e in load_json("auth_mechanisms.json").items()
    }


def load_parameters() -> dict[str, Parameter]:
    """PARAMETERS keyed by parameter name."""
    return {
        k: Parameter(name=k, **{**_tuple_rfc(e), "commands": tuple(e["commands"])})
        for k, e in load_json("parameters.json").items()
    }


def load_reply_codes() -> dict[int, ReplyCode]:
    """REPLY_CODES keyed by the integer code."""
    out = {}
    for code, e in load_json("replies.json").items():
        contexts = {
            k: ReplyContext(**{**_tuple_rfc(c), "enhanced": tuple(c.get("enhanced", ()))})
            for k, c in e.pop("contexts", {}).items()
        }
        out[int(code)] = ReplyCode(code=int(code), contexts=contexts, **_tuple_rfc(e))
    return out


def load_enhanced() -> tuple[
    dict[int, EnhancedPart], dict[int, EnhancedPart], dict[str, EnhancedPart]
]:
    """Enhanced status classes, subjects and details (details keyed like the registry: X.1.1)."""
    data = load_json("enhanced.json")
    classes = {
        int(k): EnhancedPart(key=f"{k}.XXX.YYY", **_tuple_rfc(e))
        for k, e in data["classes"].items()
    }
    subjects = {
        int(k): EnhancedPart(key=f"X.{k}.YYY", **_tuple_rfc(e)) for k, e in data["subjects"].items()
    }
    details = {k: EnhancedPart(key=k, **_tuple_rfc(e)) for k, e in data["details"].items()}
    return classes, subjects, details


def load_extensions() -> dict[str, Extension]:
    """EXTENSIONS keyed by EHLO keyword."""
    return {
        k: Extension(keyword=k, **_tuple_rfc(e)) for k, e in load_json("extensions.json").items()
    }
