"""The teams the business-hours tests measure with.

Instants are naive UTC, as everywhere in tandem. The teams:

- ``amer``: America/New_York, Monday to Friday 09:00-17:00, US public holidays. EST is UTC-5 until 2026-03-08,
  EDT (UTC-4) until 2026-11-01.
- ``emea``: Europe/Berlin, Monday to Friday 09:00-12:30 and 13:30-18:00 (a lunch break), public holidays of
  Berlin, closed on 2026-12-24, and in the afternoon of 2026-12-31. CET is UTC+1, CEST (UTC+2) from 2026-03-29
  to 2026-10-25.
- ``nights``: America/New_York every day, a night shift 00:00-06:00 and a day shift 09:00-17:00: the night shift
  spans the hour both DST transitions change, the day shift does not.
"""

from __future__ import annotations

from datetime import datetime

from tandem.sla.calendar import TeamCalendar

HOUR = 3600

AMER = TeamCalendar.from_dict(
    {"team": "amer", "time_zone": "America/New_York", "hours": {"mon-fri": "09:00-17:00"}, "holidays": "US"}
)
EMEA = TeamCalendar.from_dict(
    {
        "team": "emea",
        "time_zone": "Europe/Berlin",
        "hours": {"mon-fri": ["09:00-12:30", "13:30-18:00"]},
        "holidays": {"country": "DE", "subdivision": "BE"},
        "closed": ["2026-12-24"],
        "closed_hours": {"2026-12-31": ["13:30-18:00"]},
    }
)
NIGHTS = TeamCalendar.from_dict(
    {"team": "nights", "time_zone": "America/New_York", "hours": {"mon-sun": ["00:00-06:00", "09:00-17:00"]}}
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A naive UTC instant, as tandem keeps them."""
    return datetime(year, month, day, hour, minute, second)
