"""A trigger's whole history: archived events and the live store, in order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from retention import ArchivedEvent, ArchiveStore

LIVE_PAGE = 5000


def as_notification(event: ArchivedEvent) -> Notification:
    return Notification(
        id=event.notification_id,
        originator_id=UUID(event.originator_id),
        originator_version=event.originator_version,
        topic=event.topic,
        state=event.state,
    )


def archived_notifications(
    archive: ArchiveStore, topics: Iterable[str] = ()
) -> Iterator[Notification]:
    """Every archived event in notification order (each file is in order, and
    merging the files keeps it)."""
    wanted = set(topics)
    streams = [
        (
            as_notification(e)
            for e in archive.read(entry)
            if not wanted or e.topic in wanted
        )
        for entry in archive.entries()
    ]
    yield from heapq.merge(*streams, key=lambda n: n.id)


def live_notifications(
    recorder: Any, topics: Iterable[str] = (), stop: int | None = None
) -> Iterator[Notification]:
    position = 0
    topic_list = list(topics)
    while True:
        page = recorder.select_notifications(
            position + 1, LIVE_PAGE, stop=stop, topics=topic_list
        )
        yield from page
        if len(page) < LIVE_PAGE:
            return
        position = page[-1].id


def all_notifications(
    archive: ArchiveStore,
    recorder: Any,
    topics: Iterable[str] = (),
    stop: int | None = None,
) -> Iterator[Notification]:
    """Archived and live events together, in notification order, up to ``stop``."""
    topic_list = list(topics)
    archived = archived_notifications(archive, topic_list)
    if stop is not None:
        archived = (n for n in archived if n.id <= stop)
    live = live_notifications(recorder, topic_list, stop)
    return heapq.merge(archived, live, key=lambda n: n.id)


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
