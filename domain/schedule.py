"""When a trigger is due: the schedule rules for every kind of trigger.

A schedule answers one question, "what is the first due time after this
instant?", and everything else (upcoming lists, counting missed due times) is
built on it. Every instant here is an aware UTC datetime; wall-clock time only
matters inside cron rules, which read it in the schedule's zone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.cron import CronRule, FireTime
from domain.errors import InvalidScheduleError
from domain.timezones import load_zone

SCHEDULED = "scheduled"
CRON = "cron"
API = "api"

# Counting missed cron due times walks them one by one; past this many the
# count is reported as a lower bound rather than walking a year of seconds.
MAX_COUNTED_DUE_TIMES = 10_000


@dataclass(frozen=True)
class MissedDueTimes:
    """Due times that went by without a firing."""

    first: datetime
    last: datetime
    count: int
    count_is_exact: bool = True


@dataclass(frozen=True)
class Schedule:
    """The due times of one trigger, bounds included.

    ``kind`` is ``scheduled`` (``anchor``, then every ``interval`` when
    recurring), ``cron`` (``cron`` read in ``timezone``) or ``api`` (never due).
    ``start_at`` and ``end_at`` cut the due times to a window; ``max_fires`` is
    enforced by the trigger, which knows how often it has fired.
    """

    kind: str
    timezone: str = "UTC"
    anchor: datetime | None = None
    interval: timedelta | None = None
    is_recurring: bool = False
    cron: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    def next_due_after(self, instant: datetime) -> datetime | None:
        """The first due time strictly after ``instant``, or None."""
        found = self.next_fire_time_after(instant)
        return found.at if found else None

    def next_fire_time_after(self, instant: datetime) -> FireTime | None:
        if self.start_at is not None and instant < self.start_at:
            # The window opens at start_at, which is itself a possible due time.
            instant = self.start_at - timedelta(microseconds=1)
        if self.kind == SCHEDULED:
            found = self._next_interval_time(instant)
        elif self.kind == CRON:
            rule = CronRule.parse(self.cron or "")
            found = rule.next_after(instant, load_zone(self.timezone))
        else:
            return None
        if found is None or (self.end_at is not None and found.at > self.end_at):
            return None
        return found

    def first_due(self) -> datetime | None:
        """The earliest due time the schedule has at all."""
        if self.kind == SCHEDULED:
            start = self.anchor
            if start is not None and self.start_at is not None:
                start = max(start, self.start_at)
            if start is None:
                return None
            return self.next_due_after(start - timedelta(microseconds=1))
        return None

    def upcoming(self, after: datetime, count: int) -> list[FireTime]:
        """The next ``count`` fire times after ``after``."""
        return list(_take(self._iter_fire_times(after), count))

    def missed_between(self, first: datetime, until: datetime) -> MissedDueTimes | None:
        """Due times from ``first`` (itself a due time) up to ``until``."""
        if first > until:
            return None
        if self.kind == SCHEDULED and self.is_recurring and self.interval:
            return self._missed_intervals(first, until)
        last = first
        count = 1
        for fire_time in self._iter_fire_times(first):
            if fire_time.at > until:
                return MissedDueTimes(first, last, count)
            if count >= MAX_COUNTED_DUE_TIMES:
                return MissedDueTimes(first, last, count, count_is_exact=False)
            last = fire_time.at
            count += 1
        return MissedDueTimes(first, last, count)

    def _next_interval_time(self, instant: datetime) -> FireTime | None:
        anchor = self.anchor
        if anchor is None:
            return None
        if instant < anchor:
            return FireTime(anchor, shifted=False)
        if not self.is_recurring or not self.interval:
            return None
        # Intervals are elapsed time, so plain arithmetic on UTC is exact.
        steps = math.floor((instant - anchor) / self.interval) + 1
        due = anchor + self.interval * steps
        while due <= instant:
            due += self.interval
        return FireTime(due, shifted=self._offset_differs(due))

    def _missed_intervals(self, first: datetime, until: datetime) -> MissedDueTimes:
        assert self.interval is not None
        if self.end_at is not None:
            until = min(until, self.end_at)
        count = math.floor((until - first) / self.interval) + 1
        last = first + self.interval * (count - 1)
        return MissedDueTimes(first, last, count)

    def _offset_differs(self, due: datetime) -> bool:
        # An interval keeps elapsed time, so across a DST change its wall-clock
        # time moves by the change; that is what "shifted" tells a person.
        if self.anchor is None:
            return False
        zone = load_zone(self.timezone)
        return (
            due.astimezone(zone).utcoffset() != self.anchor.astimezone(zone).utcoffset()
        )

    def _iter_fire_times(self, after: datetime) -> Iterator[FireTime]:
        instant = after
        while True:
            found = self.next_fire_time_after(instant)
            if found is None:
                return
            yield found
            instant = found.at


def _take(items: Iterator[FireTime], count: int) -> Iterator[FireTime]:
    for index, item in enumerate(items):
        if index >= count:
            return
        yield item


def validate_cron(expression: str, timezone: str, after: datetime) -> None:
    """Refuse an expression that does not parse or can never fire."""
    rule = CronRule.parse(expression)
    rule.ensure_can_fire(load_zone(timezone), after)


def ensure_positive_interval(interval: timedelta | None, field: str) -> None:
    if interval is not None and interval <= timedelta(0):
        raise InvalidScheduleError(
            "interval must be a number of minutes greater than 0", field=field
        )
