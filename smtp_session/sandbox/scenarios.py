"""What the sandbox is known by: its name and the demo account.

Kept apart from ``server.py`` (the aiosmtpd server) so the web pages can name them without
importing aiosmtpd into every worker. Its failure scenarios are files: ``scenarios/`` at the
top of the repository (scenario_format.py reads them, docs/scenarios.md describes them).
"""

from __future__ import annotations

SANDBOX_HOSTNAME = "sandbox.test"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
# The learner's side in examples and templates: RFC 2606 reserves .example for this.
CLIENT_HOSTNAME = "client.example"
DEMO_SENDER = f"alice@{CLIENT_HOSTNAME}"
DEMO_RECIPIENT = f"bob@{SANDBOX_HOSTNAME}"


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
