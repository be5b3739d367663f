"""Cron expressions evaluated on wall-clock time in a time zone (DESIGN §2 "Time").

croniter parses and expands the fields; the calendar search and the mapping of
wall-clock times to instants are done here, because croniter 7 disagrees with
the rules this service promises:

* it ORs day-of-month and day-of-week when either starts with ``*`` but is
  restricted (``*/2``), where Unix cron ANDs them;
* it ANDs a ``#`` day-of-week with the day-of-month instead of ORing them
  (``0 0 13 * 5#2`` skips a Tuesday the 13th, ``0 0 L * 5#3`` never fires), and
  refuses lists that mix ``#`` with plain days (``1,5#3``);
* in a fall-back overlap it fires fixed times (``30 1 * * *``) on both passes,
  and in a spring-forward gap it fires ``* 2 * * *`` at 03:00;
* it silently picks a random minute for ``R`` and accepts a seventh (year) field.

Two behaviours follow DESIGN §2. A *real-time* expression (minute or hour field
starting with ``*``) fires at every instant whose local wall time matches:
gap minutes never fire, the repeated hour fires on both passes. A *fixed*
expression fires each matching wall time once: at its first occurrence, or,
inside a gap, at the first instant after the gap.
"""

from __future__ import annotations

import calendar
import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from domain.errors import InvalidScheduleError
from domain.timezones import (
    first_second_past_offset,
    utc_offset_at,
    wall_time_to_utc,
)

__all__ = ["CronRule", "FireTime"]

_FIELD = "cron"
_MAX_EXPRESSION_LENGTH = 200
_MAX_RAW_LENGTH = 4 * _MAX_EXPRESSION_LENGTH
_SHOWN_EXPRESSION_LENGTH = 60
_ALIASES: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_NEUTRAL_FIELDS = ("0", "0", "*", "*", "*")
# croniter reads a lone H or R (optionally with a range and step) as a hashed
# or random value; without a seed it picks one at random, so a schedule would
# change every time it is parsed.
_HASHED_OR_RANDOM = re.compile(r"[hr](?:\(\d+-\d+\))?(?:/\d+)?", re.IGNORECASE)
_NEAREST_WEEKDAY = re.compile(r"(?:(\d+)w|w(\d+))", re.IGNORECASE)
_LAST = -1
_SUNDAY, _SATURDAY = 0, 6

# The whole Gregorian calendar repeats every 400 years, so a date pattern that
# matches at all matches within that span.
_MAX_MONTHS_SEARCHED = 400 * 12
# A real-time search steps over at most this many UTC-offset changes.
_MAX_TRANSITIONS_CROSSED = 1000
_MAX_FIXED_STEPS = 4
# Offsets are treated as steady when they do not change within this margin of
# an instant; every real zone's offset changes are far apart and smaller.
_STEADY_MARGIN_HOURS = 3
_SECONDS_PER_HOUR = 3600
_DAY = timedelta(days=1)
_MIDNIGHT = (0, 0, 0)


@dataclass(frozen=True)
class FireTime:
    """One time a cron rule fires.

    ``at`` is an aware UTC instant. ``shifted`` is true when a spring-forward
    gap moved the firing away from the wall-clock time the expression names.
    """

    at: datetime
    shifted: bool


@dataclass(frozen=True)
class _DaySpec:
    """Which days of a month match the day-of-month and day-of-week fields."""

    any_day_of_month: bool
    days_of_month: frozenset[int]
    last_day_of_month: bool
    nearest_weekdays: frozenset[int]
    any_weekday: bool
    weekdays: frozenset[int]
    nth_weekdays: frozenset[tuple[int, int]]
    either_matches: bool

    def matches(self, day: int, length: int, first_weekday: int) -> bool:
        """Whether ``day`` matches in a month of ``length`` days starting on
        ``first_weekday`` (Sunday is 0)."""
        by_date = self._matches_day_of_month(day, length, first_weekday)
        by_weekday = self._matches_weekday(day, length, first_weekday)
        if self.either_matches:
            return by_date or by_weekday
        return by_date and by_weekday

    def _matches_day_of_month(self, day: int, length: int, first_weekday: int) -> bool:
        if self.any_day_of_month or day in self.days_of_month:
            return True
        if self.last_day_of_month and day == length:
            return True
        return any(
            _nearest_weekday(wanted, length, first_weekday) == day
            for wanted in self.nearest_weekdays
        )

    def _matches_weekday(self, day: int, length: int, first_weekday: int) -> bool:
        weekday = (first_weekday + day - 1) % 7
        if self.any_weekday or weekday in self.weekdays:
            return True
        for wanted_weekday, nth in self.nth_weekdays:
            if wanted_weekday != weekday:
                continue
            if nth == _LAST and day + 7 > length:
                return True
            if (day - 1) // 7 + 1 == nth:
                return True
        return False


def _nearest_weekday(day: int, length: int, first_weekday: int) -> int:
    """The Monday-to-Friday day closest to ``day`` without leaving the month."""
    day = min(day, length)
    weekday = (first_weekday + day - 1) % 7
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == _SUNDAY:
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True)
class _Fields:
    """An expanded expression: sorted times of day and the matching dates."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    # Matching days keyed by (month length, weekday of the 1st, Sunday = 0):
    # nothing else about a month decides which of its days match.
    days_by_shape: Mapping[tuple[int, int], tuple[int, ...]]
    step: timedelta
    fires_on_some_date: bool

    def matches(self, wall: datetime) -> bool:
        """Whether the naive wall time ``wall`` is one the expression names."""
        return (
            wall.microsecond == 0
            and wall.second in self.seconds
            and wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.day in self._days(wall.year, wall.month)
        )

    def next_wall(self, after: datetime, inclusive: bool) -> datetime | None:
        """The first matching wall time after (or at, if ``inclusive``) ``after``."""
        start = (
            _round_up(after, self.step) if inclusive else _next_step(after, self.step)
        )
        return self._wall_at_or_after(start)

    def _wall_at_or_after(self, start: datetime) -> datetime | None:
        year, month = start.year, start.month
        first_day, time_of_day = start.day, (start.hour, start.minute, start.second)
        for _ in range(_MAX_MONTHS_SEARCHED):
            found = self._wall_in_month(year, month, first_day, time_of_day)
            if found is not None:
                return found
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            if year > datetime.max.year:
                return None
            first_day, time_of_day = 1, _MIDNIGHT
        return None

    def _wall_in_month(
        self, year: int, month: int, first_day: int, time_of_day: tuple[int, int, int]
    ) -> datetime | None:
        days = self._days(year, month)
        index = bisect_left(days, first_day)
        if index == len(days):
            return None
        day = days[index]
        if day == first_day:
            clock = self._time_at_or_after(*time_of_day)
            if clock is not None:
                return datetime(year, month, day, *clock)
            index += 1
            if index == len(days):
                return None
            day = days[index]
        return datetime(
            year, month, day, self.hours[0], self.minutes[0], self.seconds[0]
        )

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        if month not in self.months:
            return ()
        return self.days_by_shape[_month_shape(year, month)]

    def _time_at_or_after(
        self, hour: int, minute: int, second: int
    ) -> tuple[int, int, int] | None:
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        hour_index = bisect_left(hours, hour)
        if hour_index == len(hours):
            return None
        if hours[hour_index] > hour:
            return hours[hour_index], minutes[0], seconds[0]
        minute_index = bisect_left(minutes, minute)
        if minute_index < len(minutes):
            if minutes[minute_index] > minute:
                return hour, minutes[minute_index], seconds[0]
            second_index = bisect_left(seconds, second)
            if second_index < len(seconds):
                return hour, minute, seconds[second_index]
            if minute_index + 1 < len(minutes):
                return hour, minutes[minute_index + 1], seconds[0]
        if hour_index + 1 < len(hours):
            return hours[hour_index + 1], minutes[0], seconds[0]
        return None


@lru_cache(maxsize=4096)
def _month_shape(year: int, month: int) -> tuple[int, int]:
    """(number of days, weekday of the 1st with Sunday as 0) of a month."""
    monday_based_first, length = calendar.monthrange(year, month)
    return length, (monday_based_first + 1) % 7


def _possible_lengths(month: int) -> tuple[int, ...]:
    if month == 2:
        return (28, 29)
    return (calendar.monthrange(2001, month)[1],)


def _next_step(value: datetime, step: timedelta) -> datetime:
    truncated = value.replace(microsecond=0)
    if step.total_seconds() >= 60:
        truncated = truncated.replace(second=0)
    return truncated + step


def _round_up(value: datetime, step: timedelta) -> datetime:
    truncated = _next_step(value, step) - step
    return truncated if truncated == value else truncated + step


@dataclass(frozen=True)
class CronRule:
    """A parsed cron expression, evaluated on wall-clock time in a time zone.

    Five fields (minute hour day-of-month month day-of-week), or six with
    seconds first; the ``@daily``-style aliases are accepted too. Build one
    with ``CronRule.parse``.
    """

    expression: str
    _fields: _Fields = field(repr=False, compare=False)
    _real_time: bool = field(repr=False, compare=False)

    @classmethod
    def parse(cls, expression: str) -> CronRule:
        """Parse ``expression``; raise ``InvalidScheduleError`` (field ``cron``)."""
        if not isinstance(expression, str):
            raise _invalid("The cron expression must be text, e.g. '*/15 * * * *'.")
        if len(expression) > _MAX_RAW_LENGTH:
            # Spare a huge input the work of normalising it first.
            raise _too_long()
        return _parse_normalized(" ".join(expression.split()))

    @property
    def follows_real_time(self) -> bool:
        """Whether the minute or hour field starts with ``*``.

        Such an expression fires on every instant whose wall time matches, as
        Unix cron does: not in a spring-forward gap, twice in a repeated hour.
        """
        return self._real_time

    def next_after(self, instant: datetime, zone: ZoneInfo) -> FireTime | None:
        """The first firing strictly after the aware ``instant``, or ``None``.

        ``None`` means the rule has no firing within the representable
        calendar.
        """
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("next_after needs an aware datetime")
        instant = instant.astimezone(UTC)
        if not self._fields.fires_on_some_date:
            return None
        try:
            steady = self._next_when_offset_is_steady(instant, zone)
            if steady is not None:
                return steady
            if self._real_time:
                return self._next_real_time(instant, zone)
            return self._next_fixed(instant, zone)
        except OverflowError:
            return None

    def ensure_can_fire(self, zone: ZoneInfo, after: datetime) -> None:
        """Raise ``InvalidScheduleError`` if the rule never fires after ``after``."""
        if not self._fields.fires_on_some_date:
            raise _invalid(
                f"The cron expression '{_shown(self.expression)}' never fires: no "
                "calendar date matches its day-of-month, month and day-of-week "
                "fields."
            )
        if self.next_after(after, zone) is None:
            raise _invalid(
                f"The cron expression '{_shown(self.expression)}' never fires in "
                f"time zone {_zone_name(zone)}: every time it names is skipped by a "
                "daylight-saving change."
            )

    def _next_when_offset_is_steady(
        self, instant: datetime, zone: ZoneInfo
    ) -> FireTime | None:
        """The answer when no offset change is near ``instant`` or the candidate.

        Far from any change, wall time and UTC move together, so the next
        matching wall time read with the current offset is the answer. Changes
        between the two points do not matter: with no change within 3 h of
        either end, and no change larger than 3 h, the wall clock only passes
        through times between the two, none of which match. ``None`` means "not
        steady here": the careful path decides.
        """
        offset = _steady_offset(zone, _epoch_hour(instant))
        if offset is None:
            return None
        wall = self._fields.next_wall(_naive_utc(instant) + offset, inclusive=False)
        if wall is None:
            return None
        at = (wall - offset).replace(tzinfo=UTC)
        if _steady_offset(zone, _epoch_hour(at)) != offset:
            return None
        return FireTime(at, False)

    def _next_real_time(self, instant: datetime, zone: ZoneInfo) -> FireTime | None:
        """Walk the constant-offset stretches of UTC until a wall time matches."""
        cursor, inclusive = instant, False
        for _ in range(_MAX_TRANSITIONS_CROSSED):
            offset = utc_offset_at(cursor, zone)
            wall = self._fields.next_wall(_naive_utc(cursor) + offset, inclusive)
            if wall is None:
                return None
            candidate = (wall - offset).replace(tzinfo=UTC)
            change = _first_offset_change(zone, cursor, candidate, offset)
            if change is None:
                return FireTime(candidate, False)
            # Before the change the wall clock only reached times earlier than
            # ``wall``, none of which match; continue from the change itself.
            cursor, inclusive = change, True
        return None

    def _next_fixed(self, instant: datetime, zone: ZoneInfo) -> FireTime | None:
        """Fire each matching wall time once, at its first (or post-gap) instant."""
        local = _naive_utc(instant) + utc_offset_at(instant, zone)
        wall = self._fields.next_wall(local, inclusive=False)
        for _ in range(_MAX_FIXED_STEPS):
            if wall is None:
                return None
            at, shifted = wall_time_to_utc(wall, zone)
            if at > instant:
                return FireTime(at, shifted and not self._names_instant(at, zone))
            wall = self._first_wall_after_repeat(at, instant, zone)
        return None

    def _first_wall_after_repeat(
        self, first_pass: datetime, instant: datetime, zone: ZoneInfo
    ) -> datetime | None:
        """The first matching wall time at or after the end of a repeated hour.

        ``instant`` lies in the second pass of a repeated hour whose first pass
        held ``first_pass``: every wall time of that hour has had its first
        occurrence, so none of them fires again.
        """
        first_pass_offset = utc_offset_at(first_pass, zone)
        change = _first_offset_change(zone, first_pass, instant, first_pass_offset)
        if change is None:
            return None
        # The repeat ends at the wall time the clock showed just before it was
        # set back.
        end_of_repeat = _naive_utc(change) + first_pass_offset
        return self._fields.next_wall(end_of_repeat, inclusive=True)

    def _names_instant(self, at: datetime, zone: ZoneInfo) -> bool:
        return self._fields.matches(at.astimezone(zone).replace(tzinfo=None))


@lru_cache(maxsize=1024)
def _parse_normalized(expression: str) -> CronRule:
    if not expression:
        raise _invalid("The cron expression is empty; e.g. '*/15 * * * *'.")
    if len(expression) > _MAX_EXPRESSION_LENGTH:
        raise _too_long()
    fields = _ALIASES.get(expression.lower(), expression).split()
    if len(fields) not in (5, 6):
        raise _invalid(
            f"The cron expression '{_shown(expression)}' has {len(fields)} fields; "
            "use 5 (minute hour day-of-month month day-of-week) or 6 with "
            "seconds first."
        )
    seconds = fields[0] if len(fields) == 6 else "0"
    minute, hour, day_of_month, month, day_of_week = fields[-5:]
    _refuse_hashed_or_random(expression, fields)
    try:
        compiled = _compile(seconds, minute, hour, day_of_month, month, day_of_week)
    except Exception as error:
        # croniter reports bad input with many exception types; all of them
        # mean the expression is not valid.
        raise _invalid(_explain_rejection(expression, fields)) from error
    real_time = minute.startswith("*") or hour.startswith("*")
    return CronRule(expression, compiled, real_time)


def _refuse_hashed_or_random(expression: str, fields: list[str]) -> None:
    if any(_HASHED_OR_RANDOM.fullmatch(text) for text in fields):
        raise _invalid(
            f"The cron expression '{_shown(expression)}' uses H or R; name the "
            "values explicitly instead."
        )


def _compile(
    seconds: str,
    minute: str,
    hour: str,
    day_of_month: str,
    month: str,
    day_of_week: str,
) -> _Fields:
    expanded, _ = croniter.expand(
        f"{seconds} {minute} {hour} {day_of_month} {month} *",
        second_at_beginning=True,
    )
    minutes, hours, days_of_month, months, _, second_values = expanded
    spec = _day_spec(day_of_month, days_of_month, day_of_week)
    days_by_shape = {
        (length, first_weekday): tuple(
            day
            for day in range(1, length + 1)
            if spec.matches(day, length, first_weekday)
        )
        for length in range(28, 32)
        for first_weekday in range(7)
    }
    second_list = _values(second_values, range(60))
    month_set = frozenset(_values(months, range(1, 13)))
    return _Fields(
        seconds=second_list,
        minutes=_values(minutes, range(60)),
        hours=_values(hours, range(24)),
        months=month_set,
        days_by_shape=days_by_shape,
        # Whole minutes suffice unless a second other than :00 can match.
        step=timedelta(minutes=1) if second_list == (0,) else timedelta(seconds=1),
        fires_on_some_date=_fires_on_some_date(month_set, days_by_shape),
    )


def _fires_on_some_date(
    months: frozenset[int], days_by_shape: Mapping[tuple[int, int], tuple[int, ...]]
) -> bool:
    """Whether any month of any year has a matching day.

    Every month occurs starting on every weekday, and February with both 28
    and 29 days, so checking each shape a month can take is exhaustive.
    """
    return any(
        days_by_shape[(length, first_weekday)]
        for month in months
        for length in _possible_lengths(month)
        for first_weekday in range(7)
    )


def _values(expanded: Iterable[int | str], everything: range) -> tuple[int, ...]:
    items = list(expanded)
    if items == ["*"]:
        return tuple(everything)
    return tuple(sorted(int(item) for item in items))


def _day_spec(
    day_of_month: str, expanded_days: list[int | str], day_of_week: str
) -> _DaySpec:
    nearest = _NEAREST_WEEKDAY.fullmatch(day_of_month)
    nearest_days = (
        frozenset({int(nearest[1] or nearest[2])}) if nearest else frozenset()
    )
    any_weekday, weekdays, nth_weekdays = _expand_weekdays(day_of_week)
    return _DaySpec(
        any_day_of_month=expanded_days == ["*"],
        days_of_month=frozenset()
        if nearest
        else frozenset(day for day in expanded_days if isinstance(day, int)),
        last_day_of_month="l" in expanded_days,
        nearest_weekdays=nearest_days,
        any_weekday=any_weekday,
        weekdays=weekdays,
        nth_weekdays=nth_weekdays,
        # Unix cron: when both day fields are restricted a day matching either
        # one fires; a field starting with "*" (or "?") makes both required.
        either_matches=not _starts_unrestricted(day_of_month)
        and not _starts_unrestricted(day_of_week),
    )


def _starts_unrestricted(text: str) -> bool:
    return text.startswith(("*", "?"))


def _expand_weekdays(
    day_of_week: str,
) -> tuple[bool, frozenset[int], frozenset[tuple[int, int]]]:
    """Expand each list item alone so ``#`` and ``L`` mix with plain days."""
    any_weekday = False
    weekdays: set[int] = set()
    nth_weekdays: set[tuple[int, int]] = set()
    for item in day_of_week.split(","):
        expanded, nth = croniter.expand(f"0 0 * * {item}")
        if nth:
            nth_weekdays.update(
                (int(weekday), _LAST if position == "l" else int(position))
                for weekday, positions in nth.items()
                for position in positions
            )
        elif expanded[4] == ["*"]:
            any_weekday = True
        else:
            weekdays.update(int(weekday) for weekday in expanded[4])
    return any_weekday, frozenset(weekdays), frozenset(nth_weekdays)


def _explain_rejection(expression: str, fields: list[str]) -> str:
    """Name the first field croniter refuses on its own, when one is to blame."""
    named = list(zip(_FIELD_NAMES, fields[-5:], strict=True))
    if len(fields) == 6:
        named.insert(0, ("second", fields[0]))
    for name, text in named:
        if not _field_is_valid(name, text):
            return (
                f"The cron expression '{_shown(expression)}' is not valid: the "
                f"{name} field '{_shown(text)}' is not understood."
            )
    return (
        f"The cron expression '{_shown(expression)}' is not valid: use 5 fields "
        "(minute hour day-of-month month day-of-week) or 6 with seconds first."
    )


def _field_is_valid(name: str, text: str) -> bool:
    neutral = dict(zip(_FIELD_NAMES, _NEUTRAL_FIELDS, strict=True))
    seconds = text if name == "second" else "0"
    if name in neutral:
        neutral[name] = text
    try:
        if name == "day-of-week":
            _expand_weekdays(text)
            neutral[name] = "*"
        croniter.expand(
            f"{seconds} {' '.join(neutral.values())}", second_at_beginning=True
        )
    except Exception:
        return False
    return True


def _too_long() -> InvalidScheduleError:
    return _invalid(
        f"The cron expression is too long (over {_MAX_EXPRESSION_LENGTH} characters)."
    )


def _zone_name(zone: ZoneInfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def _invalid(message: str) -> InvalidScheduleError:
    return InvalidScheduleError(message, field=_FIELD)


def _shown(text: str) -> str:
    if len(text) <= _SHOWN_EXPRESSION_LENGTH:
        return text
    return text[:_SHOWN_EXPRESSION_LENGTH] + "..."


def _naive_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


def _epoch_hour(instant: datetime) -> int:
    return math.floor(instant.timestamp() / _SECONDS_PER_HOUR)


@lru_cache(maxsize=16384)
def _steady_offset(zone: ZoneInfo, epoch_hour: int) -> timedelta | None:
    """The offset ``zone`` keeps from 3 h before to 3 h after the given hour.

    ``None`` when it changes there. Probing every hour of the window catches
    any change that does not undo itself within the hour. Cached because many
    triggers share a zone and the same few hours.
    """
    first = epoch_hour - _STEADY_MARGIN_HOURS
    last = epoch_hour + 1 + _STEADY_MARGIN_HOURS
    offsets = {
        datetime.fromtimestamp(hour * _SECONDS_PER_HOUR, zone).utcoffset()
        for hour in range(first, last + 1)
    }
    if len(offsets) != 1:
        return None
    return offsets.pop()


def _first_offset_change(
    zone: ZoneInfo, start: datetime, end: datetime, offset: timedelta
) -> datetime | None:
    """The first instant in (start, end] where ``zone`` leaves ``offset``.

    Checks a day at a time, then bisects the seconds of the day that changed;
    a zone changes its offset at most once a day.
    """
    days = math.ceil((end - start) / _DAY)
    low = start
    for _ in range(days):
        high = min(low + _DAY, end)
        if utc_offset_at(high, zone) != offset:
            return first_second_past_offset(zone, low, high, offset)
        low = high
    return None
