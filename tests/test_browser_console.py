"""A real browser types the classic tutorial transaction and finds the message in the inbox."""

from __future__ import annotations

import re
import smtplib
import ssl

import pytest

pytestmark = pytest.mark.browser

TRANSACTION = [
    "EHLO client.example",
    "MAIL FROM:<alice@example.com>",
    "RCPT TO:<bob@example.com>",
    "DATA",
]
MESSAGE = [
    'From: "Alice" <alice@example.com>',
    'To: "Bob" <bob@example.com>',
    "Subject: Test",
    "",
    "Hello Bob.",
    ".",
]


def type_line(page, text: str) -> None:
    page.locator("#input").fill(text)
    page.locator("#input").press("Enter")


def _paste(page, text: str) -> None:
    """Paste ``text`` into the input as the browser delivers a paste event."""
    page.evaluate(
        """(text) => {
        const input = document.getElementById('input');
        const data = new DataTransfer();
        data.setData('text', text);
        input.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true,
                                                         cancelable: true}));
    }""",
        text,
    )


def test_tutorial_transaction_in_the_console(page, live):
    page.goto(live.url + "/")
    assert page.locator("#target").input_value() == "sandbox"
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")  # 220 greeting
    assert page.locator(".line.reply").first.text_content().startswith("220 ")

    for line in TRANSACTION:
        type_line(page, line)
    page.wait_for_selector(".line.reply.r3xx")  # 354
    for line in MESSAGE:
        type_line(page, line)
    queued = page.locator(".line.reply", has_text="queued as")
    queued.wait_for()
    assert queued.text_content().startswith("250 ")
    type_line(page, "QUIT")
    page.locator(".line.reply", has_text=re.compile(r"^221 ")).wait_for()  # not a queue id
    page.locator("#status", has_text="Closed").wait_for()

    # Sent lines and replies are told apart, and replies are coloured by class.
    assert page.locator(".line.sent", has_text="MAIL FROM:<alice@example.com>").count() == 1
    assert page.locator(".line.reply.r2xx").count() >= 5

    page.goto(live.url + "/sandbox")
    page.get_by_role("link", name="Test").click()
    assert page.locator("#subject").text_content() == "Test"
    raw = page.locator("#raw").text_content()
    assert raw.replace("\r\n", "\n") == "\n".join(MESSAGE[:-1]) + "\n"


def test_history_paste_and_line_editing(page, live):
    page.goto(live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    box = page.locator("#input")
    type_line(page, "NOOP")
    page.locator(".line.reply", has_text="250").first.wait_for()
    box.press("ArrowUp")
    assert box.input_value() == "NOOP"
    box.press("Control+u")
    assert box.input_value() == ""
    # A multi-line paste is sent as lines, in order.
    _paste(page, "RSET\nNOOP\n")
    # Without PIPELINING the second line leaves only after RSET's reply: wait for both.
    page.locator(".line.sent").nth(2).wait_for()
    sent = page.locator(".line.sent").all_text_contents()
    assert sent == ["NOOP", "RSET", "NOOP"]


def test_a_pasted_message_is_sent_whole_shown_by_its_ends_and_kept_out_of_history(
    page, live, sandbox
):
    page.goto(live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    for line in ("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"):
        type_line(page, line)
        page.locator(".line.reply", has_text=re.compile(r"^250")).nth(-1).wait_for()
    type_line(page, "DATA")
    page.locator(".line.reply", has_text=re.compile(r"^354 ")).wait_for()
    body = ["Subject: long", ""] + [f"body line {i}" for i in range(20_000)]
    _paste(page, "\n".join([*body, "."]) + "\n")
    page.locator(".line.reply", has_text="queued as").wait_for(timeout=60_000)
    [msg] = sandbox.mailbox.messages()
    assert sandbox.mailbox.raw(msg.id) == ("\r\n".join(body) + "\r\n").encode()
    # Each 'lines' frame is shown by its ends; a line at the edge of a frame is in the console.
    assert page.locator(".line.sent", has_text="body line 19999").count() == 1
    assert page.locator(".line.info", has_text="more message lines sent").count() >= 5
    assert page.locator(".line.sent").count() < 5_000
    # The history recalls the commands typed, not the message's lines.
    box = page.locator("#input")
    box.press("ArrowUp")
    assert box.input_value() == "DATA"


def test_the_sandbox_page_downloads_the_certificate_that_verifies_it(page, live, sandbox, tmp_path):
    page.goto(live.url + "/sandbox")
    link = page.get_by_role("link", name="the sandbox's certificate")
    assert sandbox.cert.fingerprint in page.locator(".fingerprint").text_content()
    with page.expect_download() as download:
        link.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "smtp-playground-sandbox.pem"
    context = ssl.create_default_context(cafile=str(path))
    with smtplib.SMTP_SSL("127.0.0.1", sandbox.config.tls_port, timeout=10, context=context):
        pass  # verified: chain and host name, with the file the page gave


def _history(page) -> list[str]:
    return page.evaluate(
        "() => JSON.parse(localStorage.getItem('smtp-playground-history-v2') || '[]')"
    )


def test_credentials_never_reach_the_history_however_they_are_sent(page, live):
    # What an earlier version may have kept is removed when the console loads.
    page.goto(live.url + "/")
    page.evaluate("() => localStorage.setItem('smtp-playground-history', '[\"ZGVtbw==\"]')")
    page.reload()
    assert page.evaluate("() => localStorage.getItem('smtp-playground-history')") is None
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    user, password = "ZGVtbw==", "ZGVtby1wYXNzd29yZA=="  # demo / demo-password
    # AUTH refused (no EHLO yet): the answers typed next are read as commands, yet they are
    # still the username and the password, and redacted as such.
    type_line(page, "AUTH LOGIN")
    page.locator(".line.reply", has_text=re.compile(r"^5\d\d ")).nth(0).wait_for()
    for n, answer in enumerate((user, password), start=1):
        type_line(page, answer)
        page.locator(".line.reply", has_text=re.compile(r"^5\d\d ")).nth(n).wait_for()
    # Pasted in one go: the answers to AUTH LOGIN look like nothing in particular until
    # the 334s come back; the playground knows what they are, and the browser asks it.
    _paste(page, "\n".join(["EHLO client.example", "STARTTLS", "EHLO client.example",
                            "AUTH LOGIN", user, password, "NOOP"]) + "\n")  # fmt: skip
    page.locator(".line.reply", has_text=re.compile(r"^235 ")).wait_for()
    page.locator(".line.sent", has_text=re.compile(r"^NOOP$")).wait_for()
    page.locator(".line.reply").nth(-1).filter(has_text=re.compile(r"^250 ")).wait_for()
    # Already authenticated: the server says 503, so the token typed next is no SASL
    # answer; it is still credentials, redacted in its echo, and never kept.
    token = "AGRlbW8AZGVtby1wYXNzd29yZA=="
    type_line(page, "AUTH PLAIN")
    page.locator(".line.reply", has_text="Already authenticated").wait_for()
    type_line(page, token)
    page.locator(".line.sent", has_text="[credentials, redacted]").nth(2).wait_for()
    type_line(page, "RSET")
    page.locator(".line.sent", has_text=re.compile(r"^RSET$")).wait_for()
    # A pasted message: its lines (the empty one too) are text, the commands around it kept.
    envelope = ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA"]
    _paste(page, "\n".join([*envelope, "Subject: x", "", "hello", ".", "NOOP"]) + "\n")
    page.locator(".line.reply", has_text="queued as").wait_for()
    page.locator(".line.sent", has_text=re.compile(r"^NOOP$")).nth(1).wait_for()

    history = _history(page)
    assert history == ["AUTH LOGIN", "EHLO client.example", "STARTTLS", "EHLO client.example",
                       "AUTH LOGIN", "NOOP", "AUTH PLAIN", "RSET", *envelope, "NOOP"]  # fmt: skip
    stored = page.evaluate("() => JSON.stringify(Object.assign({}, localStorage))")
    for secret in (user, password, token):
        assert secret not in stored
    box = page.locator("#input")
    recalled = []
    for _ in range(len(history) + 1):
        box.press("ArrowUp")
        recalled.append(box.input_value())
    assert recalled == [*reversed(history), history[0]]


def test_a_bdat_chunk_is_shown_before_the_reply_to_its_command(page, live, sandbox):
    page.goto(live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    for line in ("EHLO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>"):
        type_line(page, line)
        page.locator(".line.reply", has_text=re.compile(r"^250")).nth(-1).wait_for()
    page.locator("[data-helper=chunk] summary").click()
    chunk = page.get_by_label("BDAT chunk to send")
    last = page.get_by_label("Last chunk (LAST)")
    send = page.get_by_role("button", name="Send chunk")
    for text, is_last in (("Subject: two chunks\n\nfirst part\n", False), ("second part\n", True)):
        chunk.fill(text)
        last.set_checked(is_last)
        send.click()
        page.locator(".line.reply", has_text=re.compile(r"^250 ")).nth(-1).filter(
            has_text="queued as" if is_last else "octets"
        ).wait_for()
    shown = page.locator("#screen .line").all_text_contents()
    start = next(i for i, text in enumerate(shown) if text.startswith("BDAT "))
    assert [text.split(": queued as ")[0] for text in shown[start:]] == [
        "BDAT 35",  # CRLF line ends: 19 + 2 + 2 + 10 + 2 octets
        "Subject: two chunks",
        "\u00a0",  # the empty line
        "first part",
        "250 2.0.0 35 octets received",
        "BDAT 13 LAST",
        "second part",
        "250 2.0.0 Ok",
    ]


def test_the_focus_stays_on_the_controls_when_a_session_ends(page, live):
    page.goto(live.url + "/")
    focused = "() => document.activeElement.id"
    page.locator("#connect").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".line.reply.r2xx")
    assert page.evaluate(focused) == "input"  # Connect: type at once
    page.locator("#disconnect").focus()
    page.keyboard.press("Enter")
    page.locator("#status", has_text="Closed").wait_for()
    assert page.evaluate(focused) == "connect"  # Disconnect, disabled now, hands it on
    page.keyboard.press("Enter")
    page.locator(".line.reply.r2xx").nth(1).wait_for()
    assert page.evaluate(focused) == "input"
    page.keyboard.type("QUIT")
    page.keyboard.press("Enter")
    page.locator(".line.reply", has_text=re.compile(r"^221 ")).wait_for()
    page.locator("#connect:not([disabled])").wait_for()
    assert page.evaluate(focused) == "connect"  # the input, disabled after QUIT, too


def test_control_characters_are_shown_and_warned_of(page, live):
    page.goto(live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    type_line(page, "EHLO client.example")
    page.locator(".line.reply", has_text=re.compile(r"^250 ")).wait_for()
    type_line(page, "NOOP a\x01b\x1b[31mred")
    # An ESC would vanish from the screen (or, in a terminal, colour it): its picture shows.
    sent = page.locator(".line.sent", has_text="NOOP a")
    sent.wait_for()
    assert sent.text_content() == "NOOP a\u2401b\u241b[31mred"
    warning = page.locator("[data-panel=warnings] [data-code='line:control-character']")
    warning.wait_for()
    assert "0x01, ESC (0x1B)" in warning.text_content()
    # The replay shows it the same way; the transcript keeps the characters themselves.
    page.locator(".line.reply", has_text=re.compile(r"^250 ")).nth(1).wait_for()
    tid = page.evaluate("() => document.body.dataset.transcript")
    page.goto(f"{live.url}/t/{tid}")
    page.wait_for_selector("#replay[data-ready='1']")
    page.keyboard.press("End")
    assert page.locator(".line.sent", has_text="NOOP a").first.text_content() == (
        "NOOP a\u2401b\u241b[31mred"
    )


def test_a_line_no_frame_can_carry_is_refused_in_words(page, live):
    page.goto(live.url + "/")
    page.get_by_role("button", name="Connect", exact=True).click()
    page.wait_for_selector(".line.reply.r2xx")
    type_line(page, "NOOP " + "x" * 2_000_000)
    error = page.locator(".line.error", has_text="Nothing was sent")
    error.wait_for()
    assert (
        "one line is 1.9 MB" in error.text_content()
        and "Break it into lines" in error.text_content()
    )
    assert page.locator(".line.sent").count() == 0
    type_line(page, "NOOP")  # the session goes on
    page.locator(".line.reply", has_text=re.compile(r"^250 ")).wait_for()
