"""What the sandbox is known by: its name, the demo account and the failure scenarios.

Kept apart from ``sandbox.py`` (the aiosmtpd server) so the web pages can list them without
importing aiosmtpd into every worker.
"""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX_HOSTNAME = "sandbox.test"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
# The learner's side in examples and templates: RFC 2606 reserves .example for this.
CLIENT_HOSTNAME = "client.example"
DEMO_SENDER = f"alice@{CLIENT_HOSTNAME}"
DEMO_RECIPIENT = f"bob@{SANDBOX_HOSTNAME}"
GREYLIST_SECONDS = 10


@dataclass(frozen=True)
class Scenario:
    """A recipient address the sandbox refuses on purpose, the way real servers do."""

    address: str
    reply: str
    teaches: str
    after: str = "RCPT"  # what the refusal answers: the RCPT, or the final dot ("end-of-data")


SCENARIOS: dict[str, Scenario] = {
    s.address: s
    for s in (
        Scenario(
            "unknown@sandbox.test",
            "550 5.1.1 <unknown@sandbox.test>: Recipient address rejected: User unknown",
            "a permanent failure: the mailbox does not exist (RFC 3463 X.1.1)",
        ),
        Scenario(
            "full@sandbox.test",
            "452 4.2.2 <full@sandbox.test>: Mailbox full, try again later",
            "a transient failure: the mailbox is over quota (X.2.2)",
        ),
        Scenario(
            "greylist@sandbox.test",
            f"451 4.7.1 <greylist@sandbox.test>: Greylisted, retry in {GREYLIST_SECONDS} seconds",
            "greylisting: the sending server's queue tries again later, in a new transaction, "
            "and is then accepted (RFC 6647)",
        ),
        Scenario(
            "relay@elsewhere.example",
            "550 5.7.1 <relay@elsewhere.example>: Relay access denied",
            "relaying denied: this server does not deliver for that domain (X.7.1)",
        ),
        Scenario(
            "toobig@sandbox.test",
            "552 5.3.4 <toobig@sandbox.test>: Message size exceeds fixed limit for this mailbox",
            "message too big (X.3.4)",
        ),
        Scenario(
            "policy@sandbox.test",
            "550 5.7.26 Message refused: SPF and DKIM both failed for the From domain, "
            "and its DMARC policy says reject",
            "a DMARC refusal: accepted at RCPT, refused after the final dot, because DMARC "
            "judges the From header inside the message (RFC 7489 §6.6, X.7.26)",
            after="end-of-data",
        ),
        Scenario(
            "disabled@sandbox.test",
            "550 5.2.1 <disabled@sandbox.test>: Mailbox disabled, not accepting messages",
            "the mailbox exists but is disabled (X.2.1)",
        ),
        Scenario(
            "tempfail@sandbox.test",
            "450 4.2.0 <tempfail@sandbox.test>: Mailbox temporarily unavailable",
            "a transient mailbox problem (X.2.0)",
        ),
    )
}


def page_data() -> dict[str, str]:
    """The names the console's helpers fill templates with (static/js/helpers.js reads them)."""
    return {
        "hostname": SANDBOX_HOSTNAME,
        "client_hostname": CLIENT_HOSTNAME,
        "demo_user": DEMO_USER,
        "demo_password": DEMO_PASSWORD,
        "sender": DEMO_SENDER,
        "recipient": DEMO_RECIPIENT,
    }
