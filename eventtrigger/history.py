"""A trigger's whole history: archived events and the live store, in order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from projections.records import StoredRow, as_rows
from projections.runner import ProjectionRunner
from retention import ArchivedEvent, ArchiveStore

LIVE_PAGE = 10_000


def as_notification(event: ArchivedEvent) -> Notification:
    return Notification(
        id=event.notification_id,
        originator_id=UUID(event.originator_id),
        originator_version=event.originator_version,
        topic=event.topic,
        state=event.state,
    )


def archived_rows(
    archive: ArchiveStore, topics: Iterable[str] = ()
) -> Iterator[StoredRow]:
    """Every archived event as a stored row, in notification order (each file
    is in order, and merging the files keeps it)."""
    wanted = set(topics)
    streams = [
        (
            (e.notification_id, e.originator_id, e.originator_version, e.topic, e.state)
            for e in archive.read(entry)
            if not wanted or e.topic in wanted
        )
        for entry in archive.entries()
    ]
    yield from heapq.merge(*streams, key=itemgetter(0))


def live_rows(runner: ProjectionRunner, stop: int | None = None) -> Iterator[Any]:
    """The live store's events that the runner's projections apply, as rows."""
    position = 0
    while True:
        page = as_rows(runner.select_rows(position + 1, LIVE_PAGE, stop=stop))
        yield from page
        if len(page) < LIVE_PAGE:
            return
        position = page[-1][0]


def all_rows(
    archive: ArchiveStore, runner: ProjectionRunner, stop: int | None = None
) -> Iterator[Any]:
    """Archived and live events together, in notification order, up to ``stop``."""
    archived = archived_rows(archive, runner.topics)
    if stop is not None:
        archived = (row for row in archived if row[0] <= stop)
    return heapq.merge(archived, live_rows(runner, stop), key=itemgetter(0))


def stored_stream(
    archive: ArchiveStore, recorder: Any, originator_id: UUID
) -> list[StoredEvent]:
    """One aggregate's stored events from archives and store, by version."""
    return stored_streams(archive, recorder, [originator_id])[originator_id]


def stored_streams(
    archive: ArchiveStore, recorder: Any, originator_ids: list[UUID]
) -> dict[UUID, list[StoredEvent]]:
    """Several aggregates' stored events, reading the archives once."""
    wanted = {str(i): i for i in originator_ids}
    found: dict[UUID, dict[int, StoredEvent]] = {i: {} for i in originator_ids}
    for event in archive.iter_events():
        originator_id = wanted.get(event.originator_id)
        if originator_id is not None:
            found[originator_id][event.originator_version] = as_notification(event)
    for originator_id in originator_ids:
        for stored in recorder.select_events(originator_id):
            found[originator_id][stored.originator_version] = stored
    return {
        originator_id: [events[v] for v in sorted(events)]
        for originator_id, events in found.items()
    }
