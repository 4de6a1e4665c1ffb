"""Reply codes: the REPLY_CODES table, context names, and a fallback for codes not in it."""

from __future__ import annotations

from typing import Any

from smtp_session.knowledge.models import load_reply_codes
from smtp_session.wire.reply import REPLY_CLASSES

REPLY_CODES = load_reply_codes()

# Contexts that are not command verbs: what a reply can answer besides a command.
GREETING = "greeting"
AUTH_RESPONSE = "auth-response"
END_OF_DATA = "end-of-data"
SPECIAL_CONTEXTS = (GREETING, AUTH_RESPONSE, END_OF_DATA)

# RFC 5321 §4.2.1: the first digit tells whether it worked ...
FIRST_DIGIT: dict[int, tuple[str | None, str, str]] = {
    1: (
        None,
        "Positive preliminary reply",
        "SMTP defines no 1yz replies; treat it as a server bug.",
    ),
    2: (REPLY_CLASSES[2], "Positive completion reply", "The command worked."),
    3: (REPLY_CLASSES[3], "Positive intermediate reply", "The server waits for more input."),
    4: (
        REPLY_CLASSES[4],
        "Transient negative completion reply",
        "Failed for now; retrying later may work.",
    ),
    5: (
        REPLY_CLASSES[5],
        "Permanent negative completion reply",
        "Failed; do not repeat it unchanged.",
    ),
}
# ... and the second digit what it is about.
SECOND_DIGIT: dict[int, str] = {
    0: "syntax",
    1: "information (status or help)",
    2: "the connection",
    3: "unspecified",
    4: "unspecified",
    5: "the mail system",
}


def normalize_after(after: str | None) -> str | None:
    """Turn "RCPT TO:<a@b>", "rcpt" or "." into a context key ("RCPT", "end-of-data")."""
    if after is None:
        return None
    text = after.strip()
    if text.lower() in SPECIAL_CONTEXTS:
        return text.lower()
    if text == ".":
        return END_OF_DATA
    words = text.split(None, 1)
    return words[0].split(":", 1)[0].upper() if words else None


def reply_knowledge(code: int, after: str | None) -> dict[str, Any]:
    """Summary, meaning, next step and RFCs for a code, in context where the table knows it."""
    entry = REPLY_CODES.get(code)
    if entry is None:
        return _fallback(code)
    ctx = entry.contexts.get(after) if after else None
    rfc = list(dict.fromkeys([*entry.rfc, *(ctx.rfc if ctx else ())]))
    return {
        "known": True,
        "summary": entry.summary,
        "meaning": ctx.meaning if ctx else entry.meaning,
        "next": ctx.next if ctx else entry.next,
        "context": after if ctx else None,
        "rfc": rfc,
    }


def _fallback(code: int) -> dict[str, Any]:
    first, second = divmod(code // 10, 10)
    if first not in FIRST_DIGIT:
        return {
            "known": False,
            "summary": "Not an SMTP reply code",
            "meaning": f"{code} is outside 100-599, so it cannot be an SMTP reply.",
            "next": "Treat the server as broken.",
            "context": None,
            "rfc": ["RFC 5321 §4.2"],
        }
    _, title, advice = FIRST_DIGIT[first]
    topic = SECOND_DIGIT.get(second, "a category SMTP does not define")
    return {
        "known": False,
        "summary": f"{title} (code not in our table)",
        "meaning": f"{code} is not a standard code. Its first digit makes it a {title.lower()}; "
        f"its second digit says it is about {topic}. The server's text may explain more.",
        "next": advice,
        "context": None,
        "rfc": ["RFC 5321 §4.2.1"],
    }
