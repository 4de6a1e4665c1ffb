"""The sandbox inbox: captured messages on disk, bounded, newest first.

Each message is two files in one folder: ``<id>.eml`` (the exact bytes received, after the
server removed the dot-stuffing) and ``<id>.json`` (envelope and summary). Files rather than a
database so that the sandbox process and the web processes can share it with no set-up, and a
restart loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from smtp_session.sandbox import mime

_ID = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{8}$")


@dataclass(frozen=True)
class StoredMessage:
    """Summary of one captured message."""

    id: str
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    size: int
    received_at: str
    peer: str
    tls: bool = False
    auth_user: str | None = None
    # The From and To headers, RFC 2047 decoded (messages kept before these were stored: "").
    from_header: str = ""
    to_header: str = ""
    attachments: int = 0
    # The captured transcript of the session that delivered it (sandbox/capture.py), if any.
    captured_transcript: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def new_id() -> str:
    """A sortable id: nanosecond clock then randomness, so newest-first is a name sort."""
    return f"{time.time_ns():016x}-{secrets.token_hex(4)}"


def subject_of(raw: bytes) -> str:
    """The decoded Subject header, or an empty string."""
    return header_of(raw, "Subject")


def header_of(raw: bytes, name: str) -> str:
    """One header, RFC 2047 decoded, or an empty string."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    value = headers.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, ValueError):
        return str(value)


def _summary_fields(raw: bytes) -> dict[str, object]:
    message = mime.parse(raw)
    return {
        "subject": subject_of(raw),
        "from_header": mime.header_text(message, "From"),
        "to_header": mime.header_text(message, "To"),
        "attachments": len(mime.attachments(mime.tree(message))),
    }


class Mailbox:
    """A bounded folder of captured messages."""

    def __init__(self, folder: Path, max_messages: int = 500) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self._lock = threading.Lock()

    def add(
        self,
        raw: bytes,
        mail_from: str,
        rcpt_tos: list[str],
        peer: str,
        tls: bool = False,
        auth_user: str | None = None,
        captured_transcript: str | None = None,
    ) -> StoredMessage:
        """Keep a message; drop the oldest beyond the bound."""
        msg = StoredMessage(
            id=new_id(),
            mail_from=mail_from,
            rcpt_tos=list(rcpt_tos),
            size=len(raw),
            received_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            peer=peer,
            tls=tls,
            auth_user=auth_user,
            captured_transcript=captured_transcript,
            **_summary_fields(raw),  # type: ignore[arg-type]
        )
        with self._lock:
            _write_atomic(self.folder / f"{msg.id}.eml", raw)
            _write_atomic(self.folder / f"{msg.id}.json", json.dumps(msg.to_dict()).encode())
            self._trim()
        return msg

    def messages(self, limit: int | None = None) -> list[StoredMessage]:
        """Messages, newest first."""
        ids = self._ids()
        out = []
        for mid in ids[:limit] if limit else ids:
            msg = self.get(mid)
            if msg is not None:
                out.append(msg)
        return out

    def get(self, mid: str) -> StoredMessage | None:
        """One message's summary, or None (also for an id that is not one of ours)."""
        if not _ID.match(mid):
            return None
        try:
            data = json.loads((self.folder / f"{mid}.json").read_text())
        except (OSError, ValueError):
            return None
        known = StoredMessage.__dataclass_fields__
        return StoredMessage(**{k: v for k, v in data.items() if k in known})

    def raw(self, mid: str) -> bytes | None:
        """The exact bytes of a message, or None."""
        if not _ID.match(mid):
            return None
        try:
            return (self.folder / f"{mid}.eml").read_bytes()
        except OSError:
            return None

    def search(self, query: str) -> list[StoredMessage]:
        """Messages whose subject, From, To, Cc or text body contain ``query`` (any case)."""
        needle = query.strip().lower()
        if not needle:
            return self.messages()
        return [msg for msg in self.messages() if needle in self._search_text(msg)]

    def _search_text(self, msg: StoredMessage) -> str:
        raw = self.raw(msg.id)
        envelope = " ".join([msg.mail_from, *msg.rcpt_tos]).lower()
        return envelope + "\n" + (mime.search_text(mime.parse(raw)) if raw is not None else "")

    def version(self) -> str:
        """Changes whenever a message arrives or goes: the inbox's ETag."""
        return hashlib.sha256(",".join(self._ids()).encode()).hexdigest()[:20]

    def delete(self, mid: str) -> bool:
        """Delete one message; False if there is none with this id."""
        if not _ID.match(mid):
            return False
        with self._lock:
            if not (self.folder / f"{mid}.json").exists():
                return False
            self._remove(mid)
        return True

    def clear(self) -> None:
        """Delete every message."""
        with self._lock:
            for path in self.folder.glob("*.json"):
                self._remove(path.stem)

    def _ids(self) -> list[str]:
        return sorted(
            (p.stem for p in self.folder.glob("*.json") if _ID.match(p.stem)), reverse=True
        )

    def _trim(self) -> None:
        for mid in self._ids()[self.max_messages :]:
            self._remove(mid)

    def _remove(self, mid: str) -> None:
        for suffix in (".json", ".eml"):
            try:
                (self.folder / f"{mid}{suffix}").unlink()
            except FileNotFoundError:
                pass


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
