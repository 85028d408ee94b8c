"""The business-hours clock, hand-worked: each case says in its docstring how its seconds are counted.

The teams (``amer``, ``emea``, ``nights``) are described in tests/sla/calendars.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.tseries.offsets import CustomBusinessHour

from tandem.errors import ConfigError, InvalidError, NotFoundError
from tandem.sla.calendar import (
    BusinessInterval,
    TeamCalendar,
    Window,
    business_intervals,
    business_seconds,
    business_seconds_paused,
    calendar_in_force,
    deadline,
    local_instant,
)

from .calendars import AMER, EMEA, HOUR, NIGHTS, utc


# --- the calendar -------------------------------------------------------------------------------------------------
def test_a_calendar_from_a_plain_mapping() -> None:
    """What a contract's YAML holds becomes seven days of windows, Monday first, and its closures."""
    assert EMEA.hours[0] == (Window(9 * HOUR, 12 * HOUR + 1800), Window(13 * HOUR + 1800, 18 * HOUR))
    assert EMEA.hours[4] == EMEA.hours[0]
    assert EMEA.hours[5:] == ((), ())
    assert (EMEA.holiday_country, EMEA.holiday_subdivision, EMEA.closed) == (
        "DE",
        "BE",
        frozenset({date(2026, 12, 24)}),
    )
    assert EMEA.windows_on(date(2026, 12, 31)) == (Window(9 * HOUR, 12 * HOUR + 1800),)
    wrapping = TeamCalendar.from_dict(
        {"team": "gulf", "time_zone": "Asia/Dubai", "hours": {"sun-thu": ["08:00-24:00"]}}
    )
    assert [bool(day) for day in wrapping.hours] == [True, True, True, True, False, False, True]
    assert str(wrapping.hours[6][0]) == "08:00-24:00"


def test_holidays_come_from_the_holidays_package() -> None:
    """US Independence Day 2026 is a Saturday, observed on Friday 3 July; Berlin keeps Women's Day (8 March)."""
    assert AMER.is_closed(date(2026, 7, 3))
    assert AMER.is_closed(date(2026, 7, 4))
    assert not AMER.is_closed(date(2026, 7, 2))
    assert EMEA.is_closed(date(2026, 3, 8))
    assert EMEA.is_closed(date(2026, 4, 6))  # Easter Monday
    assert EMEA.is_closed(date(2026, 12, 24))  # the team's own closure
    assert not EMEA.is_closed(date(2026, 12, 23))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"team": "x", "time_zone": "Mars/Olympus", "hours": {"mon": "09:00-10:00"}},
            "calendar 'x': time_zone 'Mars/Olympus' is not an IANA time zone; use a name such as Europe/Berlin or "
            "America/New_York",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon-fri": ["09:00-12:30", "12:00-18:00"]}},
            "calendar 'x': hours.mon-fri: windows 09:00-12:30 and 12:00-18:00 overlap; make each window end before "
            "the next starts",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon": "18:00-09:00"}},
            "calendar 'x': hours.mon: '18:00-09:00' ends before it starts; write HH:MM-HH:MM with the end after the "
            "start, e.g. 09:00-12:30 (24:00 ends at midnight)",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon": "9am-5pm"}},
            "calendar 'x': hours.mon: '9am-5pm' has no valid time '9am'; write HH:MM-HH:MM",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon": "09:00-10:00"}, "holidays": {"country": "XX"}},
            "calendar 'x': holidays.country: 'XX' is not a country the holidays package knows; use an ISO 3166 "
            "alpha-2 code such as US, DE, GB or FR",
        ),
        (
            {
                "team": "x",
                "time_zone": "UTC",
                "hours": {"mon": "09:00-10:00"},
                "holidays": {"country": "DE", "subdivision": "QQ"},
            },
            "calendar 'x': holidays.subdivision: 'QQ' is not a subdivision of DE; use one of BB, BE, BW",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon-fri": "09:00-10:00", "fri": "11:00-12:00"}},
            "calendar 'x': hours.fri: fri is given twice; name each day once",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"monday": "09:00-10:00"}},
            "calendar 'x': hours key: 'monday' is not a day; write days as mon..sun",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon": "09:00-10:00"}, "closed": ["24.12.2026"]},
            "calendar 'x': closed: '24.12.2026' is not a date; write YYYY-MM-DD, e.g. 2026-12-24",
        ),
        (
            {"team": "x", "time_zone": "UTC", "hours": {"mon": "09:00-10:00"}, "timezone": "UTC"},
            "calendar 'x': unknown field 'timezone'; the fields are team, time_zone, hours, holidays, closed, "
            "closed_hours, effective_from",
        ),
        ({"time_zone": "UTC", "hours": {}}, "calendar: team None is missing or empty; name the team"),
    ],
)
def test_a_bad_calendar_is_refused_in_one_line_naming_field_and_value(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        TeamCalendar.from_dict(data)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_local_wall_times_become_instants_by_one_monotonic_rule() -> None:
    """New York, 2026-03-08: 02:00-03:00 is skipped, so 02:30 is reached at the jump (07:00 UTC, 03:00 EDT).
    2026-11-01: 01:00-02:00 happens twice, 01:30 means the first time (05:30 UTC, EDT)."""
    zone = ZoneInfo("America/New_York")
    assert local_instant(zone, date(2026, 3, 8), 2 * HOUR + 1800) == utc(2026, 3, 8, 7)
    assert local_instant(zone, date(2026, 3, 8), 1 * HOUR + 1800) == utc(2026, 3, 8, 6, 30)
    assert local_instant(zone, date(2026, 3, 8), 3 * HOUR) == utc(2026, 3, 8, 7)
    assert local_instant(zone, date(2026, 11, 1), 1 * HOUR + 1800) == utc(2026, 11, 1, 5, 30)
    assert local_instant(zone, date(2026, 11, 1), 2 * HOUR) == utc(2026, 11, 1, 7)
    assert local_instant(zone, date(2026, 11, 1), 24 * HOUR) == utc(2026, 11, 2, 5)


def test_business_intervals_carry_the_seconds_before_them() -> None:
    """emea, Friday 2026-06-12 to Monday 06-15 (CEST): two windows a day, none at the weekend; 3.5 h then 4.5 h."""
    assert business_intervals(EMEA, date(2026, 6, 12), date(2026, 6, 15)) == [
        BusinessInterval(utc(2026, 6, 12, 7), utc(2026, 6, 12, 10, 30), 0),
        BusinessInterval(utc(2026, 6, 12, 11, 30), utc(2026, 6, 12, 16), 12600),
        BusinessInterval(utc(2026, 6, 15, 7), utc(2026, 6, 15, 10, 30), 28800),
        BusinessInterval(utc(2026, 6, 15, 11, 30), utc(2026, 6, 15, 16), 41400),
    ]


# --- hand-worked clocks -------------------------------------------------------------------------------------------
def test_a_lead_arriving_at_night_waits_for_the_morning() -> None:
    """amer: in Tuesday 2026-03-03 at 23:30 EST (04:30 UTC Wednesday), accepted Wednesday 10:15 EST (15:15 UTC).
    The clock starts at 09:00: 1 h 15 min = 4500 s, not the 10 h 45 min that passed."""
    assert business_seconds(AMER, utc(2026, 3, 4, 4, 30), utc(2026, 3, 4, 15, 15)) == 4500


def test_a_lead_arriving_at_the_weekend_waits_for_monday() -> None:
    """amer: in Saturday 2026-03-14 11:00 EDT (15:00 UTC), accepted Monday 09:30 EDT (13:30 UTC): 30 min = 1800 s.
    Friday 2026-03-06 16:00 EST (21:00 UTC) to Monday 03-09 10:00 EDT (14:00 UTC), over the weekend the clocks go
    forward: 1 h on Friday + 1 h on Monday = 7200 s."""
    assert business_seconds(AMER, utc(2026, 3, 14, 15), utc(2026, 3, 16, 13, 30)) == 1800
    assert business_seconds(AMER, utc(2026, 3, 6, 21), utc(2026, 3, 9, 14)) == 7200


def test_a_public_holiday_stops_the_clock() -> None:
    """amer: Thursday 2026-07-02 16:00 EDT (20:00 UTC) to Monday 07-06 10:00 EDT (14:00 UTC). Friday 3 July is
    Independence Day (observed): 1 h Thursday + 1 h Monday = 7200 s (a working Friday would add 8 h)."""
    assert business_seconds(AMER, utc(2026, 7, 2, 20), utc(2026, 7, 6, 14)) == 7200


def test_a_team_closure_stops_the_clock() -> None:
    """emea: Wednesday 2026-12-23 17:00 CET (16:00 UTC) to Monday 12-28 10:00 CET (09:00 UTC). Thursday 24 is
    the team's own closure, Friday 25 Christmas Day: 1 h Wednesday + 1 h Monday = 7200 s.
    On 2026-12-31 the team closes at 12:30: in at 11:00 CET, accepted Monday 2027-01-04 09:30 CET (New Year's
    Day and the weekend between): 1 h 30 min + 30 min = 7200 s."""
    assert business_seconds(EMEA, utc(2026, 12, 23, 16), utc(2026, 12, 28, 9)) == 7200
    assert business_seconds(EMEA, utc(2026, 12, 31, 10), utc(2027, 1, 4, 8, 30)) == 7200


def test_the_lunch_break_does_not_count() -> None:
    """emea, Wednesday 2026-06-10 (CEST): 12:00 to 14:00 is 30 min before lunch + 30 min after = 3600 s; in during
    lunch at 12:45, accepted 13:40: 10 min = 600 s; in and out during lunch: 0 s."""
    assert business_seconds(EMEA, utc(2026, 6, 10, 10), utc(2026, 6, 10, 12)) == 3600
    assert business_seconds(EMEA, utc(2026, 6, 10, 10, 45), utc(2026, 6, 10, 11, 40)) == 600
    assert business_seconds(EMEA, utc(2026, 6, 10, 10, 35), utc(2026, 6, 10, 11, 25)) == 0


def test_spring_forward_shortens_the_window_spanning_the_skipped_hour() -> None:
    """nights, Sunday 2026-03-08: the night shift runs 00:00 EST (05:00 UTC) to 06:00 EDT (10:00 UTC): 5 h of real
    time, 18000 s. The day shift, 09:00-17:00 EDT, keeps its 8 h. A lead in at 01:30 EST (06:30 UTC) and accepted
    at 03:30 EDT (07:30 UTC) waited one real hour although the clock on the wall moved two: 3600 s."""
    assert business_seconds(NIGHTS, utc(2026, 3, 8, 5), utc(2026, 3, 8, 10)) == 18000
    assert business_seconds(NIGHTS, utc(2026, 3, 8, 13), utc(2026, 3, 8, 21)) == 8 * HOUR
    assert business_seconds(NIGHTS, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)) == 13 * HOUR
    assert business_seconds(NIGHTS, utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30)) == 3600


def test_fall_back_lengthens_the_window_spanning_the_repeated_hour() -> None:
    """nights, Sunday 2026-11-01: the night shift runs 00:00 EDT (04:00 UTC) to 06:00 EST (11:00 UTC): 7 h, 25200 s.
    The day shift, 09:00-17:00 EST (14:00-22:00 UTC), keeps its 8 h. From the first 01:30 (EDT, 05:30 UTC) to the
    second (EST, 06:30 UTC) the wall clock shows the same time, but an hour passed: 3600 s."""
    assert business_seconds(NIGHTS, utc(2026, 11, 1, 4), utc(2026, 11, 1, 11)) == 25200
    assert business_seconds(NIGHTS, utc(2026, 11, 1, 14), utc(2026, 11, 1, 22)) == 8 * HOUR
    assert business_seconds(NIGHTS, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)) == 15 * HOUR
    assert business_seconds(NIGHTS, utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)) == 3600


def test_two_teams_in_two_time_zones_count_the_same_instants_differently() -> None:
    """Wednesday 2026-06-10, 06:00 to 20:00 UTC. emea (CEST): 08:00-22:00 local holds its whole day, 3.5 h + 4.5 h
    = 28800 s. amer (EDT): 02:00-16:00 local holds 09:00-16:00, 7 h = 25200 s."""
    start, end = utc(2026, 6, 10, 6), utc(2026, 6, 10, 20)
    assert business_seconds(EMEA, start, end) == 28800
    assert business_seconds(AMER, start, end) == 25200


def test_instants_are_counted_to_the_whole_second_and_aware_ones_converted() -> None:
    """An aware instant is converted to UTC; a fraction of a second is dropped, as the warehouse does: 09:00:00.9
    to 09:00:10.2 EDT is 10 s. End before start is negative, B(end) - B(start)."""
    start = datetime(2026, 6, 10, 9, 0, 0, 900000, tzinfo=ZoneInfo("America/New_York"))
    assert business_seconds(AMER, start, utc(2026, 6, 10, 13, 0, 10) + timedelta(microseconds=200000)) == 10
    assert business_seconds(AMER, utc(2026, 6, 10, 14), datetime(2026, 6, 10, 13, tzinfo=UTC)) == -3600


def test_a_pause_stops_the_clock_and_overlapping_pauses_count_once() -> None:
    """amer, Wednesday 2026-06-10, 09:00 to 17:00 EDT (13:00-21:00 UTC), 28800 s. Pauses: 10:00-11:00 and
    10:30-12:00 merge into 10:00-12:00; one from 22:00 the night before to 10:00 is cut to 09:00-10:00 and touches
    it: 09:00-12:00 paused, 3 h. One from 16:00 with no end runs to the clock's end: 1 h. 8 h - 4 h = 14400 s."""
    pauses: list[tuple[datetime, datetime | None]] = [
        (utc(2026, 6, 10, 14), utc(2026, 6, 10, 15)),
        (utc(2026, 6, 10, 14, 30), utc(2026, 6, 10, 16)),
        (utc(2026, 6, 10, 2), utc(2026, 6, 10, 14)),
        (utc(2026, 6, 10, 20), None),
    ]
    assert business_seconds_paused(AMER, utc(2026, 6, 10, 13), utc(2026, 6, 10, 21), pauses) == 14400
    assert business_seconds_paused(AMER, utc(2026, 6, 10, 13), utc(2026, 6, 10, 21), []) == 28800


def test_a_pause_outside_business_hours_costs_nothing() -> None:
    """amer: Tuesday 2026-06-09 16:00 EDT to Wednesday 10:00 EDT is 2 h; a pause over the night (18:00-08:00)
    takes nothing off: 7200 s. A pause ending before it starts is refused."""
    start, end = utc(2026, 6, 9, 20), utc(2026, 6, 10, 14)
    assert business_seconds_paused(AMER, start, end, [(utc(2026, 6, 9, 22), utc(2026, 6, 10, 12))]) == 7200
    with pytest.raises(InvalidError, match=r"^pause 1 ends at 2026-06-09T21:00:00 before it starts"):
        business_seconds_paused(AMER, start, end, [(utc(2026, 6, 9, 22), utc(2026, 6, 9, 21))])


def test_a_deadline_is_when_the_business_time_runs_out() -> None:
    """amer, 24 business hours from Wednesday 2026-06-10 15:00 EDT: Wednesday 2 h, Thursday 8 h, Friday 8 h, then
    6 h on Monday: 15:00 EDT on 06-15 (19:00 UTC). 5 business minutes from Friday 16:58 EDT: 2 min on Friday, 3 on
    Monday: 09:03 EDT (13:03 UTC). In on Saturday 03:00: Monday 09:05. 8 h from 09:00 ends at 17:00 that day, not at
    09:00 the next. No time: the start itself, even at night."""
    assert deadline(AMER, utc(2026, 6, 10, 19), 24 * HOUR) == utc(2026, 6, 15, 19)
    assert deadline(AMER, utc(2026, 6, 12, 20, 58), 300) == utc(2026, 6, 15, 13, 3)
    assert deadline(AMER, utc(2026, 6, 13, 7), 300) == utc(2026, 6, 15, 13, 5)
    assert deadline(AMER, utc(2026, 6, 10, 13), 8 * HOUR) == utc(2026, 6, 10, 21)
    assert deadline(AMER, utc(2026, 6, 13, 7), 0) == utc(2026, 6, 13, 7)
    assert business_seconds(AMER, utc(2026, 6, 10, 19), utc(2026, 6, 15, 19)) == 24 * HOUR


def test_a_deadline_crosses_the_dst_change_and_a_holiday() -> None:
    """nights, 6 business hours from Saturday 2026-03-07 23:00 EST (04:00 UTC Sunday): Sunday's night shift has 5
    real hours (00:00 EST to 06:00 EDT, 05:00-10:00 UTC), then 1 h of the day shift: 10:00 EDT (14:00 UTC).
    amer, 8 h from Thursday 2026-07-02 13:00 EDT: 4 h Thursday, Friday is a holiday, 4 h Monday: 13:00 EDT 07-06."""
    assert deadline(NIGHTS, utc(2026, 3, 8, 4), 6 * HOUR) == utc(2026, 3, 8, 14)
    assert deadline(AMER, utc(2026, 7, 2, 17), 8 * HOUR) == utc(2026, 7, 6, 17)


def test_a_deadline_is_refused_for_a_negative_target_or_a_calendar_that_never_opens() -> None:
    with pytest.raises(InvalidError, match=r"^a clock's target of -1 seconds is negative; give 0 or more$"):
        deadline(AMER, utc(2026, 6, 10, 13), -1)
    closed = TeamCalendar(team="shut", time_zone="UTC", hours=((),) * 7)
    with pytest.raises(ConfigError, match=r"^calendar 'shut': fewer than 60 business seconds in the 3660 days after"):
        deadline(closed, utc(2026, 6, 10, 13), 60)


# --- calendar versions --------------------------------------------------------------------------------------------
AMER_WIDER = TeamCalendar.from_dict(
    {
        "team": "amer",
        "time_zone": "America/New_York",
        "hours": {"mon-fri": "08:00-18:00"},
        "holidays": "US",
        "effective_from": "2026-07-01",
    }
)


def test_a_calendar_edit_does_not_change_a_clock_already_closed() -> None:
    """amer widened its hours to 08:00-18:00 from 2026-07-01 (local midnight: 04:00 UTC). A clock from Tuesday
    06-30 16:00 EDT to Wednesday 07-01 09:00 EDT started under the old calendar and keeps it: 1 h + 0 h = 3600 s
    (the new one would say 2 h + 1 h = 10800 s). A clock started on 07-01 is measured with the new one."""
    versions = [AMER_WIDER, AMER]
    start, end = utc(2026, 6, 30, 20), utc(2026, 7, 1, 13)
    in_force = calendar_in_force(versions, start)
    assert in_force is AMER
    assert business_seconds(in_force, start, end) == 3600
    assert business_seconds(AMER_WIDER, start, end) == 10800
    assert calendar_in_force(versions, utc(2026, 7, 1, 3, 59, 59)) is AMER
    assert calendar_in_force(versions, utc(2026, 7, 1, 4)) is AMER_WIDER
    assert calendar_in_force(versions, datetime(2026, 7, 1, 0, 30, tzinfo=ZoneInfo("America/New_York"))) is AMER_WIDER


def test_choosing_a_calendar_version_is_refused_when_none_fits() -> None:
    with pytest.raises(NotFoundError, match=r"^calendar 'amer': no version is in force at 2026-06-30T20:00:00 UTC; "):
        calendar_in_force([AMER_WIDER], utc(2026, 6, 30, 20))
    with pytest.raises(ConfigError, match=r"^calendar 'amer': two versions effective from None; "):
        calendar_in_force([AMER, AMER], utc(2026, 6, 30, 20))
    with pytest.raises(InvalidError, match=r"^calendar versions of several teams \(amer, emea\); "):
        calendar_in_force([AMER, EMEA], utc(2026, 6, 30, 20))


# --- against pandas' CustomBusinessHour ---------------------------------------------------------------------------
def pandas_business_seconds(offset: CustomBusinessHour, start: datetime, end: datetime) -> int:
    """Business seconds from `start` to `end` by pandas' own idea of business hours.

    `pd.date_range(midnight of start, end, freq=offset)` lists each business hour's start (09:00, 10:00, ... 16:00,
    then the next open day's 09:00: adding one business hour to 16:00 jumps over the night, weekends and
    holidays). With windows a whole number of hours long, each point opens a business hour ``[p, p + 1 h)`` and
    together they tile business time, so the business seconds are the overlaps of those hours with
    ``[start, end)``. Pandas decides which hours are business hours; the overlap is plain arithmetic.
    """
    points = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end), freq=offset)
    total = 0
    for point in points.to_pydatetime():
        overlap = min(point + timedelta(hours=1), end) - max(point, start)
        total += max(0, int(overlap.total_seconds()))
    return total


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    opens=st.integers(0, 2 * 14).map(lambda half_hours: half_hours * 1800),
    hours=st.integers(1, 8),
    weekdays=st.sets(st.integers(0, 6), min_size=1),
    closed=st.sets(st.dates(date(2026, 3, 1), date(2026, 3, 31)), max_size=6),
    start=st.datetimes(datetime(2026, 3, 1), datetime(2026, 3, 20)),
    length=st.integers(0, 12 * 86400),
)
def test_business_seconds_agree_with_pandas_custom_business_hour(
    opens: int, hours: int, weekdays: set[int], closed: set[date], start: datetime, length: int
) -> None:
    """One window a day (opening on the hour or half hour, 1 to 8 hours long), a random weekmask and holidays, in
    UTC (pandas' CustomBusinessHour has no time zone), and a random interval of up to 12 days in March 2026."""
    window = Window(opens, opens + hours * HOUR)
    calendar = TeamCalendar(
        team="p",
        time_zone="UTC",
        hours=tuple((window,) if day in weekdays else () for day in range(7)),
        closed=frozenset(closed),
    )
    offset = CustomBusinessHour(
        start=f"{opens // HOUR:02d}:{opens % HOUR // 60:02d}",
        end=f"{window.end // HOUR:02d}:{window.end % HOUR // 60:02d}",
        weekmask=" ".join(
            name for day, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")) if day in weekdays
        ),
        holidays=sorted(closed),
    )
    start = start.replace(microsecond=0)
    end = start + timedelta(seconds=length)
    assert business_seconds(calendar, start, end) == pandas_business_seconds(offset, start, end)
