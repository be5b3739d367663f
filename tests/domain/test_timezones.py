from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidInputError
from domain.timezones import (
    format_instant,
    load_zone,
    parse_instant,
    to_utc,
    wall_time_to_utc,
)

NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
INSTANT_MESSAGE = (
    "start_at must be an ISO-8601 date and time, e.g. 2026-12-05T10:30:00Z"
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_load_zone_returns_the_named_iana_zone() -> None:
    zone = load_zone("Australia/Sydney")

    assert zone == SYDNEY
    assert zone.key == "Australia/Sydney"


@pytest.mark.parametrize("name", ["UTC", "Etc/GMT+5", "America/Argentina/Salta"])
def test_load_zone_accepts_names_of_every_shape_iana_uses(name: str) -> None:
    assert load_zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "",
        " ",
        "../etc/passwd",
        "/etc/localtime",
        "Europe/../Europe/London",
        "Europe",
        "zone.tab",
        "Europe/London\x00",
        "europe/london",
        "x" * 10_000,
        "localtime",
        "posixrules",
        "Factory",
        "right/UTC",
        "posix/Europe/Berlin",
    ],
)
def test_load_zone_refuses_unknown_names_as_bad_timezone_input(name: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_zone(name)

    assert caught.value.field == "timezone"
    assert caught.value.message.startswith("Unknown time zone '")


@pytest.mark.parametrize("name", [None, 42, b"UTC", ["UTC"]])
def test_load_zone_refuses_values_that_are_not_text(name: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_zone(name)  # type: ignore[arg-type]

    assert caught.value.field == "timezone"


def test_load_zone_names_the_unknown_zone_in_its_message() -> None:
    with pytest.raises(InvalidInputError) as caught:
        load_zone("Mars/Olympus_Mons")

    assert caught.value.message == "Unknown time zone 'Mars/Olympus_Mons'"


def test_to_utc_converts_an_aware_value() -> None:
    value = datetime(2026, 12, 5, 10, 30, tzinfo=timezone(timedelta(hours=2)))

    assert to_utc(value, NEW_YORK) == utc(2026, 12, 5, 8, 30)
    assert to_utc(value, NEW_YORK).tzinfo is UTC


def test_to_utc_reads_a_naive_value_as_wall_time_in_the_zone() -> None:
    assert to_utc(datetime(2026, 12, 5, 10, 30), BERLIN) == utc(2026, 12, 5, 9, 30)


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT.
        (NEW_YORK, datetime(2026, 3, 8, 2, 30), utc(2026, 3, 8, 7, 0)),
        # Sydney springs forward 2026-10-04 02:00 AEST -> 03:00 AEDT.
        (SYDNEY, datetime(2026, 10, 4, 2, 30), utc(2026, 10, 3, 16, 0)),
        # London springs forward 2026-03-29 01:00 GMT -> 02:00 BST.
        (LONDON, datetime(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 0)),
    ],
)
def test_to_utc_moves_a_wall_time_in_the_gap_to_the_transition(
    zone: ZoneInfo, wall: datetime, expected: datetime
) -> None:
    assert to_utc(wall, zone) == expected


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        # New York repeats 01:00-02:00 on 2026-11-01 (EDT, then EST).
        (NEW_YORK, datetime(2026, 11, 1, 1, 30), utc(2026, 11, 1, 5, 30)),
        # Sydney repeats 02:00-03:00 on 2026-04-05 (AEDT, then AEST).
        (SYDNEY, datetime(2026, 4, 5, 2, 30), utc(2026, 4, 4, 15, 30)),
        # London repeats 01:00-02:00 on 2026-10-25 (BST, then GMT).
        (LONDON, datetime(2026, 10, 25, 1, 30), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_to_utc_reads_a_repeated_wall_time_as_its_first_occurrence(
    zone: ZoneInfo, wall: datetime, expected: datetime
) -> None:
    assert to_utc(wall, zone) == expected


def test_to_utc_ignores_fold_on_a_naive_value() -> None:
    second_pass = datetime(2026, 11, 1, 1, 30, fold=1)

    assert to_utc(second_pass, NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_wall_time_to_utc_says_when_a_gap_moved_the_time() -> None:
    in_gap = wall_time_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK)
    ordinary = wall_time_to_utc(datetime(2026, 3, 8, 3, 30), NEW_YORK)

    assert in_gap == (utc(2026, 3, 8, 7, 0), True)
    assert ordinary == (utc(2026, 3, 8, 7, 30), False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05T10:30", utc(2026, 12, 5, 15, 30)),
        ("2026-12-05T10:30:15", utc(2026, 12, 5, 15, 30, 15)),
        ("2026-12-05T10:30:15.25", utc(2026, 12, 5, 15, 30, 15, 250_000)),
        ("2026-12-05T10:30:15.123456789", utc(2026, 12, 5, 15, 30, 15, 123_456)),
        ("2026-12-05 10:30", utc(2026, 12, 5, 15, 30)),
        ("2026-12-05T10:30:00Z", utc(2026, 12, 5, 10, 30)),
        ("2026-12-05T10:30z", utc(2026, 12, 5, 10, 30)),
        ("2026-12-05T10:30:00+02:00", utc(2026, 12, 5, 8, 30)),
        ("2026-12-05T10:30-0330", utc(2026, 12, 5, 14, 0)),
        ("  2026-12-05T10:30  ", utc(2026, 12, 5, 15, 30)),
    ],
)
def test_parse_instant_accepts_the_forms_people_send(
    text: str, expected: datetime
) -> None:
    assert parse_instant(text, NEW_YORK, "start_at") == expected


def test_parse_instant_reads_a_datetime_local_value_in_the_zone() -> None:
    assert parse_instant("2026-12-05T10:30", SYDNEY, "start_at") == utc(
        2026, 12, 4, 23, 30
    )


def test_parse_instant_moves_a_gap_wall_time_to_the_transition() -> None:
    assert parse_instant("2026-03-08T02:30", NEW_YORK, "start_at") == utc(
        2026, 3, 8, 7, 0
    )


def test_parse_instant_reads_a_repeated_wall_time_as_its_first_occurrence() -> None:
    assert parse_instant("2026-04-05T02:30", SYDNEY, "start_at") == utc(
        2026, 4, 4, 15, 30
    )


def test_parse_instant_returns_utc() -> None:
    assert parse_instant("2026-12-05T10:30+02:00", BERLIN, "start_at").tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-12-05",
        "2026-12-05T10",
        "2026-W49-6T10:30",
        "20261205T1030",
        "2026-12-05T10:30:15.",
        "2026-12-05T10:30+25:00",
        "2026-02-30T10:00",
        "2026-13-01T10:00",
        "2026-12-05T24:00",
        "2026-12-05T10:60",
        "2026-12-05T10:30:60",
        "0000-01-01T00:00",
        "2026-12-05T10:30 UTC",
        "2026-12-05T10:30:00Z" + " " * 100,
        "١٢٣٤-12-05T10:30",
    ],
)
def test_parse_instant_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text, NEW_YORK, "start_at")

    assert caught.value.field == "start_at"
    assert caught.value.message == INSTANT_MESSAGE


@pytest.mark.parametrize("value", [None, 1733395800, datetime(2026, 12, 5), b"2026"])
def test_parse_instant_refuses_values_that_are_not_text(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(value, NEW_YORK, "end_at")  # type: ignore[arg-type]

    assert caught.value.field == "end_at"
    assert caught.value.message == (
        "end_at must be an ISO-8601 date and time, e.g. 2026-12-05T10:30:00Z"
    )


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("0001-01-01T00:00+14:00", NEW_YORK),
        # Tokyo's local mean time in year 1 is ahead of UTC too.
        ("0001-01-01T00:00", ZoneInfo("Asia/Tokyo")),
    ],
)
def test_parse_instant_refuses_a_time_before_the_first_utc_instant(
    text: str, zone: ZoneInfo
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_instant(text, zone, "start_at")

    assert caught.value.message == INSTANT_MESSAGE


def test_format_instant_writes_utc_with_an_explicit_offset() -> None:
    assert format_instant(utc(2026, 12, 5, 10, 30)) == "2026-12-05T10:30:00+00:00"


def test_format_instant_converts_other_offsets_to_utc() -> None:
    value = datetime(2026, 12, 5, 10, 30, tzinfo=SYDNEY)

    assert format_instant(value) == "2026-12-04T23:30:00+00:00"


def test_format_instant_keeps_microseconds_when_present() -> None:
    value = utc(2026, 12, 5, 10, 30, 15, 250_000)

    assert format_instant(value) == "2026-12-05T10:30:15.250000+00:00"


def test_format_instant_refuses_a_naive_value() -> None:
    with pytest.raises(ValueError):
        format_instant(datetime(2026, 12, 5, 10, 30))
