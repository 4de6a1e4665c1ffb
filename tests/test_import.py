"""Importing JSON transcripts: strict validation with located errors, limits, re-redaction."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from transcripts import Store, TranscriptImportError
from transcripts.importer import MAX_ENTRIES, import_json

SECRET = "s3cret-Passw0rd-for-import"
MAX = 1_000_000


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def good() -> dict[str, Any]:
    """A valid v1 document, as the JSON export writes it."""
    return {
        "format": "smtp-playground-transcript",
        "version": 1,
        "transcript": {
            "id": "original-id",
            "title": "Greylisting at example.org",
            "description": "We get 451 the first time.",
            "target": "mx.example.org:25",
            "created_at": "2026-11-20T10:00:00+00:00",
            "ended_at": "2026-11-20T10:00:05+00:00",
            "status": "closed",
            "close_reason": "QUIT",
            "entry_count": 4,
            "last_code": 451,
        },
        "entries": [
            {"seq": 0, "t": 0, "kind": "event", "event": "connect",
             "data": {"host": "mx.example.org", "port": 25, "address": "192.0.2.1", "tls": False},
             "step": None, "explain": []},
            {"seq": 1, "t": 40, "kind": "reply", "code": 220, "enhanced": None,
             "lines": ["220 mx.example.org ESMTP"], "malformed": None, "after": "greeting",
             "step": "connected", "explain": ["reply.220"]},
            {"seq": 2, "t": 900, "kind": "sent", "text": "MAIL FROM:<a@example.net>",
             "line_kind": "command", "step": "greeted", "explain": ["command.MAIL"]},
            {"seq": 3, "t": 950, "kind": "reply", "code": 451, "enhanced": "4.7.1",
             "lines": ["451 4.7.1 Greylisted, try again later"], "malformed": None,
             "after": "MAIL", "step": "greeted", "explain": ["reply.451", "enhanced.4.7.1"]},
        ],
        "notes": [
            {"seq": 3, "text": "Come back in five minutes.", "author": "ann",
             "created_at": "2026-11-20T10:01:00+00:00"},
            {"seq": None, "text": "Classic greylisting.", "author": None, "created_at": None},
        ],
    }  # fmt: skip


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def mutate(change: Callable[[dict[str, Any]], Any]) -> bytes:
    doc = copy.deepcopy(good())
    change(doc)
    return encode(doc)


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets doc[a][b]... (path "a.b.0.c") to value."""

    def change(doc: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for key in parents:
            target = target[int(key) if key.isdigit() else key]
        del target[last]

    return change


BAD: dict[str, tuple[bytes, str]] = {
    "not-json": (b"{not json", "not valid JSON: Expecting property name"),
    "not-utf8": (b'{"format": "\xff"}', "not UTF-8"),
    "top-level-list": (b"[]", "must hold a JSON object"),
    "wrong-format": (mutate(setter("format", "har")), "format must be"),
    "newer-version": (mutate(setter("version", 2)), "version 2 is not supported"),
    "string-version": (mutate(setter("version", "1")), "version must be an integer"),
    "unknown-top-field": (mutate(setter("extra", 1)), "unknown top-level field 'extra'"),
    "no-transcript": (mutate(delete("transcript")), "transcript must be an object"),
    "no-target": (mutate(delete("transcript.target")), "transcript.target is missing"),
    "long-title": (
        mutate(setter("transcript.title", "t" * 201)),
        "transcript.title is longer than 200",
    ),
    "bad-date": (
        mutate(setter("transcript.created_at", "yesterday")),
        "transcript.created_at must be an ISO 8601",
    ),
    "entries-not-list": (mutate(setter("entries", {})), "entries must be a list"),
    "string-code": (mutate(setter("entries.1.code", "220")), "entries[1].code must be an integer"),
    "bool-t": (mutate(setter("entries.0.t", True)), "entries[0].t must be an integer"),
    "negative-t": (mutate(setter("entries.0.t", -1)), "entries[0].t must be between"),
    "unknown-kind": (mutate(setter("entries.2.kind", "note")), "entries[2].kind must be one of"),
    "unknown-entry-field": (
        mutate(setter("entries.3.html", "<b>")),
        "entries[3] has an unknown field 'html'",
    ),
    "missing-lines": (mutate(delete("entries.1.lines")), "entries[1].lines is missing"),
    "line-not-string": (
        mutate(setter("entries.1.lines.0", 220)),
        "entries[1].lines[0] must be a string",
    ),
    "bad-enhanced": (
        mutate(setter("entries.3.enhanced", "4.7")),
        "entries[3].enhanced is not in the expected form",
    ),
    "bad-line-kind": (
        mutate(setter("entries.2.line_kind", "shell")),
        "entries[2].line_kind must be one of",
    ),
    "unknown-event": (mutate(setter("entries.0.event", "boom")), "entries[0].event must be one of"),
    "event-data-not-object": (
        mutate(setter("entries.0.data", [])),
        "entries[0].data must be an object",
    ),
    "seq-not-increasing": (mutate(setter("entries.2.seq", 1)), "entries[2].seq must be greater"),
    "long-sent-line": (
        mutate(setter("entries.2.text", "x" * 20_000)),
        "entries[2].text is longer than",
    ),
    "note-too-long": (
        mutate(setter("notes.0.text", "n" * 4001)),
        "notes[0].text is longer than 4000",
    ),
    "note-blank": (mutate(setter("notes.0.text", "   ")), "notes[0].text is empty"),
    "note-on-no-entry": (mutate(setter("notes.0.seq", 99)), "notes[0].seq refers to no entry (99)"),
    "nan": (encode(good()).replace(b'"t": 40', b'"t": NaN'), "NaN is not a JSON number"),
    "duplicate-key": (
        encode(good()).replace(b'"version": 1', b'"version": 1, "version": 1'),
        "appears twice",
    ),
    "deep-nesting": (
        encode(good()).replace(b'"tls": false', b'"tls": ' + b"[" * 200_000 + b"]" * 200_000),
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("name", list(BAD), ids=list(BAD))
def test_bad_files_are_refused_with_what_and_where(name: str) -> None:
    data, message = BAD[name]
    with pytest.raises(TranscriptImportError) as info:
        import_json(data, MAX if name != "deep-nesting" else len(data))
    assert info.value.code == "bad_import"
    assert message in info.value.message


def test_oversize_file_is_refused_before_parsing() -> None:
    data = encode(good())
    with pytest.raises(TranscriptImportError) as info:
        import_json(data, max_bytes=len(data) - 1)
    assert info.value.code == "too_large"
    assert f"the file is {len(data)} bytes" in info.value.message


def test_too_many_entries_is_too_large() -> None:
    entries = [{"seq": i, "t": 0, "kind": "sent", "text": "NOOP", "line_kind": "command"}
               for i in range(MAX_ENTRIES + 1)]  # fmt: skip
    data = mutate(setter("entries", entries))
    with pytest.raises(TranscriptImportError) as info:
        import_json(data, max_bytes=len(data))
    assert info.value.code == "too_large" and "entries has more than" in info.value.message


GOOD: dict[str, bytes] = {
    "full": encode(good()),
    "minimal": encode({"format": "smtp-playground-transcript", "version": 1,
                       "transcript": {"target": "mx.example:25"}, "entries": []}),
    "byte-order-mark": b"\xef\xbb\xbf" + encode(good()),
    "optional-fields-absent": encode({**good(), "entries": [
        {"seq": 0, "t": 0, "kind": "reply", "code": None, "lines": ["garbage"]},
        {"seq": 5, "t": 1, "kind": "event", "event": "closed"}], "notes": []}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GOOD), ids=list(GOOD))
def test_good_files_are_accepted_unchanged(name: str) -> None:
    source = json.loads(GOOD[name].decode("utf-8-sig"))
    result = import_json(GOOD[name], MAX)
    assert result["transcript"] == source["transcript"]
    assert result["entries"] == source["entries"]
    assert result["notes"] == source.get("notes", [])


def smuggling_entries() -> list[dict[str, Any]]:
    """AUTH dialogues with live credentials, as a hand-edited file might carry them."""
    lines: list[tuple[str, str, str]] = [
        ("C", "AUTH PLAIN " + b64(f"\0demo\0{SECRET}"), "command"),
        ("S", "535 5.7.8 no", ""),
        ("C", "AUTH LOGIN", "command"),
        ("S", "334 VXNlcm5hbWU6", ""),
        ("C", b64("demo"), "command"),  # labelled as a command to slip past
        ("S", "334 UGFzc3dvcmQ6", ""),
        ("C", b64(SECRET), "command"),
        ("S", "235 2.7.0 ok", ""),
        ("C", f"AUTH PLAIN [credentials for user 'demo' {b64(SECRET)}, redacted]", "command"),
        ("S", "503 already authenticated", ""),
    ]
    entries: list[dict[str, Any]] = []
    for who, text, kind in lines:
        entry: dict[str, Any] = {"seq": len(entries), "t": len(entries)}
        if who == "C":
            entry.update(kind="sent", text=text, line_kind=kind)
        else:
            entry.update(kind="reply", code=int(text[:3]), lines=[text])
        entries.append(entry)
    return entries


def test_import_redacts_credentials_again_before_storage(tmp_path: Path) -> None:
    data = mutate(setter("entries", smuggling_entries()))
    result = import_json(data, MAX)
    texts = [e["text"] for e in result["entries"] if e["kind"] == "sent"]
    assert texts == [
        "AUTH PLAIN [credentials for user 'demo', redacted]",
        "AUTH LOGIN",
        "[AUTH LOGIN username 'demo']",
        "[AUTH LOGIN password, redacted]",
        "AUTH PLAIN [credentials, redacted]",
    ]
    store = Store.open(f"sqlite:///{tmp_path}/p.db")
    result["notes"] = []
    store.create_from_import(result)
    store.dispose()
    for path in tmp_path.iterdir():
        blob = path.read_bytes()
        assert SECRET.encode() not in blob and b64(SECRET).encode() not in blob


def test_create_from_import_makes_a_new_closed_transcript(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/p.db")
    created, token = store.create_from_import(import_json(encode(good()), MAX), owner="bob")
    assert created.id != "original-id" and len(created.id) >= 32
    assert created.status == "closed" and created.owner == "bob"
    assert created.title == "Greylisting at example.org"
    assert created.entry_count == 4 and created.last_code == 451
    assert created.created_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert [n.text for n in created.notes] == ["Classic greylisting.", "Come back in five minutes."]
    assert store.check_edit_token(created.id, token)
    assert [t.id for t in store.list(search="greylisted")] == [created.id]
    store.dispose()
