"""Streamed exports (transcripts/exports STREAMS): the same bytes as before, in pieces.

The golden digests were taken from the exports as they were before streaming (each format
built whole and joined once), for the same transcripts: a streamed export must be those
bytes exactly, and a 10,000-entry one must leave in pieces, never as one string.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from transcripts import Store
from transcripts.exports import FORMATS, STREAMS, export, export_stream
from transcripts.model import Note, Transcript


def entries(n: int) -> list[dict[str, Any]]:
    """A greeting, EHLO, NOOPs, a message with a dot-stuffed line and backticks, QUIT."""
    out: list[dict[str, Any]] = [
        {"seq": 0, "t": 0, "kind": "event", "event": "connect",
         "data": {"host": "127.0.0.1", "port": 2525, "address": "127.0.0.1"}},
        {"seq": 1, "t": 1, "kind": "reply", "code": 220, "enhanced": None,
         "lines": ["220 sandbox.test ESMTP `ready` <b>&amp;</b>"], "after": "greeting",
         "explain": []},
    ]  # fmt: skip
    script = [("EHLO client.example", ["250-sandbox.test", "250 PIPELINING"], "EHLO")]
    script += [("NOOP", ["250 2.0.0 Ok"], "NOOP")] * max(0, n - 4)
    for text, lines, after in script:
        seq = len(out)
        out.append({"seq": seq, "t": seq, "kind": "sent", "text": text, "line_kind": "command",
                    "explain": []})  # fmt: skip
        out.append({"seq": seq + 1, "t": seq + 1, "kind": "reply", "code": 250,
                    "enhanced": "2.0.0" if len(lines) == 1 else None, "lines": lines,
                    "after": after, "explain": []})  # fmt: skip
    for text in ("..a dot-stuffed line", "```fence``` and * _x_ #1.", "\u00e9t\u00e9 \x1b[31m"):
        out.append({"seq": len(out), "t": len(out), "kind": "sent", "text": text,
                    "line_kind": "data", "explain": []})  # fmt: skip
    out.append({"seq": len(out), "t": len(out), "kind": "event", "event": "closed",
                "data": {"reason": "closed by the user", "code": "client_closed"}})  # fmt: skip
    return out


def transcript(n: int) -> Transcript:
    moment = datetime(2026, 12, 1, 20, 0, 5, tzinfo=UTC)
    found = Transcript(
        id="Zx3Tq9yJw0bYQx7c2Hn5Lr8Vd1Fk4Pm6", target="sandbox (127.0.0.1:2525)",
        title="A `long` session", description="# not a heading\n1. not a list",
        created_at=moment, ended_at=moment, status="closed", close_reason="bench done",
        owner=None, visibility="unlisted", process=None, entry_count=n, last_code=250,
    )  # fmt: skip
    found.entries = entries(n)
    found.notes = [
        Note(id=1, transcript_id=found.id, seq=None, text="whole *session*", author="t",
             created_at=moment),
        Note(id=2, transcript_id=found.id, seq=3, text="the NOOP\nsecond line", author=None,
             created_at=moment),
    ]  # fmt: skip
    return found


def explain(entry: dict[str, Any]) -> str | None:
    return "250: <ok> & `fine`" if entry["kind"] == "reply" else None


# SHA-256 of each format before streaming (built whole), for transcript(n) with explain.
GOLDEN = {
    0: {
        "cast": "3b8ddf5db1237a8fb1ac6e21740a9645a0c5e3d4fbed3716a517c0b25b561ca2",
        "html": "cf210809cc8a98cc60db938fb3c3c1abc3a07dfe85d6579636bba62b3c5eaeca",
        "json": "6d265859678386272f253da26024877592b56c3e23f5ac06a420c8a2d29120e2",
        "md": "3c640183b81f7697e03e561ac258afb6972087266560ebc2b87b26fe79b29c0b",
        "python": "315678088aa95d6112d8b1e361fb5d16a4f12fbb5cbfe41ab472399b93651653",
        "swaks": "8ac923fbb5991c2340db4c1bc27add82b67f1c5ea01e5d9b13e92f162a7c8329",
        "txt": "3bcc2c092c6fcd09aac1a1a599862ee11c4caba0f0f1879b9f4f9dd1705f2819",
    },
    10_000: {
        "cast": "aaf857611c38d1b71f94620deca402074674d12476b2760b635a6fee4f5c30ce",
        "html": "01da97e2ca349134ed2cf958c6f3ffb3fc304f715fb06a1cf94b8024e7f0a577",
        "json": "49676470c653adf8006cef6e18b3461471b18ae9feaad2251e7f853a188f9f8d",
        "md": "f6948f616691dcd3d716f072e054d988c923b2536bc19fdb05bb15c7bbb42ba9",
        "python": "b4cb051bac8e9586136a560600bfa4fd5b4251c670e46c0688a639ec75bb3281",
        "swaks": "df6cea6526924f1234cae9df7d4c68fdbb40a5ba30d5b8935ffb0d3446031b8c",
        "txt": "b8f46a90af3b73dcd6b7656806e1f8e90919df313b98deaa767a350fa73725c9",
    },
}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("n", [0, 10_000])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_streamed_export_is_the_bytes_it_was_before(fmt: str, n: int) -> None:
    t = transcript(n) if n else transcript(4)
    if n == 0:
        t.entries, t.notes = [], []
    pieces, mimetype, filename = export_stream(t, fmt, explain)
    data = b"".join(pieces)
    assert (data, mimetype, filename) == export(t, fmt, explain)
    assert digest(data) == GOLDEN[n][fmt]


@pytest.mark.parametrize("fmt", sorted(STREAMS))
def test_a_10000_entry_export_leaves_in_pieces(fmt: str) -> None:
    pieces = list(export_stream(transcript(10_000), fmt, explain)[0])
    total = sum(map(len, pieces))
    assert len(pieces) >= 5 and max(map(len, pieces)) < total / 4


def test_the_api_streams_exports_gzipped_or_not(tmp_path: Path) -> None:
    from app import create_app

    app = create_app({"DATA_DIR": tmp_path, "START_SANDBOX": False})
    store: Store = app.extensions["playground"].store
    made, _token = store.create(target="sandbox (127.0.0.1:2525)")
    store.append_many(made.id, entries(3000))
    store.close(made.id, "done")
    stored = store.get(made.id)
    assert stored is not None
    client = app.test_client()
    for fmt in FORMATS:
        url = f"/api/transcripts/{made.id}/export?format={fmt}"
        plain = client.get(url)
        packed = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert plain.is_streamed and packed.headers["Content-Encoding"] == "gzip"
        assert plain.get_data() == gzip.decompress(packed.get_data())
        assert plain.get_data().startswith(export(stored, fmt)[0][:40])
