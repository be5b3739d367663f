"""Profiles kept beside the figures: cProfile in-process, py-spy for processes.

Each profile is written as the tool's own output (.prof, or py-spy's raw
collapsed stacks) and as a text summary of the top entries.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import ROOT

TOP = 25
SPY_RATE = 200
PRODUCT_PREFIXES = (
    "api/",
    "domain/",
    "eventtrigger/",
    "projections/",
    "scheduler_loop.py",
    "retention.py",
    "eventsourcing/",
)
_FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^()]*)\)$")


def cprofile(run: Callable[[], Any], out: Path) -> str:
    """Profile ``run`` in this thread; write out.prof and out.txt."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        run()
    finally:
        profile.disable()
    profile.dump_stats(str(out.with_suffix(".prof")))
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(TOP)
    stats.sort_stats("tottime").print_stats(TOP)
    out.with_suffix(".txt").write_text(text.getvalue())
    return text.getvalue()


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


class Spy:
    """py-spy sampling a process (all its threads) for a number of seconds."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        tool = py_spy()
        if tool is None:
            raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
        self.out = out.with_suffix(".collapsed.txt")
        self.seconds = seconds
        self.process = subprocess.Popen(
            [
                tool,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(SPY_RATE),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self) -> str:
        """Wait for py-spy; write and return the summary of what it saw."""
        try:
            self.process.wait(self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        summary = summarize_collapsed(self.out)
        self.out.with_name(self.out.name.replace(".collapsed", "")).write_text(summary)
        return summary


def summarize_collapsed(path: Path, top: int = TOP) -> str:
    """Top functions by own samples, and product functions by samples on stack."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if path.exists():
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            samples = int(count)
            total += samples
            own[_short(frames[-1])] += samples
            for frame in {_short(f, line=False) for f in frames if _is_product(f)}:
                inclusive[frame] += samples
    return _render(own, inclusive, total, top)


def _is_product(frame: str) -> bool:
    """Code of this project, or of the event store library (py-spy gives module
    paths relative to their import root)."""
    match = _FRAME.match(frame)
    if match is None:
        return False
    where = match["where"]
    for marker in ("site-packages/", f"{ROOT}/"):
        where = where.split(marker, 1)[-1]
    return where.startswith(PRODUCT_PREFIXES)


def _short(frame: str, line: bool = True) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    where = match["where"] if line else match["where"].rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{match['name']} ({where})"


def _render(own: Counter[str], inclusive: Counter[str], total: int, top: int) -> str:
    lines = [f"py-spy samples: {total} (threads not idle, {SPY_RATE} Hz)", ""]
    titles = (
        ("top by own samples (any code):", own),
        ("top by samples on stack (product code and eventsourcing):", inclusive),
    )
    for title, counter in titles:
        lines.append(title)
        for frame, samples in counter.most_common(top):
            lines.append(f"{samples / max(total, 1):7.1%}  {frame}")
        lines.append("")
    return "\n".join(lines)
