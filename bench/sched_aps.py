"""APScheduler 3.11 on the same workloads, each job one durable insert.

Two job stores: SQLAlchemyJobStore on an SQLite file (how a user keeps jobs
across restarts) and MemoryJobStore (keeps nothing; the floor). Jobs run on
APScheduler's default thread pool of 10 with no misfire grace limit, so every
firing runs however late it is, as ours do.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bench.aps_jobs import JOB_REF, SINK
from bench.timing import FireRecord, burst_figures, steady_windows, window_marks

SQL = "sqlalchemy"
MEMORY = "memory"
# Generous: writing a job row costs tens of microseconds.
SETUP_SECONDS_PER_JOB = 150e-6
SETUP_SLACK_SECONDS = 1.0
JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": False, "max_instances": 1}

JobSpec = tuple[str, BaseTrigger, tuple[float, float]]


def store_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'jobs.sqlite'}"


def build_scheduler(kind: str, folder: Path) -> BackgroundScheduler:
    folder.mkdir(parents=True, exist_ok=True)
    store: Any = SQLAlchemyJobStore(url=store_url(folder))
    if kind == MEMORY:
        store = MemoryJobStore()
    return BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(10)},
        job_defaults=JOB_DEFAULTS,
        timezone=UTC,
    )


def add_jobs(scheduler: BackgroundScheduler, kind: str, jobs: list[JobSpec]) -> None:
    """Put the jobs in the store before the scheduler starts."""
    if kind == SQL:
        write_job_rows(scheduler, jobs)
        return
    for job_id, trigger, args in jobs:
        scheduler.add_job(JOB_REF, trigger, args=args, id=job_id)


def write_job_rows(scheduler: BackgroundScheduler, jobs: list[JobSpec]) -> None:
    """Write the rows SQLAlchemyJobStore.add_job writes, in one transaction.

    add_job commits once per job (about 1 ms each); setting up 100k jobs that
    way would take minutes that measure nothing the benchmark reports.
    """
    store = scheduler._lookup_jobstore("default")
    store.jobs_t.create(store.engine, checkfirst=True)
    now = datetime.now(UTC)
    rows = [_job_row(scheduler, spec, now) for spec in jobs]
    with store.engine.begin() as connection:
        connection.execute(store.jobs_t.insert(), rows)


def _job_row(
    scheduler: BackgroundScheduler, spec: JobSpec, now: datetime
) -> dict[str, Any]:
    job_id, trigger, args = spec
    next_run = trigger.get_next_fire_time(None, now)
    job = Job(
        scheduler,
        id=job_id,
        name=job_id,
        func=JOB_REF,
        trigger=trigger,
        executor="default",
        args=args,
        kwargs={},
        next_run_time=next_run,
        **JOB_DEFAULTS,
    )
    state = pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL)
    return {"id": job_id, "next_run_time": next_run.timestamp(), "job_state": state}


def _run(scheduler: BackgroundScheduler, wait: Callable[[], None]) -> None:
    scheduler.start()
    try:
        wait()
    finally:
        scheduler.shutdown(wait=True)
        SINK.close()


# Burst -------------------------------------------------------------------------


def burst_once(count: int, kind: str, folder: Path) -> dict[str, float]:
    lead = count * SETUP_SECONDS_PER_JOB + SETUP_SLACK_SECONDS
    due = datetime.now(UTC) + timedelta(seconds=lead)
    scheduler = build_scheduler(kind, folder)
    trigger = DateTrigger(run_date=due, timezone=UTC)
    jobs = [(f"burst-{i}", trigger, (due.timestamp(), 0.0)) for i in range(count)]
    add_jobs(scheduler, kind, jobs)
    SINK.reset(folder / "sink.sqlite", expected=count)
    if time.time() > due.timestamp():
        raise RuntimeError(f"storing {count} APScheduler jobs overran {due}")
    timeout = lead + 60 + count / 50
    _run(scheduler, lambda: SINK.done.wait(timeout))
    records = sink_records()
    lateness = [(r.started - r.due) * 1000 for r in records]
    return burst_figures(records, lateness, due.timestamp())


def sink_records() -> list[FireRecord]:
    return [FireRecord(*record) for record in SINK.records]


# Steady ------------------------------------------------------------------------


def steady_once(
    count: int, seconds: float, window: float, kind: str, folder: Path
) -> list[dict[str, float]]:
    """Jobs every minute, start dates spread evenly over it, as for ours."""
    scheduler = build_scheduler(kind, folder)
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    step = 60.0 / count
    jobs = []
    for i in range(count):
        anchor = base + timedelta(seconds=i * step)
        trigger = IntervalTrigger(minutes=1, start_date=anchor, timezone=UTC)
        jobs.append((f"steady-{i}", trigger, (anchor.timestamp(), 60.0)))
    add_jobs(scheduler, kind, jobs)
    SINK.reset(folder / "sink.sqlite")
    marks = window_marks(seconds, window)
    cpu: list[float] = []
    _run(scheduler, lambda: _mark_cpu(marks, cpu))
    return steady_windows(sink_records(), marks, cpu)


def _mark_cpu(marks: list[float], cpu: list[float]) -> None:
    for mark in marks:
        time.sleep(max(0.0, mark - time.time()))
        cpu.append(time.process_time())
    time.sleep(0.5)
