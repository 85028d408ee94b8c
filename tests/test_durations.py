"""Durations: the definitions file's (5m, 24 business hours) and the plan's lags (45, 2w, 3m); mind the ``m``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tandem.durations import MONTH_DAYS, Duration, format_days, parse_days, parse_duration, parse_window
from tandem.errors import ConfigError


def test_a_definitions_duration_keeps_its_text_and_unit() -> None:
    sla = parse_duration("24 business hours")
    assert sla == Duration(text="24 business hours", amount=24, unit="business_hours")
    assert (sla.seconds, sla.business, str(sla)) == (86_400, True, "24 business hours")
    assert parse_duration(" 5m ") == Duration(text="5m", amount=5, unit="minutes")
    assert parse_duration("2 Weeks").seconds == 14 * 86_400


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "'soon' is not a duration; expected a whole number and a unit, e.g. 5m, 24h, 2d, 1w or 24 business"),
        ("1.5h", "'1.5h' is not a duration; expected"),
        ("0h", "'0h' is not a positive duration; expected"),
    ],
)
def test_anything_else_is_not_a_duration(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="duration") as refused:
        parse_duration(text)
    assert str(refused.value).startswith(message)


def test_a_rule_window_is_calendar_time() -> None:
    assert parse_window("30d") == timedelta(days=30)
    assert parse_window("90m") == timedelta(minutes=90)
    assert parse_window("24 business hours") is None
    assert parse_window("soon") is None


@pytest.mark.parametrize(
    ("text", "days"),
    [("45", 45.0), ("45d", 45.0), ("2.5", 2.5), ("2w", 14.0), ("3M", 91.3125), ("1 m", MONTH_DAYS)],
)
def test_a_lag_is_days_weeks_or_months(text: str, days: float) -> None:
    assert parse_days(text) == days


def test_m_is_minutes_in_the_definitions_and_months_in_a_lag() -> None:
    assert parse_duration("3m").seconds == 180
    assert parse_days("3m") == 3 * 30.4375


def test_a_bad_lag_says_what_a_lag_is() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_days("3 months")
    assert str(refused.value) == "'3 months' is not a number of days (45), weeks (2w) or months (3m)"


def test_lags_are_shown_to_the_whole_day() -> None:
    assert format_days(45.4) == "45d"
    assert format_days(14, signed=True) == "+14d"
    assert format_days(-7, signed=True) == "-7d"
