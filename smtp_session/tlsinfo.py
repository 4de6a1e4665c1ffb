"""TLS contexts for the client side and the words the TLS panel shows about a connection."""

from __future__ import annotations

import ssl
from typing import Any

from .errors import PlaygroundError


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
    return ssl.create_default_context(cafile=cafile)


def describe(tls: ssl.SSLSocket, context: ssl.SSLContext) -> dict[str, Any]:
    """Protocol, cipher and certificate facts of an established TLS connection."""
    cipher = tls.cipher()
    cert = tls.getpeercert() or {}
    return {
        "version": tls.version(),
        "cipher": cipher[0] if cipher else None,
        "bits": cipher[2] if cipher else None,
        "verified": context.verify_mode != ssl.CERT_NONE,
        "subject": _name(cert.get("subject", ())),
        "issuer": _name(cert.get("issuer", ())),
        "not_before": cert.get("notBefore"),
        "not_after": cert.get("notAfter"),
        "san": [str(entry[1]) for entry in cert.get("subjectAltName", ())],
    }


def _name(rdns: Any) -> str:
    return ", ".join(f"{k}={v}" for rdn in rdns for (k, v) in rdn)


def handshake_error(exc: BaseException, host: str | None) -> TlsError:
    """Turn an ssl exception into a sentence for the user."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsError(
            f"The TLS handshake failed: the certificate of {host} could not be verified "
            f"({exc.verify_message}). Choose 'accept unverified certificate' only if you "
            "know why.",
            code="tls_verify",
        )
    if isinstance(exc, TimeoutError):
        return TlsError("The TLS handshake timed out: the server stopped answering.", "tls_timeout")
    return TlsError(f"The TLS handshake failed: {exc}.", code="tls_handshake")
