"""The swaks export: a shell script with one swaks command per mail transaction."""

from __future__ import annotations

import shlex

from transcripts.exports._common import Explain, printable
from transcripts.exports.facts import Facts, Message, facts_of
from transcripts.model import Transcript

PASSWORD = "<PASSWORD>"
# swaks --quit-after: the last stage the session reached when it sent no message.
_QUIT_AFTER = {
    None: "CONNECT",
    "EHLO": "HELO",
    "HELO": "HELO",
    "LHLO": "HELO",
    "STARTTLS": "TLS",
    "AUTH": "AUTH",
    "MAIL": "MAIL",
    "RCPT": "RCPT",
    "RSET": "RCPT",
}
_PROTOCOL = {"HELO": "SMTP", "LHLO": "LMTP"}  # swaks speaks ESMTP unless told


def _connection(facts: Facts) -> list[str]:
    argv = ["swaks", "--server", facts.host, "--port", str(facts.port)]
    if facts.greeting_verb in _PROTOCOL:
        argv += ["--protocol", _PROTOCOL[facts.greeting_verb]]
    if facts.ehlo:
        argv += ["--ehlo", facts.ehlo]
    if facts.tls_on_connect:
        argv.append("--tls-on-connect")
    elif facts.starttls:
        argv.append("--tls")
    if facts.auth_mechanism:
        argv += ["--auth", facts.auth_mechanism, "--auth-user", facts.auth_user or "<USER>"]
        argv += ["--auth-password", PASSWORD]
    return argv


def _delimiter(body: str) -> str:
    word = "SMTP_PLAYGROUND_DATA"
    while word in body.splitlines():
        word += "_"
    return word


def _command(facts: Facts, message: Message | None) -> str:
    argv = _connection(facts)
    if message is None:
        return shlex.join(argv + ["--quit-after", _QUIT_AFTER.get(facts.last_verb, "RCPT")])
    argv += ["--from", message.sender]
    for recipient in message.recipients:
        argv += ["--to", recipient]
    if message.data is None or not message.ended:
        return shlex.join(argv + ["--quit-after", "RCPT"])
    # The message goes in on stdin (--data -), as LF lines: swaks sends CRLF and dot-stuffs.
    body = "\n".join(message.lines or []) + "\n"
    end = _delimiter(body)
    return f"{shlex.join(argv + ['--data', '-'])} <<'{end}'\n{body}{end}"


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """A sh script reproducing the session with swaks (the password is a placeholder)."""
    facts = facts_of(transcript)
    head = [
        "#!/bin/sh",
        f"# Reproduces SMTP Playground transcript {transcript.id}",
        f"# ({printable(transcript.target)}). Replace {PASSWORD} before running; the",
        "# playground never stores passwords. swaks replaces %TOKENS% such as %DATE% in --data.",
    ]
    commands = [_command(facts, m) for m in facts.messages] or [_command(facts, None)]
    return ("\n".join(head) + "\n" + "\n\n".join(commands) + "\n").encode()
