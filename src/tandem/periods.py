"""Calendar vocabulary: the grain rows are grouped by, and the calendar periods goals and plans are set for.

Two different things are both called "period" in conversation, and tandem keeps them apart:

* a **grain** (`Grain`: day, week, month or quarter) says how rows are grouped: ``tandem funnel --period month``
  counts each month separately, whatever months the data covers;
* a **calendar period** (`CalendarPeriod`: the year 2027, the quarter 2027-Q1, the month 2027-03) is one span of
  days with a start and an end: what a goal, a plan, a forecast or a freeze window is for.

Days are UTC calendar days; a period is ``[start, end)``; quarters are calendar quarters (Jan-Mar, Apr-Jun, ...).
A month is keyed by its first day (`month_of`), so month arithmetic (`add_months`) is on dates, not on pairs.

**Labels.** What people read is `period_label`: ``2026-Q1``, ``Dec 2026``, ``week of 7 Dec 2026``, ``7 Dec 2026``
(a grain's period, as a table, a page or a chart shows it) and `CalendarPeriod.spoken` (``Mar 2027`` for a month).
`CalendarPeriod.label` stays the form `parse_period` reads back (``2027-03``), for URLs, files and commands;
JSON documents keep ISO dates beside a ``label``.

The module is called ``periods`` rather than ``calendar`` so that it never shadows the standard library's.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from tandem.errors import ConfigError

__all__ = [
    "FIRST_YEAR",
    "GRAINS",
    "LAST_YEAR",
    "PERIOD_FORMS",
    "CalendarPeriod",
    "Grain",
    "PeriodKind",
    "add_months",
    "current_quarter",
    "days_in_month",
    "month_of",
    "next_period",
    "next_quarter",
    "parse_period",
    "period_label",
    "period_of",
    "periods_between",
    "quarter_of",
]

#: How rows are grouped in time (a funnel by month, a pace by day); not a span of days.
Grain = Literal["day", "week", "month", "quarter"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month", "quarter")

#: The kinds of calendar period a goal or a plan is set for.
PeriodKind = Literal["year", "quarter", "month"]
PERIOD_FORMS = "a year (2027), a quarter (2027-Q1) or a month (2027-01)"
#: The years a period may be in: wide enough for any plan, narrow enough that every date computed from one exists.
FIRST_YEAR, LAST_YEAR = 1900, 2999

_MONTHS: dict[PeriodKind, int] = {"year": 12, "quarter": 3, "month": 1}
_ORDER: dict[PeriodKind, int] = {"year": 0, "quarter": 1, "month": 2}
#: Month names in English whatever the machine's locale (`calendar.month_abbr` follows it).
_MONTH_NAMES = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PERIOD = re.compile(r"^(\d{4})(?:-Q([1-4])|-(\d{2}))?$")


@dataclass(frozen=True)
class CalendarPeriod:
    """A calendar year, quarter or month: the UTC days ``[start, end)``.

    `index` is the quarter (1-4) or the month (1-12), and 0 for a year. Periods nest (a month's parent is its
    quarter, a quarter's its year), which is how a goal set for a year gives its quarters and months a target.
    """

    kind: PeriodKind
    year: int
    index: int = 0

    @property
    def label(self) -> str:
        """``2027``, ``2027-Q1`` or ``2027-03``: how people write it, and what `parse_period` reads back."""
        if self.kind == "year":
            return f"{self.year}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}-{self.index:02d}"

    @property
    def spoken(self) -> str:
        """``2027``, ``2027-Q1`` or ``Mar 2027``: how people say it, for headings and tables."""
        if self.kind == "month":
            return f"{_MONTH_NAMES[self.index]} {self.year}"
        return self.label

    def __str__(self) -> str:
        return self.label

    @property
    def start(self) -> date:
        """The period's first day."""
        month = 1 if self.kind == "year" else 3 * self.index - 2 if self.kind == "quarter" else self.index
        return date(self.year, month, 1)

    @property
    def end(self) -> date:
        """The first day after the period."""
        return add_months(self.start, _MONTHS[self.kind])

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def parent(self) -> CalendarPeriod | None:
        """One level up: a month's quarter, a quarter's year; a year has none."""
        if self.kind == "month":
            return CalendarPeriod("quarter", self.year, (self.index - 1) // 3 + 1)
        if self.kind == "quarter":
            return CalendarPeriod("year", self.year)
        return None

    @property
    def children(self) -> list[CalendarPeriod]:
        """One level down: a year's quarters, a quarter's months; a month has none."""
        if self.kind == "year":
            return [CalendarPeriod("quarter", self.year, q) for q in range(1, 5)]
        if self.kind == "quarter":
            return [CalendarPeriod("month", self.year, m) for m in range(3 * self.index - 2, 3 * self.index + 1)]
        return []

    @property
    def months(self) -> list[CalendarPeriod]:
        """The months of the period, in order (a month is its own one month)."""
        first = self.start.month
        return [CalendarPeriod("month", self.year, m) for m in range(first, first + _MONTHS[self.kind])]

    @property
    def lineage(self) -> list[CalendarPeriod]:
        """The period and its ancestors, nearest first."""
        chain: list[CalendarPeriod] = [self]
        while (parent := chain[-1].parent) is not None:
            chain.append(parent)
        return chain

    @property
    def sort_key(self) -> tuple[date, int]:
        """In time order, a year before its first quarter and a quarter before its first month."""
        return self.start, _ORDER[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "start": self.start, "end": self.end, "days": self.days}


def parse_period(text: str) -> CalendarPeriod:
    """``2027``, ``2027-Q1`` or ``2027-01``, exactly; anything else is a `ConfigError` naming the value and forms."""
    match = _PERIOD.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"{text!r} is not a period; use {PERIOD_FORMS}")
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ConfigError(f"{text!r}: the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    if match.group(2):
        return CalendarPeriod("quarter", year, int(match.group(2)))
    if match.group(3):
        month = int(match.group(3))
        if not 1 <= month <= 12:
            raise ConfigError(f"{text!r}: there is no month {month:02d}; months are 01 to 12 ({PERIOD_FORMS})")
        return CalendarPeriod("month", year, month)
    return CalendarPeriod("year", year)


def period_label(start: date | datetime | str | None, grain: str) -> str:
    """The period of `grain` that begins on `start`, as people say it: ``2026-Q1``, ``Dec 2026``,
    ``week of 7 Dec 2026``, ``7 Dec 2026`` (or ``2026`` for a year); blank for none.

    `start` is a date, a datetime, ISO 8601 text as documents carry it, or a month as plans write it (``2026-12``);
    a grain other than day, week, month, quarter or year gives the day.
    """
    if start is None or start == "":
        return ""
    if isinstance(start, str) and len(start) == 7:  # a month as a goal or a plan writes it: 2026-12
        start += "-01"
    day = datetime.fromisoformat(start) if isinstance(start, str) else start
    day = day.date() if isinstance(day, datetime) else day
    if grain == "quarter":
        return quarter_of(day).label
    if grain == "year":
        return f"{day.year}"
    if grain == "month":
        return period_of(day, "month").spoken
    text = f"{day.day} {_MONTH_NAMES[day.month]} {day.year}"
    return f"week of {text}" if grain == "week" else text


def period_of(day: date, kind: PeriodKind) -> CalendarPeriod:
    """The year, quarter or month `day` falls in."""
    if kind == "year":
        return CalendarPeriod("year", day.year)
    if kind == "quarter":
        return CalendarPeriod("quarter", day.year, (day.month - 1) // 3 + 1)
    return CalendarPeriod("month", day.year, day.month)


def quarter_of(day: date) -> CalendarPeriod:
    """The calendar quarter `day` falls in."""
    return period_of(day, "quarter")


def current_quarter(today: date | None = None) -> CalendarPeriod:
    """The quarter `today` (default: today, UTC) falls in: what a forecast or a goal is about unless told."""
    return quarter_of(today or datetime.now(UTC).date())


def next_period(period: CalendarPeriod) -> CalendarPeriod:
    """The period of the same kind that follows: a quarter's next quarter, a month's next month."""
    return period_of(period.end, period.kind)


def next_quarter(today: date) -> CalendarPeriod:
    """The calendar quarter after the one `today` is in: what a plan is usually made for."""
    return next_period(quarter_of(today))


def periods_between(first: date, last: date, kind: PeriodKind) -> list[CalendarPeriod]:
    """The periods of `kind` that begin on or after `first` and end by `last` (exclusive end <= last), in order."""
    found: list[CalendarPeriod] = []
    period = period_of(first, kind)
    while period.end <= last:
        if period.start >= first:
            found.append(period)
        period = next_period(period)
    return found


def month_of(day: date) -> date:
    """The first day of `day`'s month: how months are keyed."""
    return date(day.year, day.month, 1)


def add_months(day: date, count: int) -> date:
    """`day` moved `count` months (back when negative), on the same day of the month or the month's last day.

    A month's first day stays a first day, so month keys move exactly; 31 March less one month is 28 (or 29)
    February.
    """
    year, month = divmod(day.year * 12 + day.month - 1 + count, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def days_in_month(day: date) -> int:
    """How many days `day`'s month has."""
    return calendar.monthrange(day.year, day.month)[1]
