"""The sufficiency check: a marketing plan run forward through the funnel model, against the goal.

A plan is programs: a channel's spend over some days and the volume it brings (given, or its budget divided by
the channel's cost per lead). Each program's volume is spread over its days, so over its months by days, at the
stage it is counted at (the first stage unless said otherwise). From there the model carries it forward, step by
step, with each step's rate and lag distribution (`Lag.month_offsets`), to the deals each month.

**Which deals count for the goal.** The goal is a period's revenue, so the plan is judged by the revenue its
volumes bring **inside the period** (`expected_revenue`, with its range); what its leads bring **after** the period
is shown separately (`after_period_revenue`): it counts for the next period, not this one. The **shortfall by stage
and month** (the plan's entries against what the reverse waterfall says each month needs) shows where timing is
off; a page lists only the months that can still be acted on.

**Range**, from seeded draws: the rates from their posteriors (`Rate.draws`), the mean deal size from its
standard error; given those, the number of deals landing in the period is Poisson (a program's leads arrive as a
Poisson count and each converts independently, which thins a Poisson into a Poisson), and their revenue is the
deals times the mean deal plus the spread of single deals (normal, by the central limit theorem, when that spread
is known).

**No chance of the goal here.** The plan's own leads are only part of what the period will win: deals already
open and leads already in flight bring the rest. The one chance of reaching the goal is the forecast's
(`tandem.forecast.service`), which runs the plan's volumes as its new arrivals, and every page shows that one.

What it leaves out: leads and deals already in the funnel when the plan starts, which the forecast adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from tandem.errors import ConfigError
from tandem.money import format_whole
from tandem.periods import add_months, month_of
from tandem.plan.model import FunnelModel
from tandem.plan.waterfall import INTERVAL, ChannelCost, reverse_waterfall

__all__ = ["Program", "Sufficiency", "forward_entries", "sufficiency"]


#: The range of days, span and amounts a program may have: beyond them no plan is meant, only overflow.
FIRST_DAY, LAST_DAY, MAX_DAYS = date(1900, 1, 1), date(2999, 12, 31), 3660
MAX_AMOUNT = 1e15


@dataclass(frozen=True)
class Program:
    """One line of the marketing plan: a channel's budget over some days and the volume it is expected to bring."""

    name: str
    channel: str
    budget: float
    start: date
    end: date  # inclusive
    volume: float | None = None
    stage: str | None = None
    campaign: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ConfigError(f"program {self.name!r} ends ({self.end}) before it starts ({self.start})")
        if not (self.start >= FIRST_DAY and self.end <= LAST_DAY) or (self.end - self.start).days > MAX_DAYS:
            raise ConfigError(
                f"program {self.name!r} runs {self.start} to {self.end}: a program runs at most ten years, between "
                f"{FIRST_DAY.year} and {LAST_DAY.year}"
            )
        for what, value in (("budget", self.budget), ("volume", self.volume)):
            if value is not None and not 0 <= value <= MAX_AMOUNT:
                raise ConfigError(f"program {self.name!r}: its {what} {value:g} is not between 0 and {MAX_AMOUNT:g}")

    def by_month(self, volume: float) -> dict[date, float]:
        """`volume` spread over the program's days, summed per month."""
        days = (self.end - self.start).days + 1
        spread: dict[date, float] = {}
        month = month_of(self.start)
        while month <= self.end:
            first = max(month, self.start)
            last = min(add_months(month, 1) - timedelta(days=1), self.end)
            spread[month] = volume * ((last - first).days + 1) / days
            month = add_months(month, 1)
        return spread


@dataclass(frozen=True)
class ProgramOutcome:
    name: str
    channel: str
    budget: float
    stage: str
    volume: float
    cost_per_lead: float | None
    #: Deals and revenue landing inside the period, and the revenue the program brings after it.
    expected_deals: float
    expected_revenue: float
    after_period_revenue: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Gap:
    """A stage's entries in a month: what the plan brings, what the goal needs, and the difference."""

    stage: str
    month: date
    planned: float
    required: float

    @property
    def gap(self) -> float:
        return self.required - self.planned

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "gap": self.gap}


@dataclass(frozen=True)
class Sufficiency:
    """Will the plan do? The revenue its volumes bring inside the period and its range against the goal, what they
    bring after it, and the gaps by stage and month (module docs)."""

    goal: float
    #: Revenue landing inside the period, and its P10-P90 range.
    expected_revenue: float
    low: float
    high: float
    #: Revenue the plan's volumes bring after the period (it counts for the next one).
    after_period_revenue: float
    #: Deals landing inside the period.
    deals: float
    budget: float
    by_month: list[dict[str, Any]]
    shortfall: list[Gap]
    programs: list[ProgramOutcome]
    draws: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def in_period_revenue(self) -> float:
        """The revenue landing inside the period (the same as `expected_revenue`; the name older documents use)."""
        return self.expected_revenue

    @property
    def sufficient(self) -> bool:
        """The revenue expected inside the period reaches the goal by itself."""
        return self.expected_revenue >= self.goal

    def biggest_gaps(self, count: int = 5, today: date | None = None) -> list[Gap]:
        """The largest shortfalls by share of what is needed; with `today`, only months that can still be acted on
        (today's month and later)."""
        first = month_of(today) if today is not None else date.min
        gaps = (g for g in self.shortfall if g.gap > 0.5 and g.month >= first)
        return sorted(gaps, key=lambda g: -g.gap / max(g.required, 1))[:count]

    def summary(self) -> str:
        verdict = "meets" if self.sufficient else "falls short of"
        expected, low, high = (format_whole(x) for x in (self.expected_revenue, self.low, self.high))
        return (
            f"The plan {verdict} the goal on its own: {expected} expected within the period (P10 {low} to P90 "
            f"{high}) against {format_whole(self.goal)}, and {format_whole(self.after_period_revenue)} more after "
            f"it, for {format_whole(self.budget)} spent."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "expected_revenue": self.expected_revenue,
            "in_period_revenue": self.in_period_revenue,
            "after_period_revenue": self.after_period_revenue,
            "low": self.low,
            "high": self.high,
            "deals": self.deals,
            "budget": self.budget,
            "sufficient": self.sufficient,
            "summary": self.summary(),
            "by_month": self.by_month,
            "shortfall": [g.as_dict() for g in self.shortfall],
            "programs": [p.as_dict() for p in self.programs],
            "draws": self.draws,
            "seed": self.seed,
            "notes": self.notes,
        }


def forward_entries(model: FunnelModel, stage: str, volume_by_month: Mapping[date, float]) -> list[dict[date, float]]:
    """Expected entries per month at every stage from `stage` on (earlier stages: empty), at the model's rates."""
    k = model.index(stage)
    entries: list[dict[date, float]] = [{} for _ in model.stages]
    entries[k] = {month_of(m): float(v) for m, v in volume_by_month.items()}
    for j in range(k, len(model.steps)):
        step = model.steps[j]
        offsets = step.lag.month_offsets()
        later: dict[date, float] = {}
        for month, volume in entries[j].items():
            for offset, weight in offsets.items():
                when = add_months(month, offset)
                later[when] = later.get(when, 0.0) + volume * step.rate.value * weight
        entries[j + 1] = later
    return entries


def sufficiency(
    model: FunnelModel,
    programs: Sequence[Program],
    goal_by_month: Mapping[date, float],
    *,
    period_end: date,
    costs: Sequence[ChannelCost] = (),
    draws: int = 4000,
    seed: int = 0,
) -> Sufficiency:
    """Run the plan's programs forward through `model` and judge them against the goal (module docs)."""
    if not programs:
        raise ConfigError("a plan needs at least one program")
    goal = {month_of(m): float(v) for m, v in goal_by_month.items()}
    period = set(goal)
    price = {c.channel: c.cost_per_lead for c in costs}
    n = len(model.stages)
    last = n - 1

    planned: list[dict[date, float]] = [{} for _ in model.stages]
    outcomes: list[ProgramOutcome] = []
    program_units: list[float] = []  # per program: its volume, converted at the rates from its stage to the end
    program_starts: list[int] = []
    in_period: list[float] = []
    all_deals: list[float] = []  # per program: every deal its volume brings, whenever it lands
    for program in programs:
        stage = program.stage or model.stages[0]
        k = model.index(stage)
        volume = program.volume
        cost = price.get(program.channel)
        if volume is None:
            if not cost:
                raise ConfigError(
                    f"program {program.name!r}: no cost per lead for channel {program.channel!r} to turn its budget "
                    "into leads; give its expected volume"
                )
            volume = program.budget / cost
        entries = forward_entries(model, stage, program.by_month(volume))
        for j in range(n):
            for month, value in entries[j].items():
                planned[j][month] = planned[j].get(month, 0.0) + value
        deals = sum(entries[last].values())
        landing = sum(v for m, v in entries[last].items() if m in period)
        in_period.append(landing)
        all_deals.append(deals)
        program_units.append(volume)
        program_starts.append(k)
        outcomes.append(
            ProgramOutcome(
                name=program.name,
                channel=program.channel,
                budget=program.budget,
                stage=stage,
                volume=volume,
                cost_per_lead=cost if program.volume is None else (program.budget / volume if volume else None),
                expected_deals=landing,
                expected_revenue=landing * model.deal_size,
                after_period_revenue=max(deals - landing, 0.0) * model.deal_size,
            )
        )

    landing = sum(in_period)
    # Each program's share of its deals that land inside the period (its lags decide it, not the rates).
    shares = [inside / deals if deals else 0.0 for inside, deals in zip(in_period, all_deals, strict=True)]
    low, high = _simulate(model, program_units, program_starts, shares, draws, seed)

    required = reverse_waterfall(model, goal, period_end=period_end, draws=0)
    needs = {(r.stage, r.month): r.required for r in required.rows}
    shortfall = []
    for j, stage in enumerate(model.stages):
        months = sorted({m for (s, m) in needs if s == stage} | set(planned[j]))
        for month in months:
            have, need = planned[j].get(month, 0.0), needs.get((stage, month), 0.0)
            if have >= 0.5 or need >= 0.5:
                shortfall.append(Gap(stage, month, have, need))
    by_month = [
        {
            "month": month,
            "goal": goal.get(month, 0.0),
            "expected_revenue": planned[last].get(month, 0.0) * model.deal_size,
        }
        for month in sorted(period | {m for m in planned[last] if m <= max(period)})
    ]
    notes = [] if model.deal_size_sd else ["the spread of single deals is unknown: the range counts deals, not amounts"]
    return Sufficiency(
        goal=sum(goal.values()),
        expected_revenue=landing * model.deal_size,
        low=low,
        high=high,
        after_period_revenue=max(sum(all_deals) - landing, 0.0) * model.deal_size,
        deals=landing,
        budget=sum(p.budget for p in programs),
        by_month=by_month,
        shortfall=shortfall,
        programs=outcomes,
        draws=draws,
        seed=seed,
        notes=notes,
    )


def _simulate(
    model: FunnelModel,
    units: Sequence[float],
    starts: Sequence[int],
    shares: Sequence[float],
    draws: int,
    seed: int,
) -> tuple[float, float]:
    """P10 and P90 of the revenue landing inside the period, over seeded draws (`shares`: each program's share of
    its deals that land inside it)."""
    rng = np.random.default_rng(seed)
    count = max(draws, 1)
    rates = np.stack([step.rate.draws(rng, count) for step in model.steps])  # (steps, draws)
    mean_deals = np.zeros(count)
    for unit, k, share in zip(units, starts, shares, strict=True):
        to_end = np.prod(rates[k:], axis=0) if k < len(model.steps) else np.ones(count)
        mean_deals += unit * to_end * share
    # Poisson draws; above 10 million deals its normal approximation (numpy's Poisson refuses huge means).
    huge = mean_deals > 1e7
    deals = np.where(huge, 0.0, rng.poisson(np.where(huge, 0.0, mean_deals))).astype(float)
    deals[huge] = np.maximum(rng.normal(mean_deals[huge], np.sqrt(mean_deals[huge])), 0.0)
    deal = np.full(count, model.deal_size)
    if model.deal_size_se:
        deal = np.maximum(rng.normal(model.deal_size, model.deal_size_se, count), 0.0)
    revenue = deals * deal
    if model.deal_size_sd:
        revenue = np.maximum(revenue + np.sqrt(deals) * model.deal_size_sd * rng.standard_normal(count), 0.0)
    low, high = np.quantile(revenue, INTERVAL)
    return float(low), float(high)
