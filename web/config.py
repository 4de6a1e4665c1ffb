"""Settings: defaults, then environment variables (PLAYGROUND_*), then command-line flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

# Each setting: config key, environment variable, type, default, help. One table feeds
# Flask's config, the environment and argparse, so the three cannot drift apart.
SETTINGS: list[tuple[str, str, type, Any, str]] = [
    ("HOST", "PLAYGROUND_HOST", str, "127.0.0.1", "address the web app binds to"),
    ("PORT", "PLAYGROUND_PORT", int, 5000, "port of the web app"),
    (
        "SANDBOX_HOST",
        "PLAYGROUND_SANDBOX_HOST",
        str,
        "127.0.0.1",
        "sandbox SMTP address",
    ),
    ("SANDBOX_PORT", "PLAYGROUND_SANDBOX_PORT", int, 2525, "sandbox SMTP port (plain + STARTTLS)"),
    ("SANDBOX_TLS_PORT", "PLAYGROUND_SANDBOX_TLS_PORT", int, 2465, "sandbox implicit-TLS port"),
    ("START_SANDBOX", "PLAYGROUND_START_SANDBOX", bool, True, "start the built-in sandbox server"),
    ("DATA_DIR", "PLAYGROUND_DATA_DIR", Path, Path("data"), "folder for transcripts, inbox, keys"),
    ("CONNECT_TIMEOUT", "PLAYGROUND_CONNECT_TIMEOUT", float, 10.0, "seconds to open a connection"),
    (
        "REPLY_TIMEOUT",
        "PLAYGROUND_REPLY_TIMEOUT",
        float,
        300.0,
        "seconds a reply may take",
    ),
    ("IDLE_TIMEOUT", "PLAYGROUND_IDLE_TIMEOUT", float, 600.0, "seconds of silence before closing"),
    (
        "MAX_DURATION",
        "PLAYGROUND_MAX_DURATION",
        float,
        1800.0,
        "longest session, seconds",
    ),
    (
        "MAX_FRAME",
        "PLAYGROUND_MAX_FRAME",
        int,
        1024 * 1024,
        "largest WebSocket frame, bytes",
    ),
    ("IMPORT_MAX_BYTES", "PLAYGROUND_IMPORT_MAX_BYTES", int, 10 << 20, "largest transcript import"),
    (
        "COMMIT_INTERVAL",
        "PLAYGROUND_COMMIT_INTERVAL",
        float,
        0.02,
        "seconds between group commits of live transcript entries",
    ),
    (
        "SANDBOX_AUTH_REQUIRE_TLS",
        "PLAYGROUND_SANDBOX_AUTH_REQUIRE_TLS",
        bool,
        True,
        "sandbox offers AUTH only after STARTTLS",
    ),
    ("WS_PING", "PLAYGROUND_WS_PING", float, 25.0, "seconds between WebSocket pings"),
    ("TLS_TIMEOUT", "PLAYGROUND_TLS_TIMEOUT", float, 10.0, "seconds for a TLS handshake"),
    ("DATABASE_URL", "DATABASE_URL", str, None, "PostgreSQL URL (default: SQLite in DATA_DIR)"),
    ("REDIS_URL", "REDIS_URL", str, None, "Redis URL for limits shared across processes"),
    ("DNS_SERVER", "PLAYGROUND_DNS_SERVER", str, None, "resolver for MX lookups, HOST:PORT"),
    (
        "SANDBOX_ZONE",
        "PLAYGROUND_SANDBOX_ZONE",
        bool,
        True,
        "answer mx:*.sandbox.test from the built-in offline zone (docs/mx.md)",
    ),
    ("AUTH", "PLAYGROUND_AUTH", str, "none", "access control: none, accounts or proxy"),
    ("PROXY_HOPS", "PLAYGROUND_PROXY_HOPS", int, 0, "reverse proxies in front (X-Forwarded-*)"),
    ("ORIGINS", "PLAYGROUND_ORIGINS", str, "", "extra origins allowed to open /ws"),
    (
        "ALLOWED_HOSTS",
        "PLAYGROUND_ALLOWED_HOSTS",
        str,
        "",
        "names the app answers to besides the bound ones",
    ),
    ("SECURE_COOKIES", "PLAYGROUND_SECURE_COOKIES", bool, False, "cookies only over HTTPS"),
    ("USER_HEADER", "PLAYGROUND_USER_HEADER", str, "X-Forwarded-User", "AUTH=proxy: user"),
    ("ROLE_HEADER", "PLAYGROUND_ROLE_HEADER", str, "", "AUTH=proxy: role header (optional)"),
    ("TEAM_HEADER", "PLAYGROUND_TEAM_HEADER", str, "", "AUTH=proxy: team header (optional)"),
    (
        "LOGIN_FAILURES",
        "PLAYGROUND_LOGIN_FAILURES",
        str,
        "10 per 5 minutes",
        "failed logins per address",
    ),
    (
        "LOGIN_ACCOUNT_FAILURES",
        "PLAYGROUND_LOGIN_ACCOUNT_FAILURES",
        str,
        "20 per 5 minutes",
        "failed logins per account name",
    ),
    ("LOGIN_VERIFY_POOL", "PLAYGROUND_LOGIN_VERIFY_POOL", int, 2, "password checks at once"),
    ("LOGIN_VERIFY_WAIT", "PLAYGROUND_LOGIN_VERIFY_WAIT", float, 10.0, "seconds to wait for one"),
    (
        "HEADER_TIMEOUT",
        "PLAYGROUND_HEADER_TIMEOUT",
        float,
        10.0,
        "seconds a connection has for its request line and headers",
    ),
    (
        "MAX_CONNECTIONS_PER_ADDRESS",
        "PLAYGROUND_MAX_CONNECTIONS_PER_ADDRESS",
        int,
        256,
        "open connections per client address",
    ),
    ("MAX_SESSIONS", "PLAYGROUND_MAX_SESSIONS", int, 5, "open sessions per user and per client"),
    ("SESSIONS_PER_MINUTE", "PLAYGROUND_SESSIONS_PER_MINUTE", int, 30, "new sessions a minute"),
    ("MAX_RECIPIENTS", "PLAYGROUND_MAX_RECIPIENTS", int, 20, "RCPTs per transaction (real)"),
    ("MAX_MESSAGES", "PLAYGROUND_MAX_MESSAGES", int, 5, "messages per session (real)"),
    ("MAX_SESSION_BYTES", "PLAYGROUND_MAX_SESSION_BYTES", int, 64 << 20, "bytes per session"),
    ("FRAME_RATE", "PLAYGROUND_FRAME_RATE", float, 500.0, "frames a second (0: no limit)"),
    ("TARGETS", "PLAYGROUND_TARGETS", str, "", "named targets: name=host:port[:tls],..."),
    (
        "ALLOWED_TARGETS",
        "PLAYGROUND_ALLOWED_TARGETS",
        str,
        "",
        "hosts, *.domains, CIDRs, any-public",
    ),
    (
        "ALLOWED_PORTS",
        "PLAYGROUND_ALLOWED_PORTS",
        str,
        "25,465,587,2525",
        "ports for those targets",
    ),
    ("ALLOW_PRIVATE", "PLAYGROUND_ALLOW_PRIVATE", str, "", "internal CIDRs allowed all the same"),
    (
        "SCENARIOS_DIR",
        "PLAYGROUND_SCENARIOS_DIR",
        str,
        "",
        "folder of the trainer's sandbox scenario files (docs/scenarios.md)",
    ),
    (
        "SANDBOX_SCENARIO_PORTS",
        "PLAYGROUND_SANDBOX_SCENARIO_PORTS",
        str,
        "",
        "extra sandbox ports, each in one scenario: 2526=busy,...",
    ),
    # Captured sessions (#16): every session the sandbox serves, recorded from its side.
    ("CAPTURE", "PLAYGROUND_CAPTURE", bool, True, "record every session the sandbox serves"),
    (
        "CAPTURE_MAX_SESSIONS",
        "PLAYGROUND_CAPTURE_MAX_SESSIONS",
        int,
        1000,
        "captured sessions kept (the oldest go first)",
    ),
    (
        "CAPTURE_MAX_AGE",
        "PLAYGROUND_CAPTURE_MAX_AGE",
        float,
        7 * 86400.0,
        "seconds a captured session is kept",
    ),
    (
        "CAPTURE_MAX_LINES",
        "PLAYGROUND_CAPTURE_MAX_LINES",
        int,
        20_000,
        "client lines recorded per captured session",
    ),
    (
        "CAPTURE_MAX_BYTES",
        "PLAYGROUND_CAPTURE_MAX_BYTES",
        int,
        8 << 20,
        "client bytes recorded per captured session",
    ),
    (
        "CAPTURED_STREAM_SECONDS",
        "PLAYGROUND_CAPTURED_STREAM_SECONDS",
        float,
        300.0,
        "seconds one captured-sessions event stream lasts before the browser reconnects",
    ),
    ("CLASS_MAX_STUDENTS", "PLAYGROUND_CLASS_MAX_STUDENTS", int, 250, "largest class (students)"),
    (
        "CLASS_STUCK_AFTER",
        "PLAYGROUND_CLASS_STUCK_AFTER",
        float,
        180.0,
        "seconds on one step before a student counts as stuck",
    ),
    (
        "CLASS_HEARTBEAT",
        "PLAYGROUND_CLASS_HEARTBEAT",
        float,
        5.0,
        "seconds between class presence heartbeats (lost after three missed)",
    ),
    ("TRAINER_KEY", "PLAYGROUND_TRAINER_KEY", str, "", "AUTH=none: trainer key (default: made)"),
]


def _convert(kind: type, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def from_environ(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults overridden by whatever environment variables are set."""
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for key, var, kind, default, _help in SETTINGS:
        config[key] = _convert(kind, env[var]) if env.get(var) not in (None, "") else default
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One --flag per setting, e.g. --sandbox-port."""
    for key, var, kind, _default, help_text in SETTINGS:
        flag = "--" + key.lower().replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, type=lambda v: _convert(bool, v), help=f"{help_text} ({var})")
        else:
            parser.add_argument(flag, type=kind, help=f"{help_text} ({var})")


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (others are left out)."""
    given = {}
    for key, *_rest in SETTINGS:
        value = getattr(args, key.lower())
        if value is not None:
            given[key] = value
    return given
