"""The reverse waterfall: from a revenue goal to the volume each stage needs, month by month, with a range.

DESIGN's formula: required volume at stage k = revenue / deal size / (product of the conversion rates from k to
won); lead time at k = the lags from k to won added. Worked example (tests/plan/test_waterfall.py): $10M at $100k
is 100 deals; 10 % SQO to won needs 1,000 SQOs; 40 % SAL to SQO 2,500 SALs; 80 % MQL to SAL 3,125 MQLs; 10 %
inquiry to MQL 31,250 inquiries; with lags of 2, 1 and 3 months, inquiries must arrive six months ahead.

**Months, and lags as distributions.** The goal is revenue per month (a quarter's goal split by days, or set per
month). The deals each month needs are spread back to the months their earlier stages happen in, step by step,
with each step's lag distribution (`Lag.month_offsets`): if a third of SQLs become deals the same month and two
thirds a month later, then the SQLs a June deal needs happen a third in June and two thirds in May. So volumes
are spread over the months that lead up to the goal, not stacked on one date. Spreading keeps every total: the
volume a stage needs over all months is exactly the goal's deals divided by the rates, as in the formula. A plan
run forward through the same model (`tandem.plan.forward`) gives back the goal's deals in total; month by month
it gives them back exactly where the goal is level or changes at a steady pace, and smoothed (by the lags) where
it steps up or down.

**Ranges.** Rates estimated from data are uncertain (`Rate.draws`: their Beta posterior), and so is a deal size
estimated from data (a normal with its standard error). Each requirement is scaled by ``1 / (rates x deal size)``,
so its range is the requirement times the 10th and 90th percentiles of that factor over seeded draws (the same
draws for every stage and month): "low" needs the rates to come out high, "high" the rates low. Hand-given rates
and deal size are exact, and their range is the requirement itself. Lag uncertainty is not modelled.

**The last day top-of-funnel volume can still close in the period**: the period's last day minus the median lag
from the first stage to the last (half of the converting leads that arrive that day close in time), and minus the
80th percentile (four in five do). The same is given for every stage.

**Months already past.** Given the as-of day, the requirement that falls in months before the as-of month can no
longer be met: those entries were due already. Each stage's total says how much of it that is (`StageTotal.past`),
and the plan carries a warning in plain words naming those months and the share of each stage's requirement they
hold, with the first quarter whose top-of-funnel volume falls mostly in months still ahead
(`first_open_quarter`): with lags of months, the next quarter's leads are mostly due before it starts.

**Budget.** With each channel's share of the first stage's volume and its cost per lead (from spend data, or given),
the first stage's requirement split by the shares, times the cost per lead, is each channel's budget (with the
same range).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from tandem.errors import ConfigError
from tandem.periods import CalendarPeriod, add_months, month_of, next_quarter
from tandem.plan.model import FunnelModel

__all__ = [
    "ChannelBudget",
    "ChannelCost",
    "Requirement",
    "StageTotal",
    "Waterfall",
    "first_open_quarter",
    "past_months_warning",
    "reverse_waterfall",
]

#: The range: the 10th to the 90th percentile.
INTERVAL = (0.10, 0.90)
#: A quarter is open to plan when at most this share of its first stage's requirement falls in months already past.
MOSTLY_PAST = 0.5
#: How many quarters ahead `first_open_quarter` looks before giving up (two years).
QUARTERS_AHEAD = 8


@dataclass(frozen=True)
class Requirement:
    """Entries a stage needs in a month (expected), and their range."""

    stage: str
    month: date
    required: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "month": self.month, "required": self.required, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class StageTotal:
    """A stage's requirement over all months, how long before the last stage it must happen, and by when; `past`
    is the part of `required` due in months before the as-of month (0 without an as-of day)."""

    stage: str
    required: float
    low: float
    high: float
    rate_to_end: float
    lead_time_days: float
    last_entry: date
    last_entry_p80: date
    past: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ChannelCost:
    """A channel's share of the first stage's volume and what a lead (and an entry to the second stage) costs."""

    channel: str
    share: float
    cost_per_lead: float | None = None
    cost_per_second_stage: float | None = None
    #: Which channel a lead counts under (the approved attribution model's sourced rule), when measured.
    basis: str | None = None


@dataclass(frozen=True)
class ChannelBudget:
    channel: str
    share: float
    leads: float
    leads_low: float
    leads_high: float
    cost_per_lead: float | None
    cost_per_second_stage: float | None
    budget: float | None
    budget_low: float | None
    budget_high: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Waterfall:
    """The answer to "what do we need?": per stage and month, per stage in total, and the budget by channel; with
    an as-of day, the warnings about months already past."""

    period_start: date
    period_end: date
    revenue: float
    deals: float
    model: FunnelModel
    rows: list[Requirement]
    totals: list[StageTotal]
    budget: list[ChannelBudget] = field(default_factory=list)
    draws: int = 0
    seed: int = 0
    as_of: date | None = None
    warnings: list[str] = field(default_factory=list)
    #: Which channel a lead counts under in the budget's channel mix (None: a mix given by hand).
    mix_basis: str | None = None

    def total(self, stage: str) -> StageTotal:
        return next(t for t in self.totals if t.stage == stage)

    def required(self, stage: str) -> dict[date, float]:
        return {r.month: r.required for r in self.rows if r.stage == stage}

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {"start": self.period_start, "end": self.period_end},
            "revenue": self.revenue,
            "deal_size": self.model.deal_size,
            "deals": self.deals,
            "interval": list(INTERVAL),
            "draws": self.draws,
            "seed": self.seed,
            "rows": [r.as_dict() for r in self.rows],
            "stages": [t.as_dict() for t in self.totals],
            "budget": [b.as_dict() for b in self.budget],
            "mix_basis": self.mix_basis,
            "model": self.model.as_dict(),
            "as_of": self.as_of,
            "warnings": list(self.warnings),
        }


def reverse_waterfall(
    model: FunnelModel,
    revenue_by_month: Mapping[date, float],
    *,
    period_end: date | None = None,
    costs: Sequence[ChannelCost] = (),
    draws: int = 4000,
    seed: int = 0,
    as_of: date | None = None,
) -> Waterfall:
    """The volume each stage needs per month for the goal's revenue per month (module docs).

    `revenue_by_month` is keyed by each month's first day; `period_end` is the period's last day (default: the
    last goal month's last day). `costs` give the budget by channel; their shares must add up to 1. With `as_of`
    (the day the plan is made), what falls in months before its month is counted as past and warned about.
    """
    goal = {month_of(m): float(v) for m, v in revenue_by_month.items()}
    if not goal or any(v < 0 for v in goal.values()) or sum(goal.values()) <= 0:
        raise ConfigError("a goal needs a positive revenue in at least one month (and none negative)")
    first, last = min(goal), max(goal)
    end = period_end or add_months(last, 1) - timedelta(days=1)
    spread = _spread(model, {m: v / model.deal_size for m, v in goal.items()})
    n = len(model.stages)
    this_month = None if as_of is None else month_of(as_of)

    low_factor, high_factor = _factors(model, draws, seed)
    rows: list[Requirement] = []
    totals: list[StageTotal] = []
    for k, stage in enumerate(model.stages):
        rate = model.rate_to_end(k)
        for month in sorted(spread[k]):
            base = spread[k][month]
            rows.append(Requirement(stage, month, base / rate, base * low_factor[k], base * high_factor[k]))
        base_total = sum(spread[k].values())
        base_past = 0.0 if this_month is None else sum(v for m, v in spread[k].items() if m < this_month)
        lag = model.lag_to_end(k)
        totals.append(
            StageTotal(
                stage=stage,
                required=base_total / rate,
                low=base_total * low_factor[k],
                high=base_total * high_factor[k],
                rate_to_end=rate,
                lead_time_days=lag.mean,
                last_entry=end - timedelta(days=int(np.ceil(lag.quantile(0.5)))),
                last_entry_p80=end - timedelta(days=int(np.ceil(lag.quantile(0.8)))),
                past=base_past / rate,
            )
        )
    warning = None if as_of is None else past_months_warning(model, rows, totals, as_of)
    return Waterfall(
        period_start=first,
        period_end=end,
        revenue=sum(goal.values()),
        deals=sum(spread[n - 1].values()),
        model=model,
        rows=rows,
        totals=totals,
        budget=_budget(totals[0], costs),
        draws=draws,
        seed=seed,
        as_of=as_of,
        warnings=[] if warning is None else [warning],
        mix_basis=next(iter({c.basis for c in costs if c.basis is not None}), None),
    )


def _spread(model: FunnelModel, deals_by_month: Mapping[date, float]) -> list[dict[date, float]]:
    """The deals each month needs, spread back stage by stage over the lags' month offsets; per stage, in
    last-stage units (the rates to the end not yet applied), keyed by month."""
    n = len(model.stages)
    spread: list[dict[date, float]] = [{} for _ in range(n)]
    spread[n - 1] = dict(deals_by_month)
    for k in range(n - 2, -1, -1):
        offsets = model.steps[k].lag.month_offsets()
        earlier: dict[date, float] = {}
        for month, volume in spread[k + 1].items():
            for offset, weight in offsets.items():
                when = add_months(month, -offset)
                earlier[when] = earlier.get(when, 0.0) + volume * weight
        spread[k] = earlier
    return spread


def _past_share(model: FunnelModel, period: CalendarPeriod, as_of: date) -> float:
    """The share of the first stage's requirement for `period` (revenue spread by days) due before as-of's month."""
    first = _spread(model, {m.start: float(m.days) for m in period.months})[0]
    this_month = month_of(as_of)
    return sum(v for m, v in first.items() if m < this_month) / sum(first.values())


def first_open_quarter(model: FunnelModel, as_of: date) -> CalendarPeriod | None:
    """The first quarter after as-of's whose first stage is mostly still ahead: at most `MOSTLY_PAST` of its
    requirement (the quarter's revenue spread by days) due in months already past; None within `QUARTERS_AHEAD`.

    This is the first quarter a plan can still mostly be acted on at the top of the funnel."""
    quarter = next_quarter(as_of)
    for _ in range(QUARTERS_AHEAD):
        if _past_share(model, quarter, as_of) <= MOSTLY_PAST:
            return quarter
        quarter = next_quarter(quarter.start)
    return None


def _months_text(months: Sequence[date]) -> str:
    """Months as a reader scans them: ``2026-10``, ``2026-10 and 2026-11``, or ``2026-07 to 2026-11``."""
    labels = [f"{m:%Y-%m}" for m in sorted(months)]
    if len(labels) <= 2:
        return " and ".join(labels)
    return f"{labels[0]} to {labels[-1]}"


def past_months_warning(
    model: FunnelModel, rows: Sequence[Requirement], totals: Sequence[StageTotal], as_of: date
) -> str | None:
    """The warning for a plan whose requirement falls partly in months before as-of's month, None when none does.

    It names those months, the share of each stage's requirement they hold (stages with under half an entry there
    are left out), and, when the plan starts before it, the first quarter whose top of the funnel is mostly still
    ahead (`first_open_quarter`)."""
    this_month = month_of(as_of)
    past_months = sorted({r.month for r in rows if r.month < this_month and r.required >= 0.5})
    shares = [(t.stage, t.past / t.required) for t in totals if t.past >= 0.5 and t.required > 0]
    if not past_months or not shares:
        return None
    held = ", ".join(f"{share:.0%} of the {stage} requirement" for stage, share in shares)
    first = totals[0]
    text = (
        f"{_months_text(past_months)} {'is' if len(past_months) == 1 else 'are'} already past on "
        f"{as_of.isoformat()} but {'holds' if len(past_months) == 1 else 'hold'} {held} "
        f"({first.past:,.0f} of {first.required:,.0f} {first.stage} entries): "
        "those entries were due before the plan was made, and only the months from "
        f"{this_month:%Y-%m} on can still be acted on"
    )
    suggestion = first_open_quarter(model, as_of)
    goal_start = min((r.month for r in rows if r.stage == totals[-1].stage), default=this_month)
    if suggestion is not None and suggestion.start > goal_start:
        text += f"; {suggestion.label} is the first quarter whose {first.stage} volume is mostly still ahead"
    return text


def _factors(model: FunnelModel, draws: int, seed: int) -> tuple[list[float], list[float]]:
    """Per stage, the 10th and 90th percentiles of ``1 / (rates to the end x deal size / mean deal size)``.

    Exact values when nothing is uncertain (every rate by hand and no deal size error).
    """
    n = len(model.stages)
    uncertain = any(step.rate.estimated for step in model.steps) or bool(model.deal_size_se)
    if not uncertain or draws <= 0:
        exact = [1 / model.rate_to_end(k) for k in range(n)]
        return exact, exact
    rng = np.random.default_rng(seed)
    rates = np.stack([step.rate.draws(rng, draws) for step in model.steps])  # (steps, draws)
    deal = np.full(draws, model.deal_size)
    if model.deal_size_se:
        deal = np.maximum(rng.normal(model.deal_size, model.deal_size_se, draws), model.deal_size * 1e-3)
    deal_factor = model.deal_size / deal
    low: list[float] = []
    high: list[float] = []
    for k in range(n):
        to_end = np.prod(rates[k:], axis=0) if k < n - 1 else np.ones(draws)
        factor = deal_factor / to_end
        low.append(float(np.quantile(factor, INTERVAL[0])))
        high.append(float(np.quantile(factor, INTERVAL[1])))
    return low, high


def _budget(first: StageTotal, costs: Sequence[ChannelCost]) -> list[ChannelBudget]:
    if not costs:
        return []
    shares = sum(c.share for c in costs)
    if abs(shares - 1) > 1e-6:
        raise ConfigError(f"the channel shares add up to {shares:.4g}, not 1 (100 %)")
    budgets = []
    for cost in costs:
        leads, low, high = first.required * cost.share, first.low * cost.share, first.high * cost.share
        price = cost.cost_per_lead
        budgets.append(
            ChannelBudget(
                channel=cost.channel,
                share=cost.share,
                leads=leads,
                leads_low=low,
                leads_high=high,
                cost_per_lead=price,
                cost_per_second_stage=cost.cost_per_second_stage,
                budget=None if price is None else leads * price,
                budget_low=None if price is None else low * price,
                budget_high=None if price is None else high * price,
            )
        )
    return budgets
