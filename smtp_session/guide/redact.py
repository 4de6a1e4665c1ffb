"""Credential redaction for SMTP AUTH: what may be stored or logged of each outgoing line.

Every SASL response a client sends (RFC 4954 §4) is replaced by a marker that says what was
there. A username may appear decoded in the marker; a password, hash or token never does, and
neither does the base64 that carried it. Text that cannot be decoded is redacted all the same.

Over 300 lines: what counts as SASL PLAIN credentials is one rule (``_is_plain``) read by the
AUTH exchange, by a token anywhere and by a whole message's one-pass test; split up, the fast
path could drift from the line-by-line one it must agree with (tests/test_redact.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from smtp_session.knowledge import COMMANDS
from smtp_session.wire.dialogue import verb_of
from smtp_session.wire.reply import Reply

# The markers this module writes, exactly: kept as is, so redacting twice changes nothing,
# and nothing else in brackets (such as base64 dressed up as a marker) passes for one.
_MARKERS = (
    re.compile(
        r"^\[(?:[A-Z0-9_-]{1,20} )?(?:credentials|response|token)"
        r"(?: for user '[\x21-\x26\x28-\x5a\x5c\x5e-\x7e]{1,64}')?, redacted\]$"
    ),
    re.compile(r"^\[AUTH LOGIN (?:password|username), redacted\]$"),
    re.compile(r"^\[AUTH LOGIN username '[\x21-\x26\x28-\x5a\x5c\x5e-\x7e]{1,64}'\]$"),
)
# AUTH SP mechanism [SP initial-response] (RFC 4954 §4), as loosely as a lenient server reads it.
_AUTH_LINE = re.compile(r"^(\s*AUTH)(?:\s+(\S+)(?:\s+(.*?))?)?\s*$", re.IGNORECASE | re.DOTALL)
_MECH_NAME = re.compile(r"^[A-Z0-9_-]{1,20}$")
_USER_IN_MARKER = re.compile(r"(?:user|username) '([^']*)'")
_SAFE_USER = re.compile(r"^[\x21-\x7e]{1,64}$")

# RFC 4954 §4: "*" cancels the exchange; it carries no secret.
CANCEL = "*"


@dataclass
class AuthState:
    """Where one session stands in an AUTH exchange."""

    mechanism: str | None = None
    responses: int = 0  # responses sent in this exchange, the initial response included
    login_user_sent: bool = False
    # An AUTH the server refused or that was cancelled: the answers the user had ready may
    # still come (AUTH LOGIN has two), read by the server as commands; until a command does.
    refused: bool = False


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _show(user: bytes | str | None) -> str | None:
    """A username fit to print in a marker, or None when it is absent or odd."""
    if isinstance(user, bytes):
        try:
            user = user.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not user or not _SAFE_USER.match(user) or "'" in user or "[" in user or "]" in user:
        return None
    return user


def _plain_user(raw: bytes) -> bytes | None:
    # RFC 4616 §2: message = [authzid] NUL authcid NUL passwd
    parts = raw.split(b"\0")
    return parts[1] if len(parts) == 3 else None


def _cram_user(raw: bytes) -> bytes | None:
    # RFC 2195 §2: the response is "user SP hex-digest"
    user, sep, _digest = raw.rpartition(b" ")
    return user if sep else None


def _xoauth2_user(raw: bytes) -> bytes | None:
    # Google's XOAUTH2: "user=" user ^A "auth=Bearer " token ^A ^A
    for field in raw.split(b"\x01"):
        if field.startswith(b"user="):
            return field[5:]
    return None


def _oauthbearer_user(raw: bytes) -> bytes | None:
    # RFC 7628 §3.1: gs2-header "n,a=user," then ^A-separated key=value pairs
    for field in raw.split(b"\x01")[0].split(b","):
        if field.startswith(b"a="):
            return field[2:]
    return None


@dataclass(frozen=True)
class _Mechanism:
    user_of: Callable[[bytes], bytes | None]
    what: str  # what a response holds, for the marker


_MECHANISMS: dict[str, _Mechanism] = {
    "PLAIN": _Mechanism(_plain_user, "credentials"),
    "CRAM-MD5": _Mechanism(_cram_user, "CRAM-MD5 response"),
    "XOAUTH2": _Mechanism(_xoauth2_user, "XOAUTH2 token"),
    "OAUTHBEARER": _Mechanism(_oauthbearer_user, "OAUTHBEARER token"),
}


def _marker(what: str, user: str | None) -> str:
    return f"[{what} for user '{user}', redacted]" if user else f"[{what}, redacted]"


def _redact_response(text: str, state: AuthState, last_reply: Reply | None) -> str:
    """The marker for one SASL response of the exchange in progress."""
    state.responses += 1
    if text == CANCEL or text == "" or is_marker(text):
        return text  # a cancel, an empty response (RFC 4954 §4) or already redacted
    mech = state.mechanism or ""
    if mech == "LOGIN":
        return _login_response(text, state, last_reply)
    known = _MECHANISMS.get(mech)
    if known is None:
        # RFC 4422 §3.1: a mechanism name is 1 to 20 of [A-Z0-9-_]; anything else is not named.
        named = _MECH_NAME.match(mech) is not None
        return _marker(f"{mech} response" if named else "AUTH response", None)
    raw = _b64(text)
    return _marker(known.what, _show(known.user_of(raw)) if raw is not None else None)


def _login_prompt(last_reply: Reply | None) -> str | None:
    """'username' or 'password' when the 334 prompt says which (base64 of "Username:")."""
    if last_reply is None or last_reply.code != 334 or not last_reply.lines:
        return None
    decoded = _b64(last_reply.texts[0]) or b""
    prompt = decoded.decode("ascii", "replace").lower()
    if "pass" in prompt:
        return "password"
    if "user" in prompt:
        return "username"
    return None


def _login_response(text: str, state: AuthState, last_reply: Reply | None) -> str:
    # The LOGIN mechanism (draft-murchison-sasl-login): username, then password, both base64.
    kind = _login_prompt(last_reply)
    if kind is None:
        kind = "password" if state.login_user_sent else "username"
    if kind == "password":
        return "[AUTH LOGIN password, redacted]"
    state.login_user_sent = True
    user = _show(_b64(text))
    return f"[AUTH LOGIN username '{user}']" if user else "[AUTH LOGIN username, redacted]"


def _auth_command(line: str, state: AuthState, last_reply: Reply | None) -> str:
    """AUTH mechanism [initial-response] (RFC 4954 §4): start an exchange, redact the response."""
    m = _AUTH_LINE.match(line)
    assert m is not None  # redact_line only calls us for AUTH lines
    state.mechanism = m.group(2).upper() if m.group(2) else None
    state.responses = 0
    state.login_user_sent = False
    initial = m.group(3)
    if not initial:
        return line
    # RFC 4954 §4: "=" is an empty initial response; keep it, there is nothing in it.
    if initial.strip() == "=":
        state.responses = 1
        return line
    return line[: m.start(3)] + _redact_response(initial, state, last_reply)


def redact_line(
    line: str, line_kind: str, state: AuthState, last_reply: Reply | None = None
) -> str:
    """The text of one outgoing line that may be stored or logged; updates ``state``."""
    if line_kind == "data":
        return redact_plain_anywhere(line)
    # RFC 4954 §4: after a 334 the client's next line is a SASL response, whatever the
    # caller called it; a line after any other reply means the exchange is over.
    in_exchange = state.mechanism is not None and last_reply is not None and last_reply.code == 334
    if line_kind == "auth-response" or in_exchange:
        return _redact_response(line, state, last_reply)
    failed = state.mechanism is not None and (last_reply is None or last_reply.code != 235)
    state.mechanism = None
    if failed:
        state.refused = True
    if _AUTH_LINE.match(line):
        state.refused = False
        return _auth_command(line, state, last_reply)
    if state.refused and _looks_like_a_response(line):
        # Typed after a refused or cancelled AUTH (530, 538, "*"): the answers the user meant
        # to give (a LOGIN's username, then its password; base64 or not), which the server
        # reads as commands and may echo back.
        return _marker("credentials", None)
    state.refused = False  # a command: whatever follows is the user's next step
    return redact_plain_anywhere(line)


def _looks_like_a_response(line: str) -> bool:
    """One word that is no SMTP verb: a SASL answer, encoded or typed as it is."""
    text = line.strip()
    return bool(text) and " " not in text and verb_of(text) not in COMMANDS


# RFC 4616 §2: authzid NUL authcid NUL passwd, base64-encoded. A NUL byte puts one of these
# pairs at an aligned place in the base64 (a first byte 0: "A" then A-P; a second: one of AQgw
# then A-D; a third: one of AEIMQUYcgkosw048 then "A"): text with none holds no such token,
# which is nearly all message text, found by one scan in C.
_NUL_HINT = re.compile(r"A[A-P]|[AQgw][A-D]|[AEIMQUYcgkosw048]A")
_B64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{6,}={0,2}(?![A-Za-z0-9+/=])")


def redact_plain_anywhere(text: str) -> str:
    """``text`` with every token that decodes as SASL PLAIN credentials replaced by a marker,
    wherever it appears (a command, a message line, a server's echo)."""
    if not _NUL_HINT.search(text):
        return text
    out, at = [], 0
    for m in _B64_TOKEN.finditer(text):
        token = m.group()
        raw = _b64(token) if len(token) % 4 == 0 else None
        if raw is not None and _is_plain(raw):
            out += [text[at : m.start()], _marker("credentials", _show(raw.split(b"\0")[1]))]
            at = m.end()
    return "".join(out) + text[at:] if out else text


def _holds_plain(text: str) -> bool:
    """True when some token of ``text`` is SASL PLAIN credentials (redact_plain_anywhere's test).

    The same tokens, decoded in one pass over the whole text: a base64 attachment is a token a
    line, and taking its lines one by one cost ~2 us each (a 20 MB message: 0.5 s of the
    worker), these few C calls per token ~0.3 us.
    """
    if not _NUL_HINT.search(text):
        return False
    quads = [t for t in _B64_TOKEN.findall(text) if not len(t) % 4]
    try:
        raws = list(map(_strict_b64, quads))
    except binascii.Error:
        return True  # let the token-by-token path decide
    return any(map(_is_plain, raws))


def _strict_b64(token: str) -> bytes:
    return binascii.a2b_base64(token, strict_mode=True)


# A control character other than the two NULs and the tab, CR and LF a careless ``echo |
# base64`` leaves in: a binary attachment's line holds some (a 57-byte line with none: ~1 in
# 2,000), a typed username and password none.
_CONTROL = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


_ASCII = bytes(range(0x80))


def _is_plain(raw: bytes) -> bool:
    """authzid NUL authcid NUL passwd (RFC 4616 §2), the two last not empty, as UTF-8 (as the
    RFC has it) or at least text in a legacy client's Latin-1 (no other control character,
    at most a quarter of it beyond ASCII): a base64 attachment's line with two NUL bytes is
    neither (random bytes are half beyond ASCII), and is message data."""
    if raw.count(0) != 2:
        return False
    _authzid, authcid, passwd = raw.split(b"\0")
    if not authcid or not passwd:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        beyond_ascii = len(raw.translate(None, _ASCII))
        return not _CONTROL.search(raw) and 4 * beyond_ascii <= len(raw)
    return True


def is_marker(text: str) -> bool:
    """True when the text is a marker this module writes in place of a secret."""
    return any(m.match(text) for m in _MARKERS)


def user_in_marker(text: str) -> str | None:
    """The username a marker shows, if any (exports use it for --auth-user and the like)."""
    m = _USER_IN_MARKER.search(text)
    return m.group(1) if m else None


class Redactor:
    """Redaction for one session: feed each outgoing line, store what comes back."""

    def __init__(self) -> None:
        self.state = AuthState()
        # What was taken out of lines sent so far, to take out of replies echoing them.
        self.secrets: set[str] = set()

    def feed(self, line: str, line_kind: str, last_reply: Reply | None = None) -> str:
        """The storable text of ``line``, given the reply that came before it."""
        stored = redact_line(line, line_kind, self.state, last_reply)
        if stored != line:
            kept = set(stored.split())
            self.secrets.update(w for w in line.split() if len(w) >= 4 and w not in kept)
        return stored

    def feed_message(self, lines: list[str]) -> list[str]:
        """Message lines sent (or held back) together: SASL PLAIN credentials taken out."""
        if not _holds_plain("\n".join(lines)):
            return lines
        return [redact_plain_anywhere(line) for line in lines]

    def scrub_reply(self, reply: Reply) -> Reply:
        """The reply with any secret sent earlier taken out (a 500 echoing the line)."""
        lines = tuple(self._scrub(line) for line in reply.lines)
        return reply if lines == reply.lines else replace(reply, lines=lines)

    def scrub_text(self, text: str) -> str:
        """Any text about a sent line (a reply, the verb it answered) without its secrets."""
        return self._scrub(text)

    def _scrub(self, line: str) -> str:
        for secret in self.secrets:
            if secret.lower() in line.lower():
                line = re.sub(re.escape(secret), "[redacted]", line, flags=re.IGNORECASE)
        return redact_plain_anywhere(line)

    @property
    def mechanism(self) -> str | None:
        """The AUTH mechanism of the exchange in progress, if any."""
        return self.state.mechanism
