"""Scenario files: the built-ins validate, the doc describes the whole format, a bad trainer
file stops the start with errors that say where, and the sandbox page lists every scenario."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smtp_session.sandbox.scenario_format import (
    ACTIONS,
    BUILTIN_DIR,
    STAGES,
    ScenarioError,
    load_scenario,
    load_scenarios,
    parse_ports,
    rule_in_words,
)
from tests.conftest import build_app

ROOT = BUILTIN_DIR.parent
DOC = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
BUILTINS = load_scenarios()


def test_the_built_ins_validate_and_cover_the_former_magic_addresses() -> None:
    assert len(BUILTINS) == len(list(BUILTIN_DIR.glob("*.json"))) == 19
    recipients = {a for s in BUILTINS.values() for a in s.trigger.get("recipient", ())}
    former = {
        "unknown@sandbox.test",
        "full@sandbox.test",
        "greylist@sandbox.test",
        "relay@elsewhere.example",
        "toobig@sandbox.test",
        "policy@sandbox.test",
        "disabled@sandbox.test",
        "tempfail@sandbox.test",
    }
    assert former <= recipients


def _table(heading: str) -> str:
    """The first table after a heading of the doc."""
    return DOC.split(heading, 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]


def test_the_doc_lists_every_stage_and_action_the_loader_accepts() -> None:
    stages = re.findall(r"^\| `([\w-]+)`", _table("The stages:"), re.M)
    assert stages == list(STAGES)
    actions = re.findall(r"^\| `(\w+)`", _table("## Actions"), re.M)
    assert actions == list(ACTIONS)


def test_the_doc_lists_every_built_in_file() -> None:
    files = re.findall(r"^\| `([\w-]+\.json)`", _table("## The built-in scenarios"), re.M)
    assert sorted(files) == sorted(p.name for p in BUILTIN_DIR.glob("*.json"))


def test_the_doc_examples_are_valid(tmp_path: Path) -> None:
    examples = re.findall(r"```json\n(.*?)```", DOC.split("## Examples", 1)[1], re.S)
    assert len(examples) == 2
    for i, text in enumerate(examples):
        (tmp_path / f"{i}.json").write_text(text)
        load_scenario(tmp_path / f"{i}.json", f"{i}.json")


def test_rules_in_words() -> None:
    flaky = BUILTINS["flaky"].rules[0]
    assert rule_in_words(flaky) == (
        "At RCPT for flaky@sandbox.test, attempt 1-2: reply 451 4.3.0 "
        "<flaky@sandbox.test>: Temporary lookup failure"
    )
    assert rule_in_words(BUILTINS["require-tls"].rules[0]) == (
        "At MAIL: refuse until STARTTLS (530 5.7.0)"
    )


# -- bad files name the file, the path within it, and what is wrong --------------------------


def _valid() -> dict[str, Any]:
    return {
        "id": "classroom",
        "title": "Classroom",
        "teaches": "Something.",
        "trigger": {"recipient": ["x@sandbox.test"]},
        "rules": [
            {"stage": "RCPT", "action": {"delay": 1}},
            {"stage": "MAIL", "action": {"require": "tls"}},
            {"stage": "RCPT", "action": {"reply": {"code": 550, "text": "no"}}},
        ],
    }


def _mutate(change: str) -> dict[str, Any]:
    data = _valid()
    rule = data["rules"][2]
    mutations = {
        "code": lambda: rule["action"]["reply"].update(code=250),
        "stage": lambda: rule.update(stage="HELO"),
        "missing-teaches": lambda: data.pop("teaches"),
        "unknown-field": lambda: rule.update(when="now"),
        "empty-action": lambda: rule.update(action={}),
        "two-refusers": lambda: rule.update(
            action={"require": "auth", "greylist": {"attempts": 1, "seconds": 5}}
        ),
        "enhanced-class": lambda: rule["action"]["reply"].update(enhanced="4.1.1"),
        "placeholder": lambda: rule["action"]["reply"].update(text="{adress} refused"),
        "multi-line": lambda: rule["action"]["reply"].update(text=["ok", ""]),
        "delay": lambda: rule["action"].update(delay=-1),
        "address-too-early": lambda: rule.update(stage="EHLO", address="a@b.example"),
        "attempts": lambda: rule.update(attempts={"from": 3, "to": 2}),
        "trigger": lambda: data.update(trigger={"rcpt": ["x"]}),
        "key": lambda: data.update(key=["ip"]),
        "greylist": lambda: rule["action"].update(greylist={"attempts": 0, "seconds": 5}),
        "no-rules": lambda: data.update(rules=[]),
        "long-line": lambda: rule["action"]["reply"].update(text="x" * 481),
    }
    mutations[change]()
    return data


BAD = [
    ("code", "rules[2].action.reply.code: must be 400-599"),
    ("stage", "rules[2].stage: must be one of connect, greeting, EHLO"),
    ("missing-teaches", "scenario.teaches: missing"),
    ("unknown-field", "rules[2].when: unknown field"),
    ("empty-action", "rules[2].action: must hold at least one of reply, delay"),
    ("two-refusers", "rules[2].action: require and greylist cannot be in one action"),
    ("enhanced-class", "rules[2].action.reply.enhanced: its class 4 is not the code's"),
    ("placeholder", "rules[2].action.reply.text: unknown placeholder {adress}"),
    ("multi-line", "rules[2].action.reply.text[1]: must be a non-empty string"),
    ("delay", "rules[2].action.delay: must be a number of seconds, 0-300"),
    ("address-too-early", "rules[2].address: no address is known yet at EHLO"),
    ("attempts", "rules[2].attempts.to: must not be below from"),
    ("trigger", "trigger.rcpt: unknown field"),
    ("key", "scenario.key: must be a non-empty list of client, sender, recipient, ehlo"),
    ("greylist", "rules[2].action.greylist.attempts: must be a whole number >= 1"),
    ("no-rules", "rules: must be a non-empty list"),
    ("long-line", "rules[2].action.reply.text: must be at most 480 characters"),
]


@pytest.mark.parametrize(("change", "expected"), [pytest.param(c, e, id=c) for c, e in BAD])
def test_a_bad_file_names_file_path_and_problem(tmp_path: Path, change: str, expected: str) -> None:
    folder = tmp_path / "classroom"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps(_mutate(change)))
    with pytest.raises(ScenarioError) as err:
        load_scenarios(folder)
    assert f"{folder}/x.json: {expected}" in err.value.problems[0]
    assert err.value.code == "bad_scenario"


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_mutate("code")))
    (tmp_path / "b.json").write_text('{\n  "id": "b",\n  oops\n}')
    (tmp_path / "c.json").write_text(json.dumps({**_valid(), "id": "greylist"}))
    with pytest.raises(ScenarioError) as err:
        load_scenarios(tmp_path)
    assert err.value.problems == [
        f"{tmp_path}/a.json: rules[2].action.reply.code: must be 400-599",
        f"{tmp_path}/b.json: not valid JSON at line 3: Expecting property name enclosed in "
        "double quotes",
        f"{tmp_path}/c.json: scenario.id: 'greylist' is already scenarios/greylist.json",
    ]


def test_port_setting_is_checked() -> None:
    assert parse_ports("2526=busy, 2527=slow-greeting", BUILTINS) == {
        2526: "busy",
        2527: "slow-greeting",
    }
    with pytest.raises(ScenarioError) as err:
        parse_ports("2526=nope,x=busy,2526=busy,2526=busy", BUILTINS)
    assert err.value.problems == [
        "SANDBOX_SCENARIO_PORTS: '2526=nope': no scenario 'nope'",
        "SANDBOX_SCENARIO_PORTS: 'x=busy': must be PORT=SCENARIO",
        "SANDBOX_SCENARIO_PORTS: '2526=busy': port given twice",
    ]


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="SCENARIOS_DIR is not a folder"):
        load_scenarios(tmp_path / "nowhere")


# -- the start refuses --------------------------------------------------------------------------


def _bad_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "classroom"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps(_mutate("code")))
    return folder


def test_the_app_refuses_to_start_with_a_bad_trainer_file(tmp_path: Path, sandbox: Any) -> None:
    folder = _bad_folder(tmp_path)
    with pytest.raises(ScenarioError, match=r"x\.json: rules\[2\]\.action\.reply\.code"):
        build_app(tmp_path / "data", sandbox, SCENARIOS_DIR=str(folder))


@pytest.mark.parametrize("program", ["app.py", "sandbox_main.py"])
def test_the_processes_exit_with_the_error_list(tmp_path: Path, program: str) -> None:
    folder = _bad_folder(tmp_path)
    env = {
        **os.environ,
        "PLAYGROUND_SCENARIOS_DIR": str(folder),
        "PLAYGROUND_SANDBOX_SCENARIO_PORTS": "2526=nope",
        "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
        "PLAYGROUND_START_SANDBOX": "0",
    }
    run = subprocess.run(
        [sys.executable, str(ROOT / program)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "The sandbox scenarios are not valid, so nothing was started:" in run.stderr
    assert f"  {folder}/x.json: rules[2].action.reply.code: must be 400-599" in run.stderr


# -- the sandbox page ------------------------------------------------------------------------


def test_the_sandbox_page_lists_every_scenario(tmp_path: Path, sandbox: Any) -> None:
    folder = tmp_path / "classroom"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps(_valid()))
    app = build_app(
        tmp_path / "data", sandbox, SCENARIOS_DIR=str(folder), SANDBOX_SCENARIO_PORTS="2526=busy"
    )
    page = app.test_client().get("/sandbox").get_data(as_text=True)
    for scenario in [*BUILTINS.values(), load_scenario(folder / "x.json", "x")]:
        row = page.split(f'data-scenario="{scenario.id}"', 1)[1].split("</tr>", 1)[0]
        assert scenario.title in row and scenario.teaches.replace("'", "&#39;") in row
        for rule in scenario.rules:
            words = rule_in_words(rule).replace("<", "&lt;").replace(">", "&gt;")
            assert words.replace("'", "&#39;") in row
    busy = page.split('data-scenario="busy"', 1)[1].split("</tr>", 1)[0]
    assert "<code>port 2526</code>" in busy
    assert "<code>RCPT TO unknown@sandbox.test</code>" in page
    assert "<code>EHLO chatty.client.example</code>" in page


# -- the knowledge base explains what the scenarios say --------------------------------------


def _scenario_replies() -> list[tuple[str, str, str]]:
    """(where, what it answers, the reply's text) for every reply a scenario can send."""
    from smtp_session.sandbox.scenario_engine import DEFAULT_REPLIES

    values = {"address": "x@sandbox.test", "seconds": "10", "ehlo": "c.example", "limit": 1000}
    found = [
        (f"{s.id} rules[{i}]", r.stage, "\r\n".join(r.action.reply.lines(values)))
        for s in BUILTINS.values()
        for i, r in enumerate(s.rules)
        if r.action.reply is not None
    ]
    stages = {"tls": "MAIL", "auth": "MAIL", "greylist": "RCPT", "max_commands": "NOOP"}
    found += [
        (f"default {k}", stages[k], "\r\n".join(v.lines(values)))
        for k, v in DEFAULT_REPLIES.items()
    ]
    return found


@pytest.mark.parametrize(("where", "stage", "text"), _scenario_replies())
def test_the_knowledge_explains_every_scenario_reply(where: str, stage: str, text: str) -> None:
    """The enhanced code is known, and the explanation is specific (more than the class)."""
    from smtp_session.knowledge.explain import explain_reply
    from smtp_session.wire.reply import parse_reply

    after = {"end-of-data": "DATA", "connect": None, "greeting": None}.get(stage, stage)
    explained = explain_reply(parse_reply(text), after)
    assert explained["known"] and explained["specific"], (where, explained["layer"])
    assert explained["enhanced"]["known"], where
    layers = {e["layer"] for e in explained["evidence"]}
    assert "enhanced" in layers


def test_replies_that_mimic_real_servers_are_recognised() -> None:
    """The texts worded as Postfix, Gmail or others word them match those servers' entries."""
    from smtp_session.knowledge.explain import explain_reply
    from smtp_session.wire.reply import parse_reply

    by_where = {w: (stage, text) for w, stage, text in _scenario_replies()}
    expected = {
        "relay-denied rules[0]": "server:postfix-relay-denied",
        "dmarc-reject rules[0]": "server:gmail-dmarc",
        "greylist rules[0]": "server:generic-greylisting",
        "unknown-user rules[0]": "server:generic-user-unknown",
        "default tls": "server:postfix-tls-first",
        "default max_commands": "server:generic-too-many-commands",
    }
    for where, key in expected.items():
        stage, text = by_where[where]
        after = "DATA" if stage == "end-of-data" else stage
        keys = explain_reply(parse_reply(text), after)["keys"]
        assert key in keys, (where, keys)


# -- the engine's rules: keys, EHLO matches, greylisting by attempts, transaction scope -------


def _engine(tmp_path: Path, scenario: dict[str, Any]) -> Any:
    from smtp_session.sandbox.scenario_engine import ScenarioEngine

    (tmp_path / "s.json").write_text(json.dumps(scenario))
    return ScenarioEngine(load_scenarios(tmp_path))


def _codes(outcome: Any) -> list[int]:
    return [int(line[:3]) for line in outcome.lines]


def test_attempts_are_counted_per_the_scenarios_key(tmp_path: Path) -> None:
    """key ["client"]: every sender from one address shares the count."""
    engine = _engine(
        tmp_path,
        {
            **_valid(),
            "key": ["client"],
            "rules": [
                {
                    "stage": "MAIL",
                    "attempts": {"to": 2},
                    "action": {"reply": {"code": 450, "text": "busy"}},
                }
            ],
            "trigger": {"sender": ["*@class.example"]},
        },
    )
    answers = []
    for sender in ("a@class.example", "b@class.example", "c@class.example"):
        session = engine.session("192.0.2.7")
        session.on_mail(sender)
        answers.append(_codes(session.at("MAIL", sender)))
    assert answers == [[450], [450], []]  # the third sender is the third attempt
    other = engine.session("192.0.2.8")  # another client: its own count
    other.on_mail("a@class.example")
    assert _codes(other.at("MAIL", "a@class.example")) == [450]


def test_rules_can_match_the_ehlo_name_and_greylist_by_attempts(tmp_path: Path) -> None:
    engine = _engine(
        tmp_path,
        {
            **_valid(),
            "trigger": {"recipient": ["*@sandbox.test"]},
            "rules": [
                {
                    "stage": "RCPT",
                    "ehlo": "*.strict.example",
                    "action": {"greylist": {"attempts": 2, "seconds": 0}},
                }
            ],
        },
    )
    lenient = engine.session("192.0.2.9")
    lenient.on_ehlo("mx.other.example")
    lenient.on_mail("a@b.example")
    lenient.on_rcpt("bob@sandbox.test")
    assert lenient.at("RCPT", "bob@sandbox.test").lines == ()
    codes = []
    for _ in range(3):
        strict = engine.session("192.0.2.9")
        strict.on_ehlo("mx.strict.example")
        strict.on_mail("a@b.example")
        strict.on_rcpt("bob@sandbox.test")
        codes.append(_codes(strict.at("RCPT", "bob@sandbox.test")))
    assert codes == [[451], [451], []]
    assert strict.at("RCPT", "bob@sandbox.test").lines == ()  # once passed, it stays passed


def test_recipient_scenarios_end_with_the_transaction() -> None:
    from smtp_session.sandbox.scenario_engine import ScenarioEngine

    session = ScenarioEngine(BUILTINS).session("192.0.2.10")
    session.on_mail("a@client.example")
    session.on_rcpt("policy@sandbox.test")
    assert _codes(session.at("end-of-data")) == [550]
    session.end_transaction()  # the dot (or RSET) ends it: the next message is accepted
    session.on_mail("a@client.example")
    session.on_rcpt("bob@sandbox.test")
    assert session.at("end-of-data").lines == ()


def test_the_apps_own_sandbox_listens_on_the_scenario_ports(tmp_path: Path) -> None:
    """SANDBOX_SCENARIO_PORTS through the app: the ready line names them, a client meets them."""
    import smtplib

    from app import create_app, ready_line
    from tests.conftest import free_port, seed_store

    busy = free_port()
    seed_store(tmp_path / "data")
    app = create_app(
        {
            "TESTING": True,
            "DATA_DIR": tmp_path / "data",
            "SANDBOX_PORT": free_port(),
            "SANDBOX_TLS_PORT": free_port(),
            "SANDBOX_SCENARIO_PORTS": f"{busy}=busy",
        }
    )
    sandbox = app.extensions["playground"].sandbox
    try:
        assert f"scenario ports {busy}=busy" in ready_line(app, 5000)
        with pytest.raises(smtplib.SMTPConnectError) as err:
            smtplib.SMTP("127.0.0.1", busy, timeout=10)
        assert err.value.smtp_code == 421
    finally:
        sandbox.stop()


def test_the_engine_forgets_its_oldest_entries_past_its_bound(monkeypatch: Any) -> None:
    from smtp_session.sandbox import scenario_engine
    from smtp_session.sandbox.scenario_engine import ScenarioEngine

    monkeypatch.setattr(scenario_engine, "MAX_ENTRIES", 3)
    engine = ScenarioEngine(BUILTINS)
    for n in range(5):  # five learners, each their own greylisting triple
        session = engine.session("192.0.2.11")
        session.on_mail(f"l{n}@client.example")
        session.on_rcpt("greylist@sandbox.test")
        assert _codes(session.at("RCPT", "greylist@sandbox.test")) == [451]
    assert len(engine.greylist) == 3 and len(engine.attempts) == 3
    senders = [key[-2] for key in engine.greylist]
    assert senders == ["l2@client.example", "l3@client.example", "l4@client.example"]
