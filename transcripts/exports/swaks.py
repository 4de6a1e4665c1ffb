"""The swaks export: a shell script with one swaks run per mail transaction.

Written for Debian's swaks (20201014) and checked against it in the suite: the recipients go in
one ``--to a,b`` (a repeated ``--to`` keeps only the last), the null sender is ``--from '<>'``
(``--from ''`` would make swaks prompt on stdin), and the message is piped in exactly as it went
on the wire (CRLF, dot-stuffed, ending with the lone ".") with ``--no-data-fixup``, so swaks
neither rewrites %TOKENS% and ``\\n`` nor adds a line: the server gets the session's bytes.
"""

from __future__ import annotations

import shlex

from transcripts.exports._common import Explain, printable
from transcripts.exports.facts import Facts, Message, facts_of
from transcripts.exports.reach import reach_of
from transcripts.model import Transcript

PASSWORD_VARIABLE = "SMTP_PASSWORD"
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
# Each line gets CRLF but the last, which swaks ends itself (it sends "<data>\r\n").
_CRLF = """awk 'NR > 1 { printf "\\r\\n" } { printf "%s", $0 }'"""


def _connection(facts: Facts, host: str) -> list[str]:
    argv = ["swaks", "--server", host, "--port", str(facts.port)]
    if facts.greeting_verb in _PROTOCOL:
        argv += ["--protocol", _PROTOCOL[facts.greeting_verb]]
    if facts.ehlo:
        argv += ["--ehlo", facts.ehlo]
    if facts.tls_on_connect:
        argv.append("--tls-on-connect")
    elif facts.starttls:
        argv.append("--tls")
    return argv


def _auth(facts: Facts) -> str:
    """The AUTH options, the password from the environment (the playground never has it)."""
    if not facts.auth_mechanism:
        return ""
    argv = ["--auth", facts.auth_mechanism, "--auth-user", facts.auth_user or "<USER>"]
    return f' {shlex.join(argv)} --auth-password "${PASSWORD_VARIABLE}"'


def _delimiter(lines: list[str]) -> str:
    word = "SMTP_PLAYGROUND_DATA"
    while word in lines:
        word += "_"
    return word


def _wire_lines(message: Message) -> list[str]:
    """The message as sent after 354: RFC 5321 §4.5.2 dot-stuffing, then the lone "."."""
    text = (message.data or b"").decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    if lines[-1] == "":
        lines.pop()  # the CRLF that ends the last line
    return [("." + line if line.startswith(".") else line) for line in lines] + ["."]


def _bdat_note(message: Message) -> list[str]:
    """RFC 3030 BDAT, which swaks cannot send: the same octets go with DATA instead."""
    if message.chunks is None:
        return []
    note = [
        f"# The session sent this message with BDAT in {len(message.chunks)} chunk(s) (RFC 3030"
        " CHUNKING);",
        "# swaks has no BDAT, so this run sends the same octets with DATA.",
    ]
    if not (message.data or b"").endswith(b"\r\n"):
        note.append("# DATA must end the message with CRLF, which the chunks did not: one more.")
    return note


def _envelope(message: Message) -> list[str]:
    argv = ["--from", message.sender or "<>"]  # swaks reads "<>" as the null sender
    if message.recipients:
        argv += ["--to", ",".join(message.recipients)]
    return argv


def _left_out(message: Message) -> list[str]:
    """Comment lines for what Debian's swaks cannot send: MAIL and RCPT parameters."""
    params = list(message.mail_params)
    for recipient, extra in zip(message.recipients, message.rcpt_params, strict=False):
        params += [f"{p} (RCPT {recipient})" for p in extra]
    if not params:
        return []
    return [
        "# swaks has no option for MAIL/RCPT parameters; the session also sent: "
        + printable(", ".join(params))
    ]


def _command(facts: Facts, host: str, message: Message | None) -> str:
    argv = _connection(facts, host)
    auth = _auth(facts)
    if message is None:
        quit_after = _QUIT_AFTER.get(facts.last_verb, "RCPT")
        return shlex.join(argv) + auth + f" --quit-after {quit_after}"
    head = "\n".join(_left_out(message) + _bdat_note(message))
    head = head + "\n" if head else ""
    argv += _envelope(message)
    if message.data is None or not message.ended:
        stop = "RCPT" if message.recipients else "MAIL"
        return head + shlex.join(argv) + auth + f" --quit-after {stop}"
    lines = _wire_lines(message)
    end = _delimiter(lines)
    body = "".join(line + "\n" for line in lines)
    swaks = shlex.join(argv) + auth + " --data - --no-data-fixup"
    return f"{head}{_CRLF} <<'{end}' | {swaks}\n{body}{end}"


def _header(transcript: Transcript, facts: Facts, notes: list[str]) -> list[str]:
    head = [
        "#!/bin/sh",
        f"# Reproduces SMTP Playground transcript {transcript.id}",
        f"# ({printable(transcript.target)}): one swaks run per mail transaction, each message",
        "# piped in exactly as it was sent (CRLF, dot-stuffed, the final dot) so that swaks",
        "# (--no-data-fixup) changes nothing. swaks does not verify TLS certificates by default.",
    ]
    head += [f"# {printable(note)}" for note in notes]
    if facts.auth_mechanism:
        head += [
            f"# The playground never stores passwords: set {PASSWORD_VARIABLE} first.",
            f': "${{{PASSWORD_VARIABLE}:?set {PASSWORD_VARIABLE} to the AUTH password}}"',
        ]
    return head


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """A sh script reproducing the session with swaks (the password from the environment)."""
    facts = facts_of(transcript)
    reach = reach_of(transcript, facts)
    commands = [_command(facts, reach.host, m) for m in facts.messages]
    script = _header(transcript, facts, reach.notes)
    script.append("")
    script.append("\n\n".join(commands or [_command(facts, reach.host, None)]))
    return ("\n".join(script) + "\n").encode()
