"""Checks that a run measured what it meant to: counts, statuses, headroom."""

from __future__ import annotations

from bench.config import Config
from bench.results import Figure, Results
from bench.targets import Verdict

LOADGEN_BUSY_PERCENT = 80
SUFFIXES = {"k": 1_000, "M": 1_000_000}


def count_of(label: str) -> int:
    """The number a size label names: "10k" is 10,000."""
    head = label.split()[0].split("/")[0]
    if head[-1:] in SUFFIXES:
        return int(head[:-1]) * SUFFIXES[head[-1]]
    return int(head)


def checks(results: Results, config: Config) -> list[str]:
    problems = []
    for figure in results.figures.values():
        problem = _check(figure, config)
        if problem:
            problems.append(f"{figure.group} {figure.system}, {figure.case}: {problem}")
    return problems


def _check(figure: Figure, config: Config) -> str:
    if not figure.values:
        return ""
    low, high = min(figure.values), max(figure.values)
    metric = figure.metric
    if metric == "firings recorded" and low < count_of(figure.case):
        return f"only {low:,.0f} of {count_of(figure.case):,} firings recorded"
    if metric == "triggers in queue" and low != config.startup_triggers:
        return f"the queue held {low:,.0f} of {config.startup_triggers:,} triggers"
    if metric == "events applied" and low != config.rebuild_events:
        return f"applied {low:,.0f} of {config.rebuild_events:,} events"
    if metric == "events archived" and low < 0.9 * config.compaction_events:
        return f"archived {low:,.0f} of about {config.compaction_events:,} events"
    if metric == "firings per window":
        expected = config.steady_triggers / 60 * config.steady_window
        if low < 0.99 * expected:
            return f"a window had {low:,.0f} firings, {expected:,.0f} were due"
    if metric == "unexpected statuses" and high > 0:
        return f"up to {high:,.0f} responses with an unexpected status"
    if metric == "load generator CPU %" and high > LOADGEN_BUSY_PERCENT:
        return f"the load generator used {high:.0f}% of a core: it may be the limit"
    return ""


def verdict_notes(verdicts: list[Verdict]) -> list[str]:
    return [
        f"* {v.target.key.replace('|', ' / ')}: {v.note}" for v in verdicts if v.note
    ]
