"""CHUNKING / BDAT (RFC 3030) for the sandbox: aiosmtpd has DATA only, so this adds BDAT.

A BDAT command names how many octets follow it; the server reads exactly those octets, no
dot-stuffing and no end marker, and answers each chunk. The chunk marked LAST completes the
message, which goes to the same handler hook (``handle_DATA``) as a DATA message, so the inbox
sees no difference. Where RFC 3030 leaves a reply open, the sandbox answers as Postfix does.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, syntax

# RFC 3030 §2: bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF
#              chunk-size ::= 1*DIGIT ; end-marker ::= "LAST" (case-insensitive, RFC 5321 §2.4)
_BDAT = re.compile(r"^(\d{1,10})(?: +(LAST))?$", re.IGNORECASE)
_DISCARD_PIECE = 64 * 1024


class ChunkedEnvelope(Envelope):
    """An envelope that also holds the chunks received so far."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: bytearray | None = None  # None: no BDAT yet in this transaction
        self.chunk_error: str | None = None  # a chunk failed: the rest is discarded


class ChunkingSMTP(SMTP):
    """aiosmtpd with BDAT (RFC 3030) beside DATA."""

    envelope: ChunkedEnvelope | None

    def _create_envelope(self) -> ChunkedEnvelope:
        return ChunkedEnvelope()

    @syntax("BDAT chunk-size [LAST]")
    async def smtp_BDAT(self, arg: str | None) -> None:
        match = _BDAT.match((arg or "").strip())
        if match is None:
            # The octets that follow cannot be told from commands, so the session cannot go
            # on (RFC 3030 §2 gives no way to resynchronise; Postfix answers 521 and hangs up).
            await self.push("521 5.5.4 Syntax: BDAT chunk-size [LAST]")
            self._writer.close()
            return
        size, last = int(match.group(1)), match.group(2) is not None
        chunk = await self._read_chunk(size)
        if chunk is None:
            return  # the connection went away mid-chunk
        refusal = self._refusal(len(chunk) if isinstance(chunk, bytes) else chunk)
        if refusal is not None:
            await self.push(refusal)
            if last and self.envelope is not None and self.envelope.chunks is not None:
                self._set_post_data_state()  # the failed message ends with its LAST chunk
            return
        assert self.envelope is not None and isinstance(chunk, bytes)
        assert self.envelope.chunks is not None
        self.envelope.chunks += chunk
        if not last:
            # RFC 3030 §2: each chunk is answered; 250 means these octets were received.
            await self.push(f"250 2.0.0 {size} octets received")
            return
        await self._deliver()

    async def _read_chunk(self, size: int) -> bytes | int | None:
        """The chunk's octets; only their count when they are over the limit (discarded)."""
        limit = self.data_size_limit
        kept = len(self.envelope.chunks or b"") if self.envelope else 0
        try:
            if limit and kept + size > limit:
                remaining = size
                while remaining:
                    remaining -= len(await self._reader.readexactly(min(remaining, _DISCARD_PIECE)))
                return size
            return await self._reader.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    def _refusal(self, received: int) -> str | None:
        """Why this chunk is refused, or None; the chunk has been read either way."""
        assert self.session is not None
        env = self.envelope
        if not self.session.host_name:
            return "503 5.5.1 Error: send EHLO first"
        if not self.session.extended_smtp:
            return "503 5.5.1 Error: BDAT is an ESMTP extension; send EHLO, not HELO"
        if self._auth_required and not self.session.authenticated:
            return "530 5.7.0 Authentication required"
        if env is None or not env.mail_from:
            return "503 5.5.1 Error: need MAIL command"
        if not env.rcpt_tos:
            return "503 5.5.1 Error: need RCPT command"
        if env.chunk_error is not None:
            return f"554 5.5.0 Discarded {received} octets after an earlier error"
        if env.chunks is None:
            env.chunks = bytearray()
        if self.data_size_limit and len(env.chunks) + received > self.data_size_limit:
            env.chunk_error = "too big"
            return "552 5.3.4 Error: message too big"
        return None

    async def _deliver(self) -> None:
        """The LAST chunk: hand the message to the handler exactly as DATA does."""
        assert self.envelope is not None and self.envelope.chunks is not None
        content = bytes(self.envelope.chunks)
        self.envelope.original_content = content
        self.envelope.content = content
        status: Any = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # RFC 3030 §3: DATA after BDAT in the same transaction MUST get 503.
        if self.envelope is not None and self.envelope.chunks is not None:
            await self.push("503 5.5.1 Error: DATA after BDAT")
            return
        await super().smtp_DATA(arg)
