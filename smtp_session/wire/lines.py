"""The session's socket helpers: limits, line checks, errors in words (events: events.py)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from smtp_session.errors import ConnectError, LineError
from smtp_session.wire.reply import Reply

# RFC 5321 §2.3.8 and the 2023 SMTP smuggling attacks: a line we send never holds CR or LF,
# and NUL has no place in SMTP text either.
_FORBIDDEN = {"\r": "CR", "\n": "LF", "\x00": "NUL"}  # check_lines tests the same three
RECV_SIZE = 65536


@dataclass
class Limits:
    """Bounds a session holds the server to (seconds; None means no bound)."""

    connect_timeout: float = 10.0
    reply_timeout: float | None = 300.0  # RFC 5321 §4.5.3.2 suggests 5 minutes or more
    idle_timeout: float | None = None
    max_duration: float | None = None
    tls_timeout: float = 10.0
    send_timeout: float = 30.0  # a server that reads nothing for this long is gone


def check_line(text: str) -> None:
    """Refuse a line that would put a bare CR, LF or NUL on the wire, or cannot be sent as
    UTF-8 at all (a lone surrogate, which JSON's "\ud800" escape can carry)."""
    for ch, name in _FORBIDDEN.items():
        if ch in text:
            raise LineError(
                f"The line contains {name}, which would let it smuggle extra commands; "
                "send one line at a time (RFC 5321 §2.3.8).",
                code="bad_line",
            )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LineError(
                f"The line contains {text[exc.start]!r}, half of a UTF-16 surrogate pair, "
                "which is no character and cannot be sent; retype or paste it again.",
                code="bad_line",
            ) from None


def check_lines(lines: list[str]) -> None:
    """``check_line`` for a batch: one scan of the whole batch, line by line only to name
    the culprit (a pasted message is hundreds of thousands of lines)."""
    joined = lines[0] if len(lines) == 1 else "".join(lines)
    if "\r" in joined or "\n" in joined or "\x00" in joined or not is_utf8(joined):
        for line in lines:
            check_line(line)


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (no lone surrogates); fast for ASCII."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def try_recv(sock: ssl.SSLSocket, restore_timeout: float) -> bytes | None:
    """Whatever the TLS socket can give without waiting; None if no whole record is in."""
    sock.settimeout(0.0)
    try:
        return sock.recv(RECV_SIZE)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return None
    finally:
        sock.settimeout(restore_timeout)  # what the writer's sendall will use


def to_millis(seconds: float | None) -> int | None:
    return None if seconds is None else max(1, int(seconds * 1000))


_ENDINGS = {"CRLF": "\r\n", "LF": "\n", "CR": "\r"}


def reply_bytes(reply: Reply) -> bytes:
    """A parsed reply back as the bytes it came from (near enough for the discarded report)."""
    ending = _ENDINGS.get(reply.line_endings, "\r\n")
    return "".join(line + ending for line in reply.lines).encode("utf-8", "replace")


def _literal_family(host: str) -> int | None:
    """The address family of ``host`` if it is an IP address written out (no zone id), else
    None. Only the forms ``inet_pton`` reads: '127.1' still goes to the resolver."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host)
    except (OSError, ValueError):
        return None
    return family


def resolve(host: str, port: int = 0) -> list[str]:
    """Every address of ``host``, in the resolver's order, without repeats (an IP address
    is its own: under gevent, getaddrinfo is a trip to its thread pool even for one)."""
    family = _literal_family(host)
    if family is not None:  # written as the resolver would answer ('0::1' is '::1')
        return [socket.inet_ntop(family, socket.inet_pton(family, host))]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectError(
            f"Could not find the address of {host}: the name was not found ({exc.strerror}).",
            code="name_not_found",
        ) from exc
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def connect(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``address`` (as ``resolve`` gives it), like
    ``socket.create_connection`` but without asking the resolver again for an address
    already known (gevent's create_connection always does, through its thread pool, whose
    threads then outlive the connection)."""
    family = _literal_family(address)
    if family is None:  # a zone id, say: the resolver knows what to do with it
        return socket.create_connection((address, port), timeout)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    return "connect"


def describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out (no answer from the server)"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, BrokenPipeError):
        return "the server closed the connection"
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
