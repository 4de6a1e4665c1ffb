"""A captured session's records (sandbox/capture.py) turned into transcript entries, explained.

The records go through the same :class:`~smtp_session.guide.guide.Guide` a live session uses,
so each line and reply gets the explanation, state and warnings the live panels and the replay
show (and credentials are redacted here, before anything is stored); :class:`ClientJudge` adds
what only the server's side can see. The entries have the shape ``web/live/recorder.py``
writes (docs/transcript-format.md), the client's warnings as ``warning:client:*`` keys.

``CapturedSession.summary`` is what the list of captured sessions shows: who, the EHLO name,
the outcome, how many warnings, the messages the inbox kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smtp_session.guide.check_base import make_warning
from smtp_session.guide.client_checks import ClientJudge, with_client
from smtp_session.guide.guide import Guide
from smtp_session.wire.dialogue import DATA, END_OF_DATA, verb_of
from smtp_session.wire.events import (
    CloseCode,
    Closed,
    Connected,
    Discarded,
    MessageSent,
    ReplyReceived,
    Sent,
    TlsMode,
    TlsUp,
)
from smtp_session.wire.reply import parse_reply

Entry = dict[str, Any]
LINES = "_message_lines"  # in an entry standing for several message lines: their texts
MAX_RUN = 5_000  # message lines held for one entry
_CLOSE_CODES = {"client": CloseCode.CLIENT_CLOSED, "server": CloseCode.SERVER_CLOSED}
_LIMIT_WORDS = {
    "lines": "Capture stopped recording after {max} lines; the session went on unrecorded.",
    "bytes": "Capture stopped recording after {max} bytes; the session went on unrecorded.",
}


class CapturedSession:
    """One captured session being judged: ``entries_for`` each record, in order."""

    def __init__(self, transcript_id: str) -> None:
        self.id = transcript_id
        # Not the console's sandbox mode: a client's AUTH before TLS is its author's mistake.
        self.guide = Guide(sandbox=False, redact=True)
        self.client = ClientJudge()
        self.seq = 0
        self._lines: dict[int, tuple[int, str]] = {}  # capture's line number -> (seq, text)
        self.summary: dict[str, Any] = {
            "id": transcript_id,
            "client": None,
            "ehlo": None,
            "outcome": "live",
            "warnings": 0,
            "messages": [],
            "tls": False,
        }
        self._run: list[tuple[int, str, Any]] = []  # message lines held: (t, text, n)
        self._mail_tried = False
        self._refused = False
        self.ended = False

    def entries_for(self, kind: str, t: int, data: Mapping[str, Any]) -> list[Entry]:
        """The transcript entries for one capture record (most give one).

        Plain message lines (no client warning of their own) are held and come out together,
        as one entry standing for them all (``LINES``), at the next record that is not one or
        at :meth:`flush`: a message is thousands of lines, and the Guide and the store take
        a batch of them at once far faster, as they do for a pasted message.
        """
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None or self.ended:
            return []
        if kind == "line" and data.get("kind") == DATA:
            warnings = self.client.line(data)
            text = str(data.get("text", ""))
            if not warnings and "\x00" not in text and len(self._run) < MAX_RUN:
                self._run.append((t, text, data.get("n")))
                return []
            return [*self.flush(), *self._line(t, data, warnings)]
        out: list[Entry] = self.flush() + handler(t, data)
        return out

    def flush(self) -> list[Entry]:
        """The message lines held so far, as one entry (``LINES`` lists their texts)."""
        if not self._run:
            return []
        run, self._run = self._run, []
        texts = [text for _, text, _ in run]
        frame = self.guide.frame_for(MessageSent(lines=texts))
        warnings = list(frame.get("warnings") or [])
        self.summary["warnings"] += len(warnings)
        lines = [str(line) for line in frame.get("lines") or texts]  # redacted by the Guide
        first = self.seq
        for i, (_, text, n) in enumerate(run):
            if isinstance(n, int) and text == ".":
                self._lines[n] = (first + i, text)
        entry = self._entry(
            run[0][0], kind="sent", text=lines[0], line_kind=DATA, explain=_keys([], warnings)
        )
        self.seq = first + len(lines)
        if len(lines) > 1:
            entry[LINES] = lines
        return [entry]

    # -- records ----------------------------------------------------------------------------

    def _on_open(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        self.summary["client"] = data.get("client")
        port = data.get("port")
        event = Connected(str(data.get("host", "")), port if isinstance(port, int) else 0, "")
        self.guide.frame_for(event)
        fields = {k: data.get(k) for k in ("host", "port", "address", "client", "implicit_tls")}
        return [self._event(t, "connect", {**fields, "captured": True})]

    def _on_tls(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        mode = TlsMode.IMPLICIT if data.get("tls_mode") == "implicit" else TlsMode.STARTTLS
        bits = data.get("bits")
        event = TlsUp(
            tls_mode=mode,
            version=_str_or_none(data.get("version")),
            cipher=_str_or_none(data.get("cipher")),
            bits=bits if isinstance(bits, int) else None,
            verification="the sandbox's side: the client's certificate checks are not seen",
        )
        self.guide.frame_for(event)
        self.summary["tls"] = True
        fields = {"tls_mode": mode.value, "version": event.version, "cipher": event.cipher}
        return [self._event(t, "tls", {**fields, "bits": event.bits})]

    def _on_line(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        return self._line(t, data, self.client.line(data))

    def _line(self, t: int, data: Mapping[str, Any], client: list[Any]) -> list[Entry]:
        text, kind = str(data.get("text", "")), str(data.get("kind", "command"))
        verb = verb_of(text) if kind == "command" else None
        n = data.get("n")
        if isinstance(n, int) and (kind != DATA or text == "."):
            self._lines[n] = (self.seq, text)
        if verb in ("EHLO", "HELO"):
            self.summary["ehlo"] = text.split(None, 1)[1][:255] if " " in text.strip() else ""
        if verb == "MAIL":
            self._mail_tried = True
        frame = self.guide.frame_for(Sent(text=text, kind=kind, verb=verb))
        warnings = with_client(frame.get("warnings") or [], (w.to_dict() for w in client))
        self.summary["warnings"] += len(warnings)
        return [
            self._entry(
                t,
                kind="sent",
                text=frame["text"],  # redacted by the Guide
                line_kind=kind,
                explain=_keys(frame.get("keys"), warnings),
            )
        ]

    def _on_reply(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        lines = [str(line) for line in data.get("lines") or []]
        reply = parse_reply("\r\n".join(lines))
        after = data.get("after")
        after = after if isinstance(after, str) else None
        n = data.get("answers")
        seq, line = self._lines.get(n, (None, None)) if isinstance(n, int) else (None, None)
        frame = self.guide.frame_for(ReplyReceived(reply, after, line, seq))
        self.client.reply(after, reply.code)
        if after in ("MAIL", "RCPT", "DATA", "BDAT", END_OF_DATA) and (reply.code or 0) >= 400:
            self._refused = True
        return [
            self._entry(
                t,
                kind="reply",
                code=reply.code,
                enhanced=reply.enhanced,
                lines=frame["lines"],
                malformed=reply.malformed,
                after=frame.get("after"),
                answers=seq,
                explain=_keys(frame.get("keys"), []),
            )
        ]

    def _on_discarded(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        size = data.get("bytes")
        size = size if isinstance(size, int) else 0
        message = (
            f"{size} bytes the client sent after STARTTLS, before the TLS handshake, were "
            "thrown away unread (RFC 3207 §4.2)."
        )
        self.guide.frame_for(Discarded(bytes=size, text="", message=message))
        # RFC 3207 §4 and RFC 2920 §3.1: STARTTLS must end a group; these bytes broke it.
        warnings = [make_warning("client:pipelining-group").to_dict()]
        self.summary["warnings"] += len(warnings)
        entry = self._event(t, "discarded", {"bytes": size, "text": "", "message": message})
        entry["explain"] = _keys([], warnings)
        return [entry]

    def _on_limit(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        what = str(data.get("what", "lines"))
        words = _LIMIT_WORDS.get(what, _LIMIT_WORDS["lines"]).format(max=data.get("max"))
        return [self._event(t, "limit", {"message": words, "code": f"capture_{what}"})]

    def _on_close(self, t: int, data: Mapping[str, Any]) -> list[Entry]:
        self.ended = True
        by = str(data.get("by", "client"))
        reason = str(data.get("reason", ""))
        close_code = _CLOSE_CODES.get(by, CloseCode.CLIENT_CLOSED)
        self.guide.frame_for(Closed(reason=reason, code=close_code))
        warnings = [w.to_dict() for w in self.client.closed()]
        self.summary["warnings"] += len(warnings)
        messages = [str(m) for m in data.get("messages") or []]
        self.summary["messages"] = messages
        self.summary["outcome"] = self._outcome(messages, by, bool(data.get("quit")))
        entry = self._event(t, "closed", {"reason": reason, "code": close_code.value})
        entry["explain"] = _keys([], warnings)
        return [entry]

    def _outcome(self, messages: list[str], by: str, quit: bool) -> str:
        if messages:
            return "delivered"
        if by == "server" or (self._mail_tried and self._refused):
            return "refused"
        return "quit" if quit else "dropped"

    # -- entries ----------------------------------------------------------------------------

    def _entry(self, t: int, **fields: Any) -> Entry:
        entry = {"seq": self.seq, "t": max(0, t), "step": self.guide.tx.step, **fields}
        self.seq += 1
        return entry

    def _event(self, t: int, event: str, data: dict[str, Any]) -> Entry:
        return self._entry(t, kind="event", event=event, data=data, explain=[])


def _keys(keys: Any, warnings: list[dict[str, Any]]) -> list[str]:
    """The explanation keys and one ``warning:<code>`` per warning, each once (as recorded)."""
    out = [str(k) for k in keys or []] + [f"warning:{w['code']}" for w in warnings]
    return list(dict.fromkeys(out))[:64]


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
