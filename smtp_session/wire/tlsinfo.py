"""TLS contexts for the client side and the words the TLS panel shows about a connection."""

from __future__ import annotations

import socket
import ssl
import weakref
from typing import Any

from smtp_session.errors import PlaygroundError
from smtp_session.wire.certs import fingerprint

RECV_SIZE = 65536
# Python 3.11 gives only the peer's own certificate; 3.13 added get_verified_chain().
CHAIN_NOTE = (
    "Only the server's own certificate is shown: this Python (before 3.13) does not give "
    "the rest of the chain the server sent."
)


# Contexts that trust the system CA store (and nothing else), so the TLS panel can say so.
_SYSTEM_TRUST: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()


class TlsError(PlaygroundError):
    """The TLS handshake failed or the certificate was not accepted."""

    code = "tls"


def client_context(verify: bool = True, cafile: str | None = None) -> ssl.SSLContext:
    """A client context: system CAs, hostname check and SNI on by default (RFC 8314 §3)."""
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cafile=cafile)
    if cafile is None:
        _SYSTEM_TRUST.add(ctx)
    return ctx


def check_pin(tls: ssl.SSLSocket, pinned: str | None) -> None:
    """Refuse the connection unless the presented certificate is the pinned one."""
    if pinned is None:
        return
    der = tls.getpeercert(binary_form=True)
    seen = fingerprint(der) if der else "no certificate"
    if seen.upper() != pinned.upper():
        raise TlsError(
            "The server presented a different certificate from the sandbox's pinned one "
            f"(expected SHA-256 {_short(pinned)}, got {_short(seen)}); the connection was "
            "closed because something else may be answering on the sandbox's address.",
            code="tls_pin",
        )


def describe(
    tls: ssl.SSLSocket, context: ssl.SSLContext, pinned_fingerprint: str | None = None
) -> dict[str, Any]:
    """Protocol, cipher, certificate facts and a sentence on how it was verified."""
    cipher = tls.cipher()
    der = tls.getpeercert(binary_form=True)
    cert = _cert_facts(der) if der else None
    chain, complete = _chain(tls, cert)
    accept_unverified = context.verify_mode == ssl.CERT_NONE
    return {
        "version": tls.version(),
        "cipher": cipher[0] if cipher else None,
        "bits": cipher[2] if cipher else None,
        "verified": not accept_unverified,
        "accept_unverified": accept_unverified,
        "pinned": pinned_fingerprint,
        "verification": _verification(tls, context, pinned_fingerprint),
        "certificate": cert,
        **{k: (cert or {}).get(k) for k in ("subject", "issuer", "not_before", "not_after")},
        "san": (cert or {}).get("san", []),
        "chain": chain,
        "chain_complete": complete,
        "chain_note": None if complete else CHAIN_NOTE,
    }


def _verification(tls: ssl.SSLSocket, context: ssl.SSLContext, pinned: str | None) -> str:
    host = tls.server_hostname or "this server"
    if context.verify_mode == ssl.CERT_NONE:
        return "NOT verified: you chose to accept an unverified certificate"
    if pinned is not None:
        return f"sandbox certificate, trusted (pinned SHA-256 {_short(pinned)})"
    trust = "the system CAs" if context in _SYSTEM_TRUST else "the CA certificates given"
    if not context.check_hostname:
        return f"verified against {trust}, but the host name was NOT checked"
    return f"verified against {trust} for {host}"


def _short(fp: str) -> str:
    return fp[:11] + "…" if len(fp) > 11 else fp


def _cert_facts(der: bytes) -> dict[str, Any]:
    from cryptography import x509  # on a TLS handshake only: workers start smaller

    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        san = [str(name.value) for name in ext.value]
    except x509.ExtensionNotFound:
        san = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "san": san,
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "self_signed": cert.subject == cert.issuer,
        "sha256": fingerprint(der),
    }


def _chain(tls: ssl.SSLSocket, leaf: dict[str, Any] | None) -> tuple[list[dict[str, Any]], bool]:
    """The certificate chain, as much of it as this Python exposes."""
    getter = getattr(tls, "get_verified_chain", None)  # Python 3.13+
    if getter is not None:
        try:
            ders = [c if isinstance(c, bytes) else c.public_bytes() for c in getter()]
            return [_brief(_cert_facts(d)) for d in ders], True
        except (ssl.SSLError, ValueError):
            pass
    return ([_brief(leaf)] if leaf else []), False


def _brief(cert: dict[str, Any]) -> dict[str, Any]:
    return {k: cert[k] for k in ("subject", "issuer", "not_after", "sha256")}


def drain(sock: socket.socket | None) -> bytes:
    """Whatever already sits in the receive buffer, without waiting."""
    if sock is None:
        return b""
    chunks = []
    sock.setblocking(False)
    try:
        while chunk := sock.recv(RECV_SIZE):
            chunks.append(chunk)
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        sock.setblocking(True)
    return b"".join(chunks)


def discarded_event_data(injected: bytes) -> dict[str, Any]:
    """What the 'discarded' event says about bytes dropped before the handshake."""
    return {
        "bytes": len(injected),
        "text": injected[:512].decode("utf-8", "replace"),
        "message": "The server sent data after its 220 reply to STARTTLS and before the TLS "
        "handshake. It was discarded, unread: this is how plaintext command injection "
        "attacks work (RFC 3207 §4.2).",
    }


def handshake_error(exc: BaseException, host: str | None) -> TlsError:
    """Turn an ssl exception into a sentence for the user."""
    if isinstance(exc, TlsError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsError(
            f"The TLS handshake failed: the certificate of {host} could not be verified "
            f"({exc.verify_message}). Choose 'accept unverified certificate' only if you "
            "know why.",
            code="tls_verify",
        )
    if isinstance(exc, TimeoutError):
        return TlsError(
            "The TLS handshake timed out: the server stopped answering after agreeing "
            "to start TLS.",
            code="tls_timeout",
        )
    detail = getattr(exc, "reason", None) or str(exc) or exc.__class__.__name__
    return TlsError(
        f"The TLS handshake failed: the server did not complete it ({detail}).",
        code="tls_handshake",
    )
