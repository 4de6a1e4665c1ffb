"""Recognisable texts of widely used mail servers and providers (``data/server_texts.json``).

RFC 5321 §4.2 leaves a reply's text free, yet real servers word their refusals in stable,
documented ways ("blocked using zen.spamhaus.org", "RESOLVER.ADR.RecipientNotFound"). Each
entry holds a pattern, the meaning in our own words, what to do, and the public source that
documents it. A vendor's own wording beats a convention many servers share ("user unknown"),
which beats a weak hint ("rejected"); within a strength the file's order decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtp_session.knowledge.models import load_json_list

STRENGTHS = ("vendor", "convention", "weak")


@dataclass(frozen=True)
class ServerText:
    """One recognisable server text and what it means."""

    key: str
    servers: tuple[str, ...]
    strength: str
    pattern: re.Pattern[str]
    classes: tuple[int, ...]
    meaning: str
    next: str
    source: str
    # Enhanced codes ("X.1.10") this vendor uses with a meaning other than the registry's.
    reuses: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, without the compiled pattern."""
        return {
            "key": f"server:{self.key}",
            "servers": list(self.servers),
            "strength": self.strength,
            "meaning": self.meaning,
            "next": self.next,
            "source": self.source,
        }


def load_server_texts() -> tuple[ServerText, ...]:
    """Every entry of server_texts.json, compiled, in file order."""
    out = []
    for e in load_json_list("server_texts.json"):
        out.append(
            ServerText(
                key=e["key"],
                servers=tuple(e["servers"]),
                strength=e["strength"],
                pattern=re.compile(e["pattern"], re.IGNORECASE),
                classes=tuple(e["classes"]),
                meaning=e["meaning"],
                next=e["next"],
                source=e["source"],
                reuses=tuple(e.get("reuses", ())),
            )
        )
    return tuple(out)


SERVER_TEXTS = load_server_texts()


def match_server_text(code: int | None, text: str) -> ServerText | None:
    """The most specific server text the reply's words match, if any."""
    klass = code // 100 if isinstance(code, int) else None
    found: dict[str, ServerText] = {}
    for entry in SERVER_TEXTS:
        if entry.strength in found or (klass is not None and klass not in entry.classes):
            continue
        if entry.pattern.search(text):
            found[entry.strength] = entry
            if entry.strength == STRENGTHS[0]:
                break
    return next((found[s] for s in STRENGTHS if s in found), None)
