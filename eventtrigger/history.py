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
    key = str(originator_id)
    events: dict[int, StoredEvent] = {
        e.originator_version: as_notification(e)
        for e in archive.iter_events()
        if e.originator_id == key
    }
    for stored in recorder.select_events(originator_id):
        events[stored.originator_version] = stored
    return [events[version] for version in sorted(events)]
