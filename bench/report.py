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
            ratio = "" if path == "direct" else f"{d['p50_ratio']}x / {d['p99_ratio']}x direct"
            out.append((f"NOOP round trip p50/p99, {path}", f"{_ms(d)} / {_ms(d, 'p99_ms')}",
                        _ms(rt["direct"]), ratio))  # fmt: skip
        mine = rt["playground"]
        if "p50_vs_bridge" in mine:
            out.append(("NOOP p50: playground vs bridge / vs websockify",
                        f"{mine['p50_vs_bridge']}x / {mine.get('p50_vs_websockify', '?')}x",
                        "<= 1.5x / < 2x", ""))  # fmt: skip
        for path in ("flask-sock bridge", "playground"):
            if "cpu_ms_per_rt" in rt.get(path, {}):
                out.append((f"worker CPU per NOOP round trip, {path}",
                            f"{rt[path]['cpu_ms_per_rt']:.3f} ms",
                            "<= 0.3 ms" if path == "playground" else "", ""))  # fmt: skip
        if "db_rows_per_rt" in mine:
            out.append(
                (
                    "transcript rows / bytes per NOOP round trip",
                    f"{mine['db_rows_per_rt']} / {mine['db_bytes_per_rt']} B",
                    "",
                    "",
                )
            )
    ins = r.get("instructions")
    if ins and "skipped" not in ins:
        out.append(("instructions per NOOP round trip in the worker (callgrind), playground",
                    f"{ins['playground']['per_round_trip'] / 1000:.1f} k",
                    f"bridge {ins['bridge']['per_round_trip'] / 1000:.1f} k",
                    f"{ins['ratio']}x the bridge"))  # fmt: skip
    elif ins:
        out.append(("instructions per NOOP round trip (callgrind)", "skipped", ins["skipped"], ""))
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
                per_cpu = f"{a['rt_per_cpu_s']} per worker CPU-s" if "rt_per_cpu_s" in a else ""
                out.append((name, f"{a['rt_per_s']}/s", f"{_ms(a)} / {_ms(a, 'p99_ms')}",
                            per_cpu))  # fmt: skip
        ref, mine = cc.get("active_bridge"), cc.get("active") or {}
        if ref:
            out.append((f"{ref['sessions']} through the bare bridge (back to back): round "
                        "trips/s, p50/p99", f"{ref['rt_per_s']}/s",
                        f"{_ms(ref)} / {_ms(ref, 'p99_ms')}",
                        f"{ref.get('rt_per_cpu_s', '?')} per worker CPU-s; playground "
                        f"{mine.get('vs_bridge', '?')}x its rate, "
                        f"{mine.get('per_cpu_vs_bridge', '?')}x per CPU-s"))  # fmt: skip
        for key, who in (("active", "playground"), ("active_bridge", "bridge")):
            spent = (cc.get(key) or {}).get("cpu_ms_per_rt")
            if spent:
                parts = " + ".join(f"{k} {v:.3f}" for k, v in spent.items())
                out.append((f"CPU per round trip back to back, {who}: worker + clients + "
                            "sandbox", f"{sum(spent.values()):.3f} ms", parts,
                            f"all cores busy: at most "
                            f"{cc[key]['machine_ceiling_rt_per_s']:,}/s"))  # fmt: skip
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
                "< 500 ms",
                " ".join(f"{k}={v}" for k, v in tc["export_ms"].items()),
            )
        )
        page = tc["replay_page"]
        out.append(("replay page interactive (best of 3)",
                    f"{page['best_ms']} ms" if "best_ms" in page else page.get("skipped", ""),
                    "< 500 ms", f"panels complete {min(page.get('panels_ms') or [0])} ms;"
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
Measured = Callable[[dict[str, Any]], str]


def _get(r: dict[str, Any], *path: str) -> Any:
    """r[path[0]][path[1]]..., or None where the run did not measure it."""
    for key in path:
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


def _check(value: Any, ok: Callable[[Any], bool]) -> bool | None:
    return None if value is None else ok(value)


def _exports(r: dict[str, Any]) -> Any:
    ms = _get(r, "transcripts", "export_ms")
    return max(ms.values()) if ms and _get(r, "transcripts", "entries") == 10_000 else None


def _idle_1000(r: dict[str, Any]) -> Any:
    return _get(r, "concurrency", "idle", "1000", "rss_mb")


def _active_100(r: dict[str, Any]) -> Any:
    a = _get(r, "concurrency", "active")
    return a if a and a.get("sessions") == 100 else None


def _back_to_back(r: dict[str, Any]) -> str:
    a, ref = _active_100(r), _get(r, "concurrency", "active_bridge")
    text = f"{a['rt_per_s']:,}/s, {a['rt_per_cpu_s']:,} per worker CPU-s"
    if ref:
        text += (f"; the bare bridge {ref['rt_per_s']:,}/s in this run; with every core busy "
                 f"at most {a['machine_ceiling_rt_per_s']:,}/s (bridge "
                 f"{ref['machine_ceiling_rt_per_s']:,}/s)")  # fmt: skip
    return text


def _rt(r: dict[str, Any], path: str, key: str) -> Any:
    return r["roundtrip"][path][key]


# Issue 17's targets: (text, the part that measures it, check, what it measured). A check
# returns None when the run did not measure what it needs; a part that failed misses its
# target. The last says, beside the verdict, by how much it is met or missed and against what.
TARGETS: list[tuple[str, str, Check, Measured]] = [
    ("NOOP round-trip p50 at most 1.5x the bare flask-sock bridge's", "roundtrip",
     lambda r: _check(_get(r, "roundtrip", "playground", "p50_vs_bridge"), lambda x: x <= 1.5),
     lambda r: f"{_rt(r, 'playground', 'p50_vs_bridge')}x ({_rt(r, 'playground', 'p50_ms'):.3f}"
               f" vs {_rt(r, 'flask-sock bridge', 'p50_ms'):.3f} ms)"),
    ("NOOP round-trip p50 below 2x websockify's", "roundtrip",
     lambda r: _check(_get(r, "roundtrip", "playground", "p50_vs_websockify"), lambda x: x < 2),
     lambda r: f"{_rt(r, 'playground', 'p50_vs_websockify')}x (websockify "
               f"{_rt(r, 'websockify', 'p50_ms'):.3f} ms)"),
    ("worker CPU per NOOP round trip at most 0.3 ms", "roundtrip",
     lambda r: _check(_get(r, "roundtrip", "playground", "cpu_ms_per_rt"), lambda x: x <= 0.3),
     lambda r: f"{_rt(r, 'playground', 'cpu_ms_per_rt'):.3f} ms (the bridge "
               f"{_rt(r, 'flask-sock bridge', 'cpu_ms_per_rt'):.3f} ms)"),
    ("1,000 idle consoles within 150 MB (RSS summed over the server tree)", "concurrency",
     lambda r: _check(_idle_1000(r), lambda x: x <= 150),
     lambda r: f"{_idle_1000(r)} MB"),
    ("100 consoles back to back: at least 5,000 round trips/s on one worker", "concurrency",
     lambda r: _check(_active_100(r), lambda a: a["rt_per_s"] >= 5000),
     _back_to_back),
    ("every export of 10,000 entries under 0.5 s", "transcripts",
     lambda r: _check(_exports(r), lambda x: x < 500),
     lambda r: f"slowest {_exports(r)} ms"),
    ("replay page of 10,000 entries interactive under 0.5 s", "transcripts",
     lambda r: _check(_get(r, "transcripts", "replay_page", "best_ms")
                      if _get(r, "transcripts", "entries") == 10_000 else None,
                      lambda x: x < 500),
     lambda r: f"{r['transcripts']['replay_page']['best_ms']} ms"),
    ("DATA throughput >= 80% of direct", "data",
     lambda r: _check(_get(r, "data", "ratio"), lambda x: x >= 0.8),
     lambda r: f"{r['data']['ratio']}x"),
    ("no growth after churn (threads, fds; RSS within 5 MB)", "churn",
     lambda r: _check(_get(r, "churn"), lambda c: c["threads_delta"] <= 0
                      and c["fds_delta"] <= 0 and c["rss_delta_mb"] < 5),
     lambda r: "threads {threads_delta:+}, fds {fds_delta:+}, RSS {rss_delta_mb:+} MB"
               .format(**r["churn"])),
    ("transcript append p50 < 1 ms on SQLite (issue 4)", "transcripts",
     lambda r: _check(_get(r, "transcripts", "append", "p50_ms"), lambda x: x < 1),
     lambda r: f"{r['transcripts']['append']['p50_ms']} ms"),
    ("capture (issue 16): a session's summary visible within 1 s of its end (p99)", "capture",
     lambda r: _check(_get(r, "capture", "latency", "p99_ms"), lambda x: x < 1000),
     lambda r: f"{r['capture']['latency']['p99_ms']:.1f} ms"),
    ("classroom (issue 18): a class of 200, dashboard update p99 < 1 s", "classroom",
     lambda r: r["classroom"]["dashboard_update"]["p99_ms"] < 1000
     if r.get("classroom", {}).get("students") == 200 else None,
     lambda r: f"{r['classroom']['dashboard_update']['p99_ms']:.1f} ms"),
]  # fmt: skip


def _measured(measured: Measured, r: dict[str, Any]) -> str:
    try:
        return measured(r)
    except (KeyError, TypeError, ValueError):  # not measured in this run
        return ""


def verdicts(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with met / missed / not measured, and what this run measured for it."""
    out = []
    for name, part, check, measured in TARGETS:
        ok = False if part in r.get("failed", {}) else check(r)
        out.append({"target": name, "met": ok, "status": {True: "met", False: "MISSED",
                    None: "not measured"}[ok], "measured": _measured(measured, r)})  # fmt: skip
    return out


def markdown(r: dict[str, Any]) -> str:
    """The README's benchmark table for this run: the heading line, then one row per figure
    (measure, value, reference / detail, ratio) and the verdict per target."""
    run = r.get("run", {})
    head = (
        f"Run {run.get('date', '?')} on {run.get('machine', '?')}, {run.get('cpus')} cores, "
        f"Python {run.get('python')}, {run.get('server')} with {run.get('workers')} worker(s); "
        f"load average before/after {run.get('loadavg_before')} / {run.get('loadavg_after')}."
    )
    lines = [head, "", "| measure | value | reference / detail | ratio |", "|---|---|---|---|"]
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines += [f"| {' | '.join(cell(c) for c in row)} |" for row in rows(r)]
    lines += ["", "| target | verdict | measured |", "|---|---|---|"]
    lines += [f"| {v['target']} | {v['status']} | {cell(v.get('measured', ''))} |"
              for v in r.get("targets", [])]  # fmt: skip
    return "\n".join(lines) + "\n"


# Capacity (docs/production.md): how a measured run scales, with its assumptions written down.
PACE_S = 5.0  # a student at work sends a command every 5 s on average (12 round trips/min)
CPU_HEADROOM = 0.5  # a worker planned at half a core, so p99 stays low and pastes fit
MAX_PER_WORKER = 1000  # PLAYGROUND_WORKER_CONNECTIONS
PG_ROW_OVERHEAD = 60  # PostgreSQL: tuple header, item pointer and primary-key index per row
CORES_PER_HOST = 8
GROUPS = (("a class", 200), ("a school", 2_000), ("several hosts, a load balancer", 20_000))


def capacity(r: dict[str, Any]) -> str:
    """The capacity table from this run's per-core figures (Markdown), or "" if the run
    lacks the roundtrip or concurrency parts."""
    mine = _get(r, "roundtrip", "playground") or {}
    active, idle = _active_100(r), _get(r, "concurrency", "idle", "1000")
    base = _get(r, "concurrency", "baseline")
    if not (active and idle and base and "rt_per_cpu_s" in active and "db_rows_per_rt" in mine):
        return ""
    rate = 1 / PACE_S
    by_cpu = int(active["rt_per_cpu_s"] * CPU_HEADROOM / rate)
    per_worker = min(MAX_PER_WORKER, by_cpu)
    kb = idle["kb_per_session"]
    worker_mb = base["rss_mb"] + per_worker * kb / 1024
    rows_min = mine["db_rows_per_rt"] * 60 * rate
    bytes_min = (mine["db_bytes_per_rt"] + PG_ROW_OVERHEAD * mine["db_rows_per_rt"]) * 60 * rate
    sandbox_ms = _get(r, "roundtrip", "direct", "cpu_ms_per_rt")
    lines = [
        "| figure (this run) | value |",
        "|---|---|",
        f"| round trips per worker CPU-second (100 consoles back to back) "
        f"| {active['rt_per_cpu_s']:,} |",
        f"| worker CPU per NOOP round trip, one console | {mine.get('cpu_ms_per_rt')} ms |",
        f"| sandbox CPU per NOOP round trip | {sandbox_ms} ms |",
        f"| memory per idle console (RSS, 1,000 open) | {kb} KB |",
        f"| server at rest (master + one worker, RSS) | {base['rss_mb']} MB |",
        f"| transcript rows / bytes per round trip | {mine['db_rows_per_rt']} / "
        f"{mine['db_bytes_per_rt']} B |",
        f"| per console-minute at one command per {PACE_S:g} s | {rows_min:.0f} rows, "
        f"{bytes_min / 1024:.1f} KB in PostgreSQL (payload + ~{PG_ROW_OVERHEAD} B a row) |",
        f"| consoles per worker (one core, planned at {CPU_HEADROOM:.0%}) | {per_worker:,} "
        f"(CPU allows {by_cpu:,}; PLAYGROUND_WORKER_CONNECTIONS caps at {MAX_PER_WORKER:,}) |",
        "",
        "| serving | consoles | workers (= cores) | hosts | app memory | sandbox CPU "
        "| transcript writes | PostgreSQL | Redis |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n in GROUPS:
        workers = -(-n // per_worker)
        hosts = -(-(workers + 1) // CORES_PER_HOST)  # + a core for the sandbox and the OS
        rows_s = n * mine["db_rows_per_rt"] * rate
        gb_hour = n * bytes_min * 60 / 1024**3
        pg = _pg_size(rows_s)
        redis = "optional (one worker)" if workers == 1 else "1 vCPU, 256 MB"
        sandbox = f"{n * rate * (sandbox_ms or 0) / 1000:.2f} cores" if sandbox_ms else "?"
        lines.append(
            f"| {name} | {n:,} | {workers} | {hosts} x {CORES_PER_HOST} cores "
            f"| {workers * worker_mb / 1024:.1f} GB | {sandbox} "
            f"| {rows_s:,.0f} rows/s, {gb_hour:.2f} GB/h | {pg} | {redis} |"
        )
    return "\n".join(lines) + "\n"


def _pg_size(rows_s: float) -> str:
    """A PostgreSQL size for a rate of group-committed inserts (each worker commits once per
    20 ms, so transactions stay few; rows are small). Planning figures, not measured here."""
    if rows_s <= 500:
        return "SQLite on the host, or 1 vCPU / 2 GB"
    if rows_s <= 5_000:
        return "2 vCPU / 8 GB, SSD"
    return "4-8 vCPU / 16-32 GB, SSD (or one per campus)"
