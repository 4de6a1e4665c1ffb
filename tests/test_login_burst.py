"""The failed-login limit under a concurrent burst, and the memory login may take (#13).

The attack: 40 login POSTs at once from one address against a running app. Before, the window
was checked before any attempt was counted, so 28 passwords were verified and the right one
signed in past the limit, and 40 argon2id verifications at 64 MiB each took the process from
74 MB to 1.57 GB. Here the app runs with the real argon2id parameters behind a real threaded
HTTP server; the burst is real threads with real connections, released together.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles

from tests.conftest import LiveServer, build_app
from tests.test_accounts import PASSWORD, Auth

BURST = 40
LIMIT = 10  # the default: 10 failed logins per address per 5 minutes
POOL = 2
MIB = 1 << 20
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Browser:
    """One client with its own cookies: fetches the form, then posts it when told."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )
        with self.opener.open(url + "/login", timeout=30) as page:
            self.token = _CSRF.search(page.read().decode()).group(1)

    def post(self, password: str) -> int:
        form = {"name": "alice", "password": password, "csrf_token": self.token}
        body = urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.url + "/login", body, timeout=120) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 302 is the answer we count: signed in


def _status(field: str) -> int:
    """A VmRSS/VmHWM line of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _burst(live: LiveServer, passwords: list[str]) -> tuple[list[int], int]:
    """All the POSTs released at once; the codes, and the process's peak RSS growth."""
    browsers = [Browser(live.url) for _ in passwords]
    codes: list[int] = [0] * len(passwords)
    start = threading.Barrier(len(passwords) + 1)

    def run(i: int) -> None:
        start.wait()
        codes[i] = browsers[i].post(passwords[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(passwords))]
    for thread in threads:
        thread.start()
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak, to now
    start.wait()
    for thread in threads:
        thread.join(180)
    return codes, _status("VmHWM") - before


@pytest.fixture(params=["memory", "redis"])
def guarded(request: Any, data_dir: Path, sandbox: Any) -> Any:
    """An accounts app with the real argon2id cost, counting in memory or in Redis."""
    config: dict[str, Any] = {"AUTH": "accounts", "LOGIN_VERIFY_POOL": POOL}
    config["LOGIN_VERIFY_WAIT"] = 120.0  # on a busy test machine the burst must only wait
    if request.param == "redis":
        url = os.environ.get("TEST_REDIS_URL")
        if not url:
            pytest.skip("set TEST_REDIS_URL to run against a real Redis (CI does)")
        config.update(REDIS_URL=url, LOGIN_LIMIT_PREFIX=f"test:logins:{uuid.uuid4().hex}")
    app = build_app(data_dir, sandbox, **config)
    assert app.extensions["accounts"].hasher.memory_cost == PasswordHasher().memory_cost
    Auth(app).create("alice")
    with LiveServer(app) as live:
        yield live


def test_a_burst_of_wrong_passwords_verifies_only_the_limit_in_bounded_memory(guarded):
    codes, growth = _burst(guarded, ["wrong guess"] * BURST)
    assert Counter(codes) == {401: LIMIT, 429: BURST - LIMIT}
    # At most POOL verifications at once, each taking argon2id's memory cost.
    cost = PasswordHasher().memory_cost * 1024
    assert growth <= POOL * cost + 48 * MIB, f"peak RSS grew by {growth / MIB:.0f} MiB"
    # Never signs in past the limit, not even with a burst of right passwords.
    codes, _growth = _burst(guarded, [PASSWORD] * BURST)
    assert Counter(codes) == {429: BURST}


def test_the_attack_as_found_never_signs_in_past_the_limit(guarded):
    """39 wrong passwords and the right one 20th, all at once."""
    passwords = ["wrong guess"] * BURST
    passwords[19] = PASSWORD
    codes, _growth = _burst(guarded, passwords)
    tally = Counter(codes)
    assert set(tally) <= {401, 302, 429}, tally
    # Each 401 or 302 is one verification: at most the limit, plus the one right password
    # whose place was given back (only failures count).
    assert tally[401] <= LIMIT and tally[302] <= 1 and tally[401] + tally[302] <= LIMIT + 1
    assert tally[429] >= BURST - LIMIT - 1


def test_failed_logins_are_limited_per_account_across_addresses(data_dir, sandbox):
    app = build_app(
        data_dir,
        sandbox,
        AUTH="accounts",
        PASSWORD_HASHER=PasswordHasher.from_parameters(profiles.CHEAPEST),
        LOGIN_ACCOUNT_FAILURES="3 per minute",
    )
    auth = Auth(app)
    auth.create("alice")
    auth.create("bob")

    def attempt(address: str, name: str, password: str) -> int:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return int(auth.login(client, name, password).status_code)

    wrong = [attempt(f"192.0.2.{i}", "alice", "wrong guess") for i in range(1, 4)]
    assert wrong == [401, 401, 401]
    assert attempt("192.0.2.9", "alice", PASSWORD) == 429  # a fresh address, the same name
    assert attempt("192.0.2.9", "bob", PASSWORD) == 302  # another name is not held up


def test_a_login_that_finds_the_pool_busy_waits_then_gets_503_and_is_not_counted(data_dir, sandbox):
    app = build_app(
        data_dir,
        sandbox,
        AUTH="accounts",
        PASSWORD_HASHER=PasswordHasher.from_parameters(profiles.CHEAPEST),
        LOGIN_FAILURES="1 per minute",
        LOGIN_VERIFY_POOL=1,
        LOGIN_VERIFY_WAIT=0.2,
    )
    auth = Auth(app)
    auth.create("alice")
    pool = app.extensions["login_guard"].pool
    pool.acquire()  # another verification holds the only place
    try:
        busy = auth.login(app.test_client(), "alice", "wrong guess")
    finally:
        pool.release()
    assert busy.status_code == 503 and "busy" in busy.get_data(as_text=True)
    assert int(busy.headers["Retry-After"]) >= 1
    # The refused attempt took no place in the window: the one failure allowed is still there.
    assert auth.login(app.test_client(), "alice", "wrong guess").status_code == 401
    assert auth.login(app.test_client(), "alice").status_code == 429
