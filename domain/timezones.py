"""Time zones and instants: the rules of DESIGN §2 "Time" as pure functions.

Instants are aware ``datetime`` values in UTC. A wall-clock time (a naive
``datetime``) is read in a trigger's IANA time zone:

* a wall time inside a spring-forward gap does not exist; it is read as the
  first instant after the gap (the transition instant);
* a wall time that happens twice (fall-back) is read as its first occurrence.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.errors import InvalidInputError

__all__ = [
    "format_instant",
    "load_zone",
    "parse_instant",
    "to_utc",
    "utc_offset_at",
    "wall_time_to_utc",
]

# IANA names are short ASCII paths ("America/Argentina/ComodRivadavia" is among
# the longest). Checking the shape first keeps path tricks ("../etc", absolute
# paths, NUL bytes) and huge inputs away from the file system entirely.
_MAX_ZONE_NAME_LENGTH = 64
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")

# The forms a person or an HTML ``datetime-local`` input sends; everything
# else ``datetime.fromisoformat`` would also accept (week dates, compact
# forms, a bare date) is refused so that input stays unambiguous.
_INSTANT = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ]"
    r"(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.(?P<fraction>\d{1,9}))?)?)"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?"
)
_MAX_INSTANT_LENGTH = 64
_MICROSECOND_DIGITS = 6


def load_zone(name: str) -> ZoneInfo:
    """Return the IANA time zone called ``name``.

    Raises ``InvalidInputError`` (field ``timezone``) for anything that is not
    a known zone name, whatever its type or shape.
    """
    if not isinstance(name, str) or not _looks_like_zone_name(name):
        raise _unknown_zone(name)
    try:
        return ZoneInfo(name)
    except Exception as error:
        # ZoneInfo signals a bad key with several exception types (not found,
        # not a TZif file, a directory, a decoding error); all mean "unknown".
        raise _unknown_zone(name) from error


# Files in a zone database that are not zones a person can be in: the
# machine's own zone, a rules template, a placeholder, and copies of every
# zone that count leap seconds (or are an alias tree).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_TREES = ("right/", "posix/")


def _looks_like_zone_name(name: str) -> bool:
    return (
        len(name) <= _MAX_ZONE_NAME_LENGTH
        and bool(_ZONE_NAME.fullmatch(name))
        and name not in _NOT_ZONES
        and not name.startswith(_NOT_ZONE_TREES)
    )


def _unknown_zone(name: object) -> InvalidInputError:
    shown = name if isinstance(name, str) else repr(name)
    if len(shown) > _MAX_ZONE_NAME_LENGTH:
        shown = shown[:_MAX_ZONE_NAME_LENGTH] + "..."
    return InvalidInputError(f"Unknown time zone '{shown}'", field="timezone")


def to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """Return ``value`` as an aware UTC instant.

    An aware ``value`` is converted. A naive one is a wall-clock time in
    ``zone``: inside a spring-forward gap it becomes the transition instant,
    and when it happens twice it becomes its first occurrence.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    instant, _ = wall_time_to_utc(value, zone)
    return instant


def wall_time_to_utc(wall: datetime, zone: ZoneInfo) -> tuple[datetime, bool]:
    """Return the instant the naive ``wall`` names in ``zone``, and if a gap moved it.

    The second item is ``True`` when ``wall`` falls in a spring-forward gap and
    the instant is the first one after the gap. A wall time that happens twice
    gives its first occurrence.
    """
    naive = wall.replace(tzinfo=None, fold=0)
    # fold=0 reads an ambiguous wall time with the earlier offset, which is
    # its first occurrence; inside a gap it lands past the transition.
    first = naive.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first, False
    return _gap_end(naive, zone), True


def _gap_end(naive: datetime, zone: ZoneInfo) -> datetime:
    """Return the transition instant of the gap that swallows ``naive``."""
    after = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    offset_before = before.astimezone(zone).utcoffset()
    assert offset_before is not None
    return first_second_past_offset(zone, before, after, offset_before)


def first_second_past_offset(
    zone: ZoneInfo, low: datetime, high: datetime, offset: timedelta
) -> datetime:
    """The first whole second after ``low``, up to ``high``, whose UTC offset
    in ``zone`` is no longer ``offset`` (the offset at ``low``)."""
    # Offsets change on whole seconds, so bisecting the seconds is exact.
    low_second = math.floor(low.timestamp())
    high_second = math.ceil(high.timestamp())
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low_second = middle
        else:
            high_second = middle
    return datetime.fromtimestamp(high_second, UTC)


def parse_instant(text: str, zone: ZoneInfo, field: str) -> datetime:
    """Parse an ISO-8601 date and time as a person would type it; return UTC.

    Accepted: ``2026-12-05T10:30``, ``2026-12-05T10:30:15``, fractional
    seconds, a ``Z`` or ``+02:00`` offset, and a space instead of ``T``.
    A value without an offset is a wall-clock time in ``zone`` (see
    ``to_utc``). Anything else raises ``InvalidInputError`` naming ``field``.
    """
    parsed = _parse_iso(text)
    if parsed is None:
        raise _not_an_instant(field)
    try:
        return to_utc(parsed, zone)
    except (OverflowError, ValueError) as error:
        # Only the edges of the calendar (year 1 or 9999) can overflow here.
        raise _not_an_instant(field) from error


def _parse_iso(text: object) -> datetime | None:
    if not isinstance(text, str) or len(text) > _MAX_INSTANT_LENGTH:
        return None
    match = _INSTANT.fullmatch(text.strip())
    if match is None:
        return None
    fraction = match["fraction"]
    time_part = match["time"]
    if fraction is not None and len(fraction) > _MICROSECOND_DIGITS:
        # Finer than microseconds cannot be stored; truncate like fromisoformat.
        time_part = time_part[: len(time_part) - len(fraction) + _MICROSECOND_DIGITS]
    offset = match["offset"] or ""
    if offset in ("Z", "z"):
        offset = "+00:00"
    try:
        return datetime.fromisoformat(f"{match['date']}T{time_part}{offset}")
    except ValueError:
        return None


def _not_an_instant(field: str) -> InvalidInputError:
    return InvalidInputError(
        f"{field} must be an ISO-8601 date and time, e.g. 2026-12-05T10:30:00Z",
        field=field,
    )


def format_instant(dt: datetime) -> str:
    """Return ``dt`` as UTC ISO-8601 with a ``+00:00`` offset.

    Microseconds appear only when they are not zero.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_instant needs an aware datetime")
    return dt.astimezone(UTC).isoformat()


def utc_offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    """Return the UTC offset ``zone`` has at the aware ``instant``."""
    offset = instant.astimezone(zone).utcoffset()
    if offset is None:
        raise ValueError("a ZoneInfo always has an offset")
    return offset
