"""Audit replay: a trigger's timeline and its state as of any instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.spec import spec_to_record
from domain.trigger import Trigger
from eventtrigger.history import stored_stream, stored_streams
from retention import ArchiveStore, recorded_head

# Fields of the envelope, shown apart from each event's own fields.
ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def trigger_events(service: Any, archive: ArchiveStore, trigger_id: UUID) -> list:
    """Every event of one trigger, archived and live, after verifying archives."""
    archive.verify(recorded_head(service.projections.database))
    return trigger_events_unverified(service, archive, trigger_id)


def trigger_events_unverified(
    service: Any, archive: ArchiveStore, trigger_id: UUID
) -> list:
    stored = stored_stream(archive, service.recorder, trigger_id)
    return [service.mapper.to_domain_event(s) for s in stored]


def delivery_events(service: Any, archive: ArchiveStore, events: list) -> dict:
    """Each firing's delivery attempts, archived and live, by firing id."""
    firing_ids = [
        UUID(e.firing_id) for e in events if getattr(e, "endpoint", None) is not None
    ]
    streams = stored_streams(archive, service.recorder, firing_ids)
    return {
        str(firing_id): [service.mapper.to_domain_event(s) for s in stored]
        for firing_id, stored in streams.items()
    }


def state_as_of(events: Iterable[Any], as_of: datetime | None) -> Trigger | None:
    """The trigger as its events left it at ``as_of`` (None: before it existed)."""
    trigger = None
    for event in events:
        if as_of is not None and event.timestamp > as_of:
            break
        trigger = event.mutate(trigger)
    return trigger


def describe_state(trigger: Trigger) -> dict[str, Any]:
    return {
        "trigger_id": str(trigger.id),
        "user_id": trigger.owner_id,
        **spec_to_record(trigger.spec),
        "status": trigger.status,
        "next_fire_at": _instant(trigger.next_due_at),
        "last_fired_at": _instant(trigger.last_fired_at),
        "fire_count": trigger.fire_count,
        "version": trigger.version,
    }


def describe_event(event: Any) -> dict[str, Any]:
    fields = {
        key: _plain(value) for key, value in vars(event).items() if key not in ENVELOPE
    }
    return {
        "version": event.originator_version,
        "at": _instant(event.timestamp),
        "type": type(event).__name__,
        **fields,
    }


def timeline_line(described: dict[str, Any]) -> str:
    details = ", ".join(
        f"{k}={v}" for k, v in described.items() if k not in ("version", "at", "type")
    )
    version, at, kind = described["version"], described["at"], described["type"]
    return f"{version:>7}  {at}  {kind:<10} {details}"


def trigger_ids(service: Any) -> list[UUID]:
    """Every trigger the store knows, in order of creation."""
    topic = get_topic(Trigger.Created)
    rows = service.projections.database.fetch_all(
        "SELECT originator_id FROM stored_events WHERE topic=? ORDER BY rowid",
        (topic,),
    )
    return [UUID(row[0]) for row in rows]


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
