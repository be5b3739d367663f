"""The Trigger aggregate: its commands, the events they record, and its state.

Every command takes ``now`` from its caller; the aggregate never reads a clock.
Every due time a trigger passes ends in an event that says what became of it:
fired, covered by a coalesced firing, skipped by policy or while paused, or
cut off by the trigger completing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import (
    ConflictError,
    DueTimeAlreadyFulfilledError,
    InvalidScheduleError,
    NotFoundError,
)
from domain.schedule import Schedule
from domain.spec import (
    TriggerSpec,
    check_not_in_past,
    record_changes,
    spec_to_record,
    spec_values,
)

ACTIVE = "active"
PAUSED = "paused"
COMPLETED = "completed"
DELETED = "deleted"

SCHEDULED_REASON = "scheduled"
FIRING_NAMESPACE = uuid5(NAMESPACE_URL, "eventtrigger:firing")

# Fields whose change means the schedule must be worked out again.
SCHEDULE_FIELDS = frozenset(
    {
        "trigger_type",
        "schedule_time",
        "interval",
        "is_recurring",
        "cron",
        "timezone",
        "start_at",
        "end_at",
    }
)


@dataclass(frozen=True)
class Firing:
    """What one firing recorded, as the caller needs it afterwards."""

    firing_id: str
    trigger_id: str
    reason: str
    due_at: datetime | None
    fired_at: datetime
    is_test: bool
    endpoint: str | None = None


class Trigger(Aggregate):
    """A trigger owned by one person, fired by its schedule or by a call."""

    class Created(Aggregate.Created):
        owner_id: str
        spec: dict[str, Any]
        schedule_base: datetime
        next_due_at: datetime | None
        actor: str

    class Updated(Aggregate.Event):
        changes: dict[str, Any]
        schedule_base: datetime
        next_due_at: datetime | None
        actor: str

        def apply(self, trigger: Trigger) -> None:
            trigger.spec = trigger.spec.with_changes(spec_values(self.changes))
            trigger.schedule_base = self.schedule_base
            trigger.next_due_at = self.next_due_at
            if trigger.status == COMPLETED and self.next_due_at is not None:
                trigger.status = ACTIVE

    class Paused(Aggregate.Event):
        actor: str

        def apply(self, trigger: Trigger) -> None:
            trigger.status = PAUSED
            trigger.paused_due_at = trigger.next_due_at
            trigger.next_due_at = None

    class Resumed(Aggregate.Event):
        actor: str
        next_due_at: datetime | None
        skipped_first: datetime | None
        skipped_last: datetime | None
        skipped_count: int

        def apply(self, trigger: Trigger) -> None:
            trigger.status = ACTIVE
            trigger.paused_due_at = None
            trigger.next_due_at = self.next_due_at

    class Fired(Aggregate.Event):
        firing_id: str
        reason: str
        due_at: datetime | None
        is_test: bool
        payload: Any
        covered_count: int
        covered_first_due_at: datetime | None
        misfired: bool
        next_due_at: datetime | None
        actor: str | None
        endpoint: str | None

        def apply(self, trigger: Trigger) -> None:
            if self.is_test:
                return
            trigger.fire_count += 1
            trigger.last_fired_at = self.timestamp
            trigger.next_due_at = self.next_due_at
            if self.due_at is not None:
                trigger.last_due_at = self.due_at

    class Skipped(Aggregate.Event):
        first_due_at: datetime
        last_due_at: datetime
        count: int
        count_is_exact: bool
        reason: str
        next_due_at: datetime | None

        def apply(self, trigger: Trigger) -> None:
            trigger.last_due_at = self.last_due_at
            trigger.next_due_at = self.next_due_at

    class Completed(Aggregate.Event):
        reason: str

        def apply(self, trigger: Trigger) -> None:
            trigger.status = COMPLETED
            trigger.next_due_at = None

    class SigningSecretRotated(Aggregate.Event):
        actor: str
        generation: int

        def apply(self, trigger: Trigger) -> None:
            trigger.signing_generation = self.generation
            trigger.signing_rotated_at = self.timestamp

    class Deleted(Aggregate.Event):
        actor: str

        def apply(self, trigger: Trigger) -> None:
            trigger.status = DELETED
            trigger.next_due_at = None

    def __init__(
        self,
        owner_id: str,
        spec: dict[str, Any],
        schedule_base: datetime,
        next_due_at: datetime | None,
        actor: str,
    ) -> None:
        self.owner_id = owner_id
        self.spec = TriggerSpec(**spec_values(spec))
        self.schedule_base = schedule_base
        self.next_due_at = next_due_at
        self.status = ACTIVE
        self.fire_count = 0
        self.last_fired_at: datetime | None = None
        self.last_due_at: datetime | None = None
        self.paused_due_at: datetime | None = None
        # The signing secret is derived from (id, generation), never stored.
        self.signing_generation = 1
        self.signing_rotated_at: datetime | None = None

    # Commands ------------------------------------------------------------

    @classmethod
    def create(cls, owner_id: str, spec: TriggerSpec, now: datetime) -> Trigger:
        """Create a trigger, refusing a spec that breaks a rule."""
        spec.check(now)
        check_not_in_past(spec, now)
        schedule = spec.schedule(now)
        next_due = _first_due_from(schedule, now)
        if spec.kind != "api" and next_due is None:
            raise _never_fires_error(spec)
        trigger = cls._create(
            cls.Created,
            id=uuid4(),
            timestamp=now,
            owner_id=owner_id,
            spec=spec_to_record(spec),
            schedule_base=now,
            next_due_at=next_due,
            actor=owner_id,
        )
        return trigger

    def update(self, actor: str, changes: dict[str, Any], now: datetime) -> None:
        """Change some settings; a one-shot left in the past completes."""
        self._check_owner(actor)
        if not changes:
            return
        spec = self.spec.with_changes(changes)
        spec.check(now)
        base = self.schedule_base
        if SCHEDULE_FIELDS & changes.keys():
            base = now
        schedule = spec.schedule(base)
        next_due = self.next_due_at
        if SCHEDULE_FIELDS & changes.keys() and self.status != PAUSED:
            next_due = _first_due_from(schedule, now)
        self.trigger_event(
            self.Updated,
            timestamp=now,
            changes=record_changes(changes),
            schedule_base=base,
            next_due_at=next_due,
            actor=actor,
        )
        if spec.kind != "api" and next_due is None and self.status == ACTIVE:
            passed = self._passed_one_shot(schedule, now)
            self._complete("due_time_passed" if passed else "schedule_exhausted", now)

    def pause(self, actor: str, now: datetime) -> None:
        self._check_owner(actor)
        if self.status != ACTIVE:
            raise ConflictError(
                f"Only an active trigger can be paused; it is {self.status}"
            )
        self.trigger_event(self.Paused, timestamp=now, actor=actor)

    def resume(self, actor: str, now: datetime) -> None:
        """Resume; due times that went by while paused are recorded as skipped."""
        self._check_owner(actor)
        if self.status != PAUSED:
            raise ConflictError(
                f"Only a paused trigger can be resumed; it is {self.status}"
            )
        schedule = self.schedule
        missed = None
        if self.paused_due_at is not None and self.paused_due_at <= now:
            missed = schedule.missed_between(self.paused_due_at, now)
        next_due = _first_due_from(schedule, now) if self.spec.kind != "api" else None
        self.trigger_event(
            self.Resumed,
            timestamp=now,
            actor=actor,
            next_due_at=next_due,
            skipped_first=missed.first if missed else None,
            skipped_last=missed.last if missed else None,
            skipped_count=missed.count if missed else 0,
        )
        if self.spec.kind != "api" and next_due is None:
            self._complete("schedule_exhausted", now)

    def delete(self, actor: str, now: datetime) -> None:
        self._check_owner(actor)
        self.trigger_event(self.Deleted, timestamp=now, actor=actor)

    def rotate_signing_secret(self, actor: str, now: datetime) -> int:
        """Move to a new signing secret; the old one signs too for a grace period."""
        self._check_owner(actor)
        generation = self.signing_generation + 1
        self.trigger_event(
            self.SigningSecretRotated, timestamp=now, actor=actor, generation=generation
        )
        return generation

    def fire_by_hand(
        self,
        actor: str,
        now: datetime,
        *,
        reason: str = "manual",
        payload: Any = None,
        is_test: bool = False,
    ) -> Firing:
        """Fire outside the schedule: by hand, through the API, or as a test.

        A test firing is recorded but never counted and never moves the schedule.
        """
        self._check_owner(actor)
        if not is_test and self._max_fires_reached():
            raise ConflictError("The trigger has already fired max_fires times")
        firing = self._record_firing(
            now,
            reason="test" if is_test else reason,
            due_at=None,
            payload=self.spec.api_payload if payload is None else payload,
            is_test=is_test,
            next_due_at=self.next_due_at,
            actor=actor,
        )
        if not is_test and self._max_fires_reached() and self.status != COMPLETED:
            self._complete("max_fires", now)
        return firing

    def fire_due(
        self, due_at: datetime, now: datetime, fire_all_limit: int = 100
    ) -> list[Firing]:
        """Fire the due time the schedule is waiting for, applying the misfire
        policy to every due time that went by since, up to ``now``.
        """
        self._check_live()
        if self.status != ACTIVE or self.next_due_at != due_at:
            raise DueTimeAlreadyFulfilledError(
                f"Due time {due_at.isoformat()} is not the one this trigger awaits"
            )
        if due_at > now:
            raise ConflictError(f"Due time {due_at.isoformat()} has not come yet")
        schedule = self.schedule
        missed = schedule.missed_between(due_at, now)
        assert missed is not None
        grace = timedelta(seconds=self.spec.misfire_grace_seconds)
        latest_on_time = now - missed.last <= grace
        all_on_time = now - missed.first <= grace
        policy = self.spec.misfire_policy
        if missed.count == 1 and latest_on_time:
            firings = [self._fire_scheduled(due_at, now, schedule)]
        elif all_on_time and missed.count <= fire_all_limit:
            # Late by less than the grace is simply late: each due time fires.
            firings = self._fire_each_missed(
                missed, now, schedule, fire_all_limit, misfired=False
            )
        elif policy == "skip":
            firings = self._skip_missed(missed, latest_on_time, now, schedule)
        elif policy == "fire_all":
            firings = self._fire_each_missed(missed, now, schedule, fire_all_limit)
        else:
            firings = [self._fire_coalesced(missed, now, schedule)]
        self._complete_if_exhausted(now)
        return firings

    def __deepcopy__(self, memo: dict[int, Any]) -> Trigger:
        # The store hands each command a deep copy of its cached trigger. Every
        # attribute holds an immutable value (a frozen spec, instants, text,
        # numbers) and events replace attributes rather than change them, so a
        # copy with its own list of pending events is a full copy, made for a
        # fraction of what copying every object inside would cost.
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._pending_events = list(self._pending_events)
        return clone

    # Queries ---------------------------------------------------------------

    @property
    def schedule(self) -> Schedule:
        return self.spec.schedule(self.schedule_base)

    @property
    def trigger_id(self) -> str:
        return str(self.id)

    def is_owned_by(self, user_id: str) -> bool:
        return self.owner_id == user_id and self.status != DELETED

    # Internals -------------------------------------------------------------

    def _fire_scheduled(
        self, due_at: datetime, now: datetime, schedule: Schedule
    ) -> Firing:
        return self._record_firing(
            now,
            reason=SCHEDULED_REASON,
            due_at=due_at,
            payload=self.spec.api_payload,
            next_due_at=schedule.next_due_after(due_at),
        )

    def _fire_coalesced(self, missed: Any, now: datetime, schedule: Schedule) -> Firing:
        # One firing stands for every missed due time; it names the latest.
        return self._record_firing(
            now,
            reason=SCHEDULED_REASON,
            due_at=missed.last,
            payload=self.spec.api_payload,
            next_due_at=schedule.next_due_after(max(missed.last, now)),
            covered_count=missed.count,
            covered_first_due_at=missed.first,
            misfired=True,
        )

    def _skip_missed(
        self, missed: Any, latest_on_time: bool, now: datetime, schedule: Schedule
    ) -> list[Firing]:
        if latest_on_time:
            # The latest due time is merely late: skip the ones before it.
            last_skipped = _previous_due(schedule, missed)
            self.trigger_event(
                self.Skipped,
                timestamp=now,
                first_due_at=missed.first,
                last_due_at=last_skipped,
                count=missed.count - 1,
                count_is_exact=missed.count_is_exact,
                reason="misfire_policy",
                next_due_at=missed.last,
            )
            return [self._fire_scheduled(missed.last, now, schedule)]
        self.trigger_event(
            self.Skipped,
            timestamp=now,
            first_due_at=missed.first,
            last_due_at=missed.last,
            count=missed.count,
            count_is_exact=missed.count_is_exact,
            reason="misfire_policy",
            next_due_at=schedule.next_due_after(max(missed.last, now)),
        )
        return []

    def _fire_each_missed(
        self,
        missed: Any,
        now: datetime,
        schedule: Schedule,
        limit: int,
        misfired: bool = True,
    ) -> list[Firing]:
        due_times = _recent_due_times(schedule, missed, limit)
        if due_times[0] != missed.first:
            # Beyond the limit the oldest due times are skipped, and recorded so.
            self.trigger_event(
                self.Skipped,
                timestamp=now,
                first_due_at=missed.first,
                last_due_at=_due_before(schedule, due_times[0], missed.first),
                count=missed.count - len(due_times),
                count_is_exact=missed.count_is_exact,
                reason="misfire_limit",
                next_due_at=due_times[0],
            )
        firings = []
        for index, due in enumerate(due_times):
            last = index == len(due_times) - 1
            following = due_times[index + 1] if not last else None
            if last:
                following = schedule.next_due_after(max(due, now))
            firings.append(
                self._record_firing(
                    now,
                    reason=SCHEDULED_REASON,
                    due_at=due,
                    payload=self.spec.api_payload,
                    next_due_at=following,
                    misfired=misfired,
                )
            )
            if self._max_fires_reached():
                break
        return firings

    def _record_firing(
        self,
        now: datetime,
        *,
        reason: str,
        due_at: datetime | None,
        payload: Any,
        next_due_at: datetime | None,
        is_test: bool = False,
        covered_count: int = 1,
        covered_first_due_at: datetime | None = None,
        misfired: bool = False,
        actor: str | None = None,
    ) -> Firing:
        # The firing id is derived from the event's place in the stream, so it
        # is stable (a delivery's idempotency key) without storing randomness.
        firing_id = str(uuid5(FIRING_NAMESPACE, f"{self.id}:{self.version + 1}"))
        self.trigger_event(
            self.Fired,
            timestamp=now,
            firing_id=firing_id,
            reason=reason,
            due_at=due_at,
            is_test=is_test,
            payload=payload,
            covered_count=covered_count,
            covered_first_due_at=covered_first_due_at or due_at,
            misfired=misfired,
            next_due_at=next_due_at,
            actor=actor,
            endpoint=self.spec.api_endpoint,
        )
        return Firing(
            firing_id,
            self.trigger_id,
            reason,
            due_at,
            now,
            is_test,
            endpoint=self.spec.api_endpoint,
        )

    def _complete_if_exhausted(self, now: datetime) -> None:
        if self.status != ACTIVE:
            return
        if self._max_fires_reached():
            self._complete("max_fires", now)
        elif self.next_due_at is None:
            self._complete("schedule_exhausted", now)

    def _complete(self, reason: str, now: datetime) -> None:
        self.trigger_event(self.Completed, timestamp=now, reason=reason)

    def _max_fires_reached(self) -> bool:
        limit = self.spec.max_fires
        return limit is not None and self.fire_count >= limit

    def _passed_one_shot(self, schedule: Schedule, now: datetime) -> bool:
        first = schedule.first_due()
        return first is not None and first <= now

    def _check_owner(self, actor: str) -> None:
        # Someone else's trigger is reported exactly like a missing one.
        if actor != self.owner_id:
            raise NotFoundError()
        self._check_live()

    def _check_live(self) -> None:
        if self.status == DELETED:
            raise NotFoundError()


def _first_due_from(schedule: Schedule, now: datetime) -> datetime | None:
    first = schedule.first_due()
    if first is not None and first > now:
        return first
    return schedule.next_due_after(now)


def _previous_due(schedule: Schedule, missed: Any) -> datetime:
    return _due_before(schedule, missed.last, missed.first)


def _due_before(schedule: Schedule, due: datetime, first: datetime) -> datetime:
    """The due time just before ``due``, walking forward from ``first``."""
    if schedule.interval is not None and schedule.is_recurring:
        return due - schedule.interval
    previous = first
    for fire_time in schedule.upcoming(first, 10**6):
        if fire_time.at >= due:
            break
        previous = fire_time.at
    return previous


def _recent_due_times(schedule: Schedule, missed: Any, limit: int) -> list[datetime]:
    if missed.count <= limit:
        start = missed.first
        skip = 0
    elif schedule.interval is not None and schedule.is_recurring:
        start = missed.last - schedule.interval * (limit - 1)
        skip = 0
    else:
        start = missed.first
        skip = missed.count - limit
    times = [start] + [t.at for t in schedule.upcoming(start, missed.count - 1)]
    times = [t for t in times if t <= missed.last]
    return times[skip:]


def _never_fires_error(spec: TriggerSpec) -> Exception:
    field = "end_at" if spec.end_at is not None else "schedule_time"
    if spec.kind == "cron":
        field = "cron"
    return InvalidScheduleError(
        "The schedule has no fire time in the future", field=field
    )


def trigger_id_from(text: str) -> UUID:
    """Parse a trigger id as the API receives it; unknown forms are not found."""
    try:
        return UUID(text)
    except (ValueError, TypeError, AttributeError):
        raise NotFoundError() from None


# The events that decide a trigger's next due time: each carries the new one
# (``next_due_at``), or, for a pause, completion or deletion, leaves none.
SCHEDULE_EVENTS: tuple[type, ...] = (
    Trigger.Created,
    Trigger.Updated,
    Trigger.Paused,
    Trigger.Resumed,
    Trigger.Fired,
    Trigger.Skipped,
    Trigger.Completed,
    Trigger.Deleted,
)
