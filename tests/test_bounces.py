"""Whole bounces (RFC 3464 DSNs and NDR texts) through POST /api/explain: each recipient.

The NDR texts are quoted from public threads (the source is beside each); the MIME DSN is
built the way Postfix writes one (RFC 3464 §2: multipart/report, message/delivery-status).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp_session.knowledge.explain_bounce import explain_bounce

GH = "https://github.com/"

MIME_DSN = """\
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
To: sender@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.org.
I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
Arrival-Date: Fri,  4 Mar 2016 17:29:52 +0100

Final-Recipient: rfc822; user@docker-mail.tld
Original-Recipient: rfc822;user@docker-mail.tld
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx00.udag.de
Diagnostic-Code: smtp; 550 5.1.1 <user@docker-mail.tld>: Recipient address
    rejected: User unknown in local recipient table

Final-Recipient: rfc822; busy@example.net
Action: delayed
Status: 4.2.2
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full
Will-Retry-Until: Mon, 7 Mar 2016 17:29:52 +0100

--B
Content-Type: message/rfc822

From: sender@example.org
Subject: hello

hi
--B--
"""

# (source, bounce text, [(recipient, action, headline key)])
NDRS = [
    (
        GH + "maks/MGit/issues/198",
        """                  The mail system

<mgit@manichord.com>: host aspmx.l.google.com[74.125.71.26] said: 550-5.1.1 The
    email account that you tried to reach does not exist. Please try 550-5.1.1
    double-checking the recipient's email address for typos or 550-5.1.1
    unnecessary spaces. Learn more at 550 5.1.1
    https://support.google.com/mail/?p=NoSuchUser c29si2155252wrc.110 - gsmtp
    (in reply to RCPT TO command)
""",
        [("mgit@manichord.com", "failed", "server:gmail-no-such-user")],
    ),
    (
        GH + "MISP/MISP/issues/6481",
        """  ahoj@jakubonderka.cz
    host ASPMX.L.GOOGLE.COM [142.250.27.27]
    SMTP error from remote mail server after RCPT TO:<ahoj@jakubonderka.cz>:
    550-5.1.1 The email account that you tried to reach does not exist. Please try
    550-5.1.1 double-checking the recipient's email address for typos or
    550-5.1.1 unnecessary spaces. Learn more at
    550 5.1.1  https://support.google.com/mail/?p=NoSuchUser s19si71853ejd.408 - gsmtp
""",
        [("ahoj@jakubonderka.cz", "failed", "server:gmail-no-such-user")],
    ),
    (
        GH + "bruceg/ezmlm-idx/issues/11",
        """Hi. This is the qmail-send program at example.ca.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<someone@umail.ucc.ie>:
64.233.184.27 failed after I sent the message.
Remote host said: 550-5.7.1 Unauthenticated email from example.no is not accepted due to
550-5.7.1 domain's DMARC policy. Please contact the administrator of
550-5.7.1 example.no domain if this was a legitimate mail. Please visit
550-5.7.1  https://support.google.com/mail/answer/2451690 to learn about the
550 5.7.1 DMARC initiative. r75si5694561wmf.156 - gsmtp
""",
        [("someone@umail.ucc.ie", "failed", "server:gmail-dmarc")],
    ),
    (
        GH + "sympa-community/sympa/issues/1164",
        """Delivery has failed to these recipients or groups:

ecma-testdl@my-safe-cloud.ch

Diagnostic information for administrators:
Generating server: GV0P278MB0516.CHEP278.PROD.OUTLOOK.COM
ecma-testdl@my-safe-cloud.ch
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient \
ecma-testdl@my-safe-cloud.ch not found by SMTP address lookup'
""",
        [("ecma-testdl@my-safe-cloud.ch", "failed", "server:ms-recipient-not-found")],
    ),
    (
        GH + "wallix/PEPS/issues/41",
        """Delivery to the following recipient failed permanently:

     aravind@test.heyneighbor.chat

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for the \
recipient domain test.heyneighbor.chat by corp.scrollback.io. [52.76.37.88].

The error that the other server returned was:
550 I cannot deliver mail for <aravind@test.heyneighbor.chat>
""",
        [("aravind@test.heyneighbor.chat", "failed", "reply:550")],
    ),
    (
        GH + "Phorum/Core/issues/890",
        """Hi. This is the qmail-send program at phorum.org.

<phorum-announce-request@lists.phorum.org>:
Connected to 64.147.113.42 but greeting failed.
Remote host said: 450 4.7.1 Client host rejected: cannot find your hostname, [67.63.143.243]
I'm not going to try again; this message has been in the queue too long.
""",
        [("phorum-announce-request@lists.phorum.org", "delayed", "server:postfix-client-host")],
    ),
]


def test_mime_dsn_gives_every_recipient_its_outcome() -> None:
    got = explain_bounce(MIME_DSN)
    assert got["reporting_mta"] == "mail.example.org" and got["found"]
    first, second = got["recipients"]
    assert (first["recipient"], first["action"], first["found_by"]) == (
        "user@docker-mail.tld",
        "failed",
        "dsn",
    )
    assert first["status"]["code"] == "5.1.1" and first["remote_mta"] == "mx00.udag.de"
    assert first["reply"]["layer"] in ("server:postfix-user-unknown", "enhanced:5.1.1")
    assert second["action"] == "delayed" and second["status"]["code"] == "4.2.2"
    assert "trying" in second["action_meaning"]


def test_dsn_fields_pasted_as_plain_text_are_read() -> None:
    # docker-mailserver/docker-mailserver#22: the DSN part pasted without its MIME wrapping
    text = """Reporting-MTA: dns; mail.cnode.fr
Arrival-Date: Thu,  1 Oct 2015 19:47:05 +0000 (UTC)

Final-Recipient: rfc822; xxxxx@me.com
Action: failed
Status: 5.7.0
Remote-MTA: dns; mx1.mail.icloud.com
Diagnostic-Code: smtp; 550 5.7.0 Blocked - see
   https://support.proofpoint.com/dnsbl-lookup.cgi?ip=62.210.110.165:
   xxxxx@me.com
"""
    [only] = explain_bounce(text)["recipients"]
    assert only["recipient"] == "xxxxx@me.com" and only["status"]["code"] == "5.7.0"
    assert only["reply"]["layer"] == "server:proofpoint-blocked"


@pytest.mark.parametrize(("source", "text", "expected"), NDRS, ids=[n[0][19:] for n in NDRS])
def test_ndr_texts_are_explained_per_recipient(source: str, text: str, expected: list) -> None:
    got = explain_bounce(text)["recipients"]
    assert [(r["recipient"], r["action"], r["reply"]["layer"]) for r in got] == expected


def test_sendmail_transcript_and_flufl_bounce_find_the_recipient() -> None:
    text = """From: Mail Delivery Subsystem <MAILER-DAEMON@example.net>
To: sender@example.org
Subject: Returned mail: User unknown

   ----- The following addresses had permanent fatal errors -----
<nobody@example.com>

   ----- Transcript of session follows -----
... while talking to mx.example.com.:
>>> RCPT To:<nobody@example.com>
<<< 550 5.1.1 <nobody@example.com>... User unknown
"""
    [only] = explain_bounce(text)["recipients"]
    assert only["recipient"] == "nobody@example.com" and only["after"] == "RCPT"
    assert only["reply"]["layer"] in ("server:sendmail-user-unknown", "enhanced:5.1.1")


def test_a_text_that_is_no_bounce_says_so() -> None:
    got = explain_bounce("Hello, how are you?")
    assert got["recipients"] == [] and got["found"] is False


def test_api_takes_a_bounce(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/api/explain", json={"bounce": MIME_DSN})
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["kind"] == "bounce" and len(data["recipients"]) == 2


def test_api_refuses_two_kinds_at_once(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/api/explain", json={"bounce": "x", "reply": "250 ok"})
    assert resp.status_code == 400 and "exactly one" in resp.get_json()["error"]


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400))
def test_arbitrary_text_never_raises(text: str) -> None:
    json.dumps(explain_bounce(text))
