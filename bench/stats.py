"""Percentiles and ratios, the only arithmetic the report needs."""

from __future__ import annotations

import statistics


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def latency(samples_ns: list[int]) -> dict[str, float]:
    """p50/p99/mean in milliseconds of round-trip samples taken with perf_counter_ns."""
    ms = sorted(s / 1e6 for s in samples_ns)
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p99_ms": round(percentile(ms, 99), 4),
        "mean_ms": round(statistics.fmean(ms), 4) if ms else float("nan"),
    }


def ratio(value: float, reference: float) -> float:
    """value / reference, rounded; NaN when there is no reference."""
    return round(value / reference, 2) if reference else float("nan")
