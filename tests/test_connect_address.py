"""Connecting to an address the session already has (smtp_session/wire/lines.py).

An IP address is its own answer: ``resolve`` gives it back as the resolver would write it,
and ``connect`` opens the connection without asking the resolver again (under gevent that
was a trip to a pool of OS threads for every console; tests/test_session_watched.py checks
no thread starts there). Other forms still go to the resolver.
"""

from __future__ import annotations

import socket

import pytest

from smtp_session.wire.lines import connect, error_code, resolve


def _listener(family: int, host: str) -> socket.socket:
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen()
    return server


def _has_ipv6_loopback() -> bool:
    try:
        _listener(socket.AF_INET6, "::1").close()
    except OSError:
        return False
    return True


def test_an_address_resolves_to_itself_as_the_resolver_writes_it() -> None:
    assert resolve("127.0.0.1") == ["127.0.0.1"]
    assert resolve("0:0:0::1") == ["::1"]
    assert resolve("::ffff:127.0.0.1") == ["::ffff:127.0.0.1"]


def test_other_forms_still_go_to_the_resolver() -> None:
    assert resolve("127.1") == ["127.0.0.1"]  # inet_aton's short form: the resolver reads it
    assert "127.0.0.1" in resolve("localhost") or "::1" in resolve("localhost")


@pytest.mark.parametrize("family, host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_connect_reaches_a_listener_with_the_timeout_set(family: int, host: str) -> None:
    if family == socket.AF_INET6 and not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    with _listener(family, host) as server:
        port = server.getsockname()[1]
        with connect(host, port, 4.5) as sock:
            accepted, peer = server.accept()
            with accepted:
                assert sock.family == family
                assert sock.gettimeout() == 4.5
                assert peer[:2] == sock.getsockname()[:2]
                sock.sendall(b"EHLO x\r\n")
                assert accepted.recv(16) == b"EHLO x\r\n"


def test_a_refused_connection_is_the_same_error_as_create_connection_gives() -> None:
    with _listener(socket.AF_INET, "127.0.0.1") as server:
        port = server.getsockname()[1]
    with pytest.raises(ConnectionRefusedError) as caught:
        connect("127.0.0.1", port, 2.0)
    assert error_code(caught.value) == "refused"
