"""Lessons 4 (TLS, two connections), 5 (MX) and 10 (slow and silent servers) run to the end
in a real browser, offline.

"Offline" is made real: the app's DNS server is a closed loopback port, so any DNS query
would fail; lesson 5 finishes through the built-in sandbox.test zone all the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smtp_session.guide.lessons import Lesson, load_lessons
from tests.conftest import LiveServer, build_app, free_port

pytestmark = pytest.mark.browser

LESSONS = {lesson.id: lesson for lesson in load_lessons()}


@pytest.fixture
def offline(data_dir: Any, sandbox: Any) -> Iterator[LiveServer]:
    app = build_app(data_dir, sandbox, DNS_SERVER=f"127.0.0.1:{free_port()}")
    with LiveServer(app) as live:
        yield live


class LessonDriver:
    def __init__(self, page: Any, lesson: Lesson) -> None:
        self.page = page
        self.lesson = lesson
        self.panel = page.locator("#lesson")
        page.locator("#lesson-picker option", has_text=lesson.title).wait_for(state="attached")
        page.locator("#lesson-picker").select_option(lesson.id)

    def status(self, step_id: str) -> str:
        return self.panel.locator(f"[data-step='{step_id}']").get_attribute("data-status")

    def done(self, step_id: str) -> None:
        self.panel.locator(f"[data-step='{step_id}'][data-status=done]").wait_for()

    def hint(self, step_id: str) -> None:
        """Press the current step's hint button, then Enter, as a learner would."""
        assert self.status(step_id) == "current"
        step = next(s for s in self.lesson.steps if s.id == step_id)
        self.panel.get_by_role("button", name=f"Insert hint: {step.hint}").click()
        self.page.locator("#input").press("Enter")
        self.done(step_id)

    def connect(self, target: str) -> None:
        self.page.locator("#target").select_option(target)
        self.page.get_by_role("button", name="Connect", exact=True).click()

    def finished(self) -> None:
        self.panel.locator("[data-field=complete]").wait_for()
        text = self.panel.inner_text()
        assert "null" not in text, text
        passed = self.panel.locator("[data-field=passed]").text_content()
        total = len(self.lesson.steps)
        assert passed.startswith(f"Passed {total} of {total}: ")
        for step in self.lesson.steps:
            assert step.title in passed


def test_tls_lesson_to_the_end_across_two_connections(page: Any, offline: LiveServer) -> None:
    page.goto(offline.url + "/")
    lesson = LessonDriver(page, LESSONS["starttls-and-implicit-tls"])
    assert "null" not in lesson.panel.inner_text()
    lesson.connect("sandbox")
    lesson.done("plain-connect")
    lesson.hint("ehlo-offers-starttls")
    lesson.hint("starttls")
    lesson.done("handshake")
    lesson.hint("ehlo-after-tls")
    lesson.hint("quit-plain")
    page.locator("#status", has_text="Closed").wait_for()
    # A new connection goes on with the lesson: the implicit-TLS step, not step 1.
    lesson.connect("sandbox-tls")
    lesson.done("implicit-connect")
    lesson.done("implicit-greeting")
    assert lesson.status("plain-connect") == "done"
    lesson.hint("implicit-ehlo")
    lesson.hint("quit-tls")
    lesson.finished()
    # "Start over" begins the lesson again, from the first step, for the next connection.
    lesson.panel.get_by_role("button", name="Start over").click()
    lesson.panel.locator("[data-step='plain-connect'][data-status=current]").wait_for()
    assert lesson.panel.locator("[data-field=passed]").count() == 0
    lesson.connect("sandbox")
    lesson.done("plain-connect")


def test_mx_lesson_to_the_end_offline_through_sandbox_test(page: Any, offline: LiveServer) -> None:
    page.goto(offline.url + "/")
    lesson = LessonDriver(page, LESSONS["mx-lookup"])
    page.locator("#target").select_option("custom")
    page.locator("#custom-host").fill("mx:sandbox.test")
    assert page.locator("#preset").input_value() == "25"  # what the lesson says
    page.get_by_role("button", name="Connect", exact=True).click()
    lesson.done("lookup")
    screen = page.locator("#screen")
    dig = "sandbox.test.            300      IN  MX    5 mx-dead.sandbox.test."
    screen.get_by_text(dig).wait_for()
    refused = screen.locator(".line", has_text="mx-dead.sandbox.test (127.0.0.1): Could not")
    assert "connection refused" in refused.text_content()
    lesson.done("connect")
    lesson.done("greeting")
    for step in ("ehlo", "mail-from", "rcpt", "quit"):
        lesson.hint(step)
    lesson.finished()


def test_no_lesson_shows_null_and_each_names_its_first_step(page: Any, live: LiveServer) -> None:
    page.goto(live.url + "/")
    for lesson in LESSONS.values():
        driver = LessonDriver(page, lesson)
        driver.panel.locator(f"[data-step='{lesson.steps[0].id}'][data-status=current]").wait_for()
        text = driver.panel.inner_text()
        assert "null" not in text and "undefined" not in text, (lesson.id, text)
        assert lesson.steps[0].instructions.split("{")[0] in text  # placeholders: filled


def test_slow_and_silent_lesson_in_the_browser(page: Any, live: LiveServer, sandbox: Any) -> None:
    """Lesson 10 in a real console: a tarpitted 250, a slow dot, a 421 and a silent hang-up."""
    sandbox.engine.time_scale = 0.05  # the scenarios' waits, shortened
    page.goto(live.url + "/")
    lesson = LessonDriver(page, LESSONS["slow-and-silent-servers"])

    def type_lines(*lines: str) -> None:
        for line in lines:
            page.locator("#input").fill(line)
            page.locator("#input").press("Enter")

    lesson.connect("sandbox")
    lesson.done("connect")
    type_lines("EHLO client.example")
    for step in ("open", "tarpit", "slow", "data"):
        lesson.hint(step)
    type_lines("Subject: slow", ".")
    lesson.done("slow-dot")
    type_lines("MAIL FROM:<alice@client.example>")
    lesson.hint("shutdown")
    lesson.done("closed-after-421")
    page.locator("#status", has_text="Closed").wait_for()
    lesson.connect("sandbox")
    lesson.done("reconnect")
    type_lines(
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<hangup@sandbox.test>",
        "DATA",
        "Subject: lost?",
        ".",
    )
    lesson.done("hang-up")
    lesson.finished()
    assert sandbox.mailbox.messages()[0].subject == "slow"  # the slow one was delivered
