"""Sandbox scenarios as data: the file format, its loader and its validator (docs/scenarios.md).

A scenario is one JSON file: what selects it for a session (a recipient or sender address, an
EHLO name, or a sandbox port given in the settings) and rules, each matched on a stage of the
SMTP dialogue, with an action (a reply, a delay, a tarpit, a disconnect, a requirement,
greylisting, a command or size limit). The built-ins live in ``scenarios/`` at the top of the
repository; trainers add theirs in the folder named by ``SCENARIOS_DIR``. Like the lessons
(smtp_session/guide/lessons.py), every problem is reported with the file, the path within the
file and what is wrong, and all of them at once, so a trainer fixes a file in one go.

Over 300 lines: one field table per object of the format, their checks, and the rules in
words for the sandbox page belong together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from smtp_session.errors import PlaygroundError

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "scenarios"
# Where a rule can sit: the connection opening, the greeting, each command, the final dot.
STAGES = (
    "connect",
    "greeting",
    "EHLO",
    "STARTTLS",
    "AUTH",
    "MAIL",
    "RCPT",
    "DATA",
    "end-of-data",
    "BDAT",
)
# Stages that answer a line the client sent (a command, or the message's final dot).
COMMAND_STAGES = STAGES[2:]
ACTIONS = (
    "reply",
    "delay",
    "tarpit",
    "disconnect",
    "require",
    "greylist",
    "max_commands",
    "size_limit",
)
REQUIREMENTS = ("tls", "auth")
TRIGGERS = ("recipient", "sender", "ehlo")
KEY_PARTS = ("client", "sender", "recipient", "ehlo")
DEFAULT_KEY = ("client", "sender", "recipient")
PLACEHOLDERS = ("address", "ehlo", "seconds", "limit")
MAX_DELAY = 300.0  # seconds: longer than any client waits for a reply (RFC 5321 §4.5.3.2)
MAX_TARPIT = 10.0  # seconds per byte
MAX_TEXT = 480  # a reply line is at most 512 octets with its code, CRLF (and placeholders)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ENHANCED = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")
_PATTERN = re.compile(r"^[^\s<>]+$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ScenarioError(PlaygroundError):
    """Scenario files are not valid; ``problems`` lists each one as "file: path: what"."""

    code = "bad_scenario"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Reply:
    """A reply the scenario sends: a code, an optional enhanced code, one or more lines."""

    code: int
    enhanced: str | None
    text: tuple[str, ...]

    def lines(self, values: Mapping[str, object]) -> list[str]:
        """The reply's lines on the wire, placeholders filled, the enhanced code on each."""
        enhanced = self.enhanced or f"{self.code // 100}.0.0"  # RFC 2034 §3: on every line
        last = len(self.text) - 1
        return [
            f"{self.code}{' ' if i == last else '-'}{enhanced} {fill(line, values)}"
            for i, line in enumerate(self.text)
        ]

    def words(self, values: Mapping[str, object]) -> str:
        text = " / ".join(fill(line, values) for line in self.text)
        return f"{self.code} {self.enhanced + ' ' if self.enhanced else ''}{text}"


@dataclass(frozen=True)
class Action:
    """What a rule does; every field is optional, see docs/scenarios.md for how they combine."""

    reply: Reply | None = None
    delay: float = 0.0
    tarpit: float = 0.0
    disconnect: bool = False
    require: str | None = None
    greylist: tuple[int, float] | None = None  # (attempts refused at least, seconds)
    max_commands: int | None = None
    size_limit: int | None = None


@dataclass(frozen=True)
class Rule:
    """When (stage, address, EHLO name, attempt) and what (the action)."""

    stage: str
    action: Action
    address: tuple[str, ...] = ()
    ehlo: tuple[str, ...] = ()
    attempts: tuple[int, int | None] | None = None  # (first, last) attempt it applies to


@dataclass(frozen=True)
class Scenario:
    """One scenario file, validated."""

    id: str
    title: str
    teaches: str
    trigger: Mapping[str, tuple[str, ...]]
    rules: tuple[Rule, ...]
    key: tuple[str, ...] = DEFAULT_KEY
    source: str = ""
    ports: tuple[int, ...] = field(default=())  # filled from the settings, not the file


def fill(text: str, values: Mapping[str, object]) -> str:
    """``text`` with its placeholders ({address}, {seconds}...) replaced."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


# -- field checks (each returns a problem, or None) --------------------------------------------

_Check = Callable[[Any], str | None]


def _text(value: Any) -> str | None:
    if not (isinstance(value, str) and value.strip()):
        return "must be a non-empty string"
    if "\r" in value or "\n" in value:
        return "must be one line (a list gives a multi-line reply)"
    unknown = [p for p in _PLACEHOLDER.findall(value) if p not in PLACEHOLDERS]
    return f"unknown placeholder {{{unknown[0]}}}" if unknown else None


def _ident(value: Any) -> str | None:
    ok = isinstance(value, str) and _ID.match(value)
    return None if ok else "must be lower-case letters, digits and dashes"


def _whole(value: Any, low: int, high: int | None = None) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    ok = ok and (high is None or value <= high)
    if ok:
        return None
    return f"must be {low}-{high}" if high is not None else f"must be a whole number >= {low}"


def _seconds(high: float) -> _Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok and 0 <= value <= high else f"must be a number of seconds, 0-{high:g}"

    return check


def _patterns(value: Any) -> str | None:
    values = value if isinstance(value, list) else [value]
    ok = bool(values) and all(isinstance(v, str) and _PATTERN.match(v) for v in values)
    return None if ok else "must be an address or name (* for any part), or a list of them"


def _as_tuple(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(str(v).lower() for v in values)


def _fields(
    data: Any, required: Mapping[str, _Check], optional: Mapping[str, _Check], where: str
) -> list[str]:
    """Problems with a JSON object: unknown fields, missing required ones, bad values."""
    if not isinstance(data, dict):
        return [f"{where}: must be an object"]
    known = {**required, **optional}
    problems = [f"{where}.{k}: unknown field" for k in data if k not in known]
    problems += [f"{where}.{k}: missing" for k in required if k not in data]
    for key, check in known.items():
        if key in data and (problem := check(data[key])) is not None:
            problems.append(f"{where}.{key}: {problem}")
    return problems


# -- replies and actions -----------------------------------------------------------------------


def _reply_problems(data: Any, where: str) -> list[str]:
    problems = _fields(
        data,
        {"code": lambda v: _whole(v, 400, 599), "text": lambda v: None},
        {"enhanced": lambda v: None},
        where,
    )
    if problems or not isinstance(data, dict):
        return problems
    text = data["text"]
    lines = text if isinstance(text, list) else [text]
    if not lines:
        problems.append(f"{where}.text: must be a line or a non-empty list of lines")
    for i, line in enumerate(lines):
        at = f"{where}.text[{i}]" if isinstance(text, list) else f"{where}.text"
        if (problem := _text(line)) is not None:
            problems.append(f"{at}: {problem}")
        elif len(line) > MAX_TEXT:
            problems.append(f"{at}: must be at most {MAX_TEXT} characters (RFC 5321 §4.5.3.1.5)")
    enhanced = data.get("enhanced")
    if enhanced is not None:
        m = _ENHANCED.match(enhanced) if isinstance(enhanced, str) else None
        if m is None:
            problems.append(f'{where}.enhanced: must be an enhanced status code like "5.1.1"')
        elif m.group(1) != str(data["code"])[0]:
            problems.append(f"{where}.enhanced: its class {m.group(1)} is not the code's")
    return problems


def _greylist_problems(data: Any, where: str) -> list[str]:
    return _fields(
        data,
        {"attempts": lambda v: _whole(v, 1), "seconds": _seconds(86400)},
        {},
        where,
    )


_ACTION_CHECKS: dict[str, _Check] = {
    "delay": _seconds(MAX_DELAY),
    "tarpit": _seconds(MAX_TARPIT),
    "disconnect": lambda v: None if v is True else "must be true (leave it out otherwise)",
    "require": lambda v: None if v in REQUIREMENTS else "must be one of tls, auth",
    "max_commands": lambda v: _whole(v, 1),
    "size_limit": lambda v: _whole(v, 1),
}
# At most one of these decides whether the rule refuses; "reply" is then its wording.
_REFUSERS = ("require", "greylist", "max_commands")


def _action_problems(data: Any, stage: Any, where: str) -> list[str]:
    optional: dict[str, _Check] = {k: (lambda v: None) for k in ("reply", "greylist")}
    problems = _fields(data, {}, {**_ACTION_CHECKS, **optional}, where)
    if not isinstance(data, dict):
        return problems
    if not data:
        problems.append(f"{where}: must hold at least one of {', '.join(ACTIONS)}")
    if "reply" in data:
        problems += _reply_problems(data["reply"], f"{where}.reply")
    if "greylist" in data:
        problems += _greylist_problems(data["greylist"], f"{where}.greylist")
    refusers = [k for k in _REFUSERS if k in data]
    if len(refusers) > 1:
        problems.append(f"{where}: {' and '.join(refusers)} cannot be in one action")
    if stage in ("connect", "greeting") and ({"require", "greylist"} & set(data)):
        problems.append(f"{where}: require and greylist answer a command, not the {stage}")
    return problems


def _attempts_problems(data: Any, where: str) -> list[str]:
    problems = _fields(
        data, {}, {"from": lambda v: _whole(v, 1), "to": lambda v: _whole(v, 1)}, where
    )
    if not problems and isinstance(data, dict):
        if not data:
            problems.append(f"{where}: must hold from, to or both")
        elif data.get("to", data.get("from", 1)) < data.get("from", 1):
            problems.append(f"{where}.to: must not be below from")
    return problems


def _rule_problems(data: Any, where: str) -> list[str]:
    stage_check: _Check = lambda v: None if v in STAGES else f"must be one of {', '.join(STAGES)}"  # noqa: E731
    optional: dict[str, _Check] = {
        "address": _patterns,
        "ehlo": _patterns,
        "attempts": lambda v: None,
    }
    problems = _fields(data, {"stage": stage_check, "action": lambda v: None}, optional, where)
    if not isinstance(data, dict):
        return problems
    if "action" in data:
        problems += _action_problems(data["action"], data.get("stage"), f"{where}.action")
    if "attempts" in data:
        problems += _attempts_problems(data["attempts"], f"{where}.attempts")
    if "address" in data and data.get("stage") in ("connect", "greeting", "EHLO", "STARTTLS"):
        problems.append(f"{where}.address: no address is known yet at {data['stage']}")
    return problems


def _trigger_problems(data: Any, where: str) -> list[str]:
    return _fields(data, {}, {k: _patterns for k in TRIGGERS}, where)


def _key_problems(value: Any) -> str | None:
    ok = isinstance(value, list) and value and all(v in KEY_PARTS for v in value)
    return None if ok else f"must be a non-empty list of {', '.join(KEY_PARTS)}"


SCENARIO_FIELDS: dict[str, _Check] = {
    "id": _ident,
    "title": _text,
    "teaches": _text,
    "trigger": lambda v: None,
    "rules": lambda v: None,
}


def scenario_problems(data: Any) -> list[str]:
    """Every problem with a scenario object, as "path: what" (empty when it is valid)."""
    problems = _fields(data, SCENARIO_FIELDS, {"key": _key_problems}, "scenario")
    if not isinstance(data, dict):
        return problems
    if "trigger" in data:
        problems += _trigger_problems(data["trigger"], "trigger")
    rules = data.get("rules")
    if "rules" in data and (not isinstance(rules, list) or not rules):
        problems.append("rules: must be a non-empty list")
    elif isinstance(rules, list):
        for i, rule in enumerate(rules):
            problems += _rule_problems(rule, f"rules[{i}]")
    return problems


# -- building the objects ----------------------------------------------------------------------


def _reply(data: Mapping[str, Any] | None) -> Reply | None:
    if data is None:
        return None
    text = data["text"]
    lines = tuple(text) if isinstance(text, list) else (text,)
    return Reply(data["code"], data.get("enhanced"), lines)


def _action(data: Mapping[str, Any]) -> Action:
    grey = data.get("greylist")
    return Action(
        reply=_reply(data.get("reply")),
        delay=float(data.get("delay", 0)),
        tarpit=float(data.get("tarpit", 0)),
        disconnect=bool(data.get("disconnect", False)),
        require=data.get("require"),
        greylist=(grey["attempts"], float(grey["seconds"])) if grey else None,
        max_commands=data.get("max_commands"),
        size_limit=data.get("size_limit"),
    )


def _rule(data: Mapping[str, Any]) -> Rule:
    attempts = data.get("attempts")
    return Rule(
        stage=data["stage"],
        action=_action(data["action"]),
        address=_as_tuple(data["address"]) if "address" in data else (),
        ehlo=_as_tuple(data["ehlo"]) if "ehlo" in data else (),
        attempts=(attempts.get("from", 1), attempts.get("to")) if attempts else None,
    )


def scenario_from_dict(data: Any, source: str) -> Scenario:
    """Validate a scenario object; ScenarioError lists "source: path: what" for each problem."""
    problems = scenario_problems(data)
    if problems:
        raise ScenarioError([f"{source}: {p}" for p in problems])
    trigger = {k: _as_tuple(v) for k, v in data["trigger"].items()}
    return Scenario(
        id=data["id"],
        title=data["title"],
        teaches=data["teaches"],
        trigger=trigger,
        rules=tuple(_rule(r) for r in data["rules"]),
        key=tuple(data.get("key", DEFAULT_KEY)),
        source=source,
    )


def load_scenario(path: Path, label: str) -> Scenario:
    """Read and validate one scenario file; ``label`` is how errors name it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{label}: cannot be read ({exc})"]) from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError([f"{label}: not valid JSON at line {exc.lineno}: {exc.msg}"]) from exc
    return scenario_from_dict(data, label)


def load_scenarios(extra_dir: Path | str | None = None) -> dict[str, Scenario]:
    """The built-ins, then the trainer's files in ``extra_dir``; every problem at once."""
    folders: list[tuple[Path, str]] = [(BUILTIN_DIR, "scenarios")]
    if extra_dir:
        folder = Path(extra_dir)
        if not folder.is_dir():
            raise ScenarioError([f"{folder}: SCENARIOS_DIR is not a folder"])
        folders.append((folder, str(folder)))
    scenarios: dict[str, Scenario] = {}
    problems: list[str] = []
    for folder, label in folders:
        for path in sorted(folder.glob("*.json")):
            name = f"{label}/{path.name}"
            try:
                scenario = load_scenario(path, name)
            except ScenarioError as exc:
                problems += exc.problems
                continue
            if scenario.id in scenarios:
                first = scenarios[scenario.id].source
                problems.append(f"{name}: scenario.id: {scenario.id!r} is already {first}")
                continue
            scenarios[scenario.id] = scenario
    if problems:
        raise ScenarioError(problems)
    return scenarios


def parse_ports(setting: str, scenarios: Mapping[str, Scenario]) -> dict[int, str]:
    """``SANDBOX_SCENARIO_PORTS`` ("2526=greylist,2527=tarpit") as {port: scenario id}."""
    ports: dict[int, str] = {}
    problems: list[str] = []
    for item in filter(None, (part.strip() for part in setting.split(","))):
        port_text, _, name = item.partition("=")
        if not port_text.strip().isdigit() or not 0 < int(port_text) < 65536 or not name:
            problems.append(f"SANDBOX_SCENARIO_PORTS: {item!r}: must be PORT=SCENARIO")
        elif name.strip() not in scenarios:
            problems.append(f"SANDBOX_SCENARIO_PORTS: {item!r}: no scenario {name.strip()!r}")
        elif int(port_text) in ports:
            problems.append(f"SANDBOX_SCENARIO_PORTS: {item!r}: port given twice")
        else:
            ports[int(port_text)] = name.strip()
    if problems:
        raise ScenarioError(problems)
    return ports


def from_settings(
    directory: str | Path | None, ports: str
) -> tuple[dict[str, Scenario], dict[int, str]]:
    """The scenarios and the port map from SCENARIOS_DIR and SANDBOX_SCENARIO_PORTS.

    Raises ScenarioError with every problem: the app and sandbox_main.py refuse to start on it.
    """
    scenarios = load_scenarios(directory or None)
    return scenarios, parse_ports(ports or "", scenarios)


def refuse_to_start(error: ScenarioError) -> NoReturn:
    """Print every problem, one a line, and exit (status 2, as for a bad flag)."""
    import sys

    print("The sandbox scenarios are not valid, so nothing was started:", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)
    raise SystemExit(2)


def with_ports(scenarios: Mapping[str, Scenario], ports: Mapping[int, str]) -> list[Scenario]:
    """The scenarios, each with the sandbox ports that select it (for the sandbox page)."""
    from dataclasses import replace

    return [
        replace(s, ports=tuple(p for p, name in sorted(ports.items()) if name == s.id))
        for s in scenarios.values()
    ]


def triggers_in_words(scenario: Scenario) -> list[str]:
    """How a learner selects the scenario, one phrase each (the sandbox page)."""
    words = {"recipient": "RCPT TO", "sender": "MAIL FROM", "ehlo": "EHLO"}
    found = [f"{words[k]} {v}" for k in TRIGGERS for v in scenario.trigger.get(k, ())]
    return found + [f"port {p}" for p in scenario.ports]


def rule_in_words(rule: Rule) -> str:
    """One rule as a sentence: "At RCPT to x@y, attempts 1-2: reply 451 4.7.1 ..."."""
    when = "At the connection" if rule.stage == "connect" else f"At {_stage_word(rule.stage)}"
    if rule.address:
        when += " for " + " or ".join(rule.address)
    if rule.ehlo:
        when += " after EHLO " + " or ".join(rule.ehlo)
    if rule.attempts:
        first, last = rule.attempts
        if last is None:
            when += f", attempt {first} on"
        else:
            when += f", attempt {first}" + (f"-{last}" if last != first else "")
    address = rule.address[0] if len(rule.address) == 1 else "the address"
    values: dict[str, object] = {"address": address}
    if rule.action.greylist:
        values["seconds"] = f"{rule.action.greylist[1]:g}"
    if rule.action.size_limit:
        values["limit"] = rule.action.size_limit
    return f"{when}: {'; '.join(_action_words(rule.action, values))}"


def _stage_word(stage: str) -> str:
    return {"greeting": "the greeting", "end-of-data": "the final dot"}.get(stage, stage)


def _action_words(action: Action, values: Mapping[str, object]) -> Iterable[str]:
    reply = action.reply.words(values) if action.reply else None
    if action.delay:
        yield f"wait {action.delay:g} s"
    if action.size_limit:
        yield f"limit messages to {action.size_limit} bytes (SIZE, 552 5.3.4 above it)"
    if action.max_commands:
        n = action.max_commands
        yield f"serve {n} commands from here on, answer the next {reply or '421 4.7.0'}, hang up"
    elif action.require:
        what = "STARTTLS" if action.require == "tls" else "AUTH"
        yield f"refuse until {what} ({reply or '530 5.7.0'})"
    elif action.greylist:
        n, secs = action.greylist
        tries = "the first attempt" if n == 1 else f"the first {n} attempts"
        yield f"greylist: refuse {tries} and any within {secs:g} s ({reply or '451 4.7.1'})"
    elif reply:
        yield f"reply {reply}"
    if action.tarpit:
        yield f"send the answer one byte every {action.tarpit:g} s"
    if action.disconnect:
        yield "close the connection"
