"""The replay's memo (smtp_session/guide/replay.py FrameMemo) gives exactly the frames the plain
walk gives: for a long run of one repeated exchange (where it hits), for sessions whose states
never repeat (where it rests), and for a real recorded session played over and over; and the
lean frames made from them (``lean_replay``) are those ``lean_frames`` makes."""

from __future__ import annotations

from typing import Any

import pytest

from smtp_session.guide.lean import lean_frames
from smtp_session.guide.lean_read import read_frames
from smtp_session.guide.replay import FrameMemo, lean_replay, replay, replay_frames
from tests.conftest import WsDriver
from tests.test_lean_frames import record

Entry = dict[str, Any]


def _reply(code: int, enhanced: str | None, after: str, *lines: str) -> Entry:
    return {"kind": "reply", "code": code, "enhanced": enhanced, "lines": [*lines], "after": after}


def _sent(text: str, kind: str = "command") -> Entry:
    return {"kind": "sent", "text": text, "line_kind": kind}


CONNECT = {"kind": "event", "event": "connect",
           "data": {"host": "127.0.0.1", "port": 2525, "address": "127.0.0.1"}}  # fmt: skip
GREETING = _reply(220, None, "greeting", "220 sandbox.test ESMTP")
NOOP = [_sent("NOOP"), _reply(250, "2.0.0", "NOOP", "250 2.0.0 Ok")]
EHLO = [
    _sent("EHLO client.example"),
    _reply(250, None, "EHLO", "250-sandbox.test", "250-PIPELINING", "250-SIZE 1000",
           "250-AUTH PLAIN LOGIN", "250 8BITMIME"),
]  # fmt: skip


def _message(n: int, lines: int) -> list[Entry]:
    """One mail transaction; its message lines are unique to it (``n``)."""
    body = [_sent(f"line {n}.{i}", "data") for i in range(lines)]
    return [
        _sent("MAIL FROM:<a@client.example>"), _reply(250, "2.1.0", "MAIL", "250 2.1.0 Ok"),
        _sent("RCPT TO:<b@sandbox.test>"), _reply(250, "2.1.5", "RCPT", "250 2.1.5 Ok"),
        _sent("RCPT TO:b@sandbox.test"), _reply(250, "2.1.5", "RCPT", "250 2.1.5 Ok"),
        _sent("DATA"), _reply(354, None, "DATA", "354 End data with <CR><LF>.<CR><LF>"),
        _sent("Subject: x", "data"), _sent("", "data"), *body, _sent(".", "data"),
        _reply(250, "2.0.0", "end-of-data", f"250 2.0.0 Ok: queued as Q{n}"),
    ]  # fmt: skip


def _numbered(entries: list[Entry]) -> list[Entry]:
    return [{**entry, "seq": i, "t": i * 7} for i, entry in enumerate(entries)]


def _plain(entries: list[Entry], sandbox: bool = False) -> list[dict[str, Any]]:
    return [step.frame for step in replay(entries, sandbox)]


SESSIONS = {
    # NOOPs before the greeting's EHLO and after it, then messages among more NOOPs: the
    # same NOOP entry in states that differ (a NOOP frame carries the step it was sent in).
    "noops-around-a-session": [CONNECT, GREETING, *NOOP * 50, *EHLO, *NOOP * 50,
                               *[e for n in range(20) for e in (*_message(n, 3), *NOOP * 5)],
                               _sent("QUIT"), _reply(221, "2.0.0", "QUIT", "221 Bye")],
    # Every message line is new and each transaction leaves the state changed (one message
    # more): the memo misses, then rests.
    "states-that-never-repeat": [CONNECT, GREETING, *EHLO,
                                 *[e for n in range(150) for e in _message(n, 10)]],
    # An unsolicited reply, an event the guide has no event for, and a reconnect.
    "reconnects": [*[e for _ in range(30) for e in (CONNECT, GREETING, *NOOP * 3,
                    {"kind": "event", "event": "error", "data": {"message": "x"}},
                    _reply(421, "4.3.0", "NOOP", "421 4.3.0 going away"),
                    {"kind": "event", "event": "closed", "data": {"reason": "server"}})]],
}  # fmt: skip


@pytest.mark.parametrize("name", SESSIONS, ids=str)
@pytest.mark.parametrize("sandbox", [False, True], ids=["remote", "sandbox"])
def test_the_memo_gives_the_frames_of_the_plain_replay(name: str, sandbox: bool) -> None:
    entries = _numbered(SESSIONS[name])
    expected = _plain(entries, sandbox)
    got = replay_frames(entries, sandbox)
    assert got == expected
    assert [list(frame) for frame in got] == [list(frame) for frame in expected]  # key order
    assert lean_replay(got) == lean_frames(expected)


def test_a_long_run_of_noops_is_worked_out_a_few_times_only() -> None:
    entries = _numbered([CONNECT, GREETING, *NOOP * 5000])
    memo = FrameMemo(sandbox=True)
    got = list(memo.frames(entries))
    assert memo.hits >= len(entries) - 10
    assert got == _plain(entries, sandbox=True)
    lean = lean_replay(got)
    assert lean == lean_frames(got)
    assert read_frames(lean["frames"]) == got  # and read back, the full frames again


def test_frames_from_the_memo_are_frames_of_their_own_entries() -> None:
    entries = _numbered([CONNECT, GREETING, *NOOP * 100])
    frames = replay_frames(entries)
    assert [(f["seq"], f["t"]) for f in frames] == [(e["seq"], e["t"]) for e in entries]
    assert len({id(f) for f in frames}) == len(frames)  # each its own dict


def test_a_recorded_session_played_again_and_again(ws: WsDriver, app: Any) -> None:
    """A real session (STARTTLS, AUTH, refusals, DATA, BDAT) four times over, as one
    transcript: the second and later rounds meet the states of the first."""
    tid = record(ws)
    store = app.extensions["playground"].store
    entries = store.get(tid).entries
    rounds = _numbered(entries * 4)
    expected = _plain(rounds, sandbox=True)
    assert replay_frames(rounds, sandbox=True) == expected
    assert lean_replay(replay_frames(rounds, sandbox=True)) == lean_frames(expected)
