"""SMTP replies: a typed reply object and an incremental, bounded parser.

Parsing follows smtplib's reading of RFC 5321 §4.2: a reply is one or more lines, each
``CODE-text`` except the last, ``CODE text`` (or ``CODE`` alone). Unlike smtplib the parser
never trusts the server: line length and reply size are bounded, and a reply that breaks the
grammar is returned as a *malformed* reply with its raw lines, never raised as a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including CRLF. Real servers
# exceed it in EHLO and banners, so we allow some slack before calling it hostile.
MAX_LINE = 2048
# An endless multi-line reply must end somewhere: bytes and lines per reply.
MAX_REPLY_BYTES = 64 * 1024
MAX_REPLY_LINES = 512

# [0-9], not \d: \d also matches other scripts' digits ("٢٥٠"), which int() would accept.
_ENHANCED = re.compile(r"^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=\s|$)")
# RFC 5321 §4.2.1: what the first digit of a reply says. The one list of these names: the
# knowledge base, the lessons' conditions and the frames all read it from here.
REPLY_CLASSES: dict[int, str] = {2: "positive", 3: "intermediate", 4: "transient", 5: "permanent"}
CODE_CHANGES = "the reply code changes between lines of one reply (the last line's code is used)"
_LINE = re.compile(r"^([0-9]{3})([ -]|$)(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Reply:
    """One complete server reply."""

    code: int | None
    lines: tuple[str, ...]
    enhanced: str | None = None
    malformed: str | None = None
    line_endings: str = "CRLF"
    truncated: bool = False

    @property
    def texts(self) -> list[str]:
        """The free text of each line, without the code, separator and enhanced code."""
        return [_text_of(line, self.enhanced) for line in self.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def enhanced_mismatch(self) -> bool:
        """The enhanced code's class differs from the reply code's (RFC 3463 §2: they must
        agree; the reply code decides, RFC 5321 §4.2.1)."""
        e = _ENHANCED.match(self.enhanced or "")
        return e is not None and self.code is not None and int(e.group(1)) != self.code // 100

    @property
    def reply_class(self) -> str | None:
        """positive / intermediate / transient / permanent (RFC 5321 §4.2.1)."""
        if self.code is None:
            return None
        return REPLY_CLASSES.get(self.code // 100)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "enhanced": self.enhanced,
            "lines": list(self.lines),
            "text": self.text,
            "class": self.reply_class,
            "malformed": self.malformed,
            "line_endings": self.line_endings,
            "truncated": self.truncated,
        }


def _text_of(line: str, enhanced: str | None) -> str:
    m = _LINE.match(line)
    if not m:
        return line
    text = m.group(3)
    # Compare as parsed, not as written: "2.01.005" is the enhanced code 2.1.5 too.
    e = _ENHANCED.match(text) if enhanced else None
    if e and f"{e.group(1)}.{int(e.group(2))}.{int(e.group(3))}" == enhanced:
        text = text[e.end() :].lstrip()
    return text


def parse_reply(text: str) -> Reply:
    """Parse a whole reply given as text (lines separated by CRLF or LF)."""
    parser = ReplyParser()
    data = text.encode("utf-8", "surrogateescape")
    if not data.endswith(b"\n"):
        data += b"\r\n"
    replies = parser.feed(data)
    replies += parser.flush()
    if not replies:
        return Reply(code=None, lines=(), malformed="empty reply")
    if len(replies) == 1:
        return replies[0]
    lines = tuple(line for r in replies for line in r.lines)
    return Reply(code=None, lines=lines, malformed="more than one reply")


def enhanced_code_of(first_text: str) -> str | None:
    """The RFC 3463 enhanced status code starting the text, read exactly: a class that
    disagrees with the reply code is kept (see ``Reply.enhanced_mismatch``), not dropped."""
    m = _ENHANCED.match(first_text)
    if not m:
        return None
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}"


@dataclass
class ReplyParser:
    """Incremental parser: feed bytes as they arrive, get complete replies back."""

    max_line: int = MAX_LINE
    max_reply_bytes: int = MAX_REPLY_BYTES
    max_reply_lines: int = MAX_REPLY_LINES
    _buf: bytearray = field(default_factory=bytearray)
    _lines: list[str] = field(default_factory=list)
    _size: int = 0
    _bad_endings: str | None = None
    _overlong: bool = False
    _cr_ends: bool = False  # the trailing CR was declared a line end (see end_bare_cr)
    _skip_lf: bool = False  # ...so an LF arriving right after it belongs to it

    @property
    def pending(self) -> bool:
        """True while a reply has started but is not complete."""
        return bool(self._buf or self._lines)

    @property
    def awaiting_lf(self) -> bool:
        """True when the buffer ends in a CR whose LF may still be on its way."""
        return self._buf.endswith(b"\r")

    def end_bare_cr(self) -> list[Reply]:
        """No LF followed the trailing CR in time: take that CR as a (bare) line end."""
        if not self.awaiting_lf:
            return []
        self._cr_ends = True
        return self.feed(b"")

    def feed(self, data: bytes) -> list[Reply]:
        """Add received bytes; return every reply they complete."""
        if data:
            if self._skip_lf and data.startswith(b"\n"):
                data = data[1:]  # the late LF of a CRLF we already took as a bare CR
            self._skip_lf = False
        self._buf += data
        out: list[Reply] = []
        while (line := self._next_line()) is not None:
            reply = self._add_line(line)
            if reply is not None:
                out.append(reply)
        if len(self._buf) > self.max_line:
            # A line with no end in sight: keep the start, drop the rest and finish the
            # reply now, so a hostile server cannot grow our memory.
            self._overlong = True
            self._lines.append(_decode(bytes(self._buf[: self.max_line])))
            self._buf.clear()
            out.append(self._emit(malformed=f"a reply line longer than {self.max_line} bytes"))
        return out

    def flush(self) -> list[Reply]:
        """The connection ended: whatever was pending becomes a malformed reply."""
        if self._buf:
            self._lines.append(_decode(bytes(self._buf)))
            self._buf.clear()
        if not self._lines:
            return []
        return [self._emit(malformed="the connection ended before the reply's last line")]

    def _next_line(self) -> bytes | None:
        """Cut one line off the buffer (CRLF, or a bare LF or CR, which we note), or None."""
        buf = self._buf
        lf, cr = buf.find(b"\n"), buf.find(b"\r")
        if cr >= 0 and (lf < 0 or cr < lf):
            if cr + 1 >= len(buf) and not self._cr_ends:
                return None  # the LF may still be on its way
            if cr + 1 >= len(buf):
                self._cr_ends, self._skip_lf = False, True
            if buf[cr + 1 : cr + 2] == b"\n":
                raw = bytes(buf[:cr])
                del buf[: cr + 2]
            else:  # RFC 5321 §2.3.8: a bare CR is not a line end; the server is broken
                self._bad_endings = "CR"
                raw = bytes(buf[:cr])
                del buf[: cr + 1]
        elif lf >= 0:
            self._bad_endings = "LF"
            raw = bytes(buf[:lf])
            del buf[: lf + 1]
        else:
            return None
        if len(raw) > self.max_line:
            raw = raw[: self.max_line]
            self._overlong = True
        return raw

    def _add_line(self, raw: bytes) -> Reply | None:
        line = _decode(raw)
        self._lines.append(line)
        self._size += len(raw) + 2
        m = _LINE.match(line)
        if not m:
            return self._emit(malformed="a reply line must start with a three-digit code")
        if m.group(1) != self._lines[0][:3]:
            # smtplib and most clients act on the last line's code; so do we, and say why.
            return self._emit(malformed=CODE_CHANGES, last=True)
        if m.group(2) != "-":
            return self._emit()
        if self._size > self.max_reply_bytes or len(self._lines) >= self.max_reply_lines:
            return self._emit(
                malformed=f"a multi-line reply longer than {self.max_reply_lines} lines "
                f"or {self.max_reply_bytes} bytes",
                truncated=True,
            )
        return None

    def _emit(
        self, malformed: str | None = None, truncated: bool = False, last: bool = False
    ) -> Reply:
        lines = tuple(self._lines)
        first = _LINE.match(lines[-1 if last else 0]) if lines else None
        code = int(first.group(1)) if first else None
        if code is not None and not 100 <= code <= 599:
            malformed = malformed or f"{code} is not a valid reply code (it must be 2xx to 5xx)"
        readable = first is not None and (not malformed or malformed == CODE_CHANGES)
        enhanced = enhanced_code_of(first.group(3)) if first and readable else None
        if self._overlong and not malformed:
            malformed = f"a reply line longer than {self.max_line} bytes was cut"
        reply = Reply(
            code=code,
            lines=lines,
            enhanced=enhanced,
            malformed=malformed,
            line_endings=self._bad_endings or "CRLF",
            truncated=truncated or self._overlong,
        )
        self._lines = []
        self._size = 0
        self._bad_endings = None
        self._overlong = False
        return reply


def _decode(raw: bytes) -> str:
    # Servers are meant to send ASCII; anything else is shown, not rejected.
    return raw.decode("utf-8", "replace")
