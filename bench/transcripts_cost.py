"""Part 6: what recording costs — append, replay and export of a long transcript on SQLite.

PLACEHOLDER BOUNDARY: the store (``transcripts/store.py``) and the exports are built by other
engineers. Each step imports what it needs lazily and reports ``skipped`` with the reason when
that piece is missing or its API moved, so the rest of the benchmark still runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .stats import latency


def _entry(seq: int) -> dict[str, Any]:
    """Alternating sent/reply entries in the stored format (transcripts/validate.py)."""
    if seq % 2 == 0:
        return {"seq": seq, "t": seq, "kind": "sent", "text": "NOOP", "line_kind": "command"}
    return {
        "seq": seq,
        "t": seq,
        "kind": "reply",
        "code": 250,
        "enhanced": "2.0.0",
        "lines": ["250 2.0.0 Ok"],
        "after": "NOOP",
    }


def transcripts_cost(data_dir: Path, entries: int) -> dict[str, Any]:
    """Append median/p99 (one commit per entry), then replay and JSON export of the result."""
    try:
        from transcripts.store import Store
    except ImportError as exc:
        return {"skipped": f"transcripts.store is not available yet ({exc})"}
    store = Store.open(f"sqlite:///{data_dir / 'bench-transcripts.db'}")
    try:
        transcript, _token = store.create(target="sandbox")
        samples = []
        for seq in range(entries):
            entry = _entry(seq)
            t0 = time.perf_counter_ns()
            store.append(transcript.id, entry)
            samples.append(time.perf_counter_ns() - t0)
        store.close(transcript.id, "bench done")
        result: dict[str, Any] = {"entries": entries, "append": latency(samples)}
        t0 = time.perf_counter()
        replayed = store.entries(transcript.id)
        result["replay_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        assert len(replayed) == entries
        result["export"] = _export(store, transcript.id)
    finally:
        store.dispose()
    return result


def _export(store: Any, transcript_id: str) -> dict[str, Any]:
    try:
        from transcripts.exports import jsonfmt
    except ImportError as exc:
        return {"skipped": f"transcripts.exports.jsonfmt is not available yet ({exc})"}
    t0 = time.perf_counter()
    body = jsonfmt.render(store.get(transcript_id))
    return {"json_ms": round((time.perf_counter() - t0) * 1000, 1), "json_bytes": len(body)}
