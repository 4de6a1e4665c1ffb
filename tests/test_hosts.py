"""DNS rebinding and WebSocket origins: the Host allow-list and a strict Origin check (#13)."""

from __future__ import annotations

import http.client
import json

import pytest
import websocket

from tests.conftest import LiveServer, build_app
from tests.test_import import encode, good

REBIND = "rebind.attacker.example"


def _get(live: LiveServer, path: str, host: str) -> tuple[int, str]:
    """A curl-like request to the live app on 127.0.0.1 with a Host header of our choosing."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _import_one(live: LiveServer) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("POST", "/api/transcripts/import", body=encode(good()))
    response = conn.getresponse()
    assert response.status == 201, response.read()
    return str(json.loads(response.read())["id"])


def test_a_rebound_name_gets_400_and_no_transcripts(live):
    """The attack: curl -H 'Host: rebind.attacker.example:PORT' .../api/transcripts."""
    tid = _import_one(live)
    status, body = _get(live, "/api/transcripts", f"{REBIND}:{live.port}")
    assert status == 400
    assert json.loads(body)["error"]["code"] == "bad_host" and tid not in body
    for path in ("/", "/transcripts", f"/t/{tid}", f"/api/transcripts/{tid}/export", "/nope"):
        status, body = _get(live, path, f"{REBIND}:{live.port}")
        assert status == 400 and tid not in body, path
    # The names of the loopback bind still answer, with or without the port.
    port = live.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost"):
        status, body = _get(live, "/api/transcripts", host)
        assert status == 200 and tid in body, host


def test_a_rebound_name_cannot_open_the_websocket(live):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            live.ws_url,
            host=f"{REBIND}:{live.port}",
            origin=f"http://{REBIND}:{live.port}",
            timeout=5,
        )
    assert info.value.status_code == 400
    # Without an Origin (a script, not a browser) the Host check alone refuses it.
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            live.ws_url, host=f"{REBIND}:{live.port}", suppress_origin=True, timeout=5
        )
    assert info.value.status_code == 400


def test_playground_allowed_hosts_adds_names(data_dir, sandbox):
    app = build_app(data_dir, sandbox, ALLOWED_HOSTS="play.example, Class.Example")
    with LiveServer(app) as live:
        assert _get(live, "/api/transcripts", f"play.example:{live.port}")[0] == 200
        assert _get(live, "/api/transcripts", "class.example")[0] == 200
        assert _get(live, "/api/transcripts", f"{REBIND}:{live.port}")[0] == 400
        ws = websocket.create_connection(
            live.ws_url, host=f"play.example:{live.port}", origin=f"http://play.example:{live.port}"
        )
        ws.close()


def _origin_codes(live: LiveServer, origins: list[str]) -> list[int]:
    codes = []
    for origin in origins:
        try:
            websocket.create_connection(live.ws_url, origin=origin, timeout=5).close()
            codes.append(101)
        except websocket.WebSocketBadStatusException as exc:
            codes.append(exc.status_code)
    return codes


def test_the_origin_must_match_scheme_host_and_port(live):
    """The attack: ws://127.0.0.1:PORT and HTTP://127.0.0.1:PORT/x were taken as this site."""
    port = live.port
    refused = [
        f"ws://127.0.0.1:{port}",
        f"HTTP://127.0.0.1:{port}/x",
        f"http://127.0.0.1:{port}/x",
        f"https://127.0.0.1:{port}",
        f"http://127.0.0.1:{port + 1}",
        "http://127.0.0.1",
        f"http://{REBIND}:{port}",
        f"http://127.0.0.1:{port}@evil.example",
        "null",
        "",
    ]
    assert _origin_codes(live, refused) == [403] * len(refused)
    accepted = [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"]
    assert _origin_codes(live, accepted) == [101] * len(accepted)


def test_the_origin_is_not_compared_with_the_requests_own_host(data_dir, sandbox):
    """A Host on the list does not make an Origin of that name with another port this site."""
    app = build_app(data_dir, sandbox, ALLOWED_HOSTS="play.example")
    with LiveServer(app) as live:
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            websocket.create_connection(
                live.ws_url, host="play.example:8080", origin="http://play.example:8080"
            )
        assert info.value.status_code == 403


def test_a_bad_configured_origin_stops_the_start(data_dir, sandbox):
    with pytest.raises(ValueError, match="PLAYGROUND_ORIGINS"):
        build_app(data_dir, sandbox, ORIGINS="https://docs.example/path")


def test_the_bound_names_come_from_python_app_py_and_gunicorn_binds():
    from web.auth.hosts import allowed_hosts

    loopback = allowed_hosts({"HOST": "127.0.0.1", "ALLOWED_HOSTS": ""}, {})
    assert loopback == {"127.0.0.1", "localhost", "::1"}
    gunicorn = allowed_hosts(
        {"HOST": "127.0.0.1", "ALLOWED_HOSTS": "Play.Example."},
        {"PLAYGROUND_BIND": "192.0.2.10:8000 [2001:db8::1]:8000"},
    )
    assert {"192.0.2.10", "2001:db8::1", "play.example", "localhost"} <= gunicorn
    assert "rebind.attacker.example" not in gunicorn


def test_a_wildcard_bind_without_allowed_hosts_says_what_it_answers_to(data_dir, sandbox, caplog):
    build_app(data_dir, sandbox, HOST="0.0.0.0", AUTH="accounts")
    assert "PLAYGROUND_ALLOWED_HOSTS" in caplog.text and "localhost" in caplog.text
