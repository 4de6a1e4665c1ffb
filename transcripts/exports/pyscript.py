"""The Python export: an smtplib script that replays the session's transactions byte for byte.

Every value from the transcript enters the script through ``repr()``, so whatever a server or
user wrote stays data and never becomes code. Credentials are read from the environment; the
CA that verifies the server's certificate comes from ``--cafile`` or ``SMTP_CAFILE``.
"""

from __future__ import annotations

from transcripts.exports._common import Explain, filename, printable
from transcripts.exports.facts import Facts, Message, facts_of
from transcripts.exports.reach import reach_of
from transcripts.model import Transcript

_HEADER = '''#!/usr/bin/env python3
"""Replays SMTP Playground transcript {id} with smtplib.

    python3 {name} [--cafile CA.pem]

TLS certificates are verified. A server with its own certificate (the playground's sandbox:
download it from the sandbox page, /sandbox/ca.pem) needs --cafile CA.pem or SMTP_CAFILE=CA.pem.
The playground never stores credentials: set SMTP_USER (defaults to the recorded username)
and SMTP_PASSWORD (or SMTP_OAUTH_TOKEN for XOAUTH2) in the environment.
"""

import argparse
import os
import smtplib
import ssl
'''

_HELPERS = '''

def transaction(smtp, sender, mail_params, recipients, message):
    """MAIL, each RCPT and the message (None: the session sent none), with their parameters."""
    smtp.mail(sender, mail_params)
    for recipient, params in recipients:
        smtp.rcpt(recipient, params)
    if message is None:
        smtp.rset()  # the recorded transaction sent no complete message
        return
    if isinstance(message, list):
        bdat(smtp, message)
        return
    try:
        # smtplib dot-stuffs and ends with CRLF . CRLF, so the server gets exactly MESSAGE.
        smtp.data(message)
    except smtplib.SMTPDataError as refused:
        print("the server refused the message:", refused.smtp_code, refused.smtp_error)


def bdat(smtp, chunks):
    """RFC 3030 BDAT, which smtplib lacks: each chunk's count, LAST on the last, its octets."""
    for number, chunk in enumerate(chunks, 1):
        last = " LAST" if number == len(chunks) else ""
        smtp.send(f"BDAT {len(chunk)}{last}\\r\\n".encode() + chunk)
        code, text = smtp.getreply()
        if code != 250:
            print("the server refused the chunk:", code, text)
            return


def options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cafile",
        default=os.environ.get("SMTP_CAFILE"),
        help="PEM file of the CA (or the certificate) that signed the server's certificate",
    )
    return parser.parse_args()
'''

_MAIN = """

def main() -> None:
    args = options()
    context = ssl.create_default_context(cafile=args.cafile)
    smtp = {connect}
    smtp.set_debuglevel(1)  # print the dialogue, as the playground showed it
{body}    smtp.quit()


if __name__ == "__main__":
    main()
"""

# smtplib's own SASL helpers, by mechanism (RFC 4616 PLAIN, LOGIN, RFC 2195 CRAM-MD5).
_AUTH_OBJECTS = {
    "PLAIN": "smtp.auth_plain",
    "LOGIN": "smtp.auth_login",
    "CRAM-MD5": "smtp.auth_cram_md5",
}

_XOAUTH2 = '''

def xoauth2(challenge: bytes | None = None) -> str:
    """Google's XOAUTH2 initial response; an empty reply to an error challenge."""
    if challenge:
        return ""
    token = os.environ["SMTP_OAUTH_TOKEN"]
    return f"user={USER}\\x01auth=Bearer {token}\\x01\\x01"
'''


def _constants(transcript: Transcript, facts: Facts, host: str) -> list[str]:
    lines = [
        f"TRANSCRIPT = {transcript.id!r}",
        f"HOST = {host!r}",
        f"PORT = {facts.port!r}",
        f"EHLO = {facts.ehlo!r}",
        f"USER = os.environ.get('SMTP_USER', {(facts.auth_user or '')!r})",
    ]
    for number, message in enumerate(facts.messages, 1):
        content = message.chunks if message.chunks is not None else message.data
        lines.append(f"MESSAGE_{number} = {content if message.ended else None!r}")
    return lines


def _connect(facts: Facts) -> str:
    if facts.tls_on_connect:
        return "smtplib.SMTP_SSL(HOST, PORT, local_hostname=EHLO, timeout=60, context=context)"
    return "smtplib.SMTP(HOST, PORT, local_hostname=EHLO, timeout=60)"


def _greeting(facts: Facts) -> list[str]:
    hello = "smtp.helo(EHLO)" if facts.greeting_verb == "HELO" else "smtp.ehlo(EHLO)"
    lines = [hello]
    if facts.starttls:
        lines += ["smtp.starttls(context=context)", hello]  # RFC 3207 §4.2: greet again
    return lines


def _auth(facts: Facts) -> list[str]:
    mech = facts.auth_mechanism
    if mech is None:
        return []
    if mech == "XOAUTH2":
        return ["smtp.auth('XOAUTH2', xoauth2)"]
    lines = ["smtp.user, smtp.password = USER, os.environ['SMTP_PASSWORD']"]
    if mech in _AUTH_OBJECTS:
        return lines + [f"smtp.auth({mech!r}, {_AUTH_OBJECTS[mech]})"]
    return [
        f"# the session used AUTH {mech}, which smtplib lacks; login() picks one it has",
        "smtp.login(USER, os.environ['SMTP_PASSWORD'])",
    ]


def _transaction(number: int, message: Message) -> str:
    recipients = list(zip(message.recipients, message.rcpt_params, strict=False))
    return (
        f"transaction(smtp, {message.sender!r}, {message.mail_params!r}, {recipients!r}, "
        f"MESSAGE_{number})"
    )


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The Python script (smtplib, credentials from environment variables)."""
    facts = facts_of(transcript)
    reach = reach_of(transcript, facts)
    steps = _greeting(facts) + _auth(facts)
    steps += [_transaction(n, m) for n, m in enumerate(facts.messages, 1)]
    body = "".join(f"    {line}\n" for line in steps)
    # Comments, one line each (printable() escapes line breaks): no text can become code.
    notes = "".join(f"# {printable(note)}\n" for note in reach.notes)
    script = _HEADER.format(id=transcript.id, name=filename(transcript, "py"))
    script += "\n" + notes + "\n".join(_constants(transcript, facts, reach.host)) + "\n"
    if facts.auth_mechanism == "XOAUTH2":
        script += _XOAUTH2
    script += _HELPERS
    script += _MAIN.format(connect=_connect(facts), body=body)
    return script.encode()
