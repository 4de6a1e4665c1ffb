"""The size limits of SMTP and RFC 5322, named once so every check and message uses them."""

from __future__ import annotations

MAX_COMMAND_OCTETS = 512  # RFC 5321 §4.5.3.1.4: a command line, CRLF included
MAX_TEXT_LINE = 998  # RFC 5322 §2.1.1: characters per line, CRLF excluded
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1: octets before the @
MAX_DOMAIN = 255  # RFC 5321 §4.5.3.1.2: octets of a domain
MAX_PATH = 256  # RFC 5321 §4.5.3.1.3: a reverse- or forward-path, angle brackets included


def octets(text: str) -> int:
    """Length on the wire; "surrogatepass" so text from a browser can never make this raise."""
    return len(text.encode("utf-8", "surrogatepass"))
