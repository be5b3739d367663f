"""Our scheduler in-process: TriggerService and SchedulerLoop on the real clock.

Triggers are stored through the service first; then the loop runs exactly as
`eventtrigger serve` runs it (same batch size and poll interval) while the
benchmark notes when each batch of firings became durable and visible.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.store import every_minutes, one_shot, open_service, store_triggers
from bench.timing import FireRecord, burst_figures, steady_windows, window_marks
from domain.trigger import Firing, Trigger
from eventtrigger.service import TriggerService
from scheduler_loop import SchedulerLoop

OWNER = "bench-owner"
# Time the loop may need to load its queue before the burst instant.
LOAD_SECONDS_PER_TRIGGER = 30e-6
SETUP_SLACK_SECONDS = 1.0


class SetupTooSlowError(RuntimeError):
    """The triggers were not all stored before the instant they were due."""


class RecordingService:
    """The service as the loop sees it; notes when each batch is recorded.

    ``recorded`` is the moment ``save`` finished: committed, the read models
    caught up, and the after-save listeners called.
    """

    def __init__(self, service: TriggerService, expected: int = 0) -> None:
        self._service = service
        self._saved_at = 0.0
        self.expected = expected
        self.records: list[FireRecord] = []
        self.done = threading.Event()
        service.after_save.append(self._note_save)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def _note_save(self) -> None:
        self._saved_at = time.time()

    def fire_due(self, due: Sequence[tuple[str, datetime]]) -> list[Firing]:
        return self.fire_due_recorded(due)[0]

    def fire_due_recorded(
        self, due: Sequence[tuple[str, datetime]]
    ) -> tuple[list[Firing], list[tuple[int, Any]]]:
        firings, recorded = self._service.fire_due_recorded(due)
        self.records.extend(_record(f, self._saved_at) for f in firings if f.due_at)
        if self.expected and len(self.records) >= self.expected:
            self.done.set()
        return firings, recorded


def _record(firing: Firing, recorded: float) -> FireRecord:
    assert firing.due_at is not None
    return FireRecord(firing.due_at.timestamp(), firing.fired_at.timestamp(), recorded)


async def run_loop(
    service: RecordingService, body: Callable[[], Awaitable[Any]]
) -> None:
    """Run the scheduler loop as the CLI does while ``body`` waits."""
    settings = service.settings
    loop = SchedulerLoop(
        service,
        batch_size=settings.scheduler_batch_size,
        poll_interval=settings.poll_interval_seconds,
    )
    task = asyncio.create_task(loop.run(), name="scheduler")
    try:
        await body()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def sleep_until(epoch: float) -> None:
    await asyncio.sleep(max(0.0, epoch - time.time()))


# Creation rate -----------------------------------------------------------------


class CreationRate:
    """How fast triggers can be stored, to plan a burst instant just ahead."""

    def __init__(self) -> None:
        self.per_second = 0.0

    def calibrate(self, folder: Path, count: int = 500) -> None:
        service = open_service(folder)
        spec = every_minutes(datetime.now(UTC), 60)
        try:
            started = time.perf_counter()
            store_triggers(service, count, lambda i: spec)
            self.note(count, time.perf_counter() - started)
        finally:
            service.close()

    def note(self, count: int, seconds: float) -> None:
        self.per_second = count / max(seconds, 1e-6)

    def setup_seconds(self, count: int) -> float:
        create = count / self.per_second * 1.5
        return create + count * LOAD_SECONDS_PER_TRIGGER + SETUP_SLACK_SECONDS


RATE = CreationRate()


# Burst -------------------------------------------------------------------------


def burst_once(count: int, folder: Path) -> dict[str, float]:
    """``count`` one-shot triggers due at one instant; figures of one run."""
    service = open_service(folder)
    try:
        due = datetime.now(UTC) + timedelta(seconds=RATE.setup_seconds(count))
        started = time.perf_counter()
        store_triggers(service, count, lambda i: one_shot(due), lambda i: OWNER)
        RATE.note(count, time.perf_counter() - started)
        if time.time() > due.timestamp() - count * LOAD_SECONDS_PER_TRIGGER:
            raise SetupTooSlowError(f"storing {count} triggers overran {due}")
        recording = RecordingService(service, expected=count)
        timeout = due.timestamp() - time.time() + 60 + count / 100
        asyncio.run(run_loop(recording, lambda: _wait(recording.done, timeout)))
        return burst_result(service, recording, due.timestamp(), count)
    finally:
        service.close()


async def _wait(done: threading.Event, seconds: float) -> None:
    await asyncio.to_thread(done.wait, seconds)


def burst_result(
    service: TriggerService, recording: RecordingService, due: float, count: int
) -> dict[str, float]:
    return burst_figures(recording.records, logged_lateness_ms(service, count), due)


def logged_lateness_ms(service: TriggerService, count: int) -> list[float]:
    """fired_at - due_at of every scheduled firing, read from the event log."""
    rows = service.list_firings(OWNER, limit=count + 1)
    return [
        (_epoch(row["fired_at"]) - _epoch(row["due_at"])) * 1000
        for row in rows
        if row["due_at"] is not None
    ]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# Steady ------------------------------------------------------------------------


def steady_once(
    count: int,
    seconds: float,
    window: float,
    folder: Path,
    on_measure: Callable[[], Any] = lambda: None,
) -> list[dict[str, float]]:
    """``count`` triggers every minute, due times spread evenly over it.

    Measures from the first whole second after the loop has loaded; one
    figure set per window of ``window`` seconds.
    """
    service = open_service(folder)
    try:
        base = _minute_floor(datetime.now(UTC)) - timedelta(minutes=1)
        step = 60.0 / count
        store_triggers(
            service,
            count,
            lambda i: every_minutes(base + timedelta(seconds=i * step), 1),
            lambda i: f"{OWNER}-{i % 100}",
        )
        recording = RecordingService(service)
        marks = window_marks(seconds, window)
        cpu: list[float] = []
        body = functools.partial(_mark_cpu, marks, cpu, on_measure)
        asyncio.run(run_loop(recording, body))
        return steady_windows(recording.records, marks, cpu)
    finally:
        service.close()


async def _mark_cpu(
    marks: list[float], cpu: list[float], on_measure: Callable[[], Any]
) -> None:
    await sleep_until(marks[0])
    on_measure()
    for mark in marks:
        await sleep_until(mark)
        cpu.append(time.process_time())
    # Let firings due just before the last mark finish recording.
    await asyncio.sleep(0.5)


def _minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


# Ceiling -----------------------------------------------------------------------


def ceiling_once(count: int, folder: Path, batch_triggers: int) -> dict[str, float]:
    """Append the events ``count`` scheduled firings record, in batches, alone.

    The same recorder and mapper as the service, one committed transaction per
    ``batch_triggers`` firings (the scheduler's batch size); nothing else.
    """
    service = open_service(folder)
    try:
        events = firing_events(count)
        per_batch = len(events) // count * batch_triggers
        started = time.perf_counter()
        for low in range(0, len(events), per_batch):
            batch = events[low : low + per_batch]
            stored = [service.mapper.to_stored_event(e) for e in batch]
            service.recorder.insert_events(stored)
        took = time.perf_counter() - started
        return {"firings_per_s": count / took, "events_per_s": len(events) / took}
    finally:
        service.close()


_EVENTS: dict[int, list[Any]] = {}


def firing_events(count: int) -> list[Any]:
    """The events ``count`` scheduled one-shot firings record (Fired, Completed).

    Made once per count and reused: the ceiling times only the appending.
    """
    if count not in _EVENTS:
        _EVENTS.clear()
        _EVENTS[count] = _make_firing_events(count)
    return _EVENTS[count]


def _make_firing_events(count: int) -> list[Any]:
    now = datetime.now(UTC)
    due = now + timedelta(seconds=1)
    events: list[Any] = []
    for _ in range(count):
        trigger = Trigger.create(OWNER, one_shot(due), now)
        trigger.collect_events()
        trigger.fire_due(due, due)
        events.extend(trigger.collect_events())
    return events


# Profiling ---------------------------------------------------------------------


def prepare_burst_profile(
    count: int, folder: Path
) -> tuple[Callable[[], int], TriggerService]:
    """A burst whose firing runs in the calling thread, for cProfile.

    The same calls the loop makes (load, then fire_due_now until all fired),
    without the thread hop that would hide them from the profiler.
    """
    service = open_service(folder)
    due = datetime.now(UTC) + timedelta(seconds=RATE.setup_seconds(count))
    store_triggers(service, count, lambda i: one_shot(due), lambda i: OWNER)
    settings = service.settings
    loop = SchedulerLoop(service, batch_size=settings.scheduler_batch_size)
    loop.load()
    time.sleep(max(0.0, due.timestamp() - time.time()))

    def fire() -> int:
        fired = 0
        deadline = time.monotonic() + 600
        while fired < count and time.monotonic() < deadline:
            fired += loop.fire_due_now()
        return fired

    return fire, service
