"""EHLO keywords: the EXTENSIONS table and ``explain_ehlo``, which reads a 250 EHLO reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from smtp_session.knowledge.models import load_auth_mechanisms, load_extensions
from smtp_session.wire.reply import Reply

EXTENSIONS = load_extensions()
AUTH_MECHANISMS = load_auth_mechanisms()


@dataclass(frozen=True)
class Capability:
    """One line of an EHLO reply after the first, explained."""

    line: str
    keyword: str
    params: tuple[str, ...]
    known: bool
    registered: bool
    title: str
    explanation: str
    rfc: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str | None:
        """Stable explanation key (ext:SIZE) when the keyword is in the table."""
        return f"ext:{_table_key(self.keyword)}" if self.known else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["params"] = list(self.params)
        data["rfc"] = list(self.rfc)
        data["key"] = self.key
        return data


def human_size(n: int) -> str:
    """35882577 -> "35,882,577 bytes (34.2 MiB)"."""
    for unit, power in (("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if n >= 1024**power:
            return f"{n:,} bytes ({n / 1024**power:.1f} {unit})"
    return f"{n:,} bytes"


def _size_facts(params: tuple[str, ...]) -> dict[str, Any]:
    # RFC 1870 §4: no number, or 0, means the server declares no fixed maximum.
    if not params or params[0] == "0":
        return {"limit_bytes": None, "limit": "no fixed limit"}
    if not params[0].isdigit():
        return {"limit_bytes": None, "limit": None, "problem": f"{params[0]!r} is not a number"}
    n = int(params[0])
    return {"limit_bytes": n, "limit": human_size(n)}


def mechanism_facts(names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each SASL mechanism name explained from AUTH_MECHANISMS (unknown ones kept)."""
    out = []
    for name in names:
        mech = AUTH_MECHANISMS.get(name.upper())
        out.append(
            {
                "name": name.upper(),
                "known": mech is not None,
                "summary": mech.summary if mech else "A mechanism this playground does not know.",
                "needs_tls": mech.needs_tls if mech else None,
                "rfc": list(mech.rfc) if mech else [],
            }
        )
    return out


def _auth_facts(params: tuple[str, ...]) -> dict[str, Any]:
    return {"mechanisms": mechanism_facts(params)}


def _limits_facts(params: tuple[str, ...]) -> dict[str, Any]:
    # RFC 9422 §4: each parameter is NAME=value.
    limits = dict(p.split("=", 1) for p in params if "=" in p)
    return {"limits": {k.upper(): v for k, v in limits.items()}}


_FACTS: dict[str, Callable[[tuple[str, ...]], dict[str, Any]]] = {
    "SIZE": _size_facts,
    "AUTH": _auth_facts,
    "AUTH=LOGIN": _auth_facts,
    "LIMITS": _limits_facts,
}


def _table_key(keyword: str) -> str:
    # The pre-standard "AUTH=LOGIN PLAIN" form is one entry whatever mechanism comes first.
    return "AUTH=LOGIN" if keyword.startswith("AUTH=") else keyword


def capability_words(line: str) -> tuple[str, tuple[str, ...]] | None:
    """ "SIZE 35882577" -> ("SIZE", ("35882577",)); None for a blank line (RFC 5321 §4.1.1.1)."""
    words = line.split()
    if not words:
        return None
    keyword, params = words[0].upper(), tuple(words[1:])
    if keyword.startswith("AUTH="):  # the pre-RFC 4954 form some servers still send
        params = (keyword[len("AUTH=") :], *params)
    return keyword, params


def parse_capabilities(reply: Reply) -> tuple[set[str], dict[str, list[str]]]:
    """EHLO keywords and their parameters; line one is the server's name (RFC 5321 §4.1.1.1)."""
    keywords: set[str] = set()
    params: dict[str, list[str]] = {}
    for text in reply.texts[1:]:
        parsed = capability_words(text)
        if parsed is None:
            continue
        keyword, rest = parsed
        keyword = "AUTH" if keyword.startswith("AUTH=") else keyword
        keywords.add(keyword)
        params.setdefault(keyword, [])
        params[keyword] += [p for p in rest if p not in params[keyword]]
    return keywords, params


def explain_capability(line: str) -> Capability | None:
    """Explain one EHLO capability line ("SIZE 35882577"); None for a blank line."""
    parsed = capability_words(line)
    if parsed is None:
        return None
    keyword, params = parsed
    key = _table_key(keyword)
    ext = EXTENSIONS.get(key)
    facts = _FACTS[key](params) if key in _FACTS else {}
    if ext is None:
        return Capability(
            line=line,
            keyword=keyword,
            params=params,
            known=False,
            registered=False,
            title="Unknown extension",
            explanation=f"{keyword} is not in the IANA registry nor a known vendor keyword; "
            "the server offers something this playground cannot explain.",
            rfc=(),
            facts=facts,
        )
    return Capability(
        line, keyword, params, True, ext.registered, ext.title, ext.summary, ext.rfc, facts
    )


def explain_ehlo(reply: Reply) -> list[Capability]:
    """Every capability line of an EHLO reply (the first line is the server's name), explained."""
    caps = (explain_capability(text) for text in reply.texts[1:])
    return [cap for cap in caps if cap is not None]
