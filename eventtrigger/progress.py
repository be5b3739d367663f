"""Progress lines for long runs: how many events, how fast, how long to go."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints at most one line a second to stderr, and a last one at the end."""

    def __init__(
        self, label: str, total: int | None = None, stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last_print = 0.0
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self._last_print >= 1.0:
            self._last_print = now
            self._print(now)

    def finish(self) -> None:
        self._print(time.monotonic())

    def _print(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        line = f"{self.label}: {self.done} events, {rate:,.0f}/s"
        if self.total and rate > 0:
            left = max(self.total - self.done, 0) / rate
            line += f", about {left:,.0f} s left"
        print(line, file=self.stream, flush=True)
