"""Per-session budgets toward real servers: counted as the server reads each line."""

from __future__ import annotations

import pytest

from smtp_session.wire.dialogue import AUTH_RESPONSE, COMMAND, DATA
from smtp_session.wire.pacing import Unit
from web.live.limits import LimitError
from web.live.quota import Quota


def commands(*lines: str) -> list[Unit]:
    return [Unit((line,), COMMAND) for line in lines]


def _sent(quota: Quota, units: list[Unit]) -> None:
    for unit in units:
        quota.admit(unit)


def test_a_refused_line_changes_no_count():
    quota = Quota(sandbox=False, max_recipients=2)
    _sent(quota, commands("MAIL FROM:<a@example.com>", "RCPT TO:<b1@example.com>"))
    _sent(quota, commands("RCPT TO:<b2@example.com>"))
    with pytest.raises(LimitError) as info:
        quota.admit(Unit(("RCPT TO:<b3@example.com>",), COMMAND))
    assert info.value.code == "too_many_recipients" and quota.recipients == 2


def test_a_new_transaction_starts_the_recipient_count_again():
    quota = Quota(sandbox=False, max_recipients=1)
    _sent(quota, commands("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"))
    _sent(quota, commands("RSET", "MAIL FROM:<a@example.com>", "RCPT TO:<c@example.com>"))
    assert quota.recipients == 1


def test_a_second_mail_in_an_open_transaction_does_not_start_the_count_again():
    # RFC 5321 §4.1.1.2: the server answers 503 and the open transaction goes on.
    quota = Quota(sandbox=False, max_recipients=1)
    _sent(quota, commands("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"))
    with pytest.raises(LimitError):
        _sent(quota, commands("MAIL FROM:<a@example.com>", "RCPT TO:<c@example.com>"))


def test_rcpt_lines_inside_a_message_are_no_recipients():
    quota = Quota(sandbox=False, max_recipients=1)
    _sent(quota, commands("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"))
    quota.admit(Unit(tuple(f"RCPT TO:<r{i}@y>" for i in range(50)), DATA))
    assert quota.recipients == 1 and quota.messages == 0
    quota.admit(Unit((AUTH_RESPONSE,), AUTH_RESPONSE))
    assert quota.recipients == 1


def test_a_message_counts_when_its_end_leaves_and_bdat_last_counts_too():
    quota = Quota(sandbox=False, max_messages=2)
    quota.admit(Unit(("Subject: x", "", "body"), DATA))
    assert quota.messages == 0
    quota.admit(Unit((".",), DATA))
    _sent(quota, commands("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "BDAT 5 LAST"))
    assert quota.messages == 2
    with pytest.raises(LimitError) as info:
        quota.admit(Unit(("x", "."), DATA))
    assert info.value.code == "too_many_messages"


def test_the_sandbox_has_no_recipient_or_message_budget():
    quota = Quota(sandbox=True, max_recipients=1, max_messages=1)
    _sent(quota, commands("MAIL FROM:<a@example.com>", *[f"RCPT TO:<b{i}@x>" for i in range(5)]))
    assert quota.recipients == 5


def test_bytes_are_charged_per_frame_all_or_none():
    quota = Quota(sandbox=True, max_bytes=20)
    quota.charge_bytes(["NOOP"])
    with pytest.raises(LimitError) as info:
        quota.charge_bytes(["NOOP", "x" * 20])
    assert info.value.code == "too_many_bytes" and quota.bytes == 6
