"""Every export format, parsed back, from a session recorded against a real aiosmtpd server.

The python export is run for real against the same server and must deliver the same bytes.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from smtp_session.guide.redact import Redactor
from smtp_session.wire.reply import Reply, ReplyParser
from transcripts import Store, Transcript
from transcripts.errors import ExportError
from transcripts.exports import FORMATS, export, jsonfmt
from transcripts.importer import import_json

PASSWORD = "Tr0ub4dor&3-horse"
USER = "demo"
MESSAGE_LINES = [
    "From: Alice <alice@example.org>",
    "To: Bob <bob@example.net>",
    "Subject: playground test",
    "",
    "Hello Bob,",
    ".this line starts with a period",
    "..and this one with two",
    "caf\u00e9 \u00fcmlaut line",
    "-- ",
    "Alice",
]
HOSTILE = '<script>alert(1)</script><img src="https://evil.example/x.png">\x1b[31mred'


@dataclass
class Collector:
    """aiosmtpd handler and authenticator that keep what they saw."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued"

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        self.logins.append((data.login, data.password))
        return AuthResult(success=(data.login, data.password) == (USER.encode(), PASSWORD.encode()))


@pytest.fixture(scope="module")
def smtpd() -> Any:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    collector = Collector()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=collector,
        auth_require_tls=False,  # loopback test server; TLS is not what is tested here
    )
    controller.start()
    yield collector, port
    controller.stop()


class Recorder:
    """Drives a real SMTP session over a socket and records redacted entries."""

    def __init__(self, port: int) -> None:
        self.start = time.monotonic()
        self.entries: list[dict[str, Any]] = []
        self.redactor = Redactor()
        self.parser = ReplyParser()
        self.last: Reply | None = None
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        data = {"host": "127.0.0.1", "port": port, "address": "127.0.0.1"}
        self._add({"kind": "event", "event": "connect", "data": data})
        self.reply("greeting")

    def _add(self, entry: dict[str, Any]) -> None:
        t = int((time.monotonic() - self.start) * 1000)
        self.entries.append({"seq": len(self.entries), "t": t, "step": None, **entry})

    def reply(self, after: str) -> Reply:
        while True:
            replies = self.parser.feed(self.sock.recv(4096))
            if replies:
                break
        self.last = replies[0]
        r = self.last
        entry = {"code": r.code, "enhanced": r.enhanced, "lines": list(r.lines)}
        self._add({"kind": "reply", **entry, "malformed": r.malformed, "after": after})
        return r

    def send(self, line: str, line_kind: str = "command") -> None:
        self.sock.sendall(line.encode() + b"\r\n")
        text = self.redactor.feed(line, line_kind, self.last)
        self._add({"kind": "sent", "text": text, "line_kind": line_kind, "explain": []})

    def command(self, line: str) -> Reply:
        self.send(line)
        return self.reply(line.split()[0].upper())

    def close(self) -> None:
        self.sock.close()
        self._add({"kind": "event", "event": "closed", "data": {"reason": "quit", "code": 221}})


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


@pytest.fixture(scope="module")
def recorded(smtpd: Any, tmp_path_factory: pytest.TempPathFactory) -> Transcript:
    """A real session (AUTH PLAIN, two recipients, a dot-stuffed message), stored and read back."""
    collector, port = smtpd
    rec = Recorder(port)
    assert rec.command("EHLO client.example").code == 250
    assert rec.command("AUTH PLAIN " + plain(USER, PASSWORD)).code == 235
    assert rec.command("MAIL FROM:<alice@example.org>").code == 250
    assert rec.command("RCPT TO:<bob@example.net>").code == 250
    assert rec.command("RCPT TO:<carol@example.net>").code == 250
    assert rec.command("DATA").code == 354
    for line in MESSAGE_LINES:
        rec.send("." + line if line.startswith(".") else line, "data")  # RFC 5321 §4.5.2
    rec.send(".", "data")
    assert rec.reply("end-of-data").code == 250
    assert rec.command("QUIT").code == 221
    rec.close()
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('exports')}/p.db")
    created, _ = store.create(f"127.0.0.1:{port}", title="Recorded <b>demo</b> session")
    for entry in rec.entries:
        store.append(created.id, entry)
    store.close(created.id, "quit")
    store.add_note(created.id, 2, "The server lists its extensions here.", "teacher")
    store.add_note(created.id, None, "A note on the whole session", None)
    transcript = store.get(created.id)
    assert transcript is not None
    return transcript


def expected_message() -> bytes:
    return "".join(line + "\r\n" for line in MESSAGE_LINES).encode()


def test_recorded_session_delivered_the_message(smtpd: Any, recorded: Transcript) -> None:
    collector, _ = smtpd
    assert collector.messages[0] == (
        "alice@example.org",
        ["bob@example.net", "carol@example.net"],
        expected_message(),
    )


@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
def test_no_export_holds_the_password(recorded: Transcript, fmt: str) -> None:
    body, mimetype, filename = export(recorded, fmt)
    for secret in (PASSWORD, plain(USER, PASSWORD), base64.b64encode(PASSWORD.encode()).decode()):
        assert secret.encode() not in body
    assert filename.endswith("." + FORMATS[fmt][2]) and "/" not in filename
    assert mimetype == FORMATS[fmt][1]


def test_unknown_format_is_refused(recorded: Transcript) -> None:
    with pytest.raises(ExportError) as info:
        export(recorded, "pdf")
    assert info.value.code == "bad_format"


def test_json_round_trips_through_the_importer(recorded: Transcript, tmp_path: Path) -> None:
    body, _, _ = export(recorded, "json")
    document = json.loads(body)
    assert document == jsonfmt.document(recorded)
    assert document["format"] == "smtp-playground-transcript" and document["version"] == 1
    imported = import_json(body, max_bytes=len(body))
    assert imported["entries"] == recorded.entries
    assert imported["notes"] == [note.to_dict() for note in recorded.notes]
    store = Store.open(f"sqlite:///{tmp_path}/copy.db")
    copy, _ = store.create_from_import(imported)
    again = json.loads(export(copy, "json")[0])
    assert copy.id != recorded.id and copy.status == "closed"
    assert again["entries"] == document["entries"] and again["notes"] == document["notes"]
    assert again["transcript"]["title"] == recorded.title
    assert again["transcript"]["created_at"] == document["transcript"]["created_at"]


def cast_events(transcript: Transcript) -> tuple[dict[str, Any], list[list[Any]]]:
    """The header and the events of the asciicast export, parsed back."""
    lines = export(transcript, "cast")[0].decode().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def test_asciicast_header_and_events(recorded: Transcript) -> None:
    header, events = cast_events(recorded)
    assert header["version"] == 2 and header["title"] == recorded.title
    assert header["width"] >= 80 and header["height"] > 0 and isinstance(header["timestamp"], int)
    times = [e[0] for e in events]
    assert times == sorted(times)
    assert {kind for _, kind, _ in events} == {"o", "m"}
    output = [text for _, kind, text in events if kind == "o"]
    assert all(text.endswith("\r\n") for text in output)
    # The whole-transcript note opens the recording; then one output event per entry.
    assert output[0] == "\x1b[33m# note: A note on the whole session\x1b[0m\r\n"
    lines = output[1:]
    assert len(lines) == len(recorded.entries)
    pairs = list(zip(lines, recorded.entries, strict=True))
    sent = [text for text, e in pairs if e["kind"] == "sent"]
    replies = [text for text, e in pairs if e["kind"] == "reply"]
    assert all(text.startswith("\x1b[1;36mC: ") for text in sent)
    assert all(text.startswith("S: ") for text in replies)
    # The note on entry 2 follows that entry's line, in the notes' colour.
    noted = lines[[e["seq"] for e in recorded.entries].index(2)]
    assert noted.endswith("\x1b[33m#   note: The server lists its extensions here.\x1b[0m\r\n")


def test_asciicast_markers_name_each_step_and_note(recorded: Transcript) -> None:
    _, events = cast_events(recorded)
    markers = [(t, label) for t, kind, label in events if kind == "m"]
    assert [label for _, label in markers] == [
        "Greeting",
        "EHLO",
        "Note: The server lists its extensions here.",
        "AUTH",
        "Message 1",
        "QUIT",
    ]
    # A marker sits at the time of the line it names, just before that line's output.
    quit_entry = next(e for e in recorded.entries if e.get("text") == "QUIT")
    quit_index = next(i for i, e in enumerate(events) if e[1] == "m" and e[2] == "QUIT")
    assert events[quit_index][0] == round(quit_entry["t"] / 1000, 3)
    assert events[quit_index + 1][2].startswith("\x1b[1;36mC: QUIT")


def test_txt_is_a_telnet_like_log(recorded: Transcript) -> None:
    lines = export(recorded, "txt")[0].decode().splitlines()
    assert "C: EHLO client.example" in lines
    assert "C: MAIL FROM:<alice@example.org>" in lines
    assert any(line.startswith("S: 250-") for line in lines)
    assert any(line.startswith("S: 221") for line in lines)
    assert f"* connected to 127.0.0.1:{recorded.target.split(':')[1]} (127.0.0.1)" in lines
    assert "C: AUTH PLAIN [credentials for user 'demo', redacted]" in lines
    assert "#   note (teacher): The server lists its extensions here." in lines


def test_markdown_is_one_fenced_session_then_what_the_lines_mean(recorded: Transcript) -> None:
    def explain(entry: dict[str, Any]) -> str | None:
        return (
            "Greets the server (EHLO), asks for its extensions: SIZE, 8BITMIME_ish"
            if entry.get("text", "").startswith("EHLO")
            else None
        )

    text = export(recorded, "md", explain)[0].decode()
    lines = text.splitlines()
    start = lines.index("```text")
    fenced = lines[start + 1 : lines.index("```", start)]
    assert "C: EHLO client.example" in fenced and "C: MAIL FROM:<alice@example.org>" in fenced
    assert any(line.startswith("S: 250-") for line in fenced)
    assert lines.count("```text") == 1  # the whole session in one block, ready for docs
    ehlo = next(line for line in lines if line.startswith("- Line") and "EHLO" in line)
    # Read as written: no escapes for ( ) : , or an _ inside a word.
    assert "Greets the server (EHLO), asks for its extensions: SIZE, 8BITMIME_ish" in ehlo
    assert "\\(" not in text and "\\_" not in text
    assert "The server lists its extensions here." in text
    assert text.startswith("# Recorded \\<b>demo\\</b> session")
    started = next(line for line in lines if line.startswith("- Started: "))
    assert re.fullmatch(r"- Started: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", started)


def test_html_times_read_without_microseconds(recorded: Transcript) -> None:
    parser = TagCollector()
    parser.feed(export(recorded, "html")[0].decode())
    text = "".join(parser.text)
    assert re.search(r"Started\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), text[:300]
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", text)


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile(recorded: Transcript) -> Transcript:
    """The recorded transcript with a hostile banner, title and note."""
    entries = [dict(e) for e in recorded.entries]
    entries[1] = {**entries[1], "lines": ["220 " + HOSTILE]}
    notes = [*recorded.notes]
    return Transcript(**{**vars(recorded), "entries": entries, "title": HOSTILE, "notes": notes})


def test_html_is_self_contained_and_escaped(recorded: Transcript) -> None:
    parser = TagCollector()
    parser.feed(export(hostile(recorded), "html", lambda e: "<i>panel</i> text")[0].decode())
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names and "img" not in names and "link" not in names
    for _, attrs in parser.tags:
        for _name, value in attrs:
            assert not (value or "").lower().startswith(("http:", "https:", "//"))
    style = "".join(parser.text)
    assert "url(" not in style and "@import" not in style
    assert "220 <script>alert(1)</script>" in "".join(parser.text)  # shown as text
    assert "<i>panel</i> text" in "".join(parser.text)
    assert "The server lists its extensions here." in "".join(parser.text)


@pytest.mark.parametrize("fmt", ["txt", "cast", "md", "html"], ids=str)
def test_terminal_escapes_from_a_server_are_neutralised(recorded: Transcript, fmt: str) -> None:
    body = export(hostile(recorded), fmt)[0]
    assert b"\x1b[31m" not in body
    assert b"\\x1b[31m" in body


def swaks_command(script: str) -> tuple[list[str], str]:
    """The swaks argv and the heredoc piped into the first swaks run of the script."""
    lines = script.splitlines()
    start = next(i for i, line in enumerate(lines) if "| swaks " in line)
    feed, _, command = lines[start].partition(" | ")
    assert feed.startswith("awk ")  # CRLF on each line, as on the wire
    delimiter = feed.partition(" <<")[2].strip("'")
    end = lines.index(delimiter, start + 1)
    return shlex.split(command), "\n".join(lines[start + 1 : end]) + "\n"


def options(argv: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else ""
            found.setdefault(arg, []).append(value)
    return found


def test_swaks_reproduces_the_envelope(recorded: Transcript) -> None:
    argv, body = swaks_command(export(recorded, "swaks")[0].decode())
    opts = options(argv)
    assert argv[0] == "swaks"
    assert opts["--server"] == ["127.0.0.1"] and opts["--port"] == [recorded.target.split(":")[1]]
    assert opts["--ehlo"] == ["client.example"]
    assert opts["--from"] == ["alice@example.org"]
    # Debian's swaks keeps only the last of repeated --to options: one list.
    assert opts["--to"] == ["bob@example.net,carol@example.net"]
    assert opts["--auth"] == ["PLAIN"] and opts["--auth-user"] == ["demo"]
    assert opts["--auth-password"] == ["$SMTP_PASSWORD"]
    assert opts["--data"] == ["-"] and "--no-data-fixup" in opts and "--tls" not in opts
    wire = ["." + line if line.startswith(".") else line for line in MESSAGE_LINES]
    assert body == "".join(line + "\n" for line in [*wire, "."])


def script_calls(source: str) -> list[str]:
    """Names of the smtp.<method>() calls in main(), in order."""
    main = next(
        n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "main"
    )
    calls = [
        n for n in ast.walk(main) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    ]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [
        n.func.attr
        for n in calls
        if isinstance(n.func.value, ast.Name) and n.func.value.id == "smtp"
    ]


def test_python_script_delivers_the_same_bytes(
    smtpd: Any, recorded: Transcript, tmp_path: Path
) -> None:
    collector, _ = smtpd
    source = export(recorded, "python")[0].decode()
    compile(source, "replay.py", "exec")
    assert script_calls(source) == ["set_debuglevel", "ehlo", "auth", "quit"]
    assert source.count("    transaction(smtp, ") == 1
    script = tmp_path / "replay.py"
    script.write_text(source)
    before = len(collector.messages)
    env = {**os.environ, "SMTP_PASSWORD": PASSWORD}
    env.pop("SMTP_USER", None)
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    assert collector.messages[before:] == [collector.messages[0]]
    assert collector.logins[-1] == (USER.encode(), PASSWORD.encode())


GREETED = [
    {"kind": "reply", "code": 220, "lines": ["220 mx.example ESMTP"], "after": "greeting"},
    {"kind": "sent", "text": "EHLO me.example", "line_kind": "command"},
    {"kind": "reply", "code": 250, "lines": ["250-mx.example", "250 STARTTLS"], "after": "EHLO"},
]
# Entries before the greeting, entries after EHLO, the swaks flag, the smtplib calls.
TLS_CASES = {
    "starttls": (
        [],
        [
            {"kind": "sent", "text": "STARTTLS", "line_kind": "command"},
            {"kind": "reply", "code": 220, "lines": ["220 go ahead"], "after": "STARTTLS"},
            {"kind": "event", "event": "tls", "data": {"tls_mode": "starttls"}},
        ],
        "--tls",
        ["set_debuglevel", "ehlo", "starttls", "ehlo", "quit"],
    ),
    "implicit-tls-event": (
        [{"kind": "event", "event": "tls", "data": {"tls_mode": "implicit", "version": "TLSv1.3"}}],
        [],
        "--tls-on-connect",
        ["set_debuglevel", "ehlo", "quit"],
    ),
    "recorded-before-tls-mode": (
        [{"kind": "event", "event": "tls", "data": {"mode": "implicit", "version": "TLSv1.3"}}],
        [],
        "--tls-on-connect",
        ["set_debuglevel", "ehlo", "quit"],
    ),
    "imported-without-a-mode": (
        [],
        [
            {"kind": "sent", "text": "STARTTLS", "line_kind": "command"},
            {"kind": "reply", "code": 220, "lines": ["220 go ahead"], "after": "STARTTLS"},
            {"kind": "event", "event": "tls", "data": {"version": "TLSv1.3"}},
        ],
        "--tls",
        ["set_debuglevel", "ehlo", "starttls", "ehlo", "quit"],
    ),
}


@pytest.mark.parametrize("case", list(TLS_CASES), ids=list(TLS_CASES))
def test_tls_modes_reach_swaks_and_python(recorded: Transcript, case: str) -> None:
    before, after, flag, calls = TLS_CASES[case]
    connect = {"kind": "event", "event": "connect", "data": {"host": "mx.example", "port": 465}}
    session = [connect, *before, *GREETED, *after]
    entries = [{"seq": i, "t": i, **e} for i, e in enumerate(session)]
    transcript = Transcript(**{**vars(recorded), "entries": entries, "notes": []})
    (argv,) = [
        shlex.split(line)
        for line in export(transcript, "swaks")[0].decode().splitlines()
        if line.startswith("swaks")
    ]
    assert flag in argv and ({"--tls", "--tls-on-connect"} - {flag}).isdisjoint(argv)
    assert options(argv)["--quit-after"] == ["TLS" if flag == "--tls" else "HELO"]
    source = export(transcript, "python")[0].decode()
    assert script_calls(source) == calls
    assert ("SMTP_SSL(" in source) is (flag == "--tls-on-connect")


def test_an_mx_session_names_the_address_it_reached_and_says_why(recorded: Transcript) -> None:
    connect = {"host": "mx2.class.test", "port": 25, "address": "192.0.2.7", "tls": False}
    entries = [
        {"seq": 0, "t": 0, "kind": "event", "event": "connect", "data": connect},
        {"seq": 1, "t": 1, "kind": "sent", "text": "EHLO me.example", "line_kind": "command"},
    ]
    transcript = Transcript(
        **{
            **vars(recorded),
            "target": "mx:class.test (class.test:25)",
            "entries": entries,
            "notes": [],
        }
    )
    script = export(transcript, "swaks")[0].decode()
    (argv,) = [shlex.split(line) for line in script.splitlines() if line.startswith("swaks")]
    assert options(argv)["--server"] == ["192.0.2.7"]
    comments = " ".join(line for line in script.splitlines() if line.startswith("#"))
    assert "MX lookup for class.test to mx2.class.test (192.0.2.7)" in comments
    assert "port 25" in comments
    source = export(transcript, "python")[0].decode()
    assert "HOST = '192.0.2.7'" in source and "MX lookup for class.test" in source


def test_mail_and_rcpt_parameters_reach_python_and_are_named_for_swaks(
    recorded: Transcript,
) -> None:
    def sent(text: str) -> dict[str, Any]:
        return {"kind": "sent", "text": text, "line_kind": "command"}

    def reply(code: int, after: str, text: str = "Ok") -> dict[str, Any]:
        return {"kind": "reply", "code": code, "lines": [f"{code} {text}"], "after": after}

    head = [
        {"kind": "event", "event": "connect", "data": {"host": "mx.example", "port": 25}},
        reply(220, "greeting", "mx.example ESMTP"),
        sent("EHLO me.example"),
        reply(250, "EHLO", "mx.example"),
        sent("MAIL FROM:<a@me.example> SIZE=42 RET=HDRS"),
        reply(250, "MAIL"),
        sent("RCPT TO:<b@mx.example> NOTIFY=NEVER"),
        reply(250, "RCPT"),
        sent("RCPT TO:<c@mx.example>"),
        reply(250, "RCPT"),
    ]
    entries = [{"seq": i, "t": i, **e} for i, e in enumerate(head)]
    transcript = Transcript(**{**vars(recorded), "entries": entries, "notes": []})
    script = export(transcript, "swaks")[0].decode()
    assert "SIZE=42, RET=HDRS, NOTIFY=NEVER (RCPT b@mx.example)" in script
    (argv,) = [shlex.split(line) for line in script.splitlines() if line.startswith("swaks")]
    assert options(argv)["--to"] == ["b@mx.example,c@mx.example"]
    source = export(transcript, "python")[0].decode()
    assert (
        "transaction(smtp, 'a@me.example', ['SIZE=42', 'RET=HDRS'], "
        "[('b@mx.example', ['NOTIFY=NEVER']), ('c@mx.example', [])], MESSAGE_1)"
    ) in source
