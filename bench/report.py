"""The results as a table for people and a verdict per target (issue 7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = tuple[str, str, str, str]  # metric, value, reference, ratio


def _ms(d: dict[str, Any], key: str = "p50_ms") -> str:
    return f"{d[key]:.3f} ms"


def rows(r: dict[str, Any]) -> list[Row]:
    """One row per figure, the reference (direct socket) beside it where one exists."""
    out: list[Row] = []
    rt = r.get("roundtrip")
    if rt:
        for path in ("direct", "websockify", "flask-sock bridge", "playground"):
            if path not in rt:
                continue
            d = rt[path]
            ratio = "" if path == "direct" else f"{d['p50_ratio']}x / {d['p99_ratio']}x"
            out.append((f"NOOP round trip p50/p99, {path}", f"{_ms(d)} / {_ms(d, 'p99_ms')}",
                        _ms(rt["direct"]), ratio))  # fmt: skip
    for name, d in (r.get("setup") or {}).items():
        out.append((f"setup {name} p50", _ms(d["playground"]), _ms(d["direct"]),
                    f"{d['p50_ratio']}x"))  # fmt: skip
    dt = r.get("data")
    if dt:
        out.append((f"DATA {dt['message_mb']} MB, MB/s", f"{dt['playground_mb_s']}",
                    f"{dt['direct_mb_s']}", f"{dt['ratio']}x"))  # fmt: skip
    cc = r.get("concurrency")
    if cc:
        b = cc["baseline"]
        out.append(("server at rest: RSS / PSS / threads", f"{b['rss_mb']} / {b['pss_mb']} MB"
                    f" / {b['threads']}", "", ""))  # fmt: skip
        for level, d in cc["idle"].items():
            out.append((f"{level} idle sessions: RSS / PSS / threads",
                        f"{d['rss_mb']} / {d['pss_mb']} MB / {d['threads']}",
                        f"{d['kb_per_session']} KB/session", ""))  # fmt: skip
        for key, how in (("active", "back to back"), ("active_paced", "one per 0.5 s each")):
            a = cc.get(key)
            if a:
                name = f"{a['sessions']} active ({how}): round trips/s, p50/p99"
                out.append((name, f"{a['rt_per_s']}/s", f"{_ms(a)} / {_ms(a, 'p99_ms')}", ""))
    ch = r.get("churn")
    if ch:
        b, a = ch["before"], ch["after"]
        out.append((f"churn {ch['cycles']} cycles: threads/fds/RSS before -> after",
                    f"{b['threads']}/{b['fds']}/{b['rss_mb']} -> {a['threads']}/{a['fds']}/"
                    f"{a['rss_mb']}", f"{ch['cycles_per_s']} cycles/s", ""))  # fmt: skip
    tc = r.get("transcripts")
    if tc and "skipped" not in tc:
        out.append(
            (
                f"transcript append ({tc['entries']} entries) p50/p99",
                f"{_ms(tc['append'])} / {_ms(tc['append'], 'p99_ms')}",
                "< 1 ms",
                "",
            )
        )
        slowest = max(tc["export_ms"], key=tc["export_ms"].get)
        out.append(
            (
                "exports: slowest (all formats)",
                f"{tc['export_ms'][slowest]} ms ({slowest})",
                "< 1000 ms",
                " ".join(f"{k}={v}" for k, v in tc["export_ms"].items()),
            )
        )
        page = tc["replay_page"]
        out.append(("replay page interactive (best of 3)",
                    f"{page['best_ms']} ms" if "best_ms" in page else page.get("skipped", ""),
                    "< 1000 ms", f"panels complete {min(page.get('panels_ms') or [0])} ms;"
                    f" frames API {tc['frames_api_ms']} ms"))  # fmt: skip
    elif tc:
        out.append(("transcripts", "skipped", tc["skipped"], ""))
    cp = r.get("capture")
    if cp:
        out.append(
            (
                f"sandbox msg/s, capture on / off ({cp['clients']} clients)",
                f"{cp['capture_on_msg_s']} / {cp['capture_off_msg_s']}",
                f"{cp['messages']} messages each side; on and stored: "
                f"{cp['capture_on_recorded_msg_s']}/s ({cp['recorded_overhead_pct']}%)",
                f"overhead {cp['overhead_pct']}%",
            )
        )
        lt = cp["latency"]
        out.append(
            (
                "capture latency: session end -> summary visible, p50/p99",
                f"{_ms(lt)} / {_ms(lt, 'p99_ms')}",
                f"max {lt['max_ms']} ms",
                "< 1000 ms",
            )
        )
    out += classroom_rows(r.get("classroom"))
    for part, why in (r.get("failed") or {}).items():
        out.append((f"{part}: FAILED", why[:120], "", ""))
    return out


def classroom_rows(c: dict[str, Any] | None) -> list[Row]:
    """Issue 18: the dashboard's latency, the students' round trip without and with it."""
    if not c:
        return []
    n = c["students"]
    dash, watch = c["dashboard_update"], c["watch_update"]
    without, with_ = c["roundtrip_without"], c["roundtrip_with"]
    mem = c["memory"]
    return [
        (f"class of {n}: dashboard update p50/p99", f"{_ms(dash)} / {_ms(dash, 'p99_ms')}",
         f"{dash['n']} updates, {c['dashboard_rows']} rows", "< 1000 ms"),
        (f"class of {n}: watcher update p50/p99", f"{_ms(watch)} / {_ms(watch, 'p99_ms')}",
         f"{watch['n']} replies", ""),
        (f"class of {n}: students' round trip p50/p99 without dashboard",
         f"{_ms(without)} / {_ms(without, 'p99_ms')}", f"one command per {c['pace_s']} s each", ""),
        (f"class of {n}: students' round trip p50/p99 with dashboard + watcher",
         f"{_ms(with_)} / {_ms(with_, 'p99_ms')}", f"{c['overflow_dropped']} viewer frames dropped",
         f"{round(with_['p99_ms'] / without['p99_ms'], 2) if without['p99_ms'] else ''}x p99"),
        (f"class of {n}: server CPU without / with dashboard",
         f"{c['server_cpu'].get('without', '?')} / {c['server_cpu'].get('with', '?')} s/s",
         f"client {c['server_cpu'].get('client without', '?')} / "
         f"{c['server_cpu'].get('client with', '?')} s/s", ""),
        (f"class of {n}: memory per student RSS / PSS",
         f"{mem['kb_per_student']} / {mem['pss_kb_per_student']} KB",
         f"{mem['before']['rss_mb']} -> {mem['joined']['rss_mb']} MB RSS", ""),
    ]  # fmt: skip


def table(r: dict[str, Any]) -> str:
    """A fixed-width text table."""
    body = [("metric", "value", "reference / detail", "ratio"), *rows(r)]
    widths = [max(len(row[i]) for row in body) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


Check = Callable[[dict[str, Any]], bool | None]

# Issue 7's targets: (text, the part that measures it, check). A check returns None when the
# run did not measure what it needs; a part that failed misses its target.
TARGETS: list[tuple[str, str, Check]] = [
    (
        "round-trip p50 ratio below websockify's and at most 2x",
        "roundtrip",
        lambda r: None if "roundtrip" not in r else (
            r["roundtrip"]["playground"]["p50_ratio"] < r["roundtrip"]["websockify"]["p50_ratio"]
            and r["roundtrip"]["playground"]["p50_ratio"] <= 2.0
        ),
    ),
    (
        "DATA throughput >= 80% of direct",
        "data",
        lambda r: r["data"]["ratio"] >= 0.8 if "data" in r else None,
    ),
    (
        "1,000 idle sessions within 150 MB (RSS summed over the server tree)",
        "concurrency",
        lambda r: r["concurrency"]["idle"]["1000"]["rss_mb"] <= 150
        if "1000" in r.get("concurrency", {}).get("idle", {}) else None,
    ),
    (
        "100 active sessions p99 < 20 ms (back to back)",
        "concurrency",
        lambda r: r["concurrency"]["active"]["p99_ms"] < 20
        if r.get("concurrency", {}).get("active", {}).get("sessions") == 100 else None,
    ),
    (
        "100 active sessions p99 < 20 ms (paced, one NOOP per 0.5 s each)",
        "concurrency",
        lambda r: r["concurrency"]["active_paced"]["p99_ms"] < 20
        if r.get("concurrency", {}).get("active_paced", {}).get("sessions") == 100 else None,
    ),
    (
        "transcripts (issue 4): append p50 < 1 ms on SQLite",
        "transcripts",
        lambda r: r["transcripts"]["append"]["p50_ms"] < 1 if "append" in r.get(
            "transcripts", {}) else None,
    ),
    (
        "transcripts (issue 4): every export of 10,000 entries < 1 s",
        "transcripts",
        lambda r: max(r["transcripts"]["export_ms"].values()) < 1000
        if r.get("transcripts", {}).get("entries") == 10_000 else None,
    ),
    (
        "transcripts (issue 4): replay page of 10,000 entries interactive < 1 s",
        "transcripts",
        lambda r: r["transcripts"]["replay_page"]["best_ms"] < 1000
        if r.get("transcripts", {}).get("entries") == 10_000
        and "best_ms" in r["transcripts"].get("replay_page", {}) else None,
    ),
    (
        "no growth after churn (threads, fds; RSS within 5 MB)",
        "churn",
        lambda r: r["churn"]["threads_delta"] <= 0 and r["churn"]["fds_delta"] <= 0
        and r["churn"]["rss_delta_mb"] < 5 if "churn" in r else None,
    ),
    (
        "capture (issue 16): a session's summary visible within 1 s of its end (p99)",
        "capture",
        lambda r: r["capture"]["latency"]["p99_ms"] < 1000 if "capture" in r else None,
    ),
    (
        "classroom (issue 18): a class of 200, dashboard update p99 < 1 s",
        "classroom",
        lambda r: r["classroom"]["dashboard_update"]["p99_ms"] < 1000
        if r.get("classroom", {}).get("students") == 200 else None,
    ),
]  # fmt: skip


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with met / missed / not measured."""
    out = []
    for name, part, check in TARGETS:
        ok = False if part in r.get("failed", {}) else check(r)
        out.append({"target": name, "met": ok, "status": {True: "met", False: "MISSED",
                    None: "not measured"}[ok]})  # fmt: skip
    return out
