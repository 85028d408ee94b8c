"""Business seconds in the warehouse: a calendar table of business intervals, and B(t) looked up by a range join.

How this works: `calendar_table` holds each team's business intervals (`tandem.sla.calendar.business_intervals`)
with the business seconds before each (``cumulative``) and the start of the next row (``next_s``), so the rows of
a team tile its days without a gap: an instant ``t`` falls in exactly one row, the one with
``start_s <= t < next_s``, and ``B(t) = cumulative + min(t, end_s) - start_s`` (in the gap after an interval,
``min`` stops the count at its end). Business time between two columns is ``B(end) - B(start)``.

A range join rather than Ibis's `asof_join`: the as-of join does not compile on PostgreSQL, the range join runs the
same on DuckDB, PostgreSQL and Spark. Instants are compared as whole epoch seconds (`whole_seconds`: Spark drops
the fraction of a second, so every backend counts from the same second); the calendar's columns are integers
already, computed in Python, so no backend converts a calendar time.

An instant outside the days the table covers has no row: its business seconds are null, never a wrong number.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from tandem.engine.entries import whole_seconds
from tandem.errors import ConfigError
from tandem.sla.calendar import TeamCalendar, business_intervals, local_instant

__all__ = [
    "CALENDAR_SCHEMA",
    "calendar_rows",
    "calendar_table",
    "with_business_seconds",
    "with_business_time",
    "with_working_day",
]

#: The calendar table's columns: the team, each interval as naive UTC timestamps (to read) and as epoch seconds
#: (to compute with), the next row's start, the business seconds before the interval, and the working day it falls
#: on (``day``: 1 for the table's first working day, 0 for the empty row before it) and the next row's
#: (``next_day``): an instant's working day is ``day`` inside the interval and ``next_day`` in the gap after it, the
#: working day during or next after the instant.
CALENDAR_SCHEMA = pa.schema(
    [
        ("team", pa.string()),
        ("start", pa.timestamp("us")),
        ("end", pa.timestamp("us")),
        ("start_s", pa.int64()),
        ("end_s", pa.int64()),
        ("next_s", pa.int64()),
        ("cumulative", pa.int64()),
        ("day", pa.int64()),
        ("next_day", pa.int64()),
    ]
)
_EPOCH = datetime(1970, 1, 1)


def _epoch(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(seconds=1)


def calendar_rows(calendar: TeamCalendar, first_day: date, last_day: date) -> list[dict[str, object]]:
    """The rows of one team's calendar table for its local days `first_day`..`last_day`.

    The rows tile ``[local midnight of first_day, local midnight after last_day)``: when the first interval starts
    later, an empty row at the start carries B = 0, and the last row's ``next_s`` is the end of the span.
    """
    if last_day < first_day:
        raise ConfigError(
            f"calendar {calendar.team!r}: the last day {last_day} comes before the first {first_day}; "
            "give the first day first",
            field="last_day",
            value=last_day,
        )
    zone = calendar.zone
    begin = local_instant(zone, first_day, 0)
    finish = local_instant(zone, last_day + timedelta(days=1), 0)
    spans = [(i.start, i.end, i.cumulative) for i in business_intervals(calendar, first_day, last_day)]
    days: list[int] = []
    dates: list[date] = []
    for start, _, _ in spans:
        local = start.replace(tzinfo=UTC).astimezone(zone).date()
        if not dates or dates[-1] != local:
            dates.append(local)
        days.append(len(dates))
    if not spans or spans[0][0] > begin:
        spans.insert(0, (begin, begin, 0))
        days.insert(0, 0)
    rows: list[dict[str, object]] = []
    for index, (start, end, cumulative) in enumerate(spans):
        following = spans[index + 1][0] if index + 1 < len(spans) else finish
        next_day = days[index + 1] if index + 1 < len(spans) else days[index] + 1
        rows.append(
            {
                "team": calendar.team,
                "start": start,
                "end": end,
                "start_s": _epoch(start),
                "end_s": _epoch(end),
                "next_s": _epoch(following),
                "cumulative": cumulative,
                "day": days[index],
                "next_day": next_day,
            }
        )
    return rows


def calendar_table(calendars: TeamCalendar | Iterable[TeamCalendar], first_day: date, last_day: date) -> ir.Table:
    """An Ibis memtable of the business intervals of each team in `calendars` over the local days
    `first_day`..`last_day` (one calendar per team: the version in force for the clocks measured)."""
    chosen = [calendars] if isinstance(calendars, TeamCalendar) else list(calendars)
    teams = [c.team for c in chosen]
    if twice := sorted({t for t in teams if teams.count(t) > 1}):
        raise ConfigError(
            f"calendar table: team {twice[0]!r} has several calendars; give the one version in force",
            field="team",
            value=twice[0],
        )
    rows = [row for c in chosen for row in calendar_rows(c, first_day, last_day)]
    return ibis.memtable(pa.Table.from_pylist(rows, schema=CALENDAR_SCHEMA))


def _with_b(table: ir.Table, column: str, calendar: ir.Table, alias: str, team: str | None) -> ir.Table:
    """`table` plus column `alias`: B of the instant in `column`, by the range join described above."""
    instant = f"{alias}_t"
    keyed = table.mutate(**{instant: whole_seconds(table[column])})
    rows = calendar.select(
        **{
            f"{alias}_team": calendar.team,
            f"{alias}_start": calendar.start_s,
            f"{alias}_end": calendar.end_s,
            f"{alias}_next": calendar.next_s,
            f"{alias}_cum": calendar.cumulative,
        }
    )
    on = [keyed[instant] >= rows[f"{alias}_start"], keyed[instant] < rows[f"{alias}_next"]]
    if team is not None:
        on.append(keyed[team] == rows[f"{alias}_team"])
    joined = keyed.left_join(rows, on)
    value = joined[f"{alias}_cum"] + ibis.least(joined[instant], joined[f"{alias}_end"]) - joined[f"{alias}_start"]
    return joined.select(*[joined[c] for c in table.columns], value.cast("int64").name(alias))


def with_business_time(
    table: ir.Table, column: str, calendar: ir.Table, *, name: str, team: str | None = None
) -> ir.Table:
    """`table` with a column `name`: B of the instant in `column`, the business seconds from the start of the
    calendar table's days (null outside them). Differences of two such columns are business time; computing B once
    per instant and subtracting is cheaper than a `with_business_seconds` per pair when instants are shared."""
    if name in table.columns:
        raise ConfigError(f"business time: the table already has a column {name!r}", field="name", value=name)
    return _with_b(table, column, calendar, name, team)


def with_business_seconds(
    table: ir.Table,
    start: str,
    end: str,
    calendar: ir.Table,
    *,
    name: str = "business_seconds",
    team: str | None = None,
) -> ir.Table:
    """`table` with a column `name`: the business seconds from its timestamp column `start` to `end`.

    `calendar` is a `calendar_table`. With one team in it, `team` is None; with several, `team` names `table`'s
    column saying whose calendar each row is measured with. Null when either instant is null or outside the days
    the calendar table covers; negative when `end` comes before `start`, as in `business_seconds`.
    """
    for column in (start, end, *([team] if team else [])):
        if column not in table.columns:
            raise ConfigError(
                f"business seconds: no column {column!r} in the table; its columns are {', '.join(table.columns)}",
                field="column",
                value=column,
            )
    if name in table.columns:
        raise ConfigError(
            f"business seconds: the table already has a column {name!r}; choose another name",
            field="name",
            value=name,
        )
    counted = _with_b(_with_b(table, start, calendar, "_sla_b0", team), end, calendar, "_sla_b1", team)
    return counted.mutate(**{name: counted["_sla_b1"] - counted["_sla_b0"]}).drop("_sla_b0", "_sla_b1")


def with_working_day(
    table: ir.Table, column: str, calendar: ir.Table, *, name: str, team: str | None = None
) -> ir.Table:
    """`table` with a column `name`: the number of the working day during or next after the instant in `column`
    (the calendar table's ``day`` numbering), by the same range join as B(t); null outside the table's days.

    "Within N business days" of an instant then means up to working day ``name + N - 1``: an instant after the
    day's close counts from the next working day."""
    instant = "_sla_wd_t"
    keyed = table.mutate(**{instant: whole_seconds(table[column])})
    rows = calendar.select(
        _sla_wd_team=calendar.team,
        _sla_wd_start=calendar.start_s,
        _sla_wd_end=calendar.end_s,
        _sla_wd_next=calendar.next_s,
        _sla_wd_day=calendar.day,
        _sla_wd_next_day=calendar.next_day,
    )
    on = [keyed[instant] >= rows._sla_wd_start, keyed[instant] < rows._sla_wd_next]
    if team is not None:
        on.append(keyed[team] == rows._sla_wd_team)
    joined = keyed.left_join(rows, on)
    value = ibis.ifelse(joined[instant] < joined._sla_wd_end, joined._sla_wd_day, joined._sla_wd_next_day)
    return joined.select(*[joined[c] for c in table.columns], value.cast("int64").name(name))
