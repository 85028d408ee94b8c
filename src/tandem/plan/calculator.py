""" "What do we need?": the reverse waterfall from hand-given numbers, from history, or from both.

The waterfall question (`tandem.questions.plan.WaterfallQuestion`: `tandem plan waterfall`, the Plan page and
``GET /api/plan/waterfall``) comes here. Without a workspace, the model is what the user gives: a rate
``FROM:TO=R`` for each step (the steps chain into the funnel), a lag ``FROM:TO=DAYS`` where known (0 otherwise)
and the deal size. With a workspace, the funnel is its definitions in force, and every rate, lag or deal size not
given by hand is estimated from its history (`tandem.plan.history`); a hand-given step must be one of the funnel's
steps. Given numbers always win: the calculator answers what-ifs on top of history.

Spellings: a rate is a share (``0.4``), a percentage (``40%``) or counts (``120/400``, which also give it a
range), at least `MIN_RATE`; a lag is days (``45``, ``45d``), weeks (``2w``) or months (``3m``, of 30.4375
days), at most `MAX_LAG_DAYS`. Smaller rates and longer lags take a plan off the calendar (a lag of 20,000 days
asks for leads in 1972), so they are refused here, for every caller. The messages name the value, not the option
or parameter it came in: each front end says that in its own words.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from tandem import periods
from tandem.accounts import PERMISSION_ROLES, Permission
from tandem.durations import parse_days
from tandem.errors import ConfigError
from tandem.money import MAX_AMOUNT, format_whole
from tandem.periods import CalendarPeriod
from tandem.plan.goals import GoalInfo, plan_targets
from tandem.plan.model import FunnelModel, Lag, Rate, Step
from tandem.plan.waterfall import ChannelCost, Waterfall, reverse_waterfall

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.plan.context import PlanContext

__all__ = [
    "MAX_LAG_DAYS",
    "MIN_RATE",
    "Given",
    "PlanInputs",
    "goal_by_month",
    "missing_goal",
    "parse_channel",
    "parse_lag",
    "parse_rate",
    "plan_inputs",
    "plan_model",
    "plan_waterfall",
    "split_by_days",
]

#: The smallest conversion rate a plan rests on, and the longest lag between two stages (ten years).
MIN_RATE = 1e-6
MAX_LAG_DAYS = 3650

_STEP = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*:\s*([a-z][a-z0-9_]*)\s*=\s*(.+?)\s*$")

# Moved to `tandem.periods`; still importable from here for the command line and the web app until they import
# it from there (a period's months are `CalendarPeriod.months`).
next_quarter = periods.next_quarter


def months_in(period: CalendarPeriod) -> list[CalendarPeriod]:
    """`CalendarPeriod.months`, for the web app's plan routes until they read it there."""
    return period.months


def _step(text: str, example: str) -> tuple[str, str, str]:
    match = _STEP.match(text.lower())
    if match is None:
        raise ConfigError(f"{text!r} is not FROM:TO=VALUE (stage names in lower case), e.g. {example}", value=text)
    return match.group(1), match.group(2), match.group(3)


def parse_rate(text: str) -> tuple[tuple[str, str], Rate]:
    """``mql:sql=0.4``, ``mql:sql=40%`` or ``mql:sql=120/400`` -> ((mql, sql), Rate); at least `MIN_RATE`."""
    source, target, value = _step(text, "mql:sql=0.4, mql:sql=40% or mql:sql=120/400")
    try:
        if "/" in value:
            converted, cohort = (int(part.strip().replace(",", "")) for part in value.split("/", 1))
            rate = Rate.from_counts(converted, cohort)
        elif value.endswith("%"):
            rate = Rate(float(value[:-1]) / 100)
        else:
            rate = Rate(float(value))
    except ConfigError as exc:
        raise ConfigError(f"{text!r}: {exc}", value=text) from None
    except ValueError:
        raise ConfigError(
            f"{text!r}: {value!r} is not a share (0.4), a percentage (40%) or counts (120/400)", value=text
        ) from None
    if rate.value < MIN_RATE:
        raise ConfigError(f"{text!r} is below {MIN_RATE:g}; no plan rests on a rate that small", value=text)
    return (source, target), rate


def parse_lag(text: str) -> tuple[tuple[str, str], Lag]:
    """``sql:won=45`` (days), ``45d``, ``2w`` or ``3m`` (months of 30.4375 days) -> ((sql, won), Lag); at most
    `MAX_LAG_DAYS`."""
    source, target, value = _step(text, "sql:won=45 (days), sql:won=2w or sql:won=3m")
    try:
        lag = Lag.fixed(parse_days(value))
    except ConfigError as exc:
        raise ConfigError(f"{text!r}: {exc}", value=text) from None
    if lag.mean > MAX_LAG_DAYS:
        raise ConfigError(f"{text!r} is more than {MAX_LAG_DAYS:,} days; no plan reaches that far", value=text)
    return (source, target), lag


def parse_channel(text: str) -> ChannelCost:
    """``paid_search=0.6@12.5``: a channel's share of the leads, and optionally its cost per lead (at most
    `tandem.money.MAX_AMOUNT`)."""
    name, sep, rest = text.partition("=")
    share_text, _, cost_text = rest.partition("@")
    try:
        share = float(share_text[:-1]) / 100 if share_text.endswith("%") else float(share_text)
        cost = float(cost_text.replace(",", "").lstrip("$")) if cost_text else None
    except ValueError:
        share = -1.0
        cost = None
    if not sep or not name.strip() or not 0 < share <= 1 or (cost is not None and not cost >= 0):
        raise ConfigError(f"{text!r} is not NAME=SHARE[@COST_PER_LEAD], e.g. paid_search=0.6@12.5", value=text)
    if cost is not None and not cost <= MAX_AMOUNT:
        raise ConfigError(f"{text!r}: a cost per lead is at most {MAX_AMOUNT:,.0f}", value=text)
    return ChannelCost(name.strip(), share, cost_per_lead=cost)


#: Without a workspace, nothing but the user gives the deal size and the revenue.
NO_DEAL_SIZE = "give the deal size (the mean won amount), or plan in a workspace to take it from history"
NO_REVENUE = "give the period's revenue, or plan in a workspace that has a goal for the period"


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
        raise ConfigError(f"the deal size is a positive amount, not {given.deal_size:g}")
    if ws is None:
        if given.deal_size is None:
            raise ConfigError(NO_DEAL_SIZE)
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


def missing_goal(goals: Sequence[GoalInfo], period: CalendarPeriod) -> str | None:
    """Why the period has no goal to plan for (some month without a target), and who sets one; None when it has."""
    target = plan_targets(goals)
    missing = [month.label for month in period.months if target(month).amount is None]
    if not missing:
        return None
    where = period.label if len(missing) == len(period.months) else ", ".join(missing)
    roles = " or ".join(sorted(role.value for role in PERMISSION_ROLES[Permission.GOALS]))
    return (
        f"no goal for {where}: an {roles} sets one with `tandem goal set {period.label} AMOUNT` "
        f"(or PUT /api/goals/{period.label}); or give a revenue to plan for"
    )


def goal_by_month(ws: PlanContext, period: CalendarPeriod) -> dict[date, float]:
    """The company goal's target for each month of the period (set, or derived by days from a longer period)."""
    goals = ws.goals.all()
    why = missing_goal(goals, period)
    if why is not None:
        raise ConfigError(why)
    target = plan_targets(goals)
    return {month.start: float(target(month).amount or 0) for month in period.months}


@dataclass(frozen=True)
class PlanInputs:
    """What a plan question rests on: the model, the revenue per month, the channel mix, the period's last day, and
    the day the plan is made (the as-of day, else today in UTC), before whose month the requirement is past."""

    model: FunnelModel
    goal_by_month: dict[date, float]
    costs: list[ChannelCost]
    period_end: date
    as_of: date = field(default_factory=lambda: datetime.now(UTC).date())


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
        raise ConfigError(NO_REVENUE)
    if not costs and ws is not None:
        from tandem.plan.history import DEFAULT_LOOKBACK_DAYS, channel_costs

        costs = channel_costs(ws, as_of=as_of, lookback_days=lookback_days or DEFAULT_LOOKBACK_DAYS)
    made = (as_of or datetime.now(UTC)).date()
    return PlanInputs(model, by_month, list(costs), period.end - timedelta(days=1), made)


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
    """The reverse waterfall for a period, on `plan_inputs`, with the warnings about months already past on the
    as-of day (today by default)."""
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
        inputs.model,
        inputs.goal_by_month,
        period_end=inputs.period_end,
        costs=inputs.costs,
        seed=seed,
        as_of=inputs.as_of,
    )
