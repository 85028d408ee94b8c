"""When each lead first reached each stage: the table every funnel metric is computed from.

How this works: stage events are reduced to one row per lead with the raw first entry per stage (`t0..tn-1`,
``min(occurred_at) FILTER (WHERE stage = s)``), joined onto every lead (leads without events keep theirs null).
Entry times `e0..en-1` then follow the mode (docs/funnel-semantics.md):

- cumulative: ``e(k) = min(t(k), e(k+1))``, i.e. the earliest of ``t(k)..t(n-1)``: reaching a stage implies
  passing the earlier ones, and entry times never decrease along the funnel;
- strict: ``e(k) = t(k)`` only if ``t(0)..t(k)`` all exist and never decrease: a lead stops at the last stage it
  passed in order.

The result is a lazy Ibis table: the same expression runs on DuckDB, PostgreSQL and Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tandem.engine.usable import usable
from tandem.errors import ConfigError

__all__ = [
    "SECONDS_PER_DAY",
    "breakdown_aliases",
    "breakdown_names",
    "days_between",
    "entry_table",
    "first_entries",
    "long_entries",
    "named_breakdown",
    "seconds_between",
    "stage_column",
    "whole_seconds",
]

SECONDS_PER_DAY = 86400.0


def stage_column(index: int) -> str:
    """Name of the entry-time column of stage `index` (``e0``, ``e1``...)."""
    return f"e{index}"


def whole_seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """The whole seconds since the epoch of `ts` (its fraction of a second dropped), as an integer.

    Whole seconds because Spark's epoch seconds drop the fraction while DuckDB and PostgreSQL keep it: truncating
    makes every backend agree. floor(epoch) rather than date_trunc('second'): the same, a quarter faster on DuckDB.
    """
    return ts.epoch_seconds().cast("float64").floor().cast("int64")


def seconds_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds from `start` to `end` (an integer: exact to compare with a window's length; `whole_seconds`)."""
    return whole_seconds(end) - whole_seconds(start)


def days_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.FloatingValue:
    """Fractional days from `start` to `end`, counted in whole seconds (`seconds_between`).

    Float64 throughout (a bare 86400.0 is a decimal on Spark).
    """
    elapsed = seconds_between(start, end).cast("float64")
    return elapsed / ibis.literal(SECONDS_PER_DAY, type="float64")


def first_entries(leads: ir.Table, events: ir.Table, stages: Sequence[str], as_of: datetime) -> ir.Table:
    """Every lead with its raw first entry per stage: columns of `leads` plus ``t0..tn-1`` (null: no event).

    ``t0`` already folds in ``created_at``: every lead has reached the first stage when it was created.
    Events after `as_of`, events at unknown stages and events of unknown leads are left out.
    """
    when = ibis.literal(as_of, type="timestamp")
    known = events.filter(events.stage.isin(list(stages)), events.occurred_at <= when)
    firsts = known.group_by("lead_id").aggregate(
        **{f"t{k}": known.occurred_at.min(where=known.stage == stage) for k, stage in enumerate(stages)}
    )
    firsts = firsts.rename(_lead_id="lead_id")
    joined = leads.left_join(firsts, leads.lead_id == firsts._lead_id).drop("_lead_id")
    created = ibis.cases((joined.created_at <= when, joined.created_at), else_=ibis.null("timestamp"))
    return joined.mutate(t0=ibis.least(created, joined.t0))


def entry_table(leads: ir.Table, events: ir.Table, stages: Sequence[str], *, strict: bool, as_of: datetime) -> ir.Table:
    """Every lead with its entry time per stage (``e0..en-1``) under the cumulative or strict rule.

    Leads and stage events holding a value no figure can use are left out (`tandem.engine.usable`)."""
    raw = first_entries(usable(leads, "leads"), usable(events, "stage_events"), stages, as_of)
    n = len(stages)
    times = [raw[f"t{k}"] for k in range(n)]
    entries: dict[str, ir.TimestampValue] = {}
    for k in range(n):
        if strict:
            # Passed in order: every stage up to k has an entry, and none is earlier than the one before it.
            in_order = ibis.and_(*(t.notnull() for t in times[: k + 1]), *(times[j] <= times[j + 1] for j in range(k)))
            entries[stage_column(k)] = ibis.cases((in_order, times[k]), else_=ibis.null("timestamp"))
        else:
            # The earliest entry into k or any later stage (written flat: nesting min() grows exponentially).
            entries[stage_column(k)] = _earliest_of(times[k:])
    return raw.mutate(**entries).drop(*(f"t{k}" for k in range(n)))


def _earliest_of(values: Sequence[ir.TimestampValue]) -> ir.TimestampValue:
    """The earliest non-null timestamp of `values`, or null when all are (LEAST skips nulls on every backend)."""
    return values[0] if len(values) == 1 else ibis.least(*values)


def long_entries(entries: ir.Table, n_stages: int, keep: Sequence[str]) -> ir.Table:
    """One row per (lead, stage reached): `keep` columns, ``stage_index``, ``entered``, ``next_entered``, ``won_at``.

    ``next_entered`` is the entry into the following stage (null for the last), ``won_at`` the entry into the last.
    Unfolded with UNNEST over the stage indexes rather than a UNION of one SELECT per stage: a union makes the
    backends compute the entry table once per stage.
    """
    columns = [stage_column(k) for k in range(n_stages)]
    index = ibis.literal(list(range(n_stages)), type="array<int64>").unnest()
    unfolded = entries.select(*keep, *columns, stage_index=index)

    def pick(offset: int) -> ir.TimestampValue:
        branches = [
            (unfolded.stage_index == k, unfolded[columns[k + offset]]) for k in range(n_stages) if k + offset < n_stages
        ]
        return ibis.cases(*branches, else_=ibis.null("timestamp")).cast("timestamp")

    rows = unfolded.select(
        *keep,
        stage_index=unfolded.stage_index,
        entered=pick(0),
        next_entered=pick(1),
        won_at=unfolded[columns[-1]].cast("timestamp"),
    )
    return rows.filter(rows.entered.notnull())


def check_columns(table: ir.Table, columns: Sequence[str], what: str) -> None:
    """Refuse breakdown or filter columns the table does not have, listing the ones it has."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        available = ", ".join(c for c in table.columns if not c.startswith("_"))
        raise ConfigError(f"unknown {what} column(s) {', '.join(missing)}; available: {available}")


def breakdown_aliases(table: ir.Table, by: Sequence[str]) -> tuple[ir.Table, list[str]]:
    """`table` with a copy of each breakdown column under its position's name (``_by0``, ``_by1``...), and those names.

    The engine groups by these copies, never by the columns' own names: an attribute may be named like a column
    the engine adds on the way (``converted``, which the X Education mapping makes, ``reached``, ``entered``,
    ``period``), and would otherwise be overwritten or clash. Names starting with ``_`` are tandem's own: no
    breakdown can take one (`check_columns` does not list them).
    """
    check_columns(table, by, "breakdown")
    aliases = [f"_by{index}" for index in range(len(by))]
    return table.mutate(**{alias: table[column] for alias, column in zip(aliases, by, strict=True)}), aliases


def breakdown_names(by: Sequence[str], own: Sequence[str]) -> list[str]:
    """What each breakdown column is called in a result whose own columns are `own`: its name, or ``by_<name>``
    when the result has a column of that name (``stage``, ``period``, ``leads``...), so that both can be read."""
    taken = set(own)
    names: list[str] = []
    for column in by:
        name = column
        while name in taken:
            name = f"by_{name}"
        taken.add(name)
        names.append(name)
    return names


def named_breakdown(result: ir.Table, by: Sequence[str], aliases: Sequence[str]) -> ir.Table:
    """`result` with its breakdown copies (`breakdown_aliases`) renamed as `breakdown_names` says."""
    own = [column for column in result.columns if column not in aliases]
    names = breakdown_names(by, own)
    return result.rename(**{name: alias for name, alias in zip(names, aliases, strict=True)})
