"""Per-session budgets toward real servers: refused batches change nothing, BDAT counts."""

from __future__ import annotations

import pytest

from smtp_session.dialogue import Dialogue
from web.limits import LimitError
from web.quota import Quota


def _sent(quota: Quota, dialogue: Dialogue, lines: list[str]) -> None:
    quota.charge(lines, dialogue)
    for line in lines:
        dialogue.classify(line)


def test_a_refused_batch_does_not_reset_the_recipient_count():
    quota, dialogue = Quota(sandbox=False, max_recipients=2), Dialogue()
    _sent(quota, dialogue, ["MAIL FROM:<a@example.com>", "RCPT TO:<b1@example.com>"])
    with pytest.raises(LimitError) as info:
        quota.charge(["RSET", "RCPT TO:<b2@example.com>", "RCPT TO:<b3@example.com>",
                      "RCPT TO:<b4@example.com>"], dialogue)  # fmt: skip
    assert info.value.code == "too_many_recipients"
    _sent(quota, dialogue, ["RCPT TO:<b2@example.com>"])
    with pytest.raises(LimitError):
        quota.charge(["RCPT TO:<b3@example.com>"], dialogue)


def test_a_new_transaction_starts_the_recipient_count_again():
    quota, dialogue = Quota(sandbox=False, max_recipients=1), Dialogue()
    _sent(quota, dialogue, ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"])
    _sent(quota, dialogue, ["RSET", "MAIL FROM:<a@example.com>", "RCPT TO:<c@example.com>"])
    assert quota.recipients == 1


def test_bdat_last_counts_as_a_message():
    quota, dialogue = Quota(sandbox=False, max_messages=1), Dialogue()
    _sent(quota, dialogue, ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>",
                            "BDAT 5 LAST"])  # fmt: skip
    assert quota.messages == 1
    with pytest.raises(LimitError) as info:
        quota.charge(["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "BDAT 3 LAST"],
                     dialogue)  # fmt: skip
    assert info.value.code == "too_many_messages"


def test_the_sandbox_has_no_recipient_or_message_budget():
    quota, dialogue = Quota(sandbox=True, max_recipients=1, max_messages=1), Dialogue()
    _sent(quota, dialogue, ["MAIL FROM:<a@example.com>"] + [f"RCPT TO:<b{i}@x>" for i in range(5)])
    assert quota.recipients == 5
