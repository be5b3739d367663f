"""What every benchmark section shares: config, results, budget and folders."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.budget import Budget, repeat
from bench.config import Config
from bench.results import Results
from bench.stats import summarize

T = TypeVar("T")
Metrics = Sequence[tuple[str, str]]


@dataclass
class Context:
    config: Config
    results: Results
    budget: Budget
    work: Path
    out: Path
    state: dict[str, Any] = field(default_factory=dict)
    _folders: int = 0

    def folder(self, name: str) -> Path:
        self._folders += 1
        path = self.work / f"{self._folders:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def say(self, text: str) -> None:
        sys.stderr.write(f"[{self.budget.elapsed():6.1f}s] {text}\n")
        sys.stderr.flush()

    def guard(self, what: str, run: Callable[[], T]) -> T | None:
        """Run one benchmark; a failure is noted and the run goes on."""
        try:
            return run()
        except Exception as error:
            self.say(f"{what} FAILED: {error!r}")
            traceback.print_exc(file=sys.stderr)
            self.results.notes.append(f"{what} failed: {type(error).__name__}: {error}")
            return None

    def run_reps(
        self,
        where: tuple[str, str, str],
        run: Callable[[int], dict[str, float]],
        metrics: Metrics,
        reps: int,
        seconds: float,
        note: str = "",
    ) -> list[dict[str, float]]:
        """Repeat ``run`` inside a slice of the budget; add one figure per metric."""
        group, system, case = where
        self.say(f"{group}: {system}, {case} (up to {reps} runs)")
        budget = self.budget.slice(seconds)
        started = time.monotonic()
        runs = self.guard(f"{group} {system} {case}", lambda: repeat(run, reps, budget))
        if not runs:
            return []
        self.add_runs(where, runs, metrics, note)
        took = time.monotonic() - started
        self.say(f"  {len(runs)} runs in {took:.1f}s: {_glance(runs, metrics)}")
        return runs

    def add_runs(
        self,
        where: tuple[str, str, str],
        runs: list[dict[str, float]],
        metrics: Metrics,
        note: str = "",
    ) -> None:
        group, system, case = where
        for field_name, metric in metrics:
            values = [run[field_name] for run in runs]
            self.results.add(group, system, case, metric, values, note)


def _glance(runs: list[dict[str, float]], metrics: Metrics) -> str:
    field_name, metric = metrics[0]
    median = summarize([run[field_name] for run in runs]).median
    return f"{metric} median {median:,.2f}"
