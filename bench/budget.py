"""Keeps a run inside its time budget: repetitions stop when time runs short."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Budget:
    """A deadline; slices of it bound one benchmark each."""

    def __init__(self, seconds: float, parent: Budget | None = None) -> None:
        self.start = time.monotonic()
        deadline = self.start + seconds
        if parent is not None:
            deadline = min(deadline, parent.deadline)
        self.deadline = deadline

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def allows(self, estimate: float) -> bool:
        return self.remaining() >= estimate

    def slice(self, seconds: float) -> Budget:
        return Budget(seconds, parent=self)


def repeat(run: Callable[[int], T], reps: int, budget: Budget) -> list[T]:
    """Run up to ``reps`` times, at least once, while another run still fits."""
    results: list[T] = []
    for index in range(reps):
        started = time.monotonic()
        results.append(run(index))
        took = time.monotonic() - started
        if not budget.allows(took):
            break
    return results
