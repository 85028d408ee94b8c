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
from tandem.periods import add_months, month_of
from tandem.plan.model import FunnelModel

__all__ = [
    "ChannelBudget",
    "ChannelCost",
    "Requirement",
    "StageTotal",
    "Waterfall",
    "reverse_waterfall",
]

#: The range: the 10th to the 90th percentile.
INTERVAL = (0.10, 0.90)


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
    """A stage's requirement over all months, how long before the last stage it must happen, and by when."""

    stage: str
    required: float
    low: float
    high: float
    rate_to_end: float
    lead_time_days: float
    last_entry: date
    last_entry_p80: date

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ChannelCost:
    """A channel's share of the first stage's volume and what a lead (and an entry to the second stage) costs."""

    channel: str
    share: float
    cost_per_lead: float | None = None
    cost_per_second_stage: float | None = None


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
    """The answer to "what do we need?": per stage and month, per stage in total, and the budget by channel."""

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
            "model": self.model.as_dict(),
        }


def reverse_waterfall(
    model: FunnelModel,
    revenue_by_month: Mapping[date, float],
    *,
    period_end: date | None = None,
    costs: Sequence[ChannelCost] = (),
    draws: int = 4000,
    seed: int = 0,
) -> Waterfall:
    """The volume each stage needs per month for the goal's revenue per month (module docs).

    `revenue_by_month` is keyed by each month's first day; `period_end` is the period's last day (default: the
    last goal month's last day). `costs` give the budget by channel; their shares must add up to 1.
    """
    goal = {month_of(m): float(v) for m, v in revenue_by_month.items()}
    if not goal or any(v < 0 for v in goal.values()) or sum(goal.values()) <= 0:
        raise ConfigError("a goal needs a positive revenue in at least one month (and none negative)")
    first, last = min(goal), max(goal)
    end = period_end or add_months(last, 1) - timedelta(days=1)

    # Spread the deals back, stage by stage; `spread[k]` is in last-stage units (rates not yet applied).
    n = len(model.stages)
    spread: list[dict[date, float]] = [{} for _ in range(n)]
    spread[n - 1] = {m: v / model.deal_size for m, v in goal.items()}
    for k in range(n - 2, -1, -1):
        offsets = model.steps[k].lag.month_offsets()
        earlier: dict[date, float] = {}
        for month, volume in spread[k + 1].items():
            for offset, weight in offsets.items():
                when = add_months(month, -offset)
                earlier[when] = earlier.get(when, 0.0) + volume * weight
        spread[k] = earlier

    low_factor, high_factor = _factors(model, draws, seed)
    rows: list[Requirement] = []
    totals: list[StageTotal] = []
    for k, stage in enumerate(model.stages):
        rate = model.rate_to_end(k)
        for month in sorted(spread[k]):
            base = spread[k][month]
            rows.append(Requirement(stage, month, base / rate, base * low_factor[k], base * high_factor[k]))
        base_total = sum(spread[k].values())
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
            )
        )
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
    )


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
