"""Lessons: the shipped files validate, and each one passes step by step against real replies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtp_session.guide.checker import check_command
from smtp_session.guide.lessons import (
    LESSONS_DIR,
    Lesson,
    LessonError,
    LessonProgress,
    load_lesson,
    load_lessons,
)
from smtp_session.guide.transaction import Transaction
from smtp_session.sandbox.scenario_engine import ScenarioEngine
from smtp_session.sandbox.scenario_format import ACTIONS, Scenario, load_scenarios
from smtp_session.sandbox.server import SandboxServer
from smtp_session.wire.events import TlsMode
from smtp_session.wire.reply import parse_reply
from tests.conftest import LiveServer, WsDriver, build_app, wait_until
from tests.dns_server import DnsServer
from tests.test_transaction import EHLO_TLS, GREETING, HELLO, play

LESSONS = {lesson.id: lesson for lesson in load_lessons()}


def test_ten_lessons_ship_and_validate() -> None:
    assert len(LESSONS) == 10
    assert [p.name for p in sorted(LESSONS_DIR.glob("*.json"))][0] == "01-first-email.json"
    assert list(LESSONS)[0] == "first-email"
    json.dumps([lesson.to_dict() for lesson in LESSONS.values()])


@pytest.mark.parametrize("lesson", LESSONS.values(), ids=list(LESSONS))
def test_hints_are_well_formed_commands(lesson: Lesson) -> None:
    """A hint the learner copies must not trip the syntax or spelling checks."""
    tx = play(HELLO)
    for step in lesson.steps:
        answers_a_prompt = step.done_when.get("step") == "auth-response" or "authenticated" in (
            step.done_when
        )
        if step.hint not in (None, ".") and not answers_a_prompt:
            codes = [w.code for w in check_command(step.hint, tx, sandbox=True)]
            assert [c for c in codes if c.split(":")[0] in ("syntax", "verb", "line")] == []


def test_error_lesson_matches_the_sandbox_scenarios() -> None:
    """Lesson 7 names each failing address with the code its scenario file really gives."""
    engine = ScenarioEngine(load_scenarios())
    checked = 0
    for step in LESSONS["reading-error-replies"].steps:
        cond = step.done_when
        if step.hint and step.hint.startswith("RCPT TO:<") and "enhanced" in cond:
            address = step.hint[len("RCPT TO:<") : -1]
            session = engine.session("192.0.2.1")
            session.on_mail("alice@client.example")
            session.on_rcpt(address)
            at = "end-of-data" if step.done_when.get("step") == "end-of-data" else "RCPT"
            (line,) = session.at(at, address).lines
            assert line.startswith(f"{cond['reply']} {cond['enhanced']} ")
            checked += 1
    assert checked == 7


# -- through the real app: /ws, the same session and guide the console uses ------------------


class Learner:
    """A learner at the console: lines go through /ws, progress comes back in lesson frames."""

    def __init__(self, ws: WsDriver, lesson_id: str) -> None:
        self.ws = ws
        ws.send({"type": "lesson", "lesson": lesson_id})
        ws.wait_for("lesson")

    @property
    def state(self) -> dict[str, Any]:
        """The server-side state the app last reported."""
        return next(f["state"] for f in reversed(self.ws.frames) if "state" in f)

    @property
    def passed(self) -> list[str]:
        return [step for f in self.ws.frames if f["type"] == "lesson" for step in f["passed"]]

    @property
    def finished(self) -> bool:
        lessons = [f for f in self.ws.frames if f["type"] == "lesson"]
        return bool(lessons) and lessons[-1].get("complete") is True

    def connect(self, **frame: Any) -> None:
        self._wait_for_the_last_close()
        self.ws.send({"type": "connect", **frame})
        self.ws.wait_for("reply", after="greeting")

    def _wait_for_the_last_close(self) -> None:
        """A new connect waits until the last session is closed: the server's close can come
        after its 221, and a connect before it is refused ("a session is already open")."""
        opened = [i for i, f in enumerate(self.ws.frames) if f["type"] == "session"]
        if opened and not any(f["type"] == "closed" for f in self.ws.frames[opened[-1] :]):
            self.ws.wait_for("closed")

    def send(self, line: str) -> None:
        message_line = self.state["expect"] == "data" and line != "."
        self.ws.send({"type": "line", "text": line})
        if message_line:
            self.ws.wait_for("sent")  # the server answers only the final dot
            return
        reply = self.ws.wait_for("reply")
        if reply["after"] == "STARTTLS" and reply["code"] == 220:
            self.ws.wait_for("tls")

    def retry_after_greylisting(self, line: str) -> None:
        """Send ``line`` again once the delay the sandbox's 451 named has passed."""
        refused_at = time.monotonic()  # the 451 is in: the sandbox's clock started before it
        wait_until(lambda: time.monotonic() - refused_at >= GREYLIST, timeout=GREYLIST + 5)
        self.send(line)

    def hang_up(self, line: str | None) -> None:
        """Send ``line`` (if any) and wait for the server to close, and the lesson to see it."""
        if line is not None:
            self.ws.send({"type": "line", "text": line})
        self.ws.wait_for("closed")
        self.ws.wait_for("lesson")  # the progress a closed event made comes after it

    def finish(self) -> None:
        self.ws.wait_for("closed")


TIME_SCALE = 0.03  # the scenarios' waits shortened for the suite: greylisting's 10 s is 0.3 s
GREYLIST = 10 * TIME_SCALE
MESSAGE = ["From: alice@client.example", "To: bob@sandbox.test", "Subject: hi", "", "Hello.", "."]
TLS_EHLO = ["EHLO client.example", "STARTTLS", "EHLO client.example"]
SANDBOX: dict[str, Any] = {"target": "sandbox"}
# What a learner does for each lesson: a connect frame (a dict), a line, or ("retry", line).
SCRIPTS: dict[str, list[Any]] = {
    "first-email": [
        SANDBOX,
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<bob@sandbox.test>",
        "DATA",
        *MESSAGE,
        "QUIT",
    ],
    "ehlo-capabilities": [
        SANDBOX,
        "EHLO client.example",
        "HELO client.example",
        "HELP",
        *TLS_EHLO,
        "QUIT",
    ],
    "auth-login-plain": [
        SANDBOX,
        *TLS_EHLO,
        "AUTH PLAIN AGRlbW8Ad3JvbmctcGFzc3dvcmQ=",
        "AUTH LOGIN",
        "ZGVtbw==",
        "ZGVtby1wYXNzd29yZA==",
        "QUIT",
    ],
    "starttls-and-implicit-tls": [
        SANDBOX,
        *TLS_EHLO,
        "QUIT",
        {"target": "sandbox-tls"},
        "EHLO client.example",
        "QUIT",
    ],
    "mx-lookup": [
        {"target": "mx:class.test"},  # the port is the sandbox's, added by the test
        "EHLO client.example",
        "MAIL FROM:<you@client.example>",
        "RCPT TO:<someone@sandbox.test>",
        "QUIT",
    ],
    "recipients-rset-second-message": [
        SANDBOX,
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<bob@sandbox.test>",
        "RCPT TO:<carol@sandbox.test>",
        "RSET",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<bob@sandbox.test>",
        "RCPT TO:<carol@sandbox.test>",
        "DATA",
        *MESSAGE,
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<bob@sandbox.test>",
        "DATA",
        *MESSAGE,
        "QUIT",
    ],
    "reading-error-replies": [
        SANDBOX,
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<unknown@sandbox.test>",
        "RCPT TO:<disabled@sandbox.test>",
        "RCPT TO:<relay@elsewhere.example>",
        "RCPT TO:<full@sandbox.test>",
        "RCPT TO:<tempfail@sandbox.test>",
        "RCPT TO:<greylist@sandbox.test>",
        # The retry is a new transaction after the delay, as a sending server's queue makes it.
        ("retry", "RSET"),
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<greylist@sandbox.test>",
        "RSET",
        "MAIL FROM:<alice@client.example>",
        "DATA",
        "RSET",
        "MAIL FROM:<alice@client.example> SIZE=99999999",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<policy@sandbox.test>",
        "DATA",
        *MESSAGE,
        "QUIT",
    ],
    "greylisting-and-retries": [
        SANDBOX,
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<flaky@sandbox.test>",
        "RCPT TO:<flaky@sandbox.test>",
        "RCPT TO:<flaky@sandbox.test>",
        "RCPT TO:<greylist@sandbox.test>",
        ("retry", "RSET"),
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<greylist@sandbox.test>",
        "DATA",
        *MESSAGE,
        "QUIT",
    ],
    "server-limits": [
        SANDBOX,
        "EHLO small.client.example",
        "MAIL FROM:<alice@client.example> SIZE=5000",
        "EHLO needs-tls.client.example",
        "MAIL FROM:<alice@client.example>",
        "STARTTLS",
        "EHLO needs-tls.client.example",
        "MAIL FROM:<alice@client.example>",
        "EHLO needs-auth.client.example",
        "MAIL FROM:<alice@client.example>",
        "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==",
        "MAIL FROM:<alice@client.example>",
        "QUIT",
        SANDBOX,
        "EHLO chatty.client.example",
        *["NOOP"] * 6,  # five served, the sixth answered 421
        ("hang-up", None),
    ],
    "slow-and-silent-servers": [
        SANDBOX,
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<tarpit@sandbox.test>",
        "RCPT TO:<slow@sandbox.test>",
        "DATA",
        *MESSAGE,
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<shutdown@sandbox.test>",
        ("hang-up", None),
        SANDBOX,
        "EHLO client.example",
        "MAIL FROM:<alice@client.example>",
        "RCPT TO:<hangup@sandbox.test>",
        "DATA",
        *MESSAGE[:-1],
        ("hang-up", "."),
    ],
}
# An MX zone on a real DNS server: the sandbox (on loopback) is the domain's only MX.
ZONE = {"class.test": ["MX 10 mail.class.test"], "mail.class.test": ["A 127.0.0.1"]}


@pytest.fixture
def classroom(data_dir: Path, sandbox: SandboxServer) -> Iterator[WsDriver]:
    """The app with MX routing to the sandbox through a real DNS server on loopback."""
    with DnsServer(ZONE) as dns:
        host, dns_port = dns.address
        app = build_app(
            data_dir,
            sandbox,
            ALLOWED_TARGETS="*.class.test",
            ALLOWED_PORTS=str(sandbox.config.port),
            ALLOW_PRIVATE="127.0.0.0/8",
            DNS_SERVER=f"{host}:{dns_port}",
        )
        with LiveServer(app) as live:
            driver = WsDriver(live.ws_url)
            yield driver
            driver.close()


@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", list(SCRIPTS))
def test_lesson_passes_through_the_console_path(
    lesson_id: str,
    classroom: WsDriver,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox.engine, "time_scale", TIME_SCALE)
    learner = Learner(classroom, lesson_id)
    for action in SCRIPTS[lesson_id]:
        if isinstance(action, dict):
            port = {"port": sandbox.config.port} if action["target"].startswith("mx:") else {}
            learner.connect(**action, **port)
        elif isinstance(action, tuple) and action[0] == "hang-up":
            learner.hang_up(action[1])
        elif isinstance(action, tuple):
            learner.retry_after_greylisting(action[1])
        else:
            learner.send(action)
    last = SCRIPTS[lesson_id][-1]
    if not (isinstance(last, tuple) and last[0] == "hang-up"):
        learner.finish()  # a lesson that ends in a hang-up has seen its close already
    assert learner.passed == [step.id for step in LESSONS[lesson_id].steps]
    assert learner.finished


def test_lesson_4_passes_its_plain_half_through_the_console_path(ws: WsDriver) -> None:
    """The first connection's steps, through /ws (the lesson then goes on after a reconnect)."""
    learner = Learner(ws, "starttls-and-implicit-tls")
    learner.connect(target="sandbox")
    for line in [*TLS_EHLO, "QUIT"]:
        learner.send(line)
    learner.finish()
    steps = [step.id for step in LESSONS["starttls-and-implicit-tls"].steps]
    assert learner.passed == steps[: steps.index("quit-plain") + 1]


def test_script_covers_every_lesson() -> None:
    assert set(SCRIPTS) == set(LESSONS)


def _actions_of(scenario: Scenario) -> set[str]:
    return {
        name
        for rule in scenario.rules
        for name, value in vars(rule.action).items()
        if value not in (None, 0, 0.0, False)
    }


def test_the_lessons_use_every_scenario_action() -> None:
    """Each action of the scenario format is met in a lesson driven above through /ws."""
    engine = ScenarioEngine(load_scenarios())
    used: set[str] = set()
    for lines in SCRIPTS.values():
        for line in (x for x in lines if isinstance(x, str)):
            verb, _, arg = line.partition(" ")
            kind = {"EHLO": "ehlo", "RCPT": "recipient", "MAIL": "sender"}.get(verb)
            value = arg.split("<")[-1].split(">")[0] if "<" in arg else arg
            if kind is not None:
                for scenario in engine.triggered(kind, value.lower()):
                    used |= _actions_of(scenario)
    assert used == set(ACTIONS)


# -- progress rules, with replies worded as aiosmtpd 1.4.6 words them -------------------------


def _feed(
    progress: LessonProgress, tx: Transaction, kind: str, command: str | None, text: str
) -> list[str]:
    reply = parse_reply(text)
    tx.observe(command, kind, reply)
    return progress.observe(command, kind, reply, tx)


def test_steps_pass_in_order_only() -> None:
    progress, tx = LessonProgress(LESSONS["first-email"]), Transaction()
    tx.observe_connect()
    # A 250 to MAIL does not pass the MAIL step while the lesson waits for the greeting.
    assert _feed(progress, tx, "command", "MAIL FROM:<a@b.example>", "250 OK") == []
    assert _feed(progress, tx, "greeting", None, GREETING) == ["connect"]
    assert _feed(progress, tx, "command", "EHLO c", "503 Error: send HELO first") == []
    assert _feed(progress, tx, "command", "EHLO c", "250-sandbox.test\r\n250 HELP") == ["ehlo"]
    statuses = [s["status"] for s in progress.to_dict()["steps"]]
    assert statuses[:4] == ["passed", "passed", "current", "pending"]


def test_auth_lesson_with_built_replies() -> None:
    lesson = LESSONS["auth-login-plain"]
    progress, tx = LessonProgress(lesson), Transaction()
    tx.observe_connect()
    tx.observe(None, "greeting", parse_reply(GREETING))
    moves = [
        ("command", "EHLO c", "250-sandbox.test\r\n250-STARTTLS\r\n250 HELP"),
        ("command", "STARTTLS", "220 Ready to start TLS"),
        ("tls", None, ""),
        ("command", "EHLO c", EHLO_TLS),
        ("command", "AUTH PLAIN AGRlbW8Ad3Jvbmc=", "535 5.7.8 Authentication credentials invalid"),
        ("command", "AUTH LOGIN", "334 VXNlcm5hbWU6"),
        ("auth-response", "ZGVtbw==", "334 UGFzc3dvcmQ6"),
        ("auth-response", "ZGVtby1wYXNzd29yZA==", "235 2.7.0 Authentication successful"),
        ("command", "QUIT", "221 Bye"),
    ]
    passed = []
    for kind, command, text in moves:
        if kind == "tls":
            tx.observe_tls(TlsMode.STARTTLS)
            continue
        passed += _feed(progress, tx, kind, command, text)
    assert passed == [s.id for s in lesson.steps] and progress.finished


def test_events_pass_only_their_step() -> None:
    progress = LessonProgress(LESSONS["starttls-and-implicit-tls"])
    progress.passed = [s.id for s in progress.lesson.steps[:3]]
    assert progress.observe_event("tls", {"tls_mode": "implicit"}) == []
    assert progress.observe_event("connected", {"tls_mode": "starttls"}) == []
    assert progress.observe_event("tls", {"tls_mode": "starttls", "version": "TLSv1.3"}) == [
        "handshake"
    ]


# -- bad lesson files -----------------------------------------------------------------------


def _valid() -> dict[str, Any]:
    return json.loads((LESSONS_DIR / "01-first-email.json").read_text())


def _mutate(change: str) -> dict[str, Any]:
    data = _valid()
    step = data["steps"][1]
    mutations = {
        "missing-title": lambda: data.pop("title"),
        "bad-level": lambda: data.update(level="expert"),
        "unknown-field": lambda: step.update({"done-when": {}}),
        "no-steps": lambda: data.update(steps=[]),
        "bad-reply-code": lambda: step.update(done_when={"reply": 999}),
        "unknown-verb": lambda: step.update(done_when={"after": "EHOL", "reply": 250}),
        "unknown-condition": lambda: step.update(done_when={"replies": 250}),
        "bad-enhanced": lambda: step.update(done_when={"enhanced": "5.1"}),
        "empty-any-of": lambda: step.update(done_when={"any_of": []}),
        "duplicate-step": lambda: step.update(id=data["steps"][0]["id"]),
        "hint-not-text": lambda: step.update(hint=42),
    }
    mutations[change]()
    return data


BAD = [
    ("missing-title", "lesson.title: missing"),
    ("bad-level", "lesson.level: must be one of beginner"),
    ("unknown-field", "steps[1].done-when: unknown field"),
    ("no-steps", "lesson.steps: must be a non-empty list"),
    ("bad-reply-code", "steps[1].done_when.reply: must be a reply code"),
    ("unknown-verb", "steps[1].done_when.after: must be an SMTP verb"),
    ("unknown-condition", "steps[1].done_when.replies: unknown condition"),
    ("bad-enhanced", "steps[1].done_when.enhanced: must be an enhanced status code"),
    ("empty-any-of", "steps[1].done_when.any_of: must be the only key"),
    ("duplicate-step", "steps[1].id: 'connect' is used twice"),
    ("hint-not-text", "steps[1].hint: must be a string or null"),
]


@pytest.mark.parametrize(("change", "expected"), [pytest.param(c, e, id=c) for c, e in BAD])
def test_bad_lesson_names_file_and_field(tmp_path: Path, change: str, expected: str) -> None:
    (tmp_path / "99-broken.json").write_text(json.dumps(_mutate(change)))
    with pytest.raises(LessonError) as err:
        load_lessons(tmp_path)
    assert err.value.message.startswith("99-broken.json: ")
    assert expected in err.value.message
    assert err.value.code == "bad_lesson"


def test_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "01-x.json"
    path.write_text('{\n  "id": "x",\n  oops\n}')
    with pytest.raises(LessonError, match=r"01-x\.json: not valid JSON at line 3"):
        load_lesson(path)


def test_duplicate_lesson_id_across_files(tmp_path: Path) -> None:
    for name in ("01-a.json", "02-b.json"):
        (tmp_path / name).write_text(json.dumps(_valid()))
    with pytest.raises(LessonError, match=r"02-b\.json: lesson\.id: 'first-email' is already 01-a"):
        load_lessons(tmp_path)


def test_any_of_and_event_data_conditions(tmp_path: Path) -> None:
    data = _valid()
    data["steps"] = [
        {
            **data["steps"][0],
            "done_when": {"any_of": [{"reply": 220}, {"event": "tls", "tls_mode": "implicit"}]},
        }
    ]
    (tmp_path / "01-any.json").write_text(json.dumps(data))
    (lesson,) = load_lessons(tmp_path)
    assert LessonProgress(lesson).observe_event("tls", {"tls_mode": "implicit"}) == ["connect"]
    tx = Transaction()
    assert LessonProgress(lesson).observe(None, "greeting", parse_reply("220 x"), tx) == ["connect"]


def test_documented_example_is_a_valid_lesson(tmp_path: Path) -> None:
    doc = (LESSONS_DIR.parent / "docs" / "lessons.md").read_text(encoding="utf-8")
    example = doc.split("## A full example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    (tmp_path / "08-example.json").write_text(example)
    (lesson,) = load_lessons(tmp_path)
    assert lesson.id == "vrfy-and-noop" and len(lesson.steps) == 5
