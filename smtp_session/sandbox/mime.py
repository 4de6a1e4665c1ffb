"""A captured message read for people: decoded headers, text and HTML bodies, the MIME tree
and its attachments, with the stdlib email package (policy=default, RFC 5322 and RFC 2047).

Mail is untrusted input: every header may be malformed, every filename may try to climb out
of a folder; the functions here never raise on a bad message and always give safe names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

MAX_FILENAME = 120
# Characters no filename should carry to a disk: path separators, controls, and what
# Windows refuses (<>:"|?*); plus the bidi overrides that disguise extensions (CVE-2021-42574).
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f-\x9f/\\<>:"|?*\u202a-\u202e\u2066-\u2069]')


def parse(raw: bytes) -> EmailMessage:
    """The message as the email package's modern API sees it."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage objects
    return message


# What a malformed header can raise while the email package decodes it.
_HEADER_ERRORS = (ValueError, LookupError, IndexError, TypeError, AttributeError)


def _decoded(message: Message, name: str, value: str) -> str:
    try:
        return str(message.policy.header_fetch_parse(name, value))
    except _HEADER_ERRORS:
        return value  # shown as it came, encoded words and all


def header_text(message: Message, name: str) -> str:
    """A header's first value with RFC 2047 encoded words decoded ("" when absent)."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return _decoded(message, key, value)
    return ""


def headers(message: Message) -> list[tuple[str, str]]:
    """Every header in order (repeated ones too), decoded."""
    return [(name, _decoded(message, name, value)) for name, value in message.raw_items()]


def safe_filename(name: str | None, fallback: str) -> str:
    """A filename safe to save anywhere: no folders, no controls, not hidden, bounded."""
    text = unicodedata.normalize("NFC", name or "")
    text = _UNSAFE_NAME.sub("_", text).strip().strip(".")
    if not text or set(text) <= {"_", " "}:
        return fallback
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        text = text[: MAX_FILENAME - len(keep) - 1].rstrip() + (f".{keep}" if keep else "")
    return text


@dataclass
class Part:
    """One node of the MIME tree; ``id`` is its path ("1", "1.2") for the download route."""

    id: str
    content_type: str
    size: int
    filename: str | None = None
    disposition: str | None = None
    charset: str | None = None
    children: list[Part] = field(default_factory=list)

    @property
    def is_attachment(self) -> bool:
        return not self.children and (self.disposition == "attachment" or bool(self.filename))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["attachment"] = self.is_attachment
        data["children"] = [c.to_dict() for c in self.children]
        return data


def _payload_size(part: Message) -> int:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, LookupError, TypeError):
        return 0
    return len(payload) if isinstance(payload, bytes) else 0


def _tree(part: Message, path: str) -> Part:
    try:
        filename = part.get_filename()
    except (ValueError, LookupError, IndexError, TypeError):
        filename = None
    node = Part(
        id=path,
        content_type=part.get_content_type(),
        size=0,
        filename=filename,
        disposition=part.get_content_disposition(),
        charset=part.get_content_charset(),
    )
    if part.is_multipart():
        subparts = part.get_payload()
        assert isinstance(subparts, list)
        node.children = [_tree(sub, f"{path}.{i}") for i, sub in enumerate(subparts, 1)]
        node.size = sum(c.size for c in node.children)
    else:
        node.size = _payload_size(part)
    return node


def tree(message: Message) -> Part:
    """The MIME tree: the message is part "1", its subparts "1.1", "1.2", ..."""
    return _tree(message, "1")


def find_part(message: Message, part_id: str) -> Message | None:
    """The part with this path, or None."""
    steps = part_id.split(".")
    if steps[0] != "1" or not all(s.isdigit() for s in steps):
        return None
    part = message
    for step in steps[1:]:
        subparts = part.get_payload() if part.is_multipart() else None
        index = int(step) - 1
        if not isinstance(subparts, list) or not 0 <= index < len(subparts):
            return None
        found = subparts[index]
        if not isinstance(found, Message):
            return None
        part = found
    return part


def attachments(root: Part) -> list[Part]:
    """The leaves a person would save, in tree order."""
    if not root.children:
        return [root] if root.is_attachment else []
    return [leaf for child in root.children for leaf in attachments(child)]


def body(message: EmailMessage, subtype: str) -> str | None:
    """The text/plain or text/html body (RFC 2046 multipart/alternative picks it), or None."""
    try:
        found = message.get_body(preferencelist=(subtype,))
        if found is None:
            return None
        content = found.get_content()
    except (KeyError, LookupError, ValueError, TypeError, AttributeError):
        return None
    # The wire's CRLF line ends are the transport's, not the text's.
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def part_bytes(part: Message) -> bytes:
    """A leaf part's content, transfer encoding undone."""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, LookupError, TypeError):
        return b""
    return payload if isinstance(payload, bytes) else b""


def search_text(message: EmailMessage) -> str:
    """What an inbox search matches: subject, from, to, cc and the text body, lower-cased."""
    fields = [header_text(message, name) for name in ("Subject", "From", "To", "Cc")]
    text = body(message, "plain") or body(message, "html") or ""
    return "\n".join([*fields, text]).lower()
