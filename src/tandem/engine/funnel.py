"""The funnel: volumes, conversion (cohort and period view, with censoring), and velocity per stage.

How this works: the entry table (one row per lead, an entry time per stage) is unfolded into one row per
(lead, stage reached). One aggregation groups those rows by breakdown, period of entry and stage, and measures
each stage's cohort: how many entered, how many went on to the next stage (within the window), how many are still
open, and the quantiles of the step's duration. A Kaplan-Meier aggregation gives the censoring-aware conversion.
Each stage's row then takes the previous stage's cohort figures ("from previous"), over a frame that lists every
stage for every group and period that saw any entry, so an empty stage shows 0 rather than disappearing.

Every step is an Ibis expression; nothing is computed in Python. See docs/funnel-semantics.md for the rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import check_columns, days_between, entry_table, long_entries
from tandem.engine.spec import PERIOD_UNITS, FunnelSpec
from tandem.engine.survival import km_conversion

__all__ = ["FUNNEL_COLUMNS", "funnel_table", "place", "stage_rows"]

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


def stage_rows(leads: ir.Table, events: ir.Table, spec: FunnelSpec) -> tuple[ir.Table, list[str]]:
    """One row per (lead, stage reached) in range, with the group keys; returns the table and the key names."""
    check_columns(leads, spec.by, "breakdown")
    entries = entry_table(leads, events, spec.stages, strict=spec.strict, as_of=spec.as_of)
    rows = long_entries(entries, len(spec.stages), keep=["lead_id", *spec.by])
    return place(rows, rows.entered, spec, spec.by)


def _cohorts(rows: ir.Table, keys: list[str], spec: FunnelSpec) -> ir.Table:
    """Per group, period and stage k: its cohort's size and how the cohort did on the step k -> k+1."""
    as_of = ibis.literal(spec.as_of, type="timestamp")
    step_days = days_between(rows.entered, rows.next_entered)
    converted = rows.next_entered.notnull() & (rows.next_entered <= as_of)
    if spec.window_days is not None:
        converted = converted & (step_days <= ibis.literal(float(spec.window_days), type="float64"))
    age_days = days_between(rows.entered, as_of)
    still_open = ~converted & (age_days < ibis.literal(float(spec.horizon), type="float64"))
    measured = rows.mutate(_converted=converted, _still_open=still_open, _days=step_days)
    days = measured._days
    return measured.group_by([*keys, "stage_index"]).aggregate(
        reached=measured.count(),
        converted=measured.count(where=measured._converted),
        still_open=measured.count(where=measured._still_open),
        median_days=days.quantile(0.5, where=measured._converted),
        p25_days=days.quantile(0.25, where=measured._converted),
        p75_days=days.quantile(0.75, where=measured._converted),
        mean_days=days.mean(where=measured._converted),
    )


def _frame(cohorts: ir.Table, keys: list[str], stages: Sequence[str]) -> ir.Table:
    """Every (group, period) that saw an entry, crossed with every stage (from the small cohort table)."""
    groups = cohorts.select(*keys).distinct() if keys else cohorts.limit(1)
    parts = [
        groups.select(*keys, stage=ibis.literal(stage, type="string"), stage_index=ibis.literal(k, type="int64"))
        for k, stage in enumerate(stages)
    ]
    return ibis.union(*parts, distinct=False)


def funnel_table(leads: ir.Table, events: ir.Table, spec: FunnelSpec) -> ir.Table:
    """The funnel result as one Ibis expression: breakdown keys, period, then `FUNNEL_COLUMNS`."""
    rows, keys = stage_rows(leads, events, spec)
    cohorts = _cohorts(rows, keys, spec)
    survival = km_conversion(rows, keys, spec)
    cohorts = cohorts.left_join(survival, _on(cohorts, survival, keys, "stage_index", "_stage_index")).select(
        cohorts, km=survival.km
    )

    frame = _frame(cohorts, keys, spec.stages)
    here = cohorts.select(*keys, _stage_index=cohorts.stage_index, _reached=cohorts.reached)
    with_reached = frame.left_join(here, _on(frame, here, keys, "stage_index", "_stage_index")).select(
        frame, reached=here._reached.fill_null(0)
    )
    # The previous stage's cohort, moved onto the row of the stage it converts into.
    previous = cohorts.select(
        **{f"_prev_{k}": cohorts[k] for k in keys},
        _prev_stage_index=cohorts.stage_index + 1,
        prev_reached=cohorts.reached,
        prev_converted=cohorts.converted,
        prev_still_open=cohorts.still_open,
        prev_km=cohorts.km,
        prev_median=cohorts.median_days,
        prev_p25=cohorts.p25_days,
        prev_p75=cohorts.p75_days,
        prev_mean=cohorts.mean_days,
    )
    predicates = [_same(with_reached[k], previous[f"_prev_{k}"]) for k in keys]
    m = with_reached.left_join(previous, [*predicates, with_reached.stage_index == previous._prev_stage_index])
    first = m.stage_index == 0
    nobody = m.prev_reached.isnull()

    def from_previous(value: ir.Value, when_nobody: ir.Value | None = None) -> ir.Value:
        """Null on the first stage; `when_nobody` (default null) when the previous stage had no entry."""
        null = ibis.null(value.type())
        return ibis.cases((first, null), (nobody, null if when_nobody is None else when_nobody), else_=value)

    zero = ibis.literal(0, type="int64")
    previous_reached = ibis.cases((first, ibis.null("int64")), else_=m.prev_reached.fill_null(0).cast("int64"))
    result = m.select(
        *[m[k] for k in keys],
        stage=m.stage,
        stage_index=m.stage_index,
        reached=m.reached.cast("int64"),
        previous_reached=previous_reached,
        converted_from_previous=from_previous(m.prev_converted.cast("int64"), zero),
        conversion_from_previous=from_previous(m.prev_converted.cast("float64") / m.prev_reached.cast("float64")),
        still_open_from_previous=from_previous(m.prev_still_open.cast("int64"), zero),
        km_conversion_from_previous=from_previous(m.prev_km.cast("float64")),
        period_conversion_from_previous=ibis.cases(
            (first | nobody, ibis.null("float64")),
            else_=m.reached.cast("float64") / m.prev_reached.cast("float64"),
        ),
        median_days_from_previous=from_previous(m.prev_median.cast("float64")),
        p25_days_from_previous=from_previous(m.prev_p25.cast("float64")),
        p75_days_from_previous=from_previous(m.prev_p75.cast("float64")),
        mean_days_from_previous=from_previous(m.prev_mean.cast("float64")),
    )
    return result.order_by([*keys, "stage_index"])


def _on(
    left: ir.Table, right: ir.Table, keys: Sequence[str], left_stage: str, right_stage: str
) -> list[ir.BooleanValue]:
    """Join on the group keys (a null key matches a null key: a missing value is a group) and the stage."""
    return [*(_same(left[k], right[k]) for k in keys), left[left_stage] == right[right_stage]]


def _same(a: ir.Value, b: ir.Value) -> ir.BooleanValue:
    """`a` equals `b`, or both are null, as two equalities: an OR in a join condition rules out a hash join."""
    return (a.isnull() == b.isnull()) & (a.cast("string").fill_null("") == b.cast("string").fill_null(""))
