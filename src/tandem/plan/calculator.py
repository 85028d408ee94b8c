""" "What do we need?": the reverse waterfall from hand-given numbers, from history, or from both.

`tandem plan waterfall` (and the Plan page) come here. Without a workspace, the model is what the user gives:
``--rate FROM:TO=R`` for each step (the steps chain into the funnel), ``--lag FROM:TO=DAYS`` where known (0
otherwise) and ``--deal-size``. With a workspace, the funnel is its definitions in force, and every rate, lag or
deal size not given by hand is estimated from its history (`tandem.plan.history`); a hand-given step must be one
of the funnel's steps. Given numbers always win: the calculator answers what-ifs on top of history.

Spellings: a rate is a share (``0.4``), a percentage (``40%``) or counts (``120/400``, which also give it a
range); a lag is days (``45``, ``45d``), weeks (``2w``) or months (``3m``, of 30.4375 days).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from tandem import periods
from tandem.durations import parse_days
from tandem.errors import ConfigError
from tandem.money import format_whole
from tandem.periods import CalendarPeriod
from tandem.plan.goals import plan_targets
from tandem.plan.model import FunnelModel, Lag, Rate, Step
from tandem.plan.waterfall import ChannelCost, Waterfall, reverse_waterfall

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.plan.context import PlanContext

__all__ = [
    "Given",
    "PlanInputs",
    "goal_by_month",
    "parse_channel",
    "parse_lag",
    "parse_rate",
    "plan_inputs",
    "plan_model",
    "plan_waterfall",
    "split_by_days",
]

_STEP = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*:\s*([a-z][a-z0-9_]*)\s*=\s*(.+?)\s*$")

# Moved to `tandem.periods`; still importable from here for the command line and the web app until they import
# it from there (a period's months are `CalendarPeriod.months`).
next_quarter = periods.next_quarter


def months_in(period: CalendarPeriod) -> list[CalendarPeriod]:
    """`CalendarPeriod.months`, for the web app's plan routes until they read it there."""
    return period.months


def _step(text: str, what: str, example: str) -> tuple[str, str, str]:
    match = _STEP.match(text.lower())
    if match is None:
        raise ConfigError(f"{what} {text!r} is not FROM:TO=VALUE (stage names in lower case), e.g. {example}")
    return match.group(1), match.group(2), match.group(3)


def parse_rate(text: str) -> tuple[tuple[str, str], Rate]:
    """``mql:sql=0.4``, ``mql:sql=40%`` or ``mql:sql=120/400`` -> ((mql, sql), Rate)."""
    source, target, value = _step(text, "--rate", "mql:sql=0.4, mql:sql=40% or mql:sql=120/400")
    try:
        if "/" in value:
            converted, cohort = (int(part.strip().replace(",", "")) for part in value.split("/", 1))
            return (source, target), Rate.from_counts(converted, cohort)
        if value.endswith("%"):
            return (source, target), Rate(float(value[:-1]) / 100)
        return (source, target), Rate(float(value))
    except ValueError:
        raise ConfigError(
            f"--rate {text!r}: {value!r} is not a share (0.4), a percentage (40%) or counts (120/400)"
        ) from None


def parse_lag(text: str) -> tuple[tuple[str, str], Lag]:
    """``sql:won=45`` (days), ``45d``, ``2w`` or ``3m`` (months of 30.4375 days) -> ((sql, won), Lag)."""
    source, target, value = _step(text, "--lag", "sql:won=45 (days), sql:won=2w or sql:won=3m")
    try:
        return (source, target), Lag.fixed(parse_days(value))
    except ConfigError as exc:
        raise ConfigError(f"--lag {text!r}: {exc}") from None


def parse_channel(text: str) -> ChannelCost:
    """``paid_search=0.6@12.5``: a channel's share of the leads, and optionally its cost per lead."""
    name, sep, rest = text.partition("=")
    share_text, _, cost_text = rest.partition("@")
    try:
        share = float(share_text[:-1]) / 100 if share_text.endswith("%") else float(share_text)
        cost = float(cost_text.replace(",", "").lstrip("$")) if cost_text else None
    except ValueError:
        share = -1.0
        cost = None
    if not sep or not name.strip() or not 0 < share <= 1 or (cost is not None and cost < 0):
        raise ConfigError(f"--channel {text!r} is not NAME=SHARE[@COST_PER_LEAD], e.g. paid_search=0.6@12.5")
    return ChannelCost(name.strip(), share, cost_per_lead=cost)


@dataclass(frozen=True)
class Given:
    """What the user gave by hand; None or empty where history should fill in."""

    rates: Mapping[tuple[str, str], Rate]
    lags: Mapping[tuple[str, str], Lag]
    deal_size: float | None = None


def plan_model(
    given: Given,
    ws: DefinitionsContext | None = None,
    *,
    as_of: datetime | None = None,
    lookback_days: int | None = None,
    horizon_days: int | None = None,
    where: Mapping[str, str] | None = None,
) -> FunnelModel:
    """The model: the given numbers, and (with a workspace) history for the rest (module docs)."""
    if given.deal_size is not None and not given.deal_size > 0:
        raise ConfigError(f"--deal-size is a positive amount, not {given.deal_size:g}")
    if ws is None:
        if given.deal_size is None:
            raise ConfigError("give --deal-size (the mean won amount), or run in a workspace to take it from history")
        return FunnelModel.from_steps(given.rates, given.lags, given.deal_size)

    from tandem.plan.history import DEFAULT_HORIZON_DAYS, DEFAULT_LOOKBACK_DAYS, model_from_history

    stages = ws.definitions_in_force(as_of).definitions.stage_names
    steps = list(itertools.pairwise(stages))
    foreign = [f"{a}:{b}" for a, b in [*given.rates, *given.lags] if (a, b) not in steps]
    if foreign:
        raise ConfigError(
            f"{', '.join(sorted(set(foreign)))} is not a step of this workspace's funnel "
            f"({' -> '.join(stages)}); give rates and lags between consecutive stages"
        )
    complete = all(s in given.rates and s in given.lags for s in steps) and given.deal_size is not None
    if complete:
        assert given.deal_size is not None
        return FunnelModel.from_steps(given.rates, given.lags, given.deal_size, basis="given by hand")
    history = model_from_history(
        ws,
        as_of=as_of,
        lookback_days=lookback_days or DEFAULT_LOOKBACK_DAYS,
        horizon_days=horizon_days or DEFAULT_HORIZON_DAYS,
        where=where,
    )
    mixed = tuple(
        Step(
            s.source,
            s.target,
            given.rates.get((s.source, s.target), s.rate),
            given.lags.get((s.source, s.target), s.lag),
        )
        for s in history.steps
    )
    by_hand = sorted({f"{a}:{b}" for a, b in [*given.rates, *given.lags]})
    basis = history.basis + (f"; by hand: {', '.join(by_hand)}" if by_hand else "")
    if given.deal_size is not None:
        basis += f"; deal size {format_whole(given.deal_size)} by hand"
    return FunnelModel(
        stages=history.stages,
        steps=mixed,
        deal_size=given.deal_size if given.deal_size is not None else history.deal_size,
        deal_size_se=None if given.deal_size is not None else history.deal_size_se,
        deal_size_sd=None if given.deal_size is not None else history.deal_size_sd,
        basis=basis,
        notes=history.notes,
    )


def split_by_days(revenue: float, period: CalendarPeriod) -> dict[date, float]:
    """`revenue` for the period, split over its months by the number of days in each."""
    return {month.start: revenue * month.days / period.days for month in period.months}


def goal_by_month(ws: PlanContext, period: CalendarPeriod) -> dict[date, float]:
    """The company goal's target for each month of the period (set, or derived by days from a longer period)."""
    target = plan_targets(ws.goals.all())
    by_month: dict[date, float] = {}
    for month in period.months:
        found = target(month)
        if found.amount is None:
            raise ConfigError(
                f"no goal for {period.label}: set one (`tandem goal set {period.label} AMOUNT`) or give --revenue"
            )
        by_month[month.start] = float(found.amount)
    return by_month


@dataclass(frozen=True)
class PlanInputs:
    """What a plan question rests on: the model, the revenue per month, the channel mix, the period's last day."""

    model: FunnelModel
    goal_by_month: dict[date, float]
    costs: list[ChannelCost]
    period_end: date


def plan_inputs(
    given: Given,
    ws: PlanContext | None,
    *,
    period: CalendarPeriod,
    revenue: float | None = None,
    costs: Sequence[ChannelCost] = (),
    as_of: datetime | None = None,
    lookback_days: int | None = None,
    horizon_days: int | None = None,
    where: Mapping[str, str] | None = None,
) -> PlanInputs:
    """The given numbers and history (`plan_model`), the revenue given or the period's goal, and the channel mix
    given or measured from spend (with a workspace)."""
    model = plan_model(given, ws, as_of=as_of, lookback_days=lookback_days, horizon_days=horizon_days, where=where)
    if revenue is not None:
        by_month = split_by_days(revenue, period)
    elif ws is not None:
        by_month = goal_by_month(ws, period)
    else:
        raise ConfigError("give --revenue (the period's revenue goal), or run in a workspace that has a goal")
    if not costs and ws is not None:
        from tandem.plan.history import DEFAULT_LOOKBACK_DAYS, channel_costs

        costs = channel_costs(ws, as_of=as_of, lookback_days=lookback_days or DEFAULT_LOOKBACK_DAYS)
    return PlanInputs(model, by_month, list(costs), period.end - timedelta(days=1))


def plan_waterfall(
    given: Given,
    ws: PlanContext | None,
    *,
    period: CalendarPeriod,
    revenue: float | None = None,
    costs: Sequence[ChannelCost] = (),
    as_of: datetime | None = None,
    lookback_days: int | None = None,
    horizon_days: int | None = None,
    where: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Waterfall:
    """The reverse waterfall for a period, on `plan_inputs`."""
    inputs = plan_inputs(
        given,
        ws,
        period=period,
        revenue=revenue,
        costs=costs,
        as_of=as_of,
        lookback_days=lookback_days,
        horizon_days=horizon_days,
        where=where,
    )
    return reverse_waterfall(
        inputs.model, inputs.goal_by_month, period_end=inputs.period_end, costs=inputs.costs, seed=seed
    )
