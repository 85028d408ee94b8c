"""Calendar vocabulary: a grain groups rows, a calendar period is one span of days; month and quarter arithmetic."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tandem.errors import ConfigError
from tandem.periods import (
    GRAINS,
    CalendarPeriod,
    add_months,
    current_quarter,
    days_in_month,
    month_of,
    next_period,
    next_quarter,
    parse_period,
    period_label,
    period_of,
    periods_between,
    quarter_of,
)


def test_the_grains_are_how_rows_are_grouped_finest_first() -> None:
    assert GRAINS == ("day", "week", "month", "quarter")


# --- calendar periods ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "start", "end", "days"),
    [
        ("2027", "year", date(2027, 1, 1), date(2028, 1, 1), 365),
        ("2028", "year", date(2028, 1, 1), date(2029, 1, 1), 366),
        ("2027-Q1", "quarter", date(2027, 1, 1), date(2027, 4, 1), 90),
        ("2027-Q4", "quarter", date(2027, 10, 1), date(2028, 1, 1), 92),
        ("2028-02", "month", date(2028, 2, 1), date(2028, 3, 1), 29),
        ("2027-12", "month", date(2027, 12, 1), date(2028, 1, 1), 31),
    ],
)
def test_a_period_is_a_span_of_days_from_its_start_to_the_day_after_it(
    text: str, kind: str, start: date, end: date, days: int
) -> None:
    period = parse_period(text)
    assert (period.kind, period.start, period.end, period.days, period.label, str(period)) == (
        kind,
        start,
        end,
        days,
        text,
        text,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2027-Q5", "'2027-Q5' is not a period; use a year (2027), a quarter (2027-Q1) or a month (2027-01)"),
        ("Q1 2027", "'Q1 2027' is not a period; use a year (2027), a quarter (2027-Q1) or a month (2027-01)"),
        ("2027-13", "'2027-13': there is no month 13; months are 01 to 12 (a year (2027), a quarter (2027-Q1) or"),
        ("1899", "'1899': the year must be between 1900 and 2999"),
    ],
)
def test_anything_else_is_a_config_error_naming_the_value_and_the_forms(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_period(text)
    assert str(refused.value).startswith(message)


def test_periods_nest_and_list_their_months() -> None:
    year, quarter, month = parse_period("2027"), parse_period("2027-Q3"), parse_period("2027-08")
    assert [p.label for p in year.children] == ["2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4"]
    assert [p.label for p in quarter.children] == ["2027-07", "2027-08", "2027-09"]
    assert month.children == []
    assert [p.label for p in month.lineage] == ["2027-08", "2027-Q3", "2027"]
    assert [p.label for p in quarter.months] == ["2027-07", "2027-08", "2027-09"]
    assert [p.label for p in year.months][::4] == ["2027-01", "2027-05", "2027-09"]
    assert len(year.months) == 12
    assert month.months == [month]


def test_periods_sort_in_time_a_year_before_its_first_quarter_and_month() -> None:
    shuffled = [parse_period(p) for p in ("2027-02", "2027-Q1", "2026-Q4", "2027", "2027-01")]
    assert [p.label for p in sorted(shuffled, key=lambda p: p.sort_key)] == [
        "2026-Q4",
        "2027",
        "2027-Q1",
        "2027-01",
        "2027-02",
    ]


def test_a_period_as_a_document() -> None:
    assert parse_period("2027-Q1").as_dict() == {
        "label": "2027-Q1",
        "kind": "quarter",
        "start": date(2027, 1, 1),
        "end": date(2027, 4, 1),
        "days": 90,
    }


def test_the_period_a_day_falls_in() -> None:
    day = date(2026, 11, 26)
    assert (period_of(day, "year"), period_of(day, "quarter"), period_of(day, "month")) == (
        CalendarPeriod("year", 2026),
        CalendarPeriod("quarter", 2026, 4),
        CalendarPeriod("month", 2026, 11),
    )
    assert quarter_of(date(2027, 3, 31)).label == "2027-Q1"
    assert quarter_of(date(2027, 4, 1)).label == "2027-Q2"
    assert current_quarter(day) == CalendarPeriod("quarter", 2026, 4)


def test_the_next_period_is_of_the_same_kind_across_the_year_end() -> None:
    assert next_period(parse_period("2026-Q4")).label == "2027-Q1"
    assert next_period(parse_period("2026-12")).label == "2027-01"
    assert next_period(parse_period("2026")).label == "2027"
    assert next_quarter(date(2026, 11, 26)).label == "2027-Q1"
    assert next_quarter(date(2027, 1, 1)).label == "2027-Q2"


def test_periods_between_keep_whole_periods_only() -> None:
    assert [p.label for p in periods_between(date(2025, 2, 10), date(2026, 1, 1), "quarter")] == [
        "2025-Q2",
        "2025-Q3",
        "2025-Q4",
    ]
    assert [p.label for p in periods_between(date(2025, 1, 1), date(2025, 3, 31), "month")] == ["2025-01", "2025-02"]
    assert periods_between(date(2025, 1, 2), date(2025, 2, 1), "month") == []


# --- months -------------------------------------------------------------------------------------------------------
def test_months_are_keyed_by_their_first_day() -> None:
    assert month_of(date(2027, 2, 17)) == date(2027, 2, 1)
    assert days_in_month(date(2027, 2, 17)) == 28
    assert days_in_month(date(2028, 2, 1)) == 29
    assert days_in_month(date(2027, 12, 31)) == 31


def test_adding_months_keeps_a_month_key_a_month_key_and_clamps_to_the_month_end() -> None:
    assert add_months(date(2027, 1, 1), 14) == date(2028, 3, 1)
    assert add_months(date(2027, 1, 1), -1) == date(2026, 12, 1)
    assert add_months(date(2027, 3, 31), -1) == date(2027, 2, 28)
    assert add_months(date(2028, 3, 31), -1) == date(2028, 2, 29)
    assert add_months(date(2027, 5, 15), -12) == date(2026, 5, 15)


# --- labels -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("grain", "label"),
    [
        ("day", "7 Dec 2026"),
        ("week", "week of 7 Dec 2026"),
        ("month", "Dec 2026"),
        ("quarter", "2026-Q4"),
        ("year", "2026"),
    ],
)
def test_a_period_is_labelled_as_people_say_it(grain: str, label: str) -> None:
    assert period_label(date(2026, 12, 7), grain) == label
    assert period_label(datetime(2026, 12, 7), grain) == label  # as an engine row carries it
    assert period_label("2026-12-07", grain) == label  # as a JSON document carries it
    assert period_label("2026-12-07T00:00:00", grain) == label


def test_a_quarter_is_labelled_by_its_number_not_its_first_day() -> None:
    assert period_label("2026-01-01", "quarter") == "2026-Q1"
    assert period_label(date(2026, 4, 1), "quarter") == "2026-Q2"
    assert period_label(date(2026, 1, 1), "month") == "Jan 2026"
    assert period_label("2026-12", "month") == "Dec 2026"  # a month as a plan writes it
    assert period_label(None, "month") == ""


def test_a_calendar_month_is_spoken_as_a_name_and_written_as_it_is_parsed() -> None:
    march = parse_period("2027-03")
    assert (march.label, march.spoken) == ("2027-03", "Mar 2027")
    assert parse_period("2027-Q1").spoken == "2027-Q1"
    assert parse_period("2027").spoken == "2027"
