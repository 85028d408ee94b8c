"""Lengths of time as people write them, in the two spellings tandem reads.

**In the definitions file and the rule language** (a stage's ``sla``, a scoring rule's ``within`` and
``half_life``, ``has_event(kind, within='30d')``) a duration is a whole number and a unit: ``5m`` (minutes),
``24h``, ``2d``, ``1w``, ``24 business hours``. `parse_duration` keeps it as written (`Duration`), because an
SLA in business hours is not the same promise as one in hours; `parse_window` gives a rule's window as calendar
time: a rule's window in business hours would need a team's calendar, which the rules do not have (the service
levels' clocks do: docs/sla.md).

**In the plan** (``--lag sql:won=45``, a scenario's ``lags``) a lag is a number of days, possibly with a unit:
``45``, ``45d``, ``2w``, or ``3m`` for three *months* of `MONTH_DAYS`. Mind the ``m``: minutes in the
definitions file, months in a lag. Each spelling is what its readers expect (an SLA is minutes to days, a lag
weeks to months), and each parser refuses the other's long forms rather than guess.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tandem.errors import ConfigError

__all__ = [
    "DURATION_HINT",
    "LAG_HINT",
    "MONTH_DAYS",
    "Duration",
    "DurationUnit",
    "format_business",
    "format_days",
    "parse_days",
    "parse_duration",
    "parse_window",
]

#: The mean calendar month, in days (365.25 / 12): what a lag of ``1m`` is, and how the plan turns lags into months.
MONTH_DAYS = 30.4375

DurationUnit = Literal["seconds", "minutes", "hours", "days", "weeks", "business_hours"]
DURATION_HINT = "a whole number and a unit, e.g. 5m, 24h, 2d, 1w or 24 business hours"
LAG_HINT = "a number of days (45), weeks (2w) or months (3m)"

_DURATION = re.compile(r"^\s*(\d+)\s*([a-z][a-z ]*?)\s*$", re.IGNORECASE)
_UNITS: dict[str, DurationUnit] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "week", "weeks"), "weeks"),
    **dict.fromkeys(("bh", "business hour", "business hours"), "business_hours"),
}
_UNIT_SECONDS: dict[DurationUnit, int] = {
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
    "business_hours": 3600,  # a business hour is 3,600 business seconds (tandem.sla counts them in a calendar)
}
_LAG = re.compile(r"^(\d+(?:\.\d+)?)\s*(d|w|m)?$", re.IGNORECASE)
_LAG_DAYS = {"d": 1.0, "w": 7.0, "m": MONTH_DAYS}


class Duration(BaseModel):
    """A length of time as written (`24h`, `24 business hours`), kept with its unit so nothing is lost."""

    model_config = ConfigDict(frozen=True)

    text: str
    amount: int
    unit: DurationUnit

    @property
    def seconds(self) -> int:
        """The length in seconds; for a business-hours duration, business seconds (a service-level target)."""
        return self.amount * _UNIT_SECONDS[self.unit]

    @property
    def business(self) -> bool:
        """Whether the duration is in business time (nights, weekends and holidays do not count)."""
        return self.unit == "business_hours"

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str) -> Duration:
    """`5m`, `24h`, `2d`, `1w`, `24 business hours` -> a `Duration`; anything else is a `ValueError`."""
    match = _DURATION.match(text)
    unit = _UNITS.get(" ".join(match.group(2).lower().split())) if match else None
    if match is None or unit is None:
        raise ValueError(f"{text!r} is not a duration; expected {DURATION_HINT}")
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f"{text!r} is not a positive duration; expected {DURATION_HINT}")
    return Duration(text=text.strip(), amount=amount, unit=unit)


def parse_window(text: str) -> timedelta | None:
    """A rule's window: '30d' -> 30 days, '12h', '2w', '90m'; None when the text is not such a duration.

    The spellings of `parse_duration`, in calendar time only: a window in business hours would need a
    working-hours calendar.
    """
    try:
        duration = parse_duration(text)
    except ValueError:
        return None
    return None if duration.business else timedelta(seconds=duration.seconds)


def parse_days(text: str) -> float:
    """A lag in days: ``45`` or ``45d``, ``2w`` (14), ``3m`` (3 x `MONTH_DAYS`); else a `ConfigError` saying so."""
    match = _LAG.match(text.strip())
    if match is None:
        raise ConfigError(f"{text!r} is not {LAG_HINT}")
    return float(match.group(1)) * _LAG_DAYS[(match.group(2) or "d").lower()]


def format_days(days: float, *, signed: bool = False) -> str:
    """``45d``, or ``+14d`` / ``-7d`` for a change: a lag as the plan's spellings write it, to the whole day."""
    return f"{days:+.0f}d" if signed else f"{days:.0f}d"


def format_business(seconds: float | None) -> str:
    """Business time for people: ``45 s``, ``12 min``, ``3 h 20 min``, ``31 h`` (hours, never days: a business day
    has no fixed length); a negative value is time past a target (``2 h 5 min over``); None is ``-``."""
    if seconds is None:
        return "-"
    over = seconds < 0
    total = round(abs(seconds))
    if total < 60:
        text = f"{total} s"
    elif total < 3600:
        text = f"{total // 60} min"
    else:
        hours, minutes = divmod(total // 60, 60)
        text = f"{hours:,} h" + (f" {minutes} min" if minutes and hours < 10 else "")
    return f"{text} over" if over else text
