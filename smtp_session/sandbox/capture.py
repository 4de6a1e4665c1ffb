"""Every SMTP session the sandbox serves, recorded byte by byte as the server saw it.

:class:`CaptureHooks` sits on aiosmtpd's protocol (server.py mixes it in when a sink is given):
it sees the client's bytes as they arrive (``data_received``, after TLS), every reply as it is
written, the TLS handshakes and the end of the connection. :class:`SessionCapture` turns that
into :class:`CaptureRecord` items (capture_session.py): the client's lines split as aiosmtpd splits
them (at LF for commands, at CRLF inside DATA) with their line endings, the read each arrived
in and the replies still owed at that moment (what pipelining is judged on), and whole replies
with what they answered (``wire.dialogue.Dialogue``, the playground's one model of the
conversation).

Records go to a *sink* the sandbox's creator injects (``web/live/captured.py`` stores them);
this module never stores, judges or redacts anything itself: that happens in the sink's own
thread (``guide/captured.py``), so the event loop only splits bytes. Every hook swallows its own
failures: a capture must never break the session it records. What is recorded is bounded
(lines, bytes, the length of one line); past a bound only the summary goes on being counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from smtp_session.sandbox.capture_session import (
    MAX_LINE_CHARS,
    CaptureLimits,
    CaptureRecord,
    CaptureSink,
    SessionCapture,
)

log = logging.getLogger(__name__)

__all__ = [
    "MAX_LINE_CHARS",
    "CaptureHooks",
    "CaptureLimits",
    "CaptureRecord",
    "CaptureSink",
    "SessionCapture",
    "tls_facts",
]


def tls_facts(transport: Any) -> dict[str, Any] | None:
    """What the transport's TLS object says (version, cipher), or None without TLS."""
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher() or (None, None, None)
    return {"version": ssl_object.version(), "cipher": cipher[0], "bits": cipher[2]}


class CaptureHooks:
    """Mixed into the sandbox's aiosmtpd protocol: feeds a :class:`SessionCapture`.

    aiosmtpd calls ``connection_made`` twice on a STARTTLS connection (the second time with
    the TLS transport); every reply leaves through its stream writer's ``write``.
    """

    capture_sink: CaptureSink | None = None
    capture_limits: CaptureLimits = CaptureLimits()
    capture: SessionCapture | None = None

    def _capturing(self, action: Callable[[SessionCapture], None]) -> None:
        if self.capture is None:
            return
        try:
            action(self.capture)
        except Exception:
            log.exception("capture failed; the session goes on unrecorded")
            self.capture = None

    def connection_made(self, transport: Any) -> None:
        first = self.capture is None
        super().connection_made(transport)  # type: ignore[misc]
        if first and self.capture_sink is not None:
            self.capture = SessionCapture(self.capture_sink, self.capture_limits)
            tls = tls_facts(transport) if getattr(self, "implicit_tls", False) else None
            peer = transport.get_extra_info("peername")
            local = transport.get_extra_info("sockname")
            self._capturing(lambda c: c.opened(peer, local, tls))
        elif not first:
            self._capturing(lambda c: c.tls_started(tls_facts(transport) or {}))

    def _cb_client_connected(self, reader: Any, writer: Any) -> None:
        super()._cb_client_connected(reader, writer)  # type: ignore[misc]
        write = writer.write

        def recorded_write(data: bytes) -> None:
            write(data)
            self._capturing(lambda c: c.replied(bytes(data)))

        writer.write = recorded_write

    def data_received(self, data: bytes) -> None:
        self._capturing(lambda c: c.received(bytes(data)))
        super().data_received(data)  # type: ignore[misc]

    def eof_received(self) -> bool | None:
        def saw_eof(c: SessionCapture) -> None:
            c.eof = True

        self._capturing(saw_eof)
        return super().eof_received()  # type: ignore[misc]

    def connection_lost(self, error: BaseException | None) -> None:
        self._capturing(lambda c: c.closed(error))
        super().connection_lost(error)  # type: ignore[misc]
