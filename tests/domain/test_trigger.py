from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import (
    ConflictError,
    DueTimeAlreadyFulfilledError,
    InvalidInputError,
    InvalidScheduleError,
    NotFoundError,
)
from domain.spec import TriggerSpec
from domain.trigger import Trigger

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
OWNER = "owner-1"


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def event_names(trigger: Trigger) -> list[str]:
    return [type(e).__name__ for e in trigger.collect_events()]


def recurring(every: float = 10, **extra: object) -> Trigger:
    spec = TriggerSpec(
        trigger_type="scheduled",
        schedule_time=at(5),
        interval=every,
        is_recurring=True,
        **extra,  # type: ignore[arg-type]
    )
    return Trigger.create(OWNER, spec, NOW)


def test_one_shot_fires_once_then_completes() -> None:
    spec = TriggerSpec(trigger_type="scheduled", schedule_time=at(30))
    trigger = Trigger.create(OWNER, spec, NOW)

    firings = trigger.fire_due(at(30), at(30) + timedelta(milliseconds=20))

    assert [f.due_at for f in firings] == [at(30)]
    assert trigger.status == "completed"
    assert trigger.fire_count == 1
    assert event_names(trigger) == ["Created", "Fired", "Completed"]


def test_one_shot_in_the_past_is_refused() -> None:
    spec = TriggerSpec(trigger_type="scheduled", schedule_time=at(-1))

    with pytest.raises(InvalidScheduleError) as caught:
        Trigger.create(OWNER, spec, NOW)

    assert caught.value.field == "schedule_time"
    assert "past" in caught.value.message


def test_one_shot_without_time_fires_interval_after_creation() -> None:
    spec = TriggerSpec(trigger_type="scheduled", interval=1.5)

    trigger = Trigger.create(OWNER, spec, NOW)

    assert trigger.next_due_at == NOW + timedelta(seconds=90)


def test_recurring_fires_every_interval_from_its_anchor() -> None:
    trigger = recurring(every=0.5)

    trigger.fire_due(at(5), at(5))
    trigger.fire_due(at(5.5), at(5.5))

    assert trigger.next_due_at == at(6)
    assert trigger.fire_count == 2


def test_recurring_anchored_in_past_fires_at_next_step_after_now() -> None:
    spec = TriggerSpec(
        trigger_type="scheduled",
        schedule_time=at(-25),
        interval=10,
        is_recurring=True,
    )

    trigger = Trigger.create(OWNER, spec, NOW)

    assert trigger.next_due_at == at(5)


def test_a_due_time_is_fulfilled_at_most_once() -> None:
    trigger = recurring()
    trigger.fire_due(at(5), at(5))

    with pytest.raises(DueTimeAlreadyFulfilledError):
        trigger.fire_due(at(5), at(5))


def test_a_due_time_not_yet_come_is_refused() -> None:
    trigger = recurring()

    with pytest.raises(ConflictError):
        trigger.fire_due(at(5), at(4))


def test_test_fire_is_recorded_but_neither_counted_nor_moving() -> None:
    trigger = recurring()

    firing = trigger.fire_by_hand(OWNER, at(1), is_test=True)

    assert firing.reason == "test"
    assert firing.is_test is True
    assert trigger.fire_count == 0
    assert trigger.next_due_at == at(5)


def test_manual_fire_counts_but_keeps_the_schedule() -> None:
    trigger = recurring()

    firing = trigger.fire_by_hand(OWNER, at(1))

    assert (firing.reason, firing.due_at) == ("manual", None)
    assert trigger.fire_count == 1
    assert trigger.next_due_at == at(5)


def test_api_trigger_fires_only_when_called_with_payload_override() -> None:
    spec = TriggerSpec(trigger_type="api", api_payload={"a": 1})
    trigger = Trigger.create(OWNER, spec, NOW)
    trigger.collect_events()

    trigger.fire_by_hand(OWNER, at(1), reason="api", payload={"b": 2})

    fired = trigger.collect_events()[0]
    assert trigger.next_due_at is None
    assert (fired.reason, fired.payload) == ("api", {"b": 2})


def test_only_the_owner_changes_a_trigger() -> None:
    trigger = recurring()

    with pytest.raises(NotFoundError):
        trigger.pause("someone-else", at(1))
    with pytest.raises(NotFoundError):
        trigger.fire_by_hand("someone-else", at(1))


def test_deleted_trigger_accepts_nothing() -> None:
    trigger = recurring()
    trigger.delete(OWNER, at(1))

    with pytest.raises(NotFoundError):
        trigger.update(OWNER, {"interval": 5}, at(2))
    with pytest.raises(NotFoundError):
        trigger.fire_due(at(5), at(5))


def test_update_leaving_one_shot_in_past_completes_without_firing() -> None:
    spec = TriggerSpec(trigger_type="scheduled", schedule_time=at(30))
    trigger = Trigger.create(OWNER, spec, NOW)
    trigger.collect_events()

    trigger.update(OWNER, {"schedule_time": at(-60), "is_recurring": False}, at(1))

    events = trigger.collect_events()
    assert [type(e).__name__ for e in events] == ["Updated", "Completed"]
    assert events[1].reason == "due_time_passed"
    assert trigger.status == "completed"
    assert trigger.fire_count == 0


def test_update_with_future_time_reactivates_completed_one_shot() -> None:
    spec = TriggerSpec(trigger_type="scheduled", schedule_time=at(30))
    trigger = Trigger.create(OWNER, spec, NOW)
    trigger.fire_due(at(30), at(30))

    trigger.update(OWNER, {"schedule_time": at(90)}, at(31))

    assert (trigger.status, trigger.next_due_at) == ("active", at(90))


def test_late_within_grace_is_a_plain_firing() -> None:
    trigger = recurring(misfire_grace_seconds=30)
    trigger.collect_events()

    trigger.fire_due(at(5), at(5) + timedelta(seconds=29))

    fired = trigger.collect_events()[0]
    assert (fired.misfired, fired.covered_count) == (False, 1)


def test_fire_once_coalesces_missed_due_times() -> None:
    trigger = recurring(misfire_grace_seconds=0)
    trigger.collect_events()

    firings = trigger.fire_due(at(5), at(36))

    fired = trigger.collect_events()[0]
    assert len(firings) == 1
    assert (fired.covered_count, fired.misfired) == (4, True)
    assert (fired.covered_first_due_at, fired.due_at) == (at(5), at(35))
    assert trigger.next_due_at == at(45)


def test_skip_records_missed_due_times_and_waits_for_next() -> None:
    trigger = recurring(misfire_policy="skip", misfire_grace_seconds=0)
    trigger.collect_events()

    firings = trigger.fire_due(at(5), at(36))

    skipped = trigger.collect_events()[0]
    assert firings == []
    assert (skipped.first_due_at, skipped.last_due_at, skipped.count) == (
        at(5),
        at(35),
        4,
    )
    assert trigger.next_due_at == at(45)


def test_skip_still_fires_latest_due_time_inside_grace() -> None:
    trigger = recurring(misfire_policy="skip", misfire_grace_seconds=120)
    trigger.collect_events()

    firings = trigger.fire_due(at(5), at(36))

    skipped, fired = trigger.collect_events()
    assert (skipped.first_due_at, skipped.last_due_at, skipped.count) == (
        at(5),
        at(25),
        3,
    )
    assert [f.due_at for f in firings] == [at(35)]
    assert fired.due_at == at(35)


def test_fire_all_fires_each_missed_due_time_up_to_limit() -> None:
    trigger = recurring(misfire_policy="fire_all", misfire_grace_seconds=0)
    trigger.collect_events()

    firings = trigger.fire_due(at(5), at(56), fire_all_limit=3)

    events = trigger.collect_events()
    assert [f.due_at for f in firings] == [at(35), at(45), at(55)]
    assert type(events[0]).__name__ == "Skipped"
    assert (events[0].first_due_at, events[0].last_due_at, events[0].count) == (
        at(5),
        at(25),
        3,
    )
    assert trigger.fire_count == 3
    assert trigger.next_due_at == at(65)


def test_max_fires_completes_the_trigger() -> None:
    trigger = recurring(max_fires=2)

    trigger.fire_due(at(5), at(5))
    trigger.fire_due(at(15), at(15))

    assert trigger.status == "completed"
    assert trigger.next_due_at is None
    with pytest.raises(ConflictError):
        trigger.fire_by_hand(OWNER, at(16))


def test_end_at_completes_after_last_due_time() -> None:
    trigger = recurring(end_at=at(20))

    trigger.fire_due(at(5), at(5))
    trigger.fire_due(at(15), at(15))

    assert trigger.status == "completed"
    assert trigger.fire_count == 2


def test_start_at_cuts_earlier_due_times() -> None:
    trigger = recurring(start_at=at(31))

    assert trigger.next_due_at == at(35)


def test_pause_and_resume_records_due_times_missed_while_paused() -> None:
    trigger = recurring()
    trigger.pause(OWNER, at(1))
    trigger.collect_events()

    trigger.resume(OWNER, at(27))

    resumed = trigger.collect_events()[0]
    assert (resumed.skipped_first, resumed.skipped_last, resumed.skipped_count) == (
        at(5),
        at(25),
        3,
    )
    assert trigger.next_due_at == at(35)


def test_paused_trigger_has_no_due_time() -> None:
    trigger = recurring()

    trigger.pause(OWNER, at(1))

    assert trigger.next_due_at is None
    with pytest.raises(DueTimeAlreadyFulfilledError):
        trigger.fire_due(at(5), at(5))


def test_interval_is_elapsed_time_across_dst_change() -> None:
    # 00:00 EST on the day New York springs forward, every 60 minutes.
    anchor = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)
    spec = TriggerSpec(
        trigger_type="scheduled",
        schedule_time=anchor,
        interval=60,
        is_recurring=True,
        timezone="America/New_York",
    )
    trigger = Trigger.create(OWNER, spec, anchor - timedelta(hours=1))

    times = trigger.schedule.upcoming(anchor, 3)

    assert [t.at for t in times] == [
        datetime(2027, 3, 14, 6, 0, tzinfo=UTC),
        datetime(2027, 3, 14, 7, 0, tzinfo=UTC),
        datetime(2027, 3, 14, 8, 0, tzinfo=UTC),
    ]
    assert [t.shifted for t in times] == [False, True, True]


def test_firing_id_is_stable_for_the_same_event() -> None:
    first = recurring()
    firing = first.fire_due(at(5), at(5))[0]

    again = first.fire_by_hand(OWNER, at(6))

    assert firing.firing_id != again.firing_id
    assert len(firing.firing_id) == 36


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"interval": 1e12, "is_recurring": True}, "interval"),
        ({"interval": 10, "start_at": datetime(1, 1, 1, tzinfo=UTC)}, "start_at"),
        ({"interval": 10, "misfire_grace_seconds": 1e300}, "misfire_grace_seconds"),
        ({"schedule_time": datetime(9999, 1, 1, tzinfo=UTC)}, "schedule_time"),
    ],
)
def test_values_beyond_what_time_can_hold_are_refused(
    extra: dict[str, object], field: str
) -> None:
    spec = TriggerSpec(trigger_type="scheduled", **extra)  # type: ignore[arg-type]

    with pytest.raises(InvalidInputError) as caught:
        Trigger.create(OWNER, spec, NOW)

    assert caught.value.field == field


def test_an_empty_update_records_nothing() -> None:
    trigger = recurring()
    trigger.collect_events()

    trigger.update(OWNER, {}, at(1))

    assert trigger.collect_events() == []


def test_several_due_times_all_within_grace_each_fire_as_plainly_late() -> None:
    trigger = recurring(every=0.5, misfire_grace_seconds=120)
    trigger.collect_events()

    firings = trigger.fire_due(at(5), at(6.25))

    fired = trigger.collect_events()
    assert [f.due_at for f in firings] == [at(5), at(5.5), at(6)]
    assert {(e.misfired, e.covered_count) for e in fired} == {(False, 1)}
    assert trigger.next_due_at == at(6.5)


def test_max_fires_beyond_a_billion_is_refused() -> None:
    spec = TriggerSpec(trigger_type="api", max_fires=10**30)

    with pytest.raises(InvalidInputError) as caught:
        Trigger.create(OWNER, spec, NOW)

    assert caught.value.field == "max_fires"


def test_a_deep_copy_changes_apart_from_its_original() -> None:
    original = recurring(every=10)
    original.collect_events()
    copied = copy.deepcopy(original)

    copied.fire_due(at(5), at(5))
    copied.update(OWNER, {"interval": 5.0}, at(6))

    assert (original.version, original.fire_count, original.next_due_at) == (
        1,
        0,
        at(5),
    )
    assert original.spec.interval == 10
    assert event_names(original) == []
    assert (copied.version, copied.fire_count, copied.spec.interval) == (3, 1, 5.0)
    assert event_names(copied) == ["Fired", "Updated"]
    assert vars(copy.deepcopy(original)).keys() == vars(original).keys()
