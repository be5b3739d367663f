"""Loads many aggregates at once, for the scheduler's batches.

The repository loads one aggregate per call, with a query for its snapshot
and another for its newer events. A batch of due triggers needs hundreds at
once, so this reads the newest snapshot and the events after it for a whole
batch in two queries, and rebuilds each aggregate as the repository would.
An aggregate the repository's cache holds is copied from there and brought
up to date with the events after the copy's version, all in one more query.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from copy import deepcopy
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from projections.database import Database

# SQLite allows a bounded number of bound parameters per statement.
CHUNK = 500

_LATEST_SNAPSHOTS = (
    "SELECT originator_id, originator_version, topic, state "
    "FROM stored_snapshots s WHERE originator_id IN ({marks}) "
    "AND originator_version = (SELECT MAX(originator_version) "
    "FROM stored_snapshots WHERE originator_id = s.originator_id)"
)
_EVENTS_AFTER_VERSIONS = (
    "WITH known(id, version) AS (VALUES {rows}) "
    "SELECT e.originator_id, e.originator_version, e.topic, e.state "
    "FROM known JOIN stored_events e ON e.originator_id = known.id "
    "AND e.originator_version > known.version "
    "ORDER BY e.originator_id, e.originator_version"
)
_EVENTS_AFTER_SNAPSHOTS = (
    "SELECT originator_id, originator_version, topic, state "
    "FROM stored_events e WHERE originator_id IN ({marks}) "
    "AND originator_version > COALESCE((SELECT MAX(originator_version) "
    "FROM stored_snapshots WHERE originator_id = e.originator_id), 0) "
    "ORDER BY originator_id, originator_version"
)


def load_many(
    database: Database,
    mapper: Any,
    ids: Sequence[UUID],
    cache: Any = None,
    cutoff: datetime | None = None,
) -> dict[UUID, Any]:
    """The current state of each aggregate found; missing ids are left out.

    ``cache`` is the repository's cache, if it has one: copies taken from it
    are the caller's to change. A copy last changed before ``cutoff``, or one
    whose newer events do not follow on from it (they were archived), is
    not used: that aggregate is loaded from the store.
    """
    cached = _copies_from(cache, ids, cutoff)
    loaded: dict[UUID, Any] = {}
    if cached:
        for start in range(0, len(cached), CHUNK):
            chunk = list(cached.items())[start : start + CHUNK]
            loaded.update(_catch_up_chunk(database, mapper, dict(chunk)))
        ids = [i for i in ids if i not in loaded]
    for start in range(0, len(ids), CHUNK):
        loaded.update(_load_chunk(database, mapper, ids[start : start + CHUNK]))
    return loaded


def cached_since(cache: Any, aggregate_id: UUID, cutoff: datetime | None) -> Any:
    """The cached aggregate if it last changed at or after ``cutoff``, else None.

    An older one is dropped from the cache: compaction may have removed the
    events that would catch it up.
    """
    if cache is None:
        return None
    try:
        cached = cache.get(aggregate_id)
    except KeyError:
        return None
    if cutoff is not None and cached.modified_on < cutoff:
        with contextlib.suppress(KeyError):
            cache.get(aggregate_id, evict=True)
        return None
    return cached


def _copies_from(
    cache: Any, ids: Sequence[UUID], cutoff: datetime | None
) -> dict[UUID, Any]:
    copies: dict[UUID, Any] = {}
    for aggregate_id in ids:
        cached = cached_since(cache, aggregate_id, cutoff)
        if cached is not None:
            copies[aggregate_id] = deepcopy(cached)
    return copies


def _catch_up_chunk(
    database: Database, mapper: Any, copies: dict[UUID, Any]
) -> dict[UUID, Any]:
    params: list[Any] = []
    for aggregate_id, aggregate in copies.items():
        params.extend((aggregate_id.hex, aggregate.version))
    rows = ",".join("(?,?)" for _ in copies)
    with database.transaction(commit=False) as cursor:
        cursor.execute(_EVENTS_AFTER_VERSIONS.format(rows=rows), params)
        newer = cursor.fetchall()
    gapped: set[UUID] = set()
    for row in newer:
        stored = _stored(row)
        aggregate_id = stored.originator_id
        copy = copies[aggregate_id]
        if aggregate_id in gapped:
            continue
        if copy is None or stored.originator_version != copy.version + 1:
            gapped.add(aggregate_id)
            continue
        copies[aggregate_id] = mapper.to_domain_event(stored).mutate(copy)
    return {i: a for i, a in copies.items() if a is not None and i not in gapped}


def _load_chunk(
    database: Database, mapper: Any, ids: Sequence[UUID]
) -> dict[UUID, Any]:
    keys = [i.hex for i in ids]
    marks = ",".join("?" * len(keys))
    streams: dict[UUID, list[Any]] = defaultdict(list)
    with database.transaction(commit=False) as cursor:
        # One read transaction: snapshots and the events after them agree.
        cursor.execute(_LATEST_SNAPSHOTS.format(marks=marks), keys)
        for row in cursor.fetchall():
            streams[UUID(row[0])].append(_stored(row))
        cursor.execute(_EVENTS_AFTER_SNAPSHOTS.format(marks=marks), keys)
        for row in cursor.fetchall():
            streams[UUID(row[0])].append(_stored(row))
    return {
        originator_id: _project(mapper, stored)
        for originator_id, stored in streams.items()
    }


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(row[0]),
        originator_version=row[1],
        topic=row[2],
        state=bytes(row[3]),
    )


def _project(mapper: Any, stored: list[StoredEvent]) -> Any:
    aggregate = None
    for event in stored:
        aggregate = mapper.to_domain_event(event).mutate(aggregate)
    return aggregate
