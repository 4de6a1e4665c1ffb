"""A class in real browsers: a trainer and three students, each in their own browser context.

Everything goes the user's way: the trainer signs in with the key and opens a class on its
page; students join by the code (the form and the link); the dashboard, the watch view, the
hints, the broadcast and follow view, the pushed lesson, the restriction, the end of the class
and the report are checked on the pages people look at (docs/classroom.md). Waits are on
locators, never fixed sleeps. The last test runs two app processes sharing PostgreSQL and
Redis: the trainer on one, the students on the other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.axe import assert_accessible
from tests.conftest import LiveServer, build_app
from tests.test_browser_a11y import WIDTHS, themed_context
from tests.test_browser_screenshots import target

pytestmark = pytest.mark.browser

KEY = "classroom-test-trainer-key"
STUDENTS = ("Ada", "Brian", "Chloe")


@pytest.fixture
def school(data_dir: Path, sandbox: Any) -> Iterator[LiveServer]:
    """The app with a known trainer key (PLAYGROUND_TRAINER_KEY)."""
    with LiveServer(build_app(data_dir, sandbox, TRAINER_KEY=KEY)) as live:
        yield live


def new_page(context: Any) -> Any:
    """A page that collects its JavaScript errors (checked when the person leaves)."""
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    return page


class Person:
    """One browser context: a trainer or a student on their own laptop."""

    def __init__(self, browser: Any, url: str, context: Any = None) -> None:
        self.url = url
        self.context = context or browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = new_page(self.context)
        self.pages = [self.page]

    def open(self, click: Any) -> Any:
        """The page a link with target=_blank opens, errors collected like the first."""
        with self.context.expect_page() as info:
            click()
        page = info.value
        page.js_errors = []
        page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
        page.wait_for_load_state()
        self.pages.append(page)
        return page

    def close(self) -> None:
        errors = [e for p in self.pages for e in p.js_errors]
        self.context.close()
        assert not errors, f"JavaScript errors: {errors}"


class Trainer(Person):
    def sign_in(self) -> None:
        self.page.goto(self.url + "/class/login")
        self.page.locator("#trainer-key").fill(KEY)
        self.page.get_by_role("button", name="Sign in as trainer").click()
        self.page.wait_for_url("**/class")
        expect(self.page.locator("#trainer-status")).to_contain_text("Signed in as trainer")

    def open_class(self, title: str) -> str:
        """Open a class from /class; returns its join code (as the projector shows it)."""
        self.page.locator("#class-title").fill(title)
        self.page.get_by_role("button", name="Open a class").click()
        self.page.wait_for_url("**/class/*")
        code = self.page.locator("#join-code")
        expect(code).to_have_text(_six_chars())
        expect(self.page.locator("#dash-summary")).to_have_text("No student has joined yet.")
        return code.inner_text().strip()

    @property
    def class_url(self) -> str:
        return self.page.url.split("?")[0]

    def row(self, name: str) -> Any:
        return self.page.locator("#dashboard tbody tr", has=self.page.get_by_text(name, exact=True))

    def steer(self, form: str, button: str, **select: str) -> None:
        for control, value in select.items():
            self.page.locator(f"#{control.replace('_', '-')}").select_option(value)
        self.page.locator(f"#{form}").get_by_role("button", name=button).click()

    def hint(self, text: str, to: str = "Everyone") -> None:
        self.page.locator("#hint-to").select_option(label=to)
        self.page.locator("#hint-text").fill(text)
        self.page.get_by_role("button", name="Send hint").click()
        expect(self.page.locator("#steer-status")).to_contain_text("Hint sent to")


class Student(Person):
    def __init__(self, browser: Any, url: str, name: str, context: Any = None) -> None:
        super().__init__(browser, url, context)
        self.name = name

    def join(self, code: str) -> None:
        self.page.goto(f"{self.url}/join/{code}")
        self.page.locator("#join-name").fill(self.name)
        self.page.get_by_role("button", name="Join the class").click()
        expect(self.page.locator("#class-me")).to_have_text(self.name)
        expect(self.page.locator("#class-message")).to_contain_text("Only the trainer sees")

    def connect(self, target: str = "sandbox") -> None:
        self.page.locator("#target").select_option(target)
        self.page.get_by_role("button", name="Connect", exact=True).click()

    def type(self, line: str) -> None:
        self.page.locator("#input").fill(line)
        self.page.locator("#input").press("Enter")

    def session(self) -> None:
        """Connect to the sandbox, read the greeting, EHLO."""
        self.connect()
        expect(self.page.locator(".line.reply.r2xx").first).to_contain_text("220")
        self.type("EHLO laptop.example")
        expect(self.page.locator(".line.reply", has_text="250").first).to_be_visible()


def _six_chars() -> Any:
    import re

    return re.compile(r"^[A-HJ-NP-Z2-9]{6}$")


@pytest.fixture
def people(browser: Any, school: LiveServer) -> Iterator[tuple[Trainer, list[Student]]]:
    trainer = Trainer(browser, school.url)
    students = [Student(browser, school.url, name) for name in STUDENTS]
    yield trainer, students
    for person in [trainer, *students]:
        person.close()


def join_all(trainer: Trainer, students: list[Student], title: str = "Tuesday SMTP") -> str:
    trainer.sign_in()
    code = trainer.open_class(title)
    for student in students:
        student.join(code)
    expect(trainer.page.locator("#dashboard tbody tr")).to_have_count(len(students))
    expect(trainer.page.locator("#dash-summary")).to_have_text(
        f"{len(students)} students, {len(students)} connected, 0 stuck."
    )
    return code


def test_join_by_code_live_dashboard_stuck_first_watch_and_hints(
    people: tuple[Trainer, list[Student]], school: LiveServer
) -> None:
    trainer, students = people
    ada, brian, chloe = students
    trainer.sign_in()
    code = trainer.open_class("Tuesday SMTP")
    page = trainer.page
    # The projector: the code, the join link, and the QR code of exactly that link (SVG).
    link = page.locator("#join-link")
    expect(link).to_have_text(f"{school.url}/join/{code}")
    qr = page.locator("#qr")
    expect(qr).to_be_visible()
    # Visible is not loaded: wait for the picture to finish loading, then check it drew.
    page.wait_for_function("() => { const i = document.getElementById('qr'); return i.complete; }")
    assert page.evaluate("() => document.getElementById('qr').naturalWidth") > 0
    svg = page.request.get(school.url + qr.get_attribute("src"))
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.body()

    # One student types the code on /class, the others follow the link.
    ada.page.goto(school.url + "/class")
    ada.page.locator("#join-code").fill(code.lower())
    ada.page.get_by_role("button", name="Join", exact=True).click()
    ada.page.wait_for_url(f"**/join/{code}")
    ada.page.locator("#join-name").fill("Ada")
    ada.page.get_by_role("button", name="Join the class").click()
    expect(ada.page.locator("#class-me")).to_have_text("Ada")
    brian.join(code)
    chloe.join(code)
    expect(page.locator("#dashboard tbody tr")).to_have_count(3)
    expect(page.locator("#dash-summary")).to_have_text("3 students, 3 connected, 0 stuck.")

    # Live: Ada's reply is on the dashboard within a second of reaching her console.
    ada.session()
    started = time.monotonic()
    expect(trainer.row("Ada").locator("[data-field=reply]")).to_contain_text("250", timeout=2000)
    assert time.monotonic() - started < 2.0  # the second, with a shared machine's slack
    expect(trainer.row("Ada").locator("[data-field=target]")).to_have_text("sandbox")
    expect(trainer.row("Ada").locator("[data-field=status]")).to_contain_text("session open")

    # Brian gets three 5xx in a row: he is stuck, and stuck goes first.
    brian.connect()
    expect(brian.page.locator(".line.reply.r2xx").first).to_be_visible()
    for _ in range(3):
        brian.type("FROB the server")
    expect(brian.page.locator(".line.reply.r5xx")).to_have_count(3)
    first = page.locator("#dashboard tbody tr").first
    expect(first).to_have_attribute("data-stuck", "yes")
    expect(first.locator("[data-field=name]")).to_have_text("Brian")
    expect(first.locator("[data-field=stuck]")).to_contain_text("5xx")
    expect(page.locator("#dash-summary")).to_have_text("3 students, 3 connected, 1 stuck.")
    assert page.locator("th[data-col=stuck]").get_attribute("aria-sort") == "descending"

    # Watch: Ada's console read-only with the panels; Ada sees that she is watched.
    watch = trainer.open(lambda: trainer.row("Ada").get_by_role("link", name="Watch Ada").click())
    expect(watch.locator("#view-heading")).to_have_text("Watching Ada")
    expect(watch.locator("#screen .line.sent", has_text="EHLO laptop.example")).to_be_visible()
    expect(watch.locator("#guide")).to_contain_text("EHLO")
    expect(watch.locator("#input")).to_be_disabled()
    expect(ada.page.locator("#watching")).to_have_text("The trainer is watching your console.")
    expect(brian.page.locator("#watching")).to_have_text("")
    ada.type("NOOP")
    expect(watch.locator("#screen .line.sent", has_text="NOOP")).to_be_visible()
    expect(watch.locator("#screen .line.reply", has_text="250").last).to_be_visible()
    expect(trainer.row("Ada").locator("[data-field=status]")).to_contain_text("watched")
    watch.close()
    expect(ada.page.locator("#watching")).to_have_text("")
    # No student sees another's console: Brian at the trainer's watch address is refused.
    student_id = trainer.row("Ada").get_attribute("data-student")
    brian_tab = brian.context.new_page()
    brian_tab.goto(f"{trainer.class_url}/watch/{student_id}")
    expect(brian_tab.locator("#view-state")).to_contain_text("Only the class's trainer")
    expect(brian_tab.locator("#screen .line")).to_have_count(0)
    brian_tab.close()

    # A hint to one student reaches that student only; a hint to all reaches everyone.
    trainer.hint("Brian: a command is four letters, try HELP", to="Brian")
    latest = brian.page.locator("#hint-latest")
    expect(latest).to_contain_text("try HELP")
    assert brian.page.locator("#hint-latest").get_attribute("role") == "status"
    expect(brian.page.locator("#screen .line.class-hint")).to_contain_text("try HELP")
    trainer.hint("Everyone: say EHLO first")
    for student in students:
        expect(student.page.locator("#hint-latest")).to_contain_text("say EHLO first")
    expect(ada.page.locator("#hint-latest")).not_to_contain_text("HELP")
    expect(chloe.page.locator("#hints")).not_to_contain_text("try HELP")


def test_broadcast_follow_lesson_restriction_end_and_report(
    people: tuple[Trainer, list[Student]], school: LiveServer
) -> None:
    trainer, students = people
    ada, brian, chloe = students
    join_all(trainer, students)
    page = trainer.page

    # Push a lesson: every student's console follows it at once.
    trainer.steer("lesson-form", "Push lesson", push_lesson="first-email")
    expect(page.locator("#steer-status")).to_contain_text("Pushed the lesson")
    for student in students:
        expect(student.page.locator("#lesson")).to_have_attribute("data-lesson", "first-email")
        expect(student.page.locator("#lesson-picker")).to_have_value("first-email")
    expect(trainer.row("Chloe").locator("[data-field=lesson]")).to_contain_text("passed 0 of 7")

    # Broadcast: the trainer's own console on every laptop that opens the follow view.
    console = trainer.open(lambda: page.locator("#broadcast-link").click())
    console.get_by_role("button", name="Broadcast this console").click()
    expect(console.locator("#broadcast-toggle")).to_have_attribute("aria-pressed", "true")
    follow_link = chloe.page.locator("#follow-link")
    expect(follow_link).to_be_visible()
    follow = chloe.open(lambda: follow_link.click())
    expect(follow.locator("#view-state")).to_contain_text("the trainer's console")
    console.get_by_role("button", name="Connect", exact=True).click()
    console.locator("#input").fill("EHLO projector.example")
    console.locator("#input").press("Enter")
    expect(follow.locator("#screen .line.sent", has_text="EHLO projector.example")).to_be_visible()
    expect(follow.locator("#screen .line.reply", has_text="250").first).to_be_visible()
    expect(follow.locator("#guide")).to_contain_text("EHLO")
    expect(follow.locator("#input")).to_be_disabled()

    # Restrict to the sandbox: another target is refused in words.
    trainer.steer("restrict-form", "Restrict", restrict_target="sandbox")
    expect(brian.page.locator("#class-message")).to_contain_text("restricted the class to sandbox")
    brian.connect("sandbox-tls")
    expect(brian.page.locator("#class-message")).to_contain_text("sandbox")
    expect(brian.page.locator("#screen .line.error").last).to_be_visible()
    ada.session()
    expect(trainer.row("Ada").locator("[data-field=reply]")).to_contain_text("250")

    # End the class (two presses): sessions closed in words, transcripts kept.
    end = page.locator("#end-class")
    end.click()
    expect(end).to_have_text("Press again to end the class for everyone")
    end.click()
    expect(end).to_be_disabled()
    expect(ada.page.locator("#status")).to_contain_text("Closed")
    expect(
        ada.page.locator("#screen .line.info", has_text="trainer ended the class")
    ).to_be_visible()
    for student in students:
        expect(student.page.locator("#class-message")).to_contain_text("transcripts are kept")

    # The report: one row per student, Ada's session and transcript; the CSV.
    page.locator("#report-link").click()
    page.wait_for_url("**/report")
    report = page.locator("#report tbody tr")
    expect(report).to_have_count(3)
    ada_row = page.locator("#report tbody tr", has=page.get_by_text("Ada", exact=True))
    expect(ada_row.locator("[data-field=sessions]")).to_have_text("1")
    expect(ada_row.locator("[data-field=lessons]")).to_contain_text("Your first email")
    expect(ada_row.locator("[data-field=transcripts] a")).to_have_count(1)
    csv = page.request.get(school.url + page.locator("#csv-link").get_attribute("href"))
    assert csv.headers["content-type"].startswith("text/csv")
    header, *lines = csv.text().strip().splitlines()
    assert header.split(",")[:3] == ["student", "name", "joined_at"]
    assert sorted(line.split(",")[1] for line in lines) == list(STUDENTS)


def test_dashboard_sort_and_controls_by_keyboard(
    people: tuple[Trainer, list[Student]], school: LiveServer
) -> None:
    trainer, students = people
    join_all(trainer, students)
    page = trainer.page
    names = page.locator("#dashboard tbody [data-field=name]")
    # Tab from the heading's sort button to the next: each is a button with the column name.
    sort = page.locator("th[data-col=name] button")
    sort.focus()
    page.keyboard.press("Enter")
    assert page.locator("th[data-col=name]").get_attribute("aria-sort") == "ascending"
    assert page.locator("th[data-col=stuck]").get_attribute("aria-sort") is None
    expect(names).to_have_text(list(STUDENTS))
    page.keyboard.press("Space")
    expect(page.locator("th[data-col=name]")).to_have_attribute("aria-sort", "descending")
    expect(names).to_have_text(list(reversed(STUDENTS)))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.sort") == "stuck"
    page.keyboard.press("Enter")
    expect(page.locator("th[data-col=stuck]")).to_have_attribute("aria-sort", "descending")
    # The row's Hint button puts the student in the hint form and the focus in its text.
    page.get_by_role("button", name="Hint to Chloe").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "hint-text"
    assert page.locator("#hint-to option:checked").inner_text() == "Chloe"
    page.keyboard.type("Only for Chloe")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Send hint button
    expect(students[2].page.locator("#hint-latest")).to_contain_text("Only for Chloe")
    expect(students[0].page.locator("#hints")).to_be_hidden()
    # The projector mode by keyboard, and Escape back.
    page.locator("#projector-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#projector-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#students")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(page.locator("#students")).to_be_visible()


THEMES = ("dark", "light", "contrast")
CASES = [(w, t) for w in WIDTHS for t in THEMES]


@pytest.mark.parametrize(("width", "theme"), CASES, ids=[f"{w}-{t}" for w, t in CASES])
def test_every_classroom_page_passes_axe(
    browser: Any, school: LiveServer, width: str, theme: str
) -> None:
    """Every classroom page with content (a class, a student in it, a hint), in each theme,
    wide and at 390 px."""
    trainer = Trainer(browser, school.url)
    student = Student(browser, school.url, "Ada", themed_context(browser, *WIDTHS[width], theme))
    themed = themed_context(browser, *WIDTHS[width], theme)
    try:
        trainer.sign_in()
        code = trainer.open_class("Accessible class")
        class_url = trainer.class_url
        student.join(code)
        student.session()
        trainer.hint("Look at the Where you are panel")
        expect(student.page.locator("#hint-latest")).to_contain_text("Where you are")
        expect(trainer.row("Ada").locator("[data-field=reply]")).to_contain_text("250")
        student_id = trainer.row("Ada").get_attribute("data-student")
        # The themed context is the trainer's (their cookie); the student's is themed too.
        themed.add_cookies(trainer.context.cookies())
        page = new_page(themed)
        pages = {
            "classroom": ("/class", "#trainer-status"),
            "trainer login": ("/class/login", "#trainer-key"),
            "class page": (class_url, "#dashboard tbody tr"),
            "watch": (f"{class_url}/watch/{student_id}", "#screen .line.reply"),
            "follow": (f"{class_url}/follow", "#view-state"),
            "broadcast console": (f"{class_url}/console", "#broadcast-toggle"),
            "report": (f"{class_url}/report", "#report tbody tr"),
            "join": (f"/join/{code}", "#join-name"),
        }
        for name, (path, ready) in pages.items():
            page.goto(path if path.startswith("http") else school.url + path)
            page.locator(ready).first.wait_for()
            assert_accessible(page, f"{name} ({theme}, {width})")
        # The student's own console in the class, with the hint showing.
        assert_accessible(student.page, f"student console in a class ({theme}, {width})")
        assert not page.js_errors, page.js_errors
    finally:
        themed.close()
        trainer.close()
        student.close()


@pytest.fixture
def two_schools(tmp_path: Path, sandbox: Any) -> Iterator[tuple[Any, Any]]:
    """Two ``python app.py`` processes (as on two hosts) sharing PostgreSQL and Redis."""
    from tests.apps import AppProcess
    from tests.test_multiprocess import REDIS_URL
    from tests.test_store import _postgres_url

    if not REDIS_URL:
        pytest.skip("needs a real Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/15")
    for pg_url in _postgres_url():
        env = {"DATABASE_URL": pg_url, "REDIS_URL": REDIS_URL, "PLAYGROUND_TRAINER_KEY": KEY}
        ports = (sandbox.config.port, sandbox.config.tls_port)
        started: list[Any] = []
        try:
            for name in ("host-a", "host-b"):
                started.append(AppProcess(tmp_path / name, env, ports).start())
            yield started[0], started[1]
        finally:
            for app in started:
                app.stop()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_trainer_on_one_process_students_on_the_other(
    browser: Any, two_schools: tuple[Any, Any]
) -> None:
    """The dashboard, the watch view and the hints cross processes through Redis."""
    host_a, host_b = two_schools
    trainer = Trainer(browser, host_a.url)
    students = [Student(browser, host_b.url, name) for name in ("Ada", "Brian")]
    try:
        join_all(trainer, students, "Two hosts")
        ada, brian = students
        ada.session()
        expect(trainer.row("Ada").locator("[data-field=reply]")).to_contain_text("250")
        expect(trainer.row("Ada").locator("[data-field=status]")).to_contain_text("session open")
        watch = trainer.open(
            lambda: trainer.row("Ada").get_by_role("link", name="Watch Ada").click()
        )
        expect(watch.locator("#screen .line.sent", has_text="EHLO laptop.example")).to_be_visible()
        expect(ada.page.locator("#watching")).to_have_text("The trainer is watching your console.")
        ada.type("NOOP")
        expect(watch.locator("#screen .line.sent", has_text="NOOP")).to_be_visible()
        trainer.hint("Across hosts, Brian", to="Brian")
        expect(brian.page.locator("#hint-latest")).to_contain_text("Across hosts")
        expect(ada.page.locator("#hints")).to_be_hidden()
    finally:
        for person in [trainer, *students]:
            person.close()


def test_accounts_mode_the_account_name_is_the_display_name(
    browser: Any, data_dir: Path, sandbox: Any
) -> None:
    """With accounts a trainer is a user with the trainer role (no key), the API calls carry
    the CSRF token, and a student joins under their account name."""
    from tests.test_accounts import PASSWORD, Auth, make_app

    app = make_app(data_dir, sandbox)
    auth = Auth(app)
    auth.create("tina", role="trainer")
    auth.create("sam")
    with LiveServer(app) as live:
        trainer = Trainer(browser, live.url)
        student = Student(browser, live.url, "sam")
        try:
            for person, name in ((trainer, "tina"), (student, "sam")):
                person.page.goto(live.url + "/login?next=/class")
                person.page.locator("#name").fill(name)
                person.page.locator("#password").fill(PASSWORD)
                person.page.get_by_role("button", name="Sign in").click()
                person.page.wait_for_url("**/class")
            expect(trainer.page.locator("#trainer-status")).to_contain_text("tina")
            expect(student.page.locator("#trainer-status")).to_contain_text("not a trainer")
            code = trainer.open_class("Accounts class")
            student.page.goto(f"{live.url}/join/{code}")
            name = student.page.locator("#join-name")
            expect(name).to_have_value("sam")
            assert name.get_attribute("readonly") is not None
            student.page.get_by_role("button", name="Join the class").click()
            expect(student.page.locator("#class-me")).to_have_text("sam")
            expect(trainer.row("sam")).to_have_count(1)
            trainer.hint("Hello sam")
            expect(student.page.locator("#hint-latest")).to_contain_text("Hello sam")
        finally:
            trainer.close()
            student.close()


def test_screenshot_of_the_trainer_dashboard(
    browser: Any, school: LiveServer, tmp_path: Path
) -> None:
    """The trainer's class page with three students at work, 1366 px wide (the whole page, so
    the dashboard's rows are in it); UPDATE_SCREENSHOT=1 refreshes docs/screenshot-classroom.png
    for the README."""
    trainer = Trainer(
        browser, school.url, browser.new_context(viewport={"width": 1366, "height": 800})
    )
    students = [Student(browser, school.url, name) for name in STUDENTS]
    try:
        join_all(trainer, students)
        ada, brian, chloe = students
        page = trainer.page
        trainer.steer("lesson-form", "Push lesson", push_lesson="first-email")
        for student in students:
            expect(student.page.locator("#lesson")).to_have_attribute("data-lesson", "first-email")
        # Ada is well into the lesson, Chloe has just said EHLO, Brian is stuck on 5xx.
        ada.session()
        ada.type("MAIL FROM:<ada@laptop.example>")
        expect(trainer.row("Ada").locator("[data-field=step]")).to_have_text("MAIL FROM")
        ada.type("RCPT TO:<bob@sandbox.test>")
        expect(trainer.row("Ada").locator("[data-field=step]")).to_have_text("RCPT TO")
        chloe.session()
        brian.connect()
        expect(brian.page.locator(".line.reply.r2xx").first).to_be_visible()
        for _ in range(3):
            brian.type("FROB the server")
        expect(brian.page.locator(".line.reply.r5xx")).to_have_count(3)
        # What the picture shows: each student's latest reply and lesson progress.
        expect(trainer.row("Ada").locator("[data-field=reply]")).to_contain_text("250")
        expect(trainer.row("Ada").locator("[data-field=lesson]")).to_contain_text("passed 4 of 7")
        expect(trainer.row("Chloe").locator("[data-field=reply]")).to_contain_text("250")
        expect(trainer.row("Chloe").locator("[data-field=step]")).to_have_text("EHLO")
        expect(trainer.row("Brian").locator("[data-field=reply]")).to_contain_text("500")
        expect(trainer.row("Brian").locator("[data-field=stuck]")).to_contain_text("5xx")
        expect(page.locator("#dashboard tbody tr").first).to_have_attribute("data-stuck", "yes")
        expect(page.locator("#dash-summary")).to_have_text("3 students, 3 connected, 1 stuck.")
        for name in STUDENTS:
            expect(trainer.row(name)).to_be_visible()
        path = target(tmp_path, "screenshot-classroom.png")
        page.screenshot(path=str(path), full_page=True)  # the projector panel, then the rows
        assert path.stat().st_size > 10_000
    finally:
        for person in [trainer, *students]:
            person.close()
