"""Start-up: from process start until the scheduler holds every stored trigger.

Ours: `eventtrigger serve --role scheduler` until it logs "scheduler loaded"
(the queue is filled). APScheduler: a process that starts a BackgroundScheduler
on the SQLAlchemy job store until ``start()`` returns.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from bench import sched_aps
from bench.procs import LineReader, child_env, peak_rss_mb, stop, venv_command
from bench.store import SECRET, every_minutes, open_service, store_triggers

READY_TIMEOUT = 120
OWNERS = 1000


def prepare_ours(count: int, folder: Path) -> None:
    """``count`` hourly triggers of 1,000 owners, due times spread over the hour."""
    service = open_service(folder)
    try:
        first = datetime.now(UTC) + timedelta(hours=1)
        step = 3600.0 / count
        store_triggers(
            service,
            count,
            lambda i: every_minutes(first + timedelta(seconds=i * step), 60),
            lambda i: f"owner-{i % OWNERS}",
        )
    finally:
        service.close()


def ours_once(folder: Path) -> dict[str, float]:
    env = child_env(
        EVENTTRIGGER_DATA_DIR=str(folder),
        EVENTTRIGGER_JWT_SECRET=SECRET,
        EVENTTRIGGER_LOG_FORMAT="json",
    )
    command = [venv_command("eventtrigger"), "serve", "--role", "scheduler"]
    return _time_until_ready(command, env, "stderr", _is_loaded_line)


def _is_loaded_line(line: str) -> bool:
    try:
        return json.loads(line).get("message") == "scheduler loaded"
    except ValueError:
        return False


def _loaded_count(line: str) -> float:
    """How many triggers the loaded line reports; NaN when it names none."""
    try:
        return float(json.loads(line)["scheduled_triggers"])
    except (ValueError, KeyError, TypeError):
        return float("nan")


def prepare_aps(count: int, folder: Path) -> None:
    scheduler = sched_aps.build_scheduler(sched_aps.SQL, folder)
    first = datetime.now(UTC) + timedelta(hours=1)
    step = 3600.0 / count
    jobs = []
    for i in range(count):
        anchor = first + timedelta(seconds=i * step)
        trigger = sched_aps.IntervalTrigger(hours=1, start_date=anchor, timezone=UTC)
        jobs.append((f"startup-{i}", trigger, (anchor.timestamp(), 3600.0)))
    sched_aps.add_jobs(scheduler, sched_aps.SQL, jobs)
    scheduler._lookup_jobstore("default").engine.dispose()


def aps_once(folder: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.aps_start", sched_aps.store_url(folder)]
    return _time_until_ready(command, child_env(), "stdout", lambda x: "ready" in x)


def _time_until_ready(
    command: list[str], env: dict[str, str], stream: str, ready: Callable[[str], bool]
) -> dict[str, float]:
    """Start the command; time until a line on ``stream`` says it is ready."""
    pipe, null = subprocess.PIPE, subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=env,
        text=True,
        stdout=pipe if stream == "stdout" else null,
        stderr=pipe if stream == "stderr" else null,
    )
    try:
        output = process.stdout if stream == "stdout" else process.stderr
        assert output is not None
        line = LineReader(output).wait_for(ready, READY_TIMEOUT)
        took = time.perf_counter() - started
        rss = psutil.Process(process.pid).memory_info().rss / 2**20
        figures = {"ready_s": took, "rss_mb": rss}
        figures["peak_rss_mb"] = peak_rss_mb(process.pid)
        figures["loaded"] = _loaded_count(line)
        return figures
    finally:
        stop(process)
