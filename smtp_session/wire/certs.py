"""The sandbox's own certificate: generated on first start, kept, and trusted by pinning."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

SANDBOX_NAMES = ("localhost", "sandbox.test")
SANDBOX_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class CertPair:
    """Paths of a certificate and its key, and the certificate's SHA-256 fingerprint."""

    cert: Path
    key: Path
    fingerprint: str

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def pinned_client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this certificate and nothing else."""
        ctx = ssl.create_default_context(cadata=self.cert.read_text())
        return ctx


def fingerprint(der: bytes) -> str:
    """SHA-256 fingerprint in the usual colon-separated upper-case hex."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def ensure_sandbox_cert(folder: Path) -> CertPair:
    """Load the sandbox certificate from ``folder``, creating it on first start."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "sandbox-cert.pem", folder / "sandbox-key.pem"
    if not (cert_path.exists() and key_path.exists()):
        cert_pem, key_pem = make_self_signed("SMTP Playground sandbox", SANDBOX_NAMES, SANDBOX_IPS)
        _write_private(key_path, key_pem)
        cert_path.write_bytes(cert_pem)
    # ssl decodes the PEM: importing cryptography (~10 MB) only to read it back would cost
    # every worker that memory.
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    return CertPair(cert_path, key_path, fingerprint(der))


def make_self_signed(
    common_name: str,
    dns_names: tuple[str, ...],
    ips: tuple[str, ...] = (),
    days: int = 3650,
    not_before: dt.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A self-signed certificate and key, PEM-encoded (also used by tests for bad certificates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
