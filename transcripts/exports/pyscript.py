"""The Python export: an smtplib script that replays the session's transactions.

Every value from the transcript enters the script through ``repr()``, so whatever a server or
user wrote stays data and never becomes code. Credentials are read from the environment.
"""

from __future__ import annotations

from transcripts.exports._common import Explain
from transcripts.exports.facts import Facts, Message, facts_of
from transcripts.model import Transcript

_HEADER = '''#!/usr/bin/env python3
"""Replays an SMTP Playground transcript with smtplib.

The playground never stores credentials: set SMTP_USER (defaults to the recorded username)
and SMTP_PASSWORD (or SMTP_OAUTH_TOKEN for XOAUTH2) in the environment.
"""

import os
import smtplib
import ssl
'''

_MAIN = """

def main() -> None:
    context = ssl.create_default_context()
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


def _constants(transcript: Transcript, facts: Facts) -> list[str]:
    return [
        f"TRANSCRIPT = {transcript.id!r}",
        f"HOST = {facts.host!r}",
        f"PORT = {facts.port!r}",
        f"EHLO = {facts.ehlo!r}",
        f"USER = os.environ.get('SMTP_USER', {(facts.auth_user or '')!r})",
    ]


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


def _transaction(message: Message) -> list[str]:
    if message.data is not None and message.ended:
        # sendmail dot-stuffs and ends with CRLF . CRLF itself, so the server gets these bytes.
        return [
            f"refused = smtp.sendmail({message.sender!r}, {message.recipients!r}, "
            f"{message.data!r})",
            "print('refused recipients:', refused)",
        ]
    lines = [f"smtp.mail({message.sender!r})"]
    lines += [f"smtp.rcpt({recipient!r})" for recipient in message.recipients]
    return lines + ["smtp.rset()  # the recorded transaction sent no complete message"]


def render(transcript: Transcript, explain: Explain | None = None) -> bytes:
    """The Python script (smtplib, credentials from environment variables)."""
    facts = facts_of(transcript)
    steps = _greeting(facts) + _auth(facts)
    for message in facts.messages:
        steps += _transaction(message)
    body = "".join(f"    {line}\n" for line in steps)
    script = _HEADER + "\n" + "\n".join(_constants(transcript, facts)) + "\n"
    if facts.auth_mechanism == "XOAUTH2":
        script += _XOAUTH2
    script += _MAIN.format(connect=_connect(facts), body=body)
    return script.encode()
