"""Velocity distributions: how long a step takes, in bins of days, and the sales cycle from any stage to won."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import breakdown_aliases, days_between, entry_table, named_breakdown, stage_column
from tandem.engine.funnel import place
from tandem.engine.spec import FunnelSpec
from tandem.errors import ConfigError

__all__ = ["DAY_BINS", "velocity_table"]

#: Bins of a step's duration in days: [lower, upper).
DAY_BINS: tuple[tuple[float, float | None], ...] = (
    (0, 1),
    (1, 3),
    (3, 7),
    (7, 14),
    (14, 30),
    (30, 60),
    (60, 90),
    (90, 180),
    (180, None),
)


def _label(lower: float, upper: float | None) -> str:
    return f"{lower:g}-{upper:g}" if upper is not None else f"{lower:g}+"


def velocity_table(
    leads: ir.Table, events: ir.Table, spec: FunnelSpec, from_stage: str, to_stage: str | None = None
) -> ir.Table:
    """Per breakdown and period of entry into `from_stage`: converted leads per duration bin to `to_stage`.

    `to_stage` defaults to the next stage; the last stage gives the sales cycle from `from_stage` to won.
    Also the quantiles and mean of the duration, for the same leads.
    """
    start = spec.stage_index(from_stage)
    end = spec.stage_index(to_stage) if to_stage is not None else start + 1
    if end <= start or end >= len(spec.stages):
        raise ConfigError(f"velocity goes from a stage to a later one; got {from_stage!r} -> {to_stage!r}")
    aliased, by = breakdown_aliases(leads, spec.by)
    entries = entry_table(aliased, events, spec.stages, strict=spec.strict, as_of=spec.as_of)
    entered = entries[stage_column(start)].cast("timestamp")
    reached = entries[stage_column(end)].cast("timestamp")
    cohort = entries.mutate(entered=entered, _reached=reached).filter(entered.notnull(), reached.notnull())
    joined, keys = place(cohort, cohort.entered, spec, by)
    days = days_between(joined.entered, joined._reached)
    bins = {
        f"days_{_label(lo, hi)}": joined.count(where=(days >= lo) if hi is None else (days >= lo) & (days < hi))
        for lo, hi in DAY_BINS
    }
    grouped = joined.group_by(keys) if keys else joined
    agg = grouped.aggregate(
        leads=joined.count(),
        median_days=days.quantile(0.5),
        p25_days=days.quantile(0.25),
        p75_days=days.quantile(0.75),
        mean_days=days.mean(),
        **bins,
    )
    labelled = agg.mutate(from_stage=ibis.literal(spec.stages[start]), to_stage=ibis.literal(spec.stages[end]))
    return named_breakdown(labelled.order_by(keys) if keys else labelled, spec.by, by)
