"""What response speed is worth, from the company's own data: conversion by time to first touch.

Each lead's first handoff is put in a bucket by the real time (not business time: the buyer's interest fades by
the clock) from the handoff to its first touch: under 5 minutes, 5 to 60 minutes, 1 to 24 hours, over 24 hours, or
no touch yet. For each bucket, and for the coarse groups the published benchmark compares (within an hour, after an
hour, after a day), two outcomes are measured from the handoff: reaching the stage after the handoff (SQL, counted
cumulatively: a lead that reached a later stage passed it) and reaching the last stage (won).

Censoring, as in the funnel (`tandem.engine.survival`): leads handed over recently have not had time to convert,
so each group's conversion is a Kaplan-Meier estimate by day H (30 days to SQL, 180 to won). Beside it, the
*matured* counts (leads handed over at least H days before the as-of moment, and how many converted within H
days) give a plain share with no censoring at all; the comparison's interval is computed on them (`compare`).

The benchmark (HBR, 2011): leads contacted within an hour are about 7 times likelier to qualify than those
contacted after an hour, and 60 times likelier than after 24 hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import days_between, whole_seconds
from tandem.engine.spec import FunnelSpec
from tandem.engine.survival import km_conversion

__all__ = [
    "BENCHMARK",
    "BUCKETS",
    "GROUPS",
    "HORIZONS",
    "Comparison",
    "compare",
    "evidence",
    "speed_table",
]

#: (label, from seconds, to seconds) of the buckets, in order; a lead with no touch yet is in "no touch yet".
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("under 5 min", 0, 300),
    ("5-60 min", 300, 3600),
    ("1-24 h", 3600, 86400),
    ("over 24 h", 86400, None),
)
NO_TOUCH = "no touch yet"
#: The coarse groups the benchmark compares.
GROUPS = ("within 1 h", "after 1 h", "after 24 h")
#: Days by which each outcome is estimated: reaching the stage after the handoff, and the last stage.
HORIZONS = (30, 180)
#: The published ratios (HBR, 2011): within an hour against after an hour, and against after 24 hours.
BENCHMARK = {"within_hour_vs_after_hour": 7.0, "within_hour_vs_after_day": 60.0, "source": "HBR, 2011"}


def speed_table(
    clocks: ir.Table, events: ir.Table, stages: Sequence[str], *, handoff_stage: str, as_of: datetime
) -> ir.Table:
    """Per group (a bucket, ``no touch yet``, or one of `GROUPS`) and outcome (0: the stage after the handoff, 1:
    the last stage): ``leads``, ``converted`` (by `as_of`), ``matured``, ``matured_converted`` and ``km`` (the
    Kaplan-Meier estimate by the outcome's horizon)."""
    following = stages[stages.index(handoff_stage) + 1 :]
    first = clocks.filter(clocks.clock == "first_touch", clocks.episode == 1)
    first = first.select("lead_id", "start", "touched_at")
    response = whole_seconds(first.touched_at) - whole_seconds(first.start)
    touched = first.touched_at.notnull() & (first.touched_at <= as_of)
    bucket = ibis.cases(
        *[(touched & (response < high) if high is not None else touched, label) for label, _, high in BUCKETS],
        else_=NO_TOUCH,
    )
    coarse = ibis.cases(
        (touched & (response < 3600), GROUPS[0]),
        (touched, GROUPS[1]),
        else_=ibis.null("string"),
    )
    leads = first.mutate(bucket=bucket, coarse=coarse, late=touched & (response >= 86400))
    seen = events.filter(events.occurred_at <= as_of)
    reached = [
        seen.filter(seen.stage.isin(list(following))).group_by("lead_id").aggregate(o0=lambda t: t.occurred_at.min()),
        seen.filter(seen.stage == stages[-1]).group_by("lead_id").aggregate(o1=lambda t: t.occurred_at.min()),
    ]
    joined = leads
    for table in reached:
        joined = joined.left_join(table, "lead_id").drop("lead_id_right")
    parts: list[ir.Table] = []
    for outcome, horizon in enumerate(HORIZONS):
        entry = joined[f"o{outcome}"]
        converted = entry.notnull()
        ended = ibis.ifelse(converted, entry, ibis.literal(as_of))
        days = days_between(joined.start, ended).floor().cast("int64")
        day = ibis.greatest(ibis.least(days, horizon + 1), 0)
        matured = joined.start <= ibis.literal(as_of - timedelta(days=horizon))
        base = joined.mutate(
            stage_index=ibis.literal(outcome, type="int64"),
            _day=day,
            _converted=converted,
            _matured=matured,
            _matured_converted=matured & converted & (days <= horizon),
        )
        labelled = [
            base.mutate(label=base.bucket),
            base.filter(base.coarse.notnull()).mutate(label=base.coarse),
            base.filter(base.late).mutate(label=ibis.literal(GROUPS[2])),
        ]
        rows = ibis.union(*labelled, distinct=False).select(
            "label", "stage_index", "_day", "_converted", "_matured", "_matured_converted"
        )
        spec = FunnelSpec(stages=tuple(stages), as_of=as_of, horizon_days=horizon)
        km = km_conversion(rows, ["label"], spec)
        counts = rows.group_by(["label", "stage_index"]).aggregate(
            leads=rows.count(),
            converted=rows.count(where=rows._converted),
            matured=rows.count(where=rows._matured),
            matured_converted=rows.count(where=rows._matured_converted),
        )
        parts.append(
            counts.left_join(km, [counts.label == km.label, counts.stage_index == km._stage_index]).select(
                counts.label,
                outcome=counts.stage_index,
                leads=counts.leads,
                converted=counts.converted,
                matured=counts.matured,
                matured_converted=counts.matured_converted,
                km=km.km,
            )
        )
    return ibis.union(*parts, distinct=False)


@dataclass(frozen=True)
class Comparison:
    """How much likelier one group converts than another, on matured leads, with a 95 % interval."""

    ratio: float | None
    low: float | None
    high: float | None
    fast: tuple[int, int]  # (matured leads, converted) of the faster group
    slow: tuple[int, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "low": self.low,
            "high": self.high,
            "fast_leads": self.fast[0],
            "fast_converted": self.fast[1],
            "slow_leads": self.slow[0],
            "slow_converted": self.slow[1],
        }


def compare(fast: tuple[int, int], slow: tuple[int, int]) -> Comparison:
    """The risk ratio fast/slow (shares converted among matured leads) with Katz's 95 % log interval; no ratio
    when either group has no matured lead or no conversion (a ratio to zero says nothing)."""
    (n1, x1), (n2, x2) = fast, slow
    if not (n1 and n2 and x1 and x2):
        return Comparison(None, None, None, fast, slow)
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(max(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2, 0.0))
    return Comparison(ratio, ratio * math.exp(-1.96 * se), ratio * math.exp(1.96 * se), fast, slow)


def evidence(comparison: Comparison) -> str:
    """How strong the company's own evidence is: ``strong`` when both groups have 100 matured leads and the interval
    excludes no difference, ``moderate`` with 30 each, else ``weak``."""
    if comparison.ratio is None or comparison.low is None or comparison.high is None:
        return "weak"
    clear = comparison.low > 1 or comparison.high < 1
    smallest = min(comparison.fast[0], comparison.slow[0])
    if clear and smallest >= 100:
        return "strong"
    if clear and smallest >= 30:
        return "moderate"
    return "weak"
