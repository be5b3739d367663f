"""Cron rules: wall-clock fields in a time zone, per DESIGN §2 "Time".

Where croniter 7 gives a different answer, the test says so: those tests pin
the behaviour the domain promises instead of the library's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from domain.cron import CronRule, FireTime
from domain.errors import InvalidScheduleError

NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
LONDON = ZoneInfo("Europe/London")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def on_time(*parts: int) -> FireTime:
    return FireTime(utc(*parts), shifted=False)


def after_gap(*parts: int) -> FireTime:
    return FireTime(utc(*parts), shifted=True)


def fire_times(
    expression: str, zone: ZoneInfo, start: datetime, count: int
) -> list[FireTime]:
    rule = CronRule.parse(expression)
    found: list[FireTime] = []
    instant = start
    for _ in range(count):
        fire = rule.next_after(instant, zone)
        assert fire is not None
        found.append(fire)
        instant = fire.at
    return found


def dates(expression: str, start: datetime, count: int) -> list[datetime]:
    return [fire.at for fire in fire_times(expression, ZoneInfo("UTC"), start, count)]


# Parsing


def test_parse_keeps_the_expression_with_its_spacing_normalised() -> None:
    rule = CronRule.parse("  0   9 * *\t1-5 ")

    assert rule.expression == "0 9 * * 1-5"


def test_parsing_the_same_expression_twice_reuses_the_rule() -> None:
    assert CronRule.parse("*/5 * * * *") is CronRule.parse("*/5 * * * *")


@pytest.mark.parametrize(
    ("expression", "real_time"),
    [
        ("*/15 * * * *", True),
        ("0 * * * *", True),
        ("* 2 * * *", True),
        ("0 */2 * * *", True),
        ("30 2 * * *", False),
        ("0,30 1-3 * * *", False),
        ("0 0-23 * * *", False),
        ("* 30 2 * * *", False),
        ("0 * * * * *", True),
        ("@hourly", True),
        ("@daily", False),
    ],
)
def test_follows_real_time_when_minute_or_hour_starts_with_a_star(
    expression: str, real_time: bool
) -> None:
    assert CronRule.parse(expression).follows_real_time is real_time


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "not a cron",
        "1 2 3",
        "60 * * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 32 * *",
        "0 0 * 13 *",
        "0 0 * * 8",
        "*/0 * * * *",
        "0 0 * * 5#6",
        "0 0 * * 1-3#2",
        "0 0 1,15W * *",
        "0 0 * * 1,",
        "? * * * *",
        "H * * * *",
        "0 0 * * * * * *",
        "x" * 500,
        "* " * 1_000_000,
        # croniter reads a seventh field as a year.
        "0 0 * * * * 2030",
        # croniter picks a random minute for R.
        "R * * * *",
    ],
)
def test_parse_refuses_what_is_not_a_5_or_6_field_cron_expression(
    expression: str,
) -> None:
    with pytest.raises(InvalidScheduleError) as caught:
        CronRule.parse(expression)

    assert caught.value.field == "cron"


@pytest.mark.parametrize("expression", [None, 5, ["*", "*", "*", "*", "*"], b"* * * *"])
def test_parse_refuses_values_that_are_not_text(expression: object) -> None:
    with pytest.raises(InvalidScheduleError) as caught:
        CronRule.parse(expression)  # type: ignore[arg-type]

    assert caught.value.field == "cron"
    assert caught.value.message == (
        "The cron expression must be text, e.g. '*/15 * * * *'."
    )


def test_parse_names_the_field_it_does_not_understand() -> None:
    with pytest.raises(InvalidScheduleError) as caught:
        CronRule.parse("0 0 * * 8")

    assert caught.value.message == (
        "The cron expression '0 0 * * 8' is not valid: the day-of-week field '8' "
        "is not understood."
    )


def test_parse_says_how_many_fields_it_expects() -> None:
    with pytest.raises(InvalidScheduleError) as caught:
        CronRule.parse("1 2 3")

    assert caught.value.message == (
        "The cron expression '1 2 3' has 3 fields; use 5 (minute hour day-of-month "
        "month day-of-week) or 6 with seconds first."
    )


# Basic evaluation


def test_next_after_is_strictly_after_the_instant() -> None:
    rule = CronRule.parse("0 9 * * *")

    at_nine = rule.next_after(utc(2026, 6, 1, 9, 0), ZoneInfo("UTC"))
    just_before = rule.next_after(utc(2026, 6, 1, 8, 59, 59, 999_999), ZoneInfo("UTC"))

    assert at_nine == on_time(2026, 6, 2, 9, 0)
    assert just_before == on_time(2026, 6, 1, 9, 0)


def test_next_after_reads_fields_as_wall_time_in_the_zone() -> None:
    rule = CronRule.parse("0 9 * * *")

    fire = rule.next_after(utc(2026, 6, 1, 0, 0), NEW_YORK)

    assert fire == on_time(2026, 6, 1, 13, 0)


def test_next_after_accepts_any_aware_instant_and_answers_in_utc() -> None:
    rule = CronRule.parse("*/15 * * * *")
    start = datetime(2026, 6, 1, 10, 7, tzinfo=timezone(timedelta(hours=2)))

    fire = rule.next_after(start, ZoneInfo("UTC"))

    assert fire == on_time(2026, 6, 1, 8, 15)
    assert fire is not None and fire.at.tzinfo is UTC


def test_next_after_refuses_a_naive_instant() -> None:
    rule = CronRule.parse("*/15 * * * *")

    with pytest.raises(ValueError):
        rule.next_after(datetime(2026, 6, 1, 10, 7), ZoneInfo("UTC"))


def test_aliases_mean_their_five_field_form() -> None:
    assert dates("@weekly", utc(2026, 6, 1), 2) == [
        utc(2026, 6, 7),
        utc(2026, 6, 14),
    ]


# DST in New York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z),
# 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).


def test_fixed_time_in_new_york_gap_fires_once_at_the_transition() -> None:
    # croniter agrees here; the overlap below is where it goes wrong.
    assert fire_times("30 2 * * *", NEW_YORK, utc(2026, 3, 8, 5, 0), 3) == [
        after_gap(2026, 3, 8, 7, 0),
        on_time(2026, 3, 9, 6, 30),
        on_time(2026, 3, 10, 6, 30),
    ]


def test_fixed_gap_times_collapse_into_one_firing() -> None:
    assert fire_times("15,45 2 * * *", NEW_YORK, utc(2026, 3, 8, 5, 0), 3) == [
        after_gap(2026, 3, 8, 7, 0),
        on_time(2026, 3, 9, 6, 15),
        on_time(2026, 3, 9, 6, 45),
    ]


def test_fixed_gap_time_and_the_time_after_the_gap_fire_once_unshifted() -> None:
    # 02:00 and 02:30 do not exist; 03:00 does, so the instant is named as is.
    assert fire_times("0,30 1-3 * * *", NEW_YORK, utc(2026, 3, 8, 5, 0), 5) == [
        on_time(2026, 3, 8, 6, 0),
        on_time(2026, 3, 8, 6, 30),
        on_time(2026, 3, 8, 7, 0),
        on_time(2026, 3, 8, 7, 30),
        on_time(2026, 3, 9, 5, 0),
    ]


def test_fixed_time_in_new_york_overlap_fires_only_at_first_occurrence() -> None:
    # croniter 7 fires 01:30 twice (05:30Z and 06:30Z).
    assert fire_times("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 4, 0), 2) == [
        on_time(2026, 11, 1, 5, 30),
        on_time(2026, 11, 2, 6, 30),
    ]


def test_fixed_times_in_new_york_overlap_fire_once_each() -> None:
    # croniter 7 fires 01:00 and 01:30 again on the second pass.
    assert fire_times("0,30 1-3 * * *", NEW_YORK, utc(2026, 11, 1, 4, 0), 5) == [
        on_time(2026, 11, 1, 5, 0),
        on_time(2026, 11, 1, 5, 30),
        on_time(2026, 11, 1, 7, 0),
        on_time(2026, 11, 1, 7, 30),
        on_time(2026, 11, 1, 8, 0),
    ]


def test_fixed_time_from_the_second_pass_waits_for_the_next_day() -> None:
    # 06:10Z is 01:10 EST, the second pass; 01:30 already fired at 05:30Z.
    # croniter 7 answers 06:30Z, a second firing of 01:30.
    rule = CronRule.parse("30 1 * * *")

    fire = rule.next_after(utc(2026, 11, 1, 6, 10), NEW_YORK)

    assert fire == on_time(2026, 11, 2, 6, 30)


def test_fixed_times_from_the_second_pass_resume_after_the_repeated_hour() -> None:
    rule = CronRule.parse("0,30 1-3 * * *")

    fire = rule.next_after(utc(2026, 11, 1, 6, 10), NEW_YORK)

    assert fire == on_time(2026, 11, 1, 7, 0)


def test_real_time_expression_skips_new_york_gap_minutes() -> None:
    assert fire_times("*/30 * * * *", NEW_YORK, utc(2026, 3, 8, 6, 0), 3) == [
        on_time(2026, 3, 8, 6, 30),
        on_time(2026, 3, 8, 7, 0),
        on_time(2026, 3, 8, 7, 30),
    ]


def test_real_time_hour_that_only_exists_in_the_gap_does_not_fire() -> None:
    # croniter 7 fires "* 2 * * *" at 03:00 EDT on the day 02:xx is skipped.
    rule = CronRule.parse("* 2 * * *")

    fire = rule.next_after(utc(2026, 3, 8, 6, 58), NEW_YORK)

    assert fire == on_time(2026, 3, 9, 6, 0)


def test_real_time_expression_fires_on_both_passes_of_new_york_overlap() -> None:
    assert fire_times("*/30 * * * *", NEW_YORK, utc(2026, 11, 1, 4, 45), 5) == [
        on_time(2026, 11, 1, 5, 0),
        on_time(2026, 11, 1, 5, 30),
        on_time(2026, 11, 1, 6, 0),
        on_time(2026, 11, 1, 6, 30),
        on_time(2026, 11, 1, 7, 0),
    ]


def test_hourly_expression_fires_for_each_pass_of_the_repeated_hour() -> None:
    assert fire_times("0 * * * *", NEW_YORK, utc(2026, 11, 1, 4, 30), 3) == [
        on_time(2026, 11, 1, 5, 0),
        on_time(2026, 11, 1, 6, 0),
        on_time(2026, 11, 1, 7, 0),
    ]


def test_real_time_expression_from_the_first_pass_reaches_the_second() -> None:
    rule = CronRule.parse("0,30 * * * *")

    fire = rule.next_after(utc(2026, 11, 1, 5, 40), NEW_YORK)

    assert fire == on_time(2026, 11, 1, 6, 0)


# DST in Sydney: 2026-10-04 02:00 AEST -> 03:00 AEDT (2026-10-03 16:00Z),
# 2026-04-05 03:00 AEDT -> 02:00 AEST (2026-04-04 16:00Z).


def test_fixed_time_in_sydney_gap_fires_once_at_the_transition() -> None:
    assert fire_times("30 2 * * *", SYDNEY, utc(2026, 10, 3, 14, 0), 2) == [
        after_gap(2026, 10, 3, 16, 0),
        on_time(2026, 10, 4, 15, 30),
    ]


def test_real_time_expression_skips_sydney_gap_minutes() -> None:
    assert fire_times("*/30 * * * *", SYDNEY, utc(2026, 10, 3, 15, 0), 3) == [
        on_time(2026, 10, 3, 15, 30),
        on_time(2026, 10, 3, 16, 0),
        on_time(2026, 10, 3, 16, 30),
    ]


def test_fixed_time_in_sydney_overlap_fires_only_at_first_occurrence() -> None:
    # croniter 7 fires 02:30 twice (15:30Z and 16:30Z).
    assert fire_times("30 2 * * *", SYDNEY, utc(2026, 4, 4, 13, 0), 2) == [
        on_time(2026, 4, 4, 15, 30),
        on_time(2026, 4, 5, 16, 30),
    ]


def test_real_time_expression_fires_on_both_passes_of_sydney_overlap() -> None:
    assert fire_times("0 * * * *", SYDNEY, utc(2026, 4, 4, 14, 30), 3) == [
        on_time(2026, 4, 4, 15, 0),
        on_time(2026, 4, 4, 16, 0),
        on_time(2026, 4, 4, 17, 0),
    ]


# DST in London: 2026-03-29 01:00 GMT -> 02:00 BST (01:00Z),
# 2026-10-25 02:00 BST -> 01:00 GMT (01:00Z).


def test_fixed_time_in_london_gap_fires_once_at_the_transition() -> None:
    assert fire_times("30 1 * * *", LONDON, utc(2026, 3, 29, 0, 0), 2) == [
        after_gap(2026, 3, 29, 1, 0),
        on_time(2026, 3, 30, 0, 30),
    ]


def test_fixed_time_in_london_overlap_fires_only_at_first_occurrence() -> None:
    assert fire_times("30 1 * * *", LONDON, utc(2026, 10, 25, 0, 0), 2) == [
        on_time(2026, 10, 25, 0, 30),
        on_time(2026, 10, 26, 1, 30),
    ]


def test_real_time_expression_fires_on_both_passes_of_london_overlap() -> None:
    assert fire_times("*/30 * * * *", LONDON, utc(2026, 10, 25, 0, 15), 4) == [
        on_time(2026, 10, 25, 0, 30),
        on_time(2026, 10, 25, 1, 0),
        on_time(2026, 10, 25, 1, 30),
        on_time(2026, 10, 25, 2, 0),
    ]


# Calendar


def test_leap_day_expression_waits_for_the_next_leap_year() -> None:
    assert dates("0 0 29 2 *", utc(2027, 1, 1), 2) == [
        utc(2028, 2, 29),
        utc(2032, 2, 29),
    ]


def test_day_31_skips_months_without_one() -> None:
    assert dates("0 0 31 * *", utc(2026, 1, 1), 7) == [
        utc(2026, 1, 31),
        utc(2026, 3, 31),
        utc(2026, 5, 31),
        utc(2026, 7, 31),
        utc(2026, 8, 31),
        utc(2026, 10, 31),
        utc(2026, 12, 31),
    ]


def test_last_day_of_month_follows_month_length() -> None:
    assert dates("0 0 L * *", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 31),
        utc(2026, 2, 28),
        utc(2026, 3, 31),
        utc(2026, 4, 30),
    ]


def test_last_day_of_february_in_a_leap_year_is_the_29th() -> None:
    assert dates("0 0 L 2 *", utc(2027, 3, 1), 1) == [utc(2028, 2, 29)]


def test_last_day_works_inside_a_list() -> None:
    assert dates("0 0 1,L * *", utc(2026, 1, 15), 4) == [
        utc(2026, 1, 31),
        utc(2026, 2, 1),
        utc(2026, 2, 28),
        utc(2026, 3, 1),
    ]


def test_both_day_fields_restricted_fire_when_either_matches() -> None:
    # Mondays, plus the 1st and the 15th (Unix cron's OR rule).
    assert dates("0 0 1,15 * 1", utc(2026, 6, 1), 6) == [
        utc(2026, 6, 8),
        utc(2026, 6, 15),
        utc(2026, 6, 22),
        utc(2026, 6, 29),
        utc(2026, 7, 1),
        utc(2026, 7, 6),
    ]


def test_star_day_of_month_leaves_day_of_week_alone_in_charge() -> None:
    assert dates("0 0 * * 1", utc(2026, 6, 1), 2) == [
        utc(2026, 6, 8),
        utc(2026, 6, 15),
    ]


def test_stepped_star_day_of_month_must_match_together_with_day_of_week() -> None:
    # Mondays on odd days. croniter 7 ORs the fields here and fires on
    # 2026-06-03, 06-05, 06-07, 06-08, ...
    assert dates("0 0 */2 * 1", utc(2026, 6, 1), 5) == [
        utc(2026, 6, 15),
        utc(2026, 6, 29),
        utc(2026, 7, 13),
        utc(2026, 7, 27),
        utc(2026, 8, 3),
    ]


def test_stepped_star_day_of_week_must_match_together_with_day_of_month() -> None:
    # 1st of the month when it is a Sunday, Tuesday, Thursday or Saturday.
    # croniter 7 ORs the fields and fires on every such weekday too.
    assert dates("0 0 1 * */2", utc(2025, 12, 31, 12), 5) == [
        utc(2026, 1, 1),
        utc(2026, 2, 1),
        utc(2026, 3, 1),
        utc(2026, 8, 1),
        utc(2026, 9, 1),
    ]


def test_nth_weekday_alone() -> None:
    assert dates("0 0 * * 1#2", utc(2026, 1, 1), 3) == [
        utc(2026, 1, 12),
        utc(2026, 2, 9),
        utc(2026, 3, 9),
    ]


def test_nth_weekdays_work_inside_a_list() -> None:
    assert dates("0 0 * * 1#1,5#3", utc(2026, 1, 1), 6) == [
        utc(2026, 1, 5),
        utc(2026, 1, 16),
        utc(2026, 2, 2),
        utc(2026, 2, 20),
        utc(2026, 3, 2),
        utc(2026, 3, 20),
    ]


def test_nth_weekday_mixes_with_plain_weekdays_in_a_list() -> None:
    # Every Monday and the third Friday; croniter 7 refuses this list.
    assert dates("0 0 * * 1,5#3", utc(2026, 1, 1), 5) == [
        utc(2026, 1, 5),
        utc(2026, 1, 12),
        utc(2026, 1, 16),
        utc(2026, 1, 19),
        utc(2026, 1, 26),
    ]


def test_last_weekday_of_month() -> None:
    assert dates("0 0 * * L5", utc(2026, 1, 1), 3) == [
        utc(2026, 1, 30),
        utc(2026, 2, 27),
        utc(2026, 3, 27),
    ]


def test_nth_weekday_and_day_of_month_fire_when_either_matches() -> None:
    # The 13th or the second Friday. croniter 7 ANDs "#" with the day of month
    # and skips Tuesday 2026-01-13.
    assert dates("0 0 13 * 5#2", utc(2026, 1, 1), 6) == [
        utc(2026, 1, 9),
        utc(2026, 1, 13),
        utc(2026, 2, 13),
        utc(2026, 3, 13),
        utc(2026, 4, 10),
        utc(2026, 4, 13),
    ]


def test_last_day_and_nth_weekday_fire_when_either_matches() -> None:
    # croniter 7 finds no date at all for this expression.
    assert dates("0 0 L * 5#3", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 16),
        utc(2026, 1, 31),
        utc(2026, 2, 20),
        utc(2026, 2, 28),
    ]


def test_rare_nth_weekday_is_found_years_ahead() -> None:
    # A fifth Monday in February needs a leap year starting February on Monday.
    assert dates("0 0 * 2 1#5", utc(2026, 1, 1), 1) == [utc(2044, 2, 29)]


def test_nearest_weekday_moves_off_the_weekend() -> None:
    # 2026-02-15 and 2026-03-15 are Sundays.
    assert dates("0 0 15W * *", utc(2026, 1, 1), 3) == [
        utc(2026, 1, 15),
        utc(2026, 2, 16),
        utc(2026, 3, 16),
    ]


def test_six_fields_put_seconds_first() -> None:
    assert dates("15 0 12 * * *", utc(2026, 1, 1), 2) == [
        utc(2026, 1, 1, 12, 0, 15),
        utc(2026, 1, 2, 12, 0, 15),
    ]


def test_six_field_seconds_step() -> None:
    assert dates("*/20 * * * * *", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 40),
        utc(2026, 1, 1, 0, 1, 0),
        utc(2026, 1, 1, 0, 1, 20),
    ]


def test_six_field_fixed_time_in_the_gap_fires_once() -> None:
    assert fire_times("10,20 30 2 * * *", NEW_YORK, utc(2026, 3, 8, 5, 0), 2) == [
        after_gap(2026, 3, 8, 7, 0),
        on_time(2026, 3, 9, 6, 30, 10),
    ]


# Expressions that can never fire


@pytest.mark.parametrize(
    "expression", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"]
)
def test_expression_without_any_matching_date_is_refused(expression: str) -> None:
    rule = CronRule.parse(expression)

    with pytest.raises(InvalidScheduleError) as caught:
        rule.ensure_can_fire(ZoneInfo("UTC"), utc(2026, 1, 1))

    assert caught.value.field == "cron"
    assert caught.value.message == (
        f"The cron expression '{expression}' never fires: no calendar date matches "
        "its day-of-month, month and day-of-week fields."
    )


def test_expression_without_any_matching_date_has_no_next_time() -> None:
    rule = CronRule.parse("0 0 30 2 *")

    assert rule.next_after(utc(2026, 1, 1), ZoneInfo("UTC")) is None


@pytest.mark.parametrize(
    "expression", ["0 0 29 2 *", "0 0 * 2 1#5", "0 0 31 * *", "0 0 L 2 *"]
)
def test_rare_but_possible_expressions_are_accepted(expression: str) -> None:
    rule = CronRule.parse(expression)

    rule.ensure_can_fire(ZoneInfo("UTC"), utc(2026, 1, 1))


def test_real_time_expression_living_only_in_a_gap_is_refused_in_that_zone() -> None:
    # 02:xx on the second Sunday of March never exists in New York.
    rule = CronRule.parse("*/10 2 * 3 0#2")

    with pytest.raises(InvalidScheduleError) as caught:
        rule.ensure_can_fire(NEW_YORK, utc(2026, 1, 1))

    assert caught.value.field == "cron"
    assert caught.value.message == (
        "The cron expression '*/10 2 * 3 0#2' never fires in time zone "
        "America/New_York: every time it names is skipped by a daylight-saving "
        "change."
    )


def test_real_time_expression_living_only_in_a_gap_fires_elsewhere() -> None:
    rule = CronRule.parse("*/10 2 * 3 0#2")

    fire = rule.next_after(utc(2026, 1, 1), ZoneInfo("UTC"))

    assert fire == on_time(2026, 3, 8, 2, 0)


def test_fixed_expression_in_a_gap_every_year_still_fires_after_the_gap() -> None:
    rule = CronRule.parse("30 2 * 3 0#2")

    fire = rule.next_after(utc(2026, 1, 1), NEW_YORK)

    assert fire == after_gap(2026, 3, 8, 7, 0)
