"""Firing records and how a steady run is cut into measured windows."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bench.stats import spread


@dataclass(frozen=True)
class FireRecord:
    """Epoch seconds: when a firing was due, began, and was durably recorded."""

    due: float
    started: float
    recorded: float


def window_marks(seconds: float, window: float, lead: float = 1.0) -> list[float]:
    """Window boundaries, starting at the first whole second after ``lead``."""
    start = math.ceil(time.time() + lead)
    return [start + k * window for k in range(round(seconds / window) + 1)]


def steady_windows(
    records: Iterable[FireRecord], marks: list[float], cpu: list[float]
) -> list[dict[str, float]]:
    """Figures for each window, from the firings due inside it."""
    records = list(records)
    windows = []
    for index in range(len(marks) - 1):
        low, high = marks[index], marks[index + 1]
        inside = [r for r in records if low <= r.due < high]
        cpu_seconds = cpu[index + 1] - cpu[index]
        windows.append(window_figures(inside, cpu_seconds, high - low))
    return windows


def window_figures(
    records: list[FireRecord], cpu_seconds: float, seconds: float
) -> dict[str, float]:
    start = spread([(r.started - r.due) * 1000 for r in records])
    durable = spread([(r.recorded - r.due) * 1000 for r in records])
    figures = {f"start_{k}_ms": v for k, v in start.items()}
    figures.update({f"durable_{k}_ms": v for k, v in durable.items()})
    figures["firings"] = float(len(records))
    figures["cpu_percent"] = cpu_seconds / seconds * 100
    return figures


def burst_figures(
    records: list[FireRecord], lateness_ms: list[float], due: float
) -> dict[str, float]:
    """A burst's figures: how long until the last record, and the lateness."""
    last = max((r.recorded for r in records), default=math.nan)
    took = last - due
    late = spread(lateness_ms)
    return {
        "recorded": float(len(lateness_ms)),
        "last_recorded_s": took,
        "firings_per_s": len(lateness_ms) / took if took > 0 else math.nan,
        "late_p50_ms": late["p50"],
        "late_p99_ms": late["p99"],
        "late_max_ms": late["max"],
    }
