from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

import scheduler_loop
from domain.spec import TriggerSpec
from eventtrigger.service import TriggerService
from eventtrigger.settings import Settings
from scheduler_loop import DueQueue, SchedulerLoop
from tests.conftest import FakeClock

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def every(minutes: float, first: datetime, **extra: object) -> TriggerSpec:
    return TriggerSpec(
        trigger_type="scheduled",
        schedule_time=first,
        interval=minutes,
        is_recurring=True,
        **extra,  # type: ignore[arg-type]
    )


def test_due_queue_gives_earliest_first_and_skips_stale_entries() -> None:
    queue = DueQueue()
    queue.set("a", T0 + timedelta(seconds=30), 1)
    queue.set("b", T0 + timedelta(seconds=10), 1)
    queue.set("b", T0 + timedelta(seconds=50), 2)
    queue.set("c", T0 + timedelta(seconds=5), 1)
    queue.set("c", None, 2)

    due = queue.pop_due(T0 + timedelta(seconds=40), limit=10)

    assert due == [("a", T0 + timedelta(seconds=30))]
    assert queue.earliest() == T0 + timedelta(seconds=50)


def test_due_queue_ignores_an_older_version() -> None:
    queue = DueQueue()
    queue.set("a", T0, 3)

    queue.set("a", T0 + timedelta(seconds=1), 2)

    assert queue.pop_due(T0, limit=10) == [("a", T0)]


def test_loop_fires_due_triggers_and_records_due_and_fired_instants(
    service: TriggerService, clock: FakeClock
) -> None:
    trigger = service.create_trigger("u1", every(1, T0 + timedelta(seconds=30)))
    loop = SchedulerLoop(service)
    loop.load()

    clock.advance(seconds=30, milliseconds=7)
    fired = loop.fire_due_now()

    rows = service.list_firings("u1")
    assert fired == 1
    assert [(r["due_at"], r["fired_at"]) for r in rows] == [
        ("2026-12-04T12:00:30.000000+00:00", "2026-12-04T12:00:30.007000+00:00")
    ]
    row = service.trigger_row("u1", trigger.trigger_id)
    assert row["next_fire_at"] == "2026-12-04T12:01:30.000000+00:00"
    assert row["fire_count"] == 1


def test_loop_fires_nothing_before_due(
    service: TriggerService, clock: FakeClock
) -> None:
    service.create_trigger("u1", every(1, T0 + timedelta(seconds=30)))
    loop = SchedulerLoop(service)
    loop.load()

    clock.advance(seconds=29)

    assert loop.fire_due_now() == 0
    assert service.list_firings("u1") == []


def test_loop_learns_of_changes_from_the_store(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    loop = SchedulerLoop(service)
    loop.load()
    other_process = TriggerService(settings, clock=clock)
    created = other_process.create_trigger("u1", every(1, T0 + timedelta(seconds=5)))
    paused = other_process.create_trigger("u1", every(1, T0 + timedelta(seconds=5)))
    other_process.pause_trigger("u1", paused.trigger_id)

    clock.advance(seconds=5)
    loop.follow_store()
    loop.fire_due_now()

    fired_ids = {r["trigger_id"] for r in service.list_firings("u1")}
    assert fired_ids == {created.trigger_id}
    other_process.close()


def test_two_loops_never_record_one_due_time_twice(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    for index in range(20):
        service.create_trigger("u1", every(1, T0 + timedelta(seconds=index + 1)))
    second = TriggerService(settings, clock=clock)
    loops = [SchedulerLoop(service), SchedulerLoop(second)]
    for loop in loops:
        loop.load()

    clock.advance(seconds=25)
    total = sum(loop.fire_due_now() for loop in loops)

    rows = service.list_firings("u1")
    assert total == 20
    assert len(rows) == 20
    assert len({(r["trigger_id"], r["due_at"]) for r in rows}) == 20
    second.close()


def test_loop_resumes_after_restart_with_fire_once_policy(
    service: TriggerService, settings: Settings, clock: FakeClock
) -> None:
    trigger = service.create_trigger("u1", every(1, T0 + timedelta(minutes=1)))
    service.close()

    clock.advance(minutes=10, seconds=30)
    restarted = TriggerService(settings, clock=clock)
    loop = SchedulerLoop(restarted)
    loop.load()
    loop.fire_due_now()

    rows = restarted.list_firings("u1")
    assert [(r["due_at"], r["covered_count"], r["misfired"]) for r in rows] == [
        ("2026-12-04T12:10:00.000000+00:00", 10, 1)
    ]
    row = restarted.trigger_row("u1", trigger.trigger_id)
    assert row["next_fire_at"] == "2026-12-04T12:11:00.000000+00:00"
    restarted.close()


def test_many_due_together_are_fired_in_one_pass(
    service: TriggerService, clock: FakeClock
) -> None:
    for _ in range(50):
        service.create_trigger("u1", every(5, T0 + timedelta(seconds=1)))
    loop = SchedulerLoop(service, batch_size=500)
    loop.load()

    clock.advance(seconds=1)
    fired = loop.fire_due_now()

    assert fired == 50
    assert len(service.list_firings("u1", limit=1000)) == 50


class ClockOnly:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock


def test_the_last_two_milliseconds_before_a_due_time_are_slept_precisely(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(scheduler_loop.time, "sleep", slept.append)
    loop = SchedulerLoop(ClockOnly(clock))
    now = clock()

    loop.queue.set("soon", now + timedelta(microseconds=1500), 1)
    loop._sleep_until_imminent_due()
    loop.queue.set("soon", now + timedelta(milliseconds=10), 2)
    loop._sleep_until_imminent_due()
    loop.queue.set("soon", now - timedelta(milliseconds=1), 3)
    loop._sleep_until_imminent_due()

    assert slept == [0.0015]


def test_a_skip_trigger_late_past_its_grace_skips_then_fires_on_time(
    service: TriggerService, clock: FakeClock
) -> None:
    spec = every(
        1, T0 + timedelta(minutes=1), misfire_policy="skip", misfire_grace_seconds=1
    )
    spec_once = TriggerSpec(
        trigger_type="scheduled",
        schedule_time=T0 + timedelta(minutes=1),
        misfire_policy="skip",
        misfire_grace_seconds=1,
    )
    recurring = service.create_trigger("u1", spec).trigger_id
    once = service.create_trigger("u1", spec_once).trigger_id
    loop = SchedulerLoop(service)
    loop.load()

    # Down across both due times, back 150 s later: past every grace.
    clock.advance(minutes=3, seconds=30)
    assert loop.fire_due_now() == 0
    assert service.list_firings("u1") == []
    row = service.trigger_row("u1", recurring)
    assert (row["status"], row["next_fire_at"], row["fire_count"]) == (
        "active",
        "2026-12-04T12:04:00.000000+00:00",
        0,
    )
    row = service.trigger_row("u1", once)
    assert (row["status"], row["next_fire_at"]) == ("completed", None)

    clock.advance(seconds=30)
    assert loop.fire_due_now() == 1
    rows = service.list_firings("u1")
    assert [(r["trigger_id"], r["due_at"]) for r in rows] == [
        (recurring, "2026-12-04T12:04:00.000000+00:00")
    ]
    history = [type(e).__name__ for e in service.events.get(UUID(recurring))]
    assert history == ["Created", "Skipped", "Fired"]
