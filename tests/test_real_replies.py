"""A corpus of real replies, each quoted in a public thread (tests/data/real_replies.json).

Each entry names the server kind, what the reply answered (null when the thread does not
say), the reply as quoted, its public source, and what a mail engineer reads in it: the class,
the enhanced code, and the explanations that are right (the key the headline must follow).
The texts are kept as quoted; anonymised parts (x.x.xx, ***) stay as the source had them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smtp_session.knowledge.explain import explain_reply
from smtp_session.wire.reply import parse_reply

CORPUS = json.loads((Path(__file__).parent / "data" / "real_replies.json").read_text())


def _explain(entry: dict) -> dict:
    return explain_reply(parse_reply(entry["reply"]), entry["after"])


@pytest.mark.parametrize(
    "entry", CORPUS, ids=[f"{n}-{e['server']}-{e['reply'][:24]}" for n, e in enumerate(CORPUS)]
)
def test_real_reply_is_understood(entry: dict) -> None:
    got = _explain(entry)
    assert got["class"] == entry["class"]
    assert (got["enhanced"] or {}).get("code") == entry["enhanced"]
    assert got["layer"] in entry["keys"], got["meaning"]


def test_corpus_is_large_varied_and_sourced() -> None:
    assert len(CORPUS) >= 150
    assert len({e["server"] for e in CORPUS}) >= 12
    assert all(e["source"].startswith("https://") for e in CORPUS)
    assert any("\r\n" in e["reply"] for e in CORPUS)  # multi-line replies are in it


def test_corpus_scores() -> None:
    results = [_explain(e) for e in CORPUS]
    n = len(CORPUS)
    klass = sum(r["class"] == e["class"] for r, e in zip(results, CORPUS, strict=True))
    enhanced = sum(
        (r["enhanced"] or {}).get("code") == e["enhanced"]
        for r, e in zip(results, CORPUS, strict=True)
    )
    specific = sum(r["specific"] for r in results)
    print(f"class {klass}/{n}, enhanced {enhanced}/{n}, specific {specific}/{n}")
    assert klass == n and enhanced == n
    assert specific / n >= 0.95
