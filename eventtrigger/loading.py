"""Loads many aggregates at once, for the scheduler's batches.

The repository loads one aggregate per call, with a query for its snapshot
and another for its newer events. A batch of due triggers needs hundreds at
once, so this reads the newest snapshot and the events after it for a whole
batch in two queries, and rebuilds each aggregate as the repository would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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
_EVENTS_AFTER_SNAPSHOTS = (
    "SELECT originator_id, originator_version, topic, state "
    "FROM stored_events e WHERE originator_id IN ({marks}) "
    "AND originator_version > COALESCE((SELECT MAX(originator_version) "
    "FROM stored_snapshots WHERE originator_id = e.originator_id), 0) "
    "ORDER BY originator_id, originator_version"
)


def load_many(database: Database, mapper: Any, ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The current state of each aggregate found; missing ids are left out."""
    loaded: dict[UUID, Any] = {}
    for start in range(0, len(ids), CHUNK):
        loaded.update(_load_chunk(database, mapper, ids[start : start + CHUNK]))
    return loaded


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
