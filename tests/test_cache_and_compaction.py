"""A trigger cached by one process while another fires it past compaction."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from domain.spec import TriggerSpec
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from retention import ArchiveStore, Compactor, horizon_for
from tests.conftest import FakeClock

OWNER = "owner-1"


def test_a_copy_cached_before_compaction_is_not_caught_up_past_a_gap(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    spec = TriggerSpec(trigger_type="api", api_payload={"n": 1})
    trigger_id = service.create_trigger(OWNER, spec).trigger_id
    service.fire_trigger(OWNER, trigger_id)
    assert service.repository.cache.get(UUID(trigger_id)).version == 2

    # Another process fires it for three days, then compacts.
    other = TriggerService(settings, clock=clock)
    try:
        for _ in range(3 * 24):
            clock.advance(hours=1)
            other.fire_trigger(OWNER, trigger_id)
        archive = ArchiveStore(settings.archive_path)
        report = Compactor(other, archive).run(
            horizon_for(clock(), settings.archived_log_seconds)
        )
        assert report.archived_events > 0
    finally:
        other.close()

    trigger = service.pause_trigger(OWNER, trigger_id)

    assert (trigger.version, trigger.fire_count, trigger.status) == (
        2 + 72 + 1,
        73,
        "paused",
    )
    row = service.trigger_row(OWNER, trigger_id)
    assert (row["fire_count"], row["status"], row["version"]) == (73, "paused", 75)


def test_the_scheduler_fires_past_archived_events_of_a_cached_trigger(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    first = clock() + timedelta(hours=1)
    spec = TriggerSpec(
        trigger_type="scheduled", schedule_time=first, interval=60, is_recurring=True
    )
    trigger_id = service.create_trigger(OWNER, spec).trigger_id
    other = TriggerService(settings, clock=clock)
    try:
        due = first
        for _ in range(3 * 24):
            clock.now = due
            other.fire_due([(trigger_id, due)])
            due += timedelta(hours=1)
        Compactor(other, ArchiveStore(settings.archive_path)).run(
            horizon_for(clock(), settings.archived_log_seconds)
        )
    finally:
        other.close()
    # Only a copy that follows on from the store's events would be used.
    assert service.repository.cache.get(UUID(trigger_id)).version == 1

    clock.now = due
    firings = service.fire_due([(trigger_id, due)])

    assert [(f.trigger_id, f.due_at) for f in firings] == [(trigger_id, due)]
    trigger = service.get_trigger(OWNER, trigger_id)
    assert (trigger.version, trigger.fire_count) == (74, 73)


def test_a_copy_older_than_the_archive_horizon_is_not_used_even_without_a_gap(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    spec = TriggerSpec(trigger_type="api", api_payload={"n": 1})
    trigger_id = service.create_trigger(OWNER, spec).trigger_id
    service.fire_trigger(OWNER, trigger_id)
    other = TriggerService(settings, clock=clock)
    try:
        for _ in range(10):
            clock.advance(minutes=1)
            other.fire_trigger(OWNER, trigger_id)
        clock.advance(days=3)
        newest = other.create_trigger(OWNER, spec).trigger_id
        other.fire_trigger(OWNER, newest)
        Compactor(other, ArchiveStore(settings.archive_path)).run(
            horizon_for(clock(), settings.archived_log_seconds)
        )
    finally:
        other.close()
    live_versions = [e.originator_version for e in service.events.get(UUID(trigger_id))]
    # Every event after the cached copy's version has left the store.
    assert service.repository.cache.get(UUID(trigger_id)).version == 2
    assert all(v <= 2 for v in live_versions)

    firing = service.fire_trigger(OWNER, trigger_id)

    trigger = service.get_trigger(OWNER, trigger_id)
    assert (trigger.version, trigger.fire_count) == (13, 12)
    assert firing.firing_id == service.list_firings(OWNER, limit=1)[0]["firing_id"]
