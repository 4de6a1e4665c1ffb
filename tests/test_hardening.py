"""Web hardening and limits: headers, secret key, Origin check, bind guard, session limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import websocket

from tests.conftest import LiveServer, WsDriver, build_app, free_port


def _app(data_dir, sandbox, **config):  # type: ignore[no-untyped-def]
    return build_app(data_dir, sandbox, **config)


def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_page_has_no_inline_script(client):
    html = client.get("/").get_data(as_text=True)
    for chunk in html.split("<script")[1:]:
        assert "src=" in chunk.split(">", 1)[0], "every script must be a file (no inline script)"


def test_secret_key_is_generated_once_and_kept(data_dir, sandbox):
    first = _app(data_dir, sandbox).config["SECRET_KEY"]
    second = _app(data_dir, sandbox).config["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert oct(os.stat(data_dir / "secret_key").st_mode & 0o777) == "0o600"


def test_websocket_from_another_site_is_refused(live):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(live.ws_url, origin="https://evil.example", timeout=5)
    assert info.value.status_code == 403


def test_websocket_from_the_same_site_is_accepted(live):
    ws = websocket.create_connection(live.ws_url, origin=live.url, timeout=5)
    ws.close()


def test_configured_origin_is_accepted(data_dir, sandbox):
    app = _app(data_dir, sandbox, ORIGINS="https://docs.example")
    with LiveServer(app) as live:
        ws = websocket.create_connection(live.ws_url, origin="https://docs.example", timeout=5)
        ws.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"], ids=["any", "lan", "any6"])
def test_binding_beyond_loopback_without_access_control_refuses_to_start(tmp_path, host):
    proc = subprocess.run(
        [
            sys.executable,
            "app.py",
            "--host",
            host,
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path),
            "--start-sandbox",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "PLAYGROUND_AUTH" in proc.stderr and "Refusing to listen" in proc.stderr


def test_concurrent_sessions_per_client_are_limited(data_dir, sandbox):
    with LiveServer(_app(data_dir, sandbox, MAX_SESSIONS=2)) as live:
        drivers = [WsDriver(live.ws_url) for _ in range(3)]
        drivers[0].connect()
        drivers[1].connect()
        drivers[2].send({"type": "connect", "target": "sandbox"})
        error = drivers[2].wait_for("error")
        assert error["code"] == "concurrent_sessions" and "2" in error["message"]
        drivers[0].send({"type": "close"})
        drivers[0].wait_for("closed")
        assert drivers[2].connect()["code"] == 220  # a slot came free
        for d in drivers:
            d.close()


def test_new_sessions_per_minute_are_limited(data_dir, sandbox):
    with LiveServer(_app(data_dir, sandbox, SESSIONS_PER_MINUTE=2)) as live:
        driver = WsDriver(live.ws_url)
        for _ in range(2):
            driver.connect()
            driver.send({"type": "close"})
            driver.wait_for("closed")
        driver.send({"type": "connect", "target": "sandbox"})
        error = driver.wait_for("error")
        driver.close()
    assert error["code"] == "rate_limit" and "minute" in error["message"]


def test_bytes_per_session_are_limited_and_recorded(data_dir, sandbox):
    app = _app(data_dir, sandbox, MAX_SESSION_BYTES=200)
    with LiveServer(app) as live:
        driver = WsDriver(live.ws_url)
        driver.connect()
        driver.send({"type": "line", "text": "NOOP " + "x" * 300})
        error = driver.wait_for("error")
        transcript = driver.frames[0]["transcript"]
        driver.close()
    assert error["code"] == "too_many_bytes" and "200" in error["message"]
    entries = app.extensions["playground"].store.get(transcript).entries
    assert any(e["kind"] == "event" and e["event"] == "limit" for e in entries)


def test_recipients_toward_real_servers_are_limited_but_not_in_the_sandbox(data_dir, sandbox):
    from web.services import Target

    app = _app(data_dir, sandbox, MAX_RECIPIENTS=2)
    services = app.extensions["playground"]
    # The same server, but configured as a "real" named target rather than the sandbox.
    services.targets["real"] = Target("real", "127.0.0.1", sandbox.config.port, named=True)
    with LiveServer(app) as live:
        real = WsDriver(live.ws_url)
        real.connect("real")
        real.ehlo()
        real.command("MAIL FROM:<a@example.com>")
        real.command("RCPT TO:<b1@example.com>")
        real.command("RCPT TO:<b2@example.com>")
        real.send({"type": "line", "text": "RCPT TO:<b3@example.com>"})
        error = real.wait_for("error")
        assert error["code"] == "too_many_recipients"
        real.close()
        sandboxed = WsDriver(live.ws_url)
        sandboxed.connect()
        sandboxed.ehlo()
        sandboxed.command("MAIL FROM:<a@example.com>")
        codes = [sandboxed.command(f"RCPT TO:<b{i}@example.com>")["code"] for i in range(4)]
        sandboxed.close()
    assert codes == [250] * 4


def test_frame_floods_are_dropped_with_one_warning(data_dir, sandbox):
    with LiveServer(_app(data_dir, sandbox, FRAME_RATE=5.0)) as live:
        driver = WsDriver(live.ws_url)
        for _ in range(40):
            driver.send({"type": "ping"})
        pongs = errors = 0
        while True:
            try:
                frame = driver.next(timeout=1.0)
            except websocket.WebSocketTimeoutException:
                break
            pongs += frame["type"] == "pong"
            errors += frame["type"] == "error" and frame["code"] == "frame_flood"
        driver.close()
    assert 0 < pongs < 40 and errors == 1


@pytest.mark.redis
def test_session_limits_hold_across_app_processes(data_dir, sandbox, tmp_path):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("set TEST_REDIS_URL to run against a real Redis (CI does)")
    import redis

    redis.Redis.from_url(url).flushdb()
    one = _app(data_dir, sandbox, MAX_SESSIONS=1, REDIS_URL=url)
    two = _app(tmp_path / "other", sandbox, MAX_SESSIONS=1, REDIS_URL=url)
    with LiveServer(one) as a, LiveServer(two) as b:
        first = WsDriver(a.ws_url)
        first.connect()
        second = WsDriver(b.ws_url)
        second.send({"type": "connect", "target": "sandbox"})
        error = second.wait_for("error")
        first.close()
        second.close()
    assert error["code"] == "concurrent_sessions"


def test_behind_a_proxy_limits_count_people_not_the_proxy(data_dir, sandbox):
    app = _app(data_dir, sandbox, MAX_SESSIONS=1, PROXY_HOPS=1)
    with LiveServer(app) as live:
        alice = websocket.create_connection(
            live.ws_url, header=["X-Forwarded-For: 198.51.100.1"], timeout=10
        )
        bob = websocket.create_connection(
            live.ws_url, header=["X-Forwarded-For: 198.51.100.2"], timeout=10
        )
        frames = []
        for ws in (alice, bob):
            ws.send('{"type":"connect","target":"sandbox"}')
            frames.append(json.loads(ws.recv()))
            ws.close()
    assert [f["type"] for f in frames] == ["session", "session"]


def test_flask_cli_commands_other_than_run_do_not_start_the_sandbox(tmp_path):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    env = {
        **os.environ,
        "PLAYGROUND_DATA_DIR": str(tmp_path),
        "PLAYGROUND_SANDBOX_PORT": str(port),
        "PLAYGROUND_SANDBOX_TLS_PORT": str(free_port()),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "routes"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    holder.close()
    assert proc.returncode == 0 and "/ws" in proc.stdout
    assert "sandbox not started" not in proc.stderr


def test_messages_per_session_toward_real_servers_are_limited(data_dir, sandbox):
    from web.services import Target

    app = _app(data_dir, sandbox, MAX_MESSAGES=1)
    app.extensions["playground"].targets["real"] = Target(
        "real", "127.0.0.1", sandbox.config.port, named=True
    )
    with LiveServer(app) as live:
        driver = WsDriver(live.ws_url)
        driver.connect("real")
        driver.ehlo()
        assert driver.send_message("a@example.com", ["b@example.com"], ["x"])["code"] == 250
        assert driver.command("MAIL FROM:<a@example.com>")["code"] == 250
        driver.command("RCPT TO:<b@example.com>")
        driver.send({"type": "lines", "lines": ["DATA", "second", "."]})
        error = driver.wait_for("error")  # DATA itself is refused: no message can end
        held = driver.wait_for("held")
        driver.close()
    assert error["code"] == "too_many_messages" and "1" in error["message"]
    assert held["count"] == 2 and held["reason"] == "limit"


def test_the_websocket_is_kept_alive_with_pings(data_dir, sandbox):
    with LiveServer(_app(data_dir, sandbox, WS_PING=0.3)) as live:
        ws = websocket.create_connection(live.ws_url, timeout=5)
        opcode, _payload = ws.recv_data(control_frame=True)
        ws.close()
    assert opcode == websocket.ABNF.OPCODE_PING


@pytest.mark.parametrize("how", ["flask", "gunicorn"])
def test_other_servers_also_refuse_to_bind_beyond_loopback_without_access_control(tmp_path, how):
    env = {**os.environ, "PLAYGROUND_DATA_DIR": str(tmp_path), "PLAYGROUND_AUTH": "none",
           "PLAYGROUND_START_SANDBOX": "0"}  # fmt: skip
    if how == "flask":
        cmd = [sys.executable, "-m", "flask", "--app", "app", "run", "--host", "0.0.0.0",
               "--port", str(free_port())]  # fmt: skip
    else:
        env["PLAYGROUND_BIND"] = f"0.0.0.0:{free_port()}"
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "Refusing to listen on 0.0.0.0" in proc.stderr + proc.stdout


def test_accounts_without_secure_cookies_warn_at_start(data_dir, sandbox, caplog):
    with caplog.at_level("WARNING", logger="web.auth.security"):
        _app(data_dir, sandbox, AUTH="accounts")
    assert "PLAYGROUND_SECURE_COOKIES" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="web.auth.security"):
        app = _app(data_dir, sandbox, AUTH="accounts", SECURE_COOKIES=True)
    assert "PLAYGROUND_SECURE_COOKIES" not in caplog.text
    assert app.config["SESSION_COOKIE_SECURE"] is True
