"""The funnel: volumes, conversion (cohort and period view, with censoring), and velocity per stage.

How this works: the entry table (one row per lead, an entry time per stage) is unfolded into one row per
(lead, stage reached), and each row's measures of its step to the next stage are computed once (`measured_rows`:
whole seconds of both entries, then converted, still open, the step in days, the Kaplan-Meier day). One
aggregation groups those rows by breakdown, period of entry and stage, and measures each stage's cohort: how many
entered, how many went on to the next stage (within the window), how many are still open, and the quartiles and
mean of the step's duration. A Kaplan-Meier aggregation of the same rows gives the censoring-aware conversion.
Each stage's row then takes the previous stage's cohort figures ("from previous"): every cohort is unfolded onto
every stage of its group and period and one GROUP BY gathers them (`_by_stage`), so an empty stage shows 0 rather
than disappearing, with no join.

Every step is an Ibis expression; nothing is computed in Python. See docs/funnel-semantics.md for the rules. The
expression is built and compiled once per shape of question, then rebound to each question's moments
(`tandem.engine.compiled`): the moments reach it only as literals, never as values derived in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import (
    SECONDS_PER_DAY,
    breakdown_aliases,
    entry_table,
    long_entries,
    named_breakdown,
    whole_seconds,
)
from tandem.engine.spec import PERIOD_UNITS, FunnelSpec
from tandem.engine.survival import km_conversion
from tandem.engine.usable import usable

__all__ = ["FUNNEL_COLUMNS", "funnel_table", "measured_rows", "place", "stage_rows"]

_DAY_SECONDS = 86400  # an integer: whole seconds compare exactly

#: Columns of a funnel result after the breakdown (and period) columns.
FUNNEL_COLUMNS = (
    "stage",
    "stage_index",
    "reached",
    "previous_reached",
    "converted_from_previous",
    "conversion_from_previous",
    "still_open_from_previous",
    "km_conversion_from_previous",
    "period_conversion_from_previous",
    "median_days_from_previous",
    "p25_days_from_previous",
    "p75_days_from_previous",
    "mean_days_from_previous",
)


def place(
    table: ir.Table, when: ir.TimestampValue, spec: FunnelSpec, keys: Sequence[str]
) -> tuple[ir.Table, list[str]]:
    """Keep rows whose `when` is in the spec's range [start, end); add ``period`` when asked. Returns the keys."""
    if spec.start is not None:
        table = table.filter(when >= ibis.literal(spec.start, type="timestamp"))
    if spec.end is not None:
        table = table.filter(when < ibis.literal(spec.end, type="timestamp"))
    grouped = list(keys)
    if spec.period is not None:
        table = table.mutate(period=when.truncate(PERIOD_UNITS[spec.period]))
        grouped.append("period")
    return table, grouped


def stage_rows(leads: ir.Table, events: ir.Table, spec: FunnelSpec) -> tuple[ir.Table, list[str], list[str]]:
    """One row per (lead, stage reached) in range, with the group keys; returns the table, the key names (the
    breakdown's copies, `breakdown_aliases`, then ``period`` when asked) and the breakdown's copies alone."""
    # Leads holding a value no figure can use are left out before the columns are narrowed (tandem.engine.usable).
    aliased, by = breakdown_aliases(usable(leads, "leads"), spec.by)
    # Only the columns the funnel reads: a smaller expression to build and compile, and narrower SQL.
    used = aliased.select("lead_id", "created_at", *by)
    entries = entry_table(used, events, spec.stages, strict=spec.strict, as_of=spec.as_of)
    rows = long_entries(entries, len(spec.stages), keep=["lead_id", *by])
    table, keys = place(rows, rows.entered, spec, by)
    return table, keys, by


def measured_rows(rows: ir.Table, keys: list[str], spec: FunnelSpec) -> ir.Table:
    """Each (lead, stage) row's measures of the step k -> k+1, computed once for the cohorts and Kaplan-Meier.

    Columns: `keys`, ``stage_index``, ``_converted`` (reached k+1, within the window if any), ``_still_open`` (not
    converted, younger than the horizon), ``_days`` (the step's duration in days, null without k+1) and ``_day``
    (Kaplan-Meier's whole days: to k+1 when converted, else to `as_of`; any day past the horizon counted as H+1).

    Both times are turned into whole seconds once (`whole_seconds`), and every measure is integer arithmetic on
    them or a comparison with a constant. Entries are never after `as_of` (`first_entries` drops later events), so
    a next entry that exists is a conversion by `as_of`; comparing the whole seconds is exact, so these are the
    same as comparing `days_between` with the window and the horizon in days. Kaplan-Meier reads only days up to
    the horizon and how many leads outlast each: the days past it are all alike (fewer groups for the same result).
    """
    # Whole seconds in a projection of their own: Ibis keeps it rather than inline it at each of its three uses.
    timed = rows.select(
        *keys, "stage_index", _entered_s=whole_seconds(rows.entered), _next_s=whole_seconds(rows.next_entered)
    )
    step_s = timed._next_s - timed._entered_s
    age_s = whole_seconds(ibis.literal(spec.as_of, type="timestamp")) - timed._entered_s
    converted = timed._next_s.notnull()
    if spec.window_days is not None:
        converted = converted & (step_s <= ibis.literal(spec.window_days * _DAY_SECONDS, type="int64"))
    horizon_s = ibis.literal(spec.horizon * _DAY_SECONDS, type="int64")
    day = (ibis.cases((converted, step_s), else_=age_s).cast("float64") / _per_day()).floor().cast("int64")
    return timed.select(
        *keys,
        "stage_index",
        _converted=converted,
        _still_open=~converted & (age_s < horizon_s),
        _days=step_s.cast("float64") / _per_day(),
        _day=ibis.least(day, ibis.literal(spec.horizon + 1, type="int64")),
    )


def _per_day() -> ir.FloatingValue:
    return ibis.literal(SECONDS_PER_DAY, type="float64")  # float64: a bare 86400.0 is a decimal on Spark


def _cohorts(measured: ir.Table, keys: list[str]) -> ir.Table:
    """Per group, period and stage k: its cohort's size and how the cohort did on the step k -> k+1."""
    days = measured._days
    # Three quantile aggregates, not one over a list of quantiles: DuckDB would sort the durations once, but
    # indexing the list is off by one on PostgreSQL with Ibis 12 and sqlglot 27 (the index offset is added twice).
    return measured.group_by([*keys, "stage_index"]).aggregate(
        reached=measured.count(),
        converted=measured.count(where=measured._converted),
        still_open=measured.count(where=measured._still_open),
        median_days=days.quantile(0.5, where=measured._converted),
        p25_days=days.quantile(0.25, where=measured._converted),
        p75_days=days.quantile(0.75, where=measured._converted),
        mean_days=days.mean(where=measured._converted),
    )


#: The previous stage's cohort figures each stage's row carries: column of `_cohorts` -> name while assembling.
_CARRIED = {
    "reached": "prev_reached",
    "converted": "prev_converted",
    "still_open": "prev_still_open",
    "median_days": "prev_median",
    "p25_days": "prev_p25",
    "p75_days": "prev_p75",
    "mean_days": "prev_mean",
}


def _by_stage(cohorts: ir.Table, survival: ir.Table, keys: list[str], n_stages: int) -> ir.Table:
    """Per group, period and stage: the stage's own cohort size and the previous stage's cohort figures.

    Each cohort row is unfolded onto every stage of its group (UNNEST over the stage indexes): its size lands on
    its own stage's row, its step figures on the next stage's; the Kaplan-Meier estimate goes onto the next
    stage's row too. One GROUP BY gathers them, so every stage of a group and period that saw any entry has a row
    (an empty stage shows 0 rather than disappearing), a missing breakdown value is a group of its own (as GROUP BY
    treats nulls), and no join is needed. Columns: `keys`, ``stage_index``, ``reached`` and `_CARRIED`'s
    ``prev_*`` and ``prev_km``, null where the previous stage had no cohort.
    """
    index = ibis.literal(list(range(n_stages)), type="array<int64>").unnest()
    unfolded = cohorts.select(*keys, *_CARRIED, _cohort_index=cohorts.stage_index, stage_index=index)
    own = unfolded.stage_index == unfolded._cohort_index
    following = unfolded.stage_index == unfolded._cohort_index + 1

    def only(when: ir.BooleanValue, value: ir.Value) -> ir.Value:
        return ibis.cases((when, value), else_=ibis.null(value.type()))

    spread = unfolded.select(
        *keys,
        "stage_index",
        reached=only(own, unfolded.reached),
        **{name: only(following, unfolded[column]) for column, name in _CARRIED.items()},
        prev_km=ibis.null("float64"),
    )
    estimates = survival.filter(survival._stage_index < n_stages - 1)
    km = estimates.select(
        *keys,
        stage_index=estimates._stage_index + 1,
        reached=ibis.null(spread.reached.type()),
        **{name: ibis.null(spread[name].type()) for name in _CARRIED.values()},
        prev_km=estimates.km.cast("float64"),
    )
    both = ibis.union(spread, km, distinct=False)
    return both.group_by([*keys, "stage_index"]).aggregate(
        **{name: both[name].max() for name in ["reached", *_CARRIED.values(), "prev_km"]}
    )


def funnel_table(leads: ir.Table, events: ir.Table, spec: FunnelSpec) -> ir.Table:
    """The funnel result as one Ibis expression: breakdown keys, period, then `FUNNEL_COLUMNS`."""
    rows, keys, by = stage_rows(leads, events, spec)
    measured = measured_rows(rows, keys, spec)
    m = _by_stage(_cohorts(measured, keys), km_conversion(measured, keys, spec), keys, len(spec.stages))
    first = m.stage_index == 0
    nobody = m.prev_reached.isnull()

    def from_previous(value: ir.Value, when_nobody: ir.Value | None = None) -> ir.Value:
        """Null on the first stage; `when_nobody` (default null) when the previous stage had no entry."""
        null = ibis.null(value.type())
        return ibis.cases((first, null), (nobody, null if when_nobody is None else when_nobody), else_=value)

    zero = ibis.literal(0, type="int64")
    reached = m.reached.fill_null(0).cast("int64")
    previous_reached = ibis.cases((first, ibis.null("int64")), else_=m.prev_reached.fill_null(0).cast("int64"))
    stage = ibis.cases(*((m.stage_index == k, ibis.literal(name)) for k, name in enumerate(spec.stages)))
    result = m.select(
        *[m[k] for k in keys],
        stage=stage.cast("string"),
        stage_index=m.stage_index,
        reached=reached,
        previous_reached=previous_reached,
        converted_from_previous=from_previous(m.prev_converted.cast("int64"), zero),
        conversion_from_previous=from_previous(m.prev_converted.cast("float64") / m.prev_reached.cast("float64")),
        still_open_from_previous=from_previous(m.prev_still_open.cast("int64"), zero),
        km_conversion_from_previous=from_previous(m.prev_km.cast("float64")),
        period_conversion_from_previous=ibis.cases(
            (first | nobody, ibis.null("float64")),
            else_=reached.cast("float64") / m.prev_reached.cast("float64"),
        ),
        median_days_from_previous=from_previous(m.prev_median.cast("float64")),
        p25_days_from_previous=from_previous(m.prev_p25.cast("float64")),
        p75_days_from_previous=from_previous(m.prev_p75.cast("float64")),
        mean_days_from_previous=from_previous(m.prev_mean.cast("float64")),
    )
    return named_breakdown(result.order_by([*keys, "stage_index"]), spec.by, by)
