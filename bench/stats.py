"""Summaries of measurements: percentiles, and median with min and max."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of one sample."""
    if not values:
        return {"p50": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
    }


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    count: int


def summarize(values: Sequence[float]) -> Summary:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return Summary(math.nan, math.nan, math.nan, 0)
    return Summary(statistics.median(finite), min(finite), max(finite), len(finite))
