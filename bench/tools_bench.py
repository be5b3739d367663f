"""Event-log tools: projection rebuild, replay of one trigger, compaction."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate

from bench.store import api_trigger, open_service
from domain.trigger import Trigger
from eventtrigger.service import TriggerService
from projections.event_log import EventLogProjection
from projections.runner import ProjectionRunner
from projections.trigger_list import TriggerListProjection
from retention import ArchiveStore, Compactor, horizon_for

EVENTS_PER_TRIGGER = 100
INSERT_BATCH = 10_000
FIRE_CHUNK = 1000


# Rebuild -----------------------------------------------------------------------


def prepare_events(count: int, folder: Path, now: datetime | None = None) -> int:
    """Store ``count`` events: triggers created and fired by hand 99 times each.

    Written straight through the service's recorder in large batches, with
    the snapshot the service takes at every 100th event (the live read models
    are not kept up; the rebuild makes its own).
    """
    service = open_service(folder)
    try:
        when = now or datetime.now(UTC)
        pending: list[Any] = []
        snapshots: list[Any] = []
        stored = 0
        for _ in range(max(1, count // EVENTS_PER_TRIGGER)):
            trigger = _fired_trigger(when)
            pending.extend(trigger.collect_events())
            snapshots.extend(_snapshots_due(service, trigger))
            if len(pending) >= INSERT_BATCH:
                stored += _insert(service, pending, snapshots)
                pending, snapshots = [], []
        return stored + _insert(service, pending, snapshots)
    finally:
        service.close()


def _fired_trigger(now: datetime) -> Trigger:
    trigger = Trigger.create("owner", api_trigger(), now)
    for index in range(EVENTS_PER_TRIGGER - 1):
        trigger.fire_by_hand("owner", now, reason="api", payload={"i": index})
    return trigger


def _snapshots_due(service: TriggerService, trigger: Trigger) -> list[Any]:
    interval = service.settings.snapshot_interval
    if not interval or trigger.version % interval:
        return []
    snapshot_class = getattr(Trigger, "Snapshot", type(service).snapshot_class)
    return [snapshot_class.take(trigger)]


def _insert(service: TriggerService, events: list[Any], snapshots: list[Any]) -> int:
    if events:
        service.recorder.insert_events(
            [service.mapper.to_stored_event(e) for e in events]
        )
    if snapshots and service.snapshots is not None:
        service.snapshots.put(snapshots)
    return len(events)


def rebuild_once(folder: Path, index: int) -> dict[str, float]:
    """Build both read models afresh, into tables of their own, from position 0.

    As tests/test_service.py's ``rebuild`` helper does: a new ProjectionRunner
    over renamed tables and projection names. The tables are dropped after.
    """
    service = open_service(folder)
    suffix = f"bench_{index}"
    projections = [
        TriggerListProjection(table=f"trigger_list_{suffix}"),
        EventLogProjection(table=f"event_log_{suffix}"),
    ]
    for projection in projections:
        projection.name = f"{projection.name}_{suffix}"
    runner = ProjectionRunner(
        service.projections.database, service.recorder, service.mapper, projections
    )
    try:
        started = time.perf_counter()
        runner.create_tables()
        applied = runner.catch_up()
        took = time.perf_counter() - started
        return {"events": float(applied), "events_per_s": applied / took}
    finally:
        _drop(service, projections)
        service.close()


def _drop(service: TriggerService, projections: list[Any]) -> None:
    tables = [p.table for p in projections] + [f"{projections[1].table}_owners"]
    with service.projections.database.transaction(commit=True) as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            "DELETE FROM projection_positions WHERE name IN (?, ?)",
            tuple(p.name for p in projections),
        )


# Replay ------------------------------------------------------------------------


def prepare_replay(firings: int, folder: Path) -> str:
    """One trigger fired ``firings`` times by hand, saved a thousand at a time
    (the service snapshots it every SNAPSHOT_INTERVAL events as it saves)."""
    service = open_service(folder)
    try:
        trigger = Trigger.create("owner", api_trigger(), service.clock())
        service.save(trigger)
        for low in range(0, firings, FIRE_CHUNK):
            for _ in range(min(FIRE_CHUNK, firings - low)):
                trigger.fire_by_hand("owner", service.clock(), reason="api")
            service.save(trigger)
        return trigger.trigger_id
    finally:
        service.close()


def replay_once(folder: Path, trigger_id: str) -> dict[str, float]:
    """Load the trigger with its latest snapshot, and from its events alone."""
    service = open_service(folder)
    try:
        aggregate_id = UUID(trigger_id)
        started = time.perf_counter()
        with_snapshot = service.repository.get(aggregate_id)
        snapshot_s = time.perf_counter() - started
        started = time.perf_counter()
        events = list(service.events.get(aggregate_id))
        replayed = project_aggregate(None, events)
        full_s = time.perf_counter() - started
        assert replayed is not None and replayed.version == with_snapshot.version
        return {
            "events": float(len(events)),
            "snapshot_ms": snapshot_s * 1000,
            "full_ms": full_s * 1000,
            "full_events_per_s": len(events) / full_s,
        }
    finally:
        service.close()


# Compaction --------------------------------------------------------------------


def prepare_compaction(count: int, folder: Path) -> int:
    """A store of ``count`` events fired three days ago, its read models caught
    up (compaction picks its firings from the event log).

    Written as ``prepare_events`` writes, in large batches through the
    service's recorder, with the domain events beside them so the recorder
    applies them to the live read models in the same transaction, as
    ``save`` does. A second process makes the events while this one records.
    """
    service = open_service(folder)
    try:
        when = datetime.now(UTC) - timedelta(days=3)
        triggers = max(1, count // EVENTS_PER_TRIGGER)
        per_batch = max(1, INSERT_BATCH // EVENTS_PER_TRIGGER)
        batches = [
            min(per_batch, triggers - start) for start in range(0, triggers, per_batch)
        ]
        stored = 0
        # Forked, the worker shares the service's mapper and settings without
        # pickling them; it never touches the service's database.
        forked = multiprocessing.get_context("fork")
        with forked.Pool(1, initializer=_share, initargs=(service, when)) as pool:
            # A few batches ahead keeps the worker busy and memory bounded.
            ahead: deque[Any] = deque()
            for size in batches:
                ahead.append(pool.apply_async(_made_batch, (size,)))
                if len(ahead) >= BATCHES_AHEAD:
                    stored += _record(service, *ahead.popleft().get())
            while ahead:
                stored += _record(service, *ahead.popleft().get())
        return stored
    finally:
        service.close()


def prepare_compaction_from(source: Path, folder: Path, count: int) -> int:
    """A copy of a store of ``count`` events that ``prepare_events`` wrote, its
    live read models caught up from the store as a service catches them up."""
    shutil.copytree(source, folder, dirs_exist_ok=True)
    service = open_service(folder)
    try:
        stored = int(service.recorder.max_notification_id() or 0)
        if stored < count:
            raise RuntimeError(f"the store holds {stored} events, not {count}")
        service.projections.catch_up()
        return stored
    finally:
        service.close()


BATCHES_AHEAD = 3
_maker: dict[str, Any] = {}


def _record(
    service: TriggerService, events: list[Any], records: list[Any], snapshots: list
) -> int:
    service.recorder.insert_events(records, projected_events=events)
    if not service.recorder.projected_last_insert:
        raise RuntimeError("the read models did not take the events")
    if snapshots and service.snapshots is not None:
        service.snapshots.put(snapshots)
    return len(records)


def _share(service: TriggerService, when: datetime) -> None:
    _maker.update(service=service, when=when)


def _made_batch(triggers: int) -> tuple[list[Any], list[Any], list[Any]]:
    """``triggers`` fired triggers' events, stored forms and due snapshots."""
    service, when = _maker["service"], _maker["when"]
    events: list[Any] = []
    snapshots: list[Any] = []
    for _ in range(triggers):
        trigger = _fired_trigger(when)
        events.extend(trigger.collect_events())
        snapshots.extend(_snapshots_due(service, trigger))
    return events, [service.mapper.to_stored_event(e) for e in events], snapshots


def compaction_once(template: Path, folder: Path) -> dict[str, float]:
    """Compact a copy of the prepared store: every firing is past the horizon.

    The horizon is the one compaction would use two days from now, so every
    firing stored so far is past it, however old. The copy is synced before
    the clock starts, so its writing-back is not counted, and removed after,
    so each run's copy is gone before the next.
    """
    shutil.copytree(template, folder, dirs_exist_ok=True)
    _sync_files(folder)
    service = open_service(folder)
    try:
        compactor = Compactor(service, ArchiveStore(folder / "archive"))
        seconds = service.settings.archived_log_seconds
        horizon = horizon_for(service.clock() + timedelta(seconds=seconds), seconds)
        started = time.perf_counter()
        report = compactor.run(horizon)
        took = time.perf_counter() - started
        archived = report.archived_events
        return {"events": float(archived), "events_per_s": archived / took}
    finally:
        service.close()
        shutil.rmtree(folder, ignore_errors=True)


def _sync_files(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
