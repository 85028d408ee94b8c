"""The Plan page and the REST endpoint of the reverse waterfall: what each stage must deliver, and when, for the goal.

``GET /api/plan/waterfall`` answers with the document `tandem plan waterfall --format json` prints for the same
question on the server's workspace: the given numbers where given, the workspace's history for the rest, and the
revenue given or the period's goal (`tandem.plan.calculator.plan_waterfall`). The Plan page shows the period's goal
(target, how it was derived, quotas, attainment) above the same document, and a chart of it.

Results are cached like every document (data version of the tables the model reads, definition version,
question); goals live outside those versions, so a question that takes its revenue from the goal carries the
workspace's goals in its key: setting or deleting a goal recomputes it. A bad value is a 400 naming the parameter.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from tandem.accounts import PERMISSION_ROLES, Permission
from tandem.errors import ConfigError, TandemError
from tandem.plan.calculator import Given, months_in, next_quarter, parse_channel, parse_lag, parse_rate
from tandem.plan.calculator import plan_waterfall as compute_waterfall
from tandem.plan.goals import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_AMOUNT,
    Period,
    current_quarter,
    parse_amount,
    parse_period,
    plan_targets,
)
from tandem.plan.model import Lag, Rate
from tandem.plan.waterfall import ChannelCost
from tandem.questions import parse_moment
from tandem.server import charts
from tandem.server.access import GuardedRoute, NotFound, access
from tandem.server.charts import IMAGE_TYPES, ImageFormat
from tandem.server.pages import render
from tandem.server.refusals import INVALID
from tandem.server.routes.funnel import PAGE_REFUSALS, REFUSALS
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: The tables the model and the budget read (history of leads and stages, won deals, spend per channel).
TABLES: tuple[str, ...] = ("leads", "stage_events", "touches", "activities", "opportunities", "spend")
#: Won revenue for the goal's attainment and marketing's measured share.
GOAL_TABLES: tuple[str, ...] = ("opportunities", "leads")
#: Bounds that keep a plan within the calendar and its numbers finite.
MAX_LAG_DAYS = 3650
MIN_RATE = 1e-6
#: The month x stage grid (and the chart) leaves out months where every stage needs less than this (the CLI's rule).
SHOWN_FROM = 0.5


class ChartName(StrEnum):
    required = "required"


# --- the question -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanQuestion:
    """A waterfall question, parsed and checked; `texts` keeps the repeatable values as given (for the key)."""

    period: Period
    revenue: float | None = None
    deal_size: float | None = None
    rates: dict[tuple[str, str], Rate] = field(default_factory=dict)
    lags: dict[tuple[str, str], Lag] = field(default_factory=dict)
    costs: tuple[ChannelCost, ...] = ()
    as_of: datetime | None = None
    lookback: int | None = None
    horizon: int | None = None
    where: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    texts: dict[str, list[str]] = field(default_factory=dict)

    def key(self, goals: list[list[Any]] | None) -> dict[str, Any]:
        """The cache key: every input as given, and the goals when the revenue comes from them."""
        return {
            "period": self.period.label,
            "revenue": self.revenue,
            "deal_size": self.deal_size,
            "as_of": self.as_of,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "where": self.where,
            "seed": self.seed,
            **self.texts,
            "goals": goals,
        }


def _named(name: str, exc: TandemError) -> ConfigError:
    """The parser's message, led by the parameter's name (the CLI's ``--name`` spelling becomes ``name``)."""
    text = str(exc)
    for prefix in (f"--{name.replace('_', '-')} ", f"--{name} "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return ConfigError(f"{name}: {text}")


def _amount(text: str | None, name: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(parse_amount(text))
    except TandemError as exc:
        raise _named(name, exc) from None


def _lines(values: Sequence[str] | None) -> list[str]:
    """Repeatable values; each may hold several lines (the page's text areas), blank lines ignored."""
    return [line.strip() for value in values or [] for line in value.splitlines() if line.strip()]


def parse_question(
    *,
    period: str | None = None,
    revenue: str | None = None,
    deal_size: str | None = None,
    rate: Sequence[str] | None = None,
    lag: Sequence[str] | None = None,
    channel: Sequence[str] | None = None,
    as_of: str | None = None,
    lookback: int | None = None,
    horizon: int | None = None,
    where: Sequence[str] | None = None,
    seed: int = 0,
) -> PlanQuestion:
    """The question from request parameters; a bad one is a `ConfigError` naming the parameter."""
    moment = parse_moment(as_of, "as_of")
    if moment is not None and not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ConfigError(f"as_of: {as_of!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    try:
        chosen = (
            parse_period(period)
            if period and period.strip()
            else next_quarter((moment or datetime.now(UTC).replace(tzinfo=None)).date())
        )
    except TandemError as exc:
        raise _named("period", exc) from None
    rates: dict[tuple[str, str], Rate] = {}
    texts: dict[str, list[str]] = {"rate": _lines(rate), "lag": _lines(lag), "channel": _lines(channel)}
    for text in texts["rate"]:
        try:
            step, value = parse_rate(text)
        except TandemError as exc:
            raise _named("rate", exc) from None
        if value.value < MIN_RATE:
            raise ConfigError(f"rate: {text!r} is below {MIN_RATE:g}; no plan rests on a rate that small")
        rates[step] = value
    lags: dict[tuple[str, str], Lag] = {}
    for text in texts["lag"]:
        try:
            step, delay = parse_lag(text)
        except TandemError as exc:
            raise _named("lag", exc) from None
        if delay.mean > MAX_LAG_DAYS:
            raise ConfigError(f"lag: {text!r} is more than {MAX_LAG_DAYS} days")
        lags[step] = delay
    costs: list[ChannelCost] = []
    for text in texts["channel"]:
        try:
            cost = parse_channel(text)
        except TandemError as exc:
            raise _named("channel", exc) from None
        if cost.cost_per_lead is not None and not (
            math.isfinite(cost.cost_per_lead) and cost.cost_per_lead <= MAX_AMOUNT
        ):
            raise ConfigError(f"channel: {text!r}: a cost per lead is at most {MAX_AMOUNT:,.0f}")
        costs.append(cost)
    filters: dict[str, str] = {}
    for item in _lines(where):
        column, sep, wanted = item.partition("=")
        if not sep or not column.strip() or "\x00" in item:
            raise ConfigError(
                f"where: {item!r} is not COL=VALUE (a lead column and its value), e.g. segment=Enterprise"
            )
        filters[column.strip()] = wanted
    return PlanQuestion(
        period=chosen,
        revenue=_amount(revenue, "revenue"),
        deal_size=_amount(deal_size, "deal_size"),
        rates=rates,
        lags=lags,
        costs=tuple(costs),
        as_of=moment,
        lookback=lookback,
        horizon=horizon,
        where=filters,
        seed=seed,
        texts=texts,
    )


# --- answering ----------------------------------------------------------------------------------------------------
def goals_key(state: ServerState) -> list[list[Any]]:
    """Every goal as stored (cheap: the application database): part of a key wherever goals are read."""
    return [
        [g.period.label, g.dimension, g.value, str(g.amount), g.marketing_share, g.note, g.updated_at]
        for g in state.workspace.goals.all()
    ]


def missing_goal(state: ServerState, period: Period) -> str | None:
    """Why the period has no goal to plan for (a month without a target), or None when it has one."""
    target = plan_targets(state.workspace.goals.all())
    missing = [month.label for month in months_in(period) if target(month).amount is None]
    if not missing:
        return None
    where = period.label if len(missing) == len(months_in(period)) else ", ".join(missing)
    roles = " or ".join(sorted(role.value for role in PERMISSION_ROLES[Permission.GOALS]))
    return (
        f"no goal for {where}: an {roles} sets one with `tandem goal set {period.label} AMOUNT` "
        f"(or PUT /api/goals/{period.label}); or give a revenue to plan for"
    )


def _check_steps(state: ServerState, q: PlanQuestion) -> None:
    """Hand-given rates and lags must be steps of the funnel in force (named here, before anything runs)."""
    stages = state.workspace.definitions_in_force(q.as_of).definitions.stage_names
    steps = set(itertools.pairwise(stages))
    for name, given in (("rate", q.rates), ("lag", q.lags)):
        foreign = [f"{a}:{b}" for a, b in given if (a, b) not in steps]
        if foreign:
            raise ConfigError(
                f"{name}: {', '.join(foreign)} is not a step of this workspace's funnel ({' -> '.join(stages)}); "
                f"give {name}s between consecutive stages, e.g. {stages[0]}:{stages[1]}"
            )


def _check_where(state: ServerState, q: PlanQuestion) -> None:
    if not q.where:
        return
    columns = state.cached("columns", "leads", lambda: state.workspace.warehouse.columns("leads"), tables=("leads",))
    for column in q.where:
        kind = columns.get(column)
        if kind is None:
            shown = ", ".join(c for c in columns if not c.startswith("_"))
            raise ConfigError(f"where: no lead column {column!r}; the leads have {shown}")
        if kind != "string":
            raise ConfigError(f"where: {column} is a {kind} column; the plan narrows the leads by a text column")


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def waterfall_document(state: ServerState, q: PlanQuestion) -> dict[str, Any]:
    """The document of `tandem plan waterfall --format json` for the question, from the cache when asked before."""
    from_goal = q.revenue is None
    key = q.key(goals_key(state) if from_goal else None)

    def check() -> None:
        _check_steps(state, q)
        _check_where(state, q)
        if from_goal and (why := missing_goal(state, q.period)):
            raise ConfigError(f"revenue: {why}")

    def compute() -> dict[str, Any]:
        try:
            plan = compute_waterfall(
                Given(rates=q.rates, lags=q.lags, deal_size=q.deal_size),
                state.workspace,
                period=q.period,
                revenue=q.revenue,
                costs=q.costs,
                as_of=q.as_of,
                lookback_days=q.lookback,
                horizon_days=q.horizon,
                where=q.where,
                seed=q.seed,
            )
        except (OverflowError, ZeroDivisionError) as exc:  # lags and rates that take the plan off the calendar
            raise ConfigError(f"the rates and lags given put the plan out of range ({exc})") from None
        document = plan.as_dict()
        document["period"]["label"] = q.period.label
        if not _finite(document):
            raise ConfigError("the rates, deal size or costs given put the plan's numbers out of range")
        return document

    return state.cached("plan.waterfall", key, compute, tables=TABLES, check=check)


def goal_document(state: ServerState, period: Period) -> dict[str, Any]:
    """`Goals.show` for the period (what `tandem goal show` prints), cached by the goals and won revenue."""
    key = {"period": period.label, "goals": goals_key(state)}
    return state.cached("plan.goal", key, lambda: state.workspace.goals.show(period), tables=GOAL_TABLES)


def pacing_or_reason(state: ServerState, period: Period) -> dict[str, Any]:
    """The period's pacing for a page, or why there is none (the page shows the rest either way)."""
    try:
        return pacing_document(state, period)
    except TandemError as exc:
        return {"period": period.label, "unavailable": str(exc), "stages": []}


def plans_key(state: ServerState, period: Period) -> list[Any] | None:
    """The period's accepted plan as stored (cheap): part of the key wherever pacing reads it."""
    baseline = state.workspace.plans.baseline(period)
    return None if baseline is None else [baseline.plan_id, baseline.version, str(baseline.decided_at)]


def pacing_document(state: ServerState, period: Period, as_of: datetime | None = None) -> dict[str, Any]:
    """Plan against actual for the period (`tandem plan pacing --format json`), through the result cache."""
    from tandem.plan.pacing import period_pacing

    key = {
        "period": period.label,
        "as_of": as_of.isoformat() if as_of else None,
        "goals": goals_key(state),
        "plan": plans_key(state, period),
    }

    def compute() -> dict[str, Any]:
        return {"period": period.label, **period_pacing(state.workspace, period, as_of=as_of).as_dict()}

    document: dict[str, Any] = state.cached("plan.pacing", key, compute, tables=TABLES)
    return document


def shown_months(document: dict[str, Any]) -> list[date]:
    """The months of the grid: those where some stage needs at least half an entry (the CLI's rule)."""
    needed: dict[date, float] = {}
    for row in document["rows"]:
        needed[row["month"]] = max(needed.get(row["month"], 0.0), row["required"])
    return sorted(month for month, most in needed.items() if most >= SHOWN_FROM)


def chart_spec(state: ServerState, q: PlanQuestion) -> dict[str, Any]:
    """The chart of a question's waterfall, built once per question beside its document."""
    document = waterfall_document(state, q)
    months = set(shown_months(document))
    rows = [
        {
            "stage": row["stage"],
            "month": f"{row['month']:%Y-%m}",
            "required": row["required"],
            "low": row["low"],
            "high": row["high"],
        }
        for row in document["rows"]
        if row["month"] in months
    ]
    title = f"Needed per month for {q.period.label}, with the P10-P90 range"
    key = q.key(goals_key(state) if q.revenue is None else None)
    stages = document["model"]["stages"]
    return state.cached("plan.chart", key, lambda: charts.plan_requirements(rows, stages, title), tables=TABLES)


# --- REST API -----------------------------------------------------------------------------------------------------
PeriodParam = Annotated[
    str | None, Query(max_length=32, description="2027, 2027-Q1 or 2027-01 (default: next quarter).")
]
Revenue = Annotated[
    str | None,
    Query(max_length=64, description="Revenue for the period: 10M, 2.5M, 750k (default: the period's goal)."),
]
DealSize = Annotated[str | None, Query(max_length=64, description="Mean won amount (default: from history).")]
Rates = Annotated[
    list[str] | None,
    Query(description="FROM:TO=R, a step's conversion: 0.4, 40% or counts 120/400 (repeatable)."),
]
Lags = Annotated[
    list[str] | None, Query(description="FROM:TO=DAYS from a stage to the next: 45, 2w or 3m (repeatable).")
]
Channels = Annotated[
    list[str] | None,
    Query(description="NAME=SHARE[@COST_PER_LEAD], the channel mix for the budget (repeatable; default: measured)."),
]
AsOf = Annotated[
    str | None, Query(max_length=64, description="Take history as of this moment (ISO 8601, UTC; default now).")
]
Lookback = Annotated[int | None, Query(ge=30, le=3650, description="Days of history (365).")]
Horizon = Annotated[int | None, Query(ge=7, le=3650, description="Days a cohort has to convert (180).")]
Where = Annotated[list[str] | None, Query(description="COL=VALUE: a model of these leads only (repeatable).")]
Seed = Annotated[int, Query(ge=0, le=2**32 - 1, description="Seed of the draws behind the ranges.")]


@router.get("/api/plan/waterfall", openapi_extra=access(Permission.READ), tags=["plan"], responses=REFUSALS)
def api_waterfall(
    request: Request,
    period: PeriodParam = None,
    revenue: Revenue = None,
    deal_size: DealSize = None,
    rate: Rates = None,
    lag: Lags = None,
    channel: Channels = None,
    as_of: AsOf = None,
    lookback: Lookback = None,
    horizon: Horizon = None,
    where: Where = None,
    seed: Seed = 0,
) -> dict[str, Any]:
    """What do we need? The volume each stage must reach per month, with a P10-P90 range, for a revenue goal.

    The document `tandem plan waterfall --format json` prints: ``rows`` {stage, month, required, low, high};
    ``stages`` with the total, the rate to the end, the lead time and the last days (median and 80 %); ``budget``
    by channel; ``model`` (rates, lags, deal size, basis, notes). What is not given comes from the history.
    """
    q = parse_question(
        period=period,
        revenue=revenue,
        deal_size=deal_size,
        rate=rate,
        lag=lag,
        channel=channel,
        as_of=as_of,
        lookback=lookback,
        horizon=horizon,
        where=where,
        seed=seed,
    )
    return waterfall_document(request.app.state.tandem, q)


@router.get(
    "/charts/plan/{name}.{fmt}",
    openapi_extra=access(Permission.READ),
    tags=["plan"],
    response_class=Response,
    responses={
        200: {"content": {t: {} for t in IMAGE_TYPES.values()}, "description": "The chart as an image."},
        **PAGE_REFUSALS,
    },
)
def plan_chart_image(
    request: Request,
    name: Annotated[ChartName, Path(description="The chart: required (needed per month, per stage).")],
    fmt: Annotated[ImageFormat, Path(description="The image format.")],
    period: PeriodParam = None,
    revenue: Revenue = None,
    deal_size: DealSize = None,
    rate: Rates = None,
    lag: Lags = None,
    channel: Channels = None,
    as_of: AsOf = None,
    lookback: Lookback = None,
    horizon: Horizon = None,
    where: Where = None,
    seed: Seed = 0,
) -> Response:
    """The Plan page's chart as PNG or SVG, for the same question: the spec the page draws."""
    q = parse_question(
        period=period,
        revenue=revenue,
        deal_size=deal_size,
        rate=rate,
        lag=lag,
        channel=channel,
        as_of=as_of,
        lookback=lookback,
        horizon=horizon,
        where=where,
        seed=seed,
    )
    if name is not ChartName.required:  # pragma: no cover - the path parameter admits no other
        raise NotFound(f"no chart {name.value!r}")
    spec = chart_spec(request.app.state.tandem, q)
    return Response(charts.to_image(spec, fmt.value), media_type=IMAGE_TYPES[fmt.value])


# --- the Plan page ------------------------------------------------------------------------------------------------
@dataclass
class PlanForm:
    """The Plan page's form as the browser sent it (shown back as given)."""

    period: str = ""
    revenue: str = ""
    deal_size: str = ""
    rate: str = ""
    lag: str = ""
    channel: str = ""
    as_of: str = ""
    lookback: str = ""
    horizon: str = ""
    where: str = ""
    seed: str = ""

    def query_string(self) -> str:
        """The question as query parameters of the API and the chart export (one value per line of a text area)."""
        pairs: list[tuple[str, str]] = []
        for key, value in self.__dict__.items():
            for line in _lines([value]):
                pairs.append((key, line))
        return urlencode(pairs)


def _whole(value: str, name: str, low: int, high: int) -> int | None:
    if not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}: {number} is out of range; use {low} to {high}")
    return number


def _form_question(form: PlanForm) -> PlanQuestion:
    return parse_question(
        period=form.period,
        revenue=form.revenue,
        deal_size=form.deal_size,
        rate=[form.rate],
        lag=[form.lag],
        channel=[form.channel],
        as_of=form.as_of,
        lookback=_whole(form.lookback, "lookback", 30, 3650),
        horizon=_whole(form.horizon, "horizon", 7, 3650),
        where=[form.where],
        seed=_whole(form.seed, "seed", 0, 2**32 - 1) or 0,
    )


def _count(value: float) -> str:
    return f"{value:,.0f}"


def page_view(document: dict[str, Any]) -> dict[str, Any]:
    """What the page's tables show, formatted as the CLI prints it."""
    stages: list[str] = document["model"]["stages"]
    needed = {(row["stage"], row["month"]): row for row in document["rows"]}
    this_month = datetime.now(UTC).date().replace(day=1)
    grid = [
        {
            "month": f"{month:%Y-%m}",
            "past": month < this_month,
            "cells": [
                {"stage": stage, "required": needed[(stage, month)]["required"]}
                if (stage, month) in needed
                else {"stage": stage, "required": None}
                for stage in stages
            ],
        }
        for month in shown_months(document)
    ]
    steps = [
        {
            "step": f"{step['from']} → {step['to']}",
            "rate": step["rate"]["value"],
            "counts": f"{step['rate']['converted']:,} of {step['rate']['cohort']:,}"
            if step["rate"]["cohort"] is not None
            else "by hand",
            "median_days": step["lag"]["median_days"],
            "p80_days": step["lag"]["p80_days"],
            "mean_days": step["lag"]["mean_days"],
        }
        for step in document["model"]["steps"]
    ]
    return {"stages": stages, "grid": grid, "steps": steps, "count": _count}


PageText = Annotated[str | None, Query(max_length=100)]
PageLines = Annotated[list[str] | None, Query()]


@router.get("/api/plan/pacing", openapi_extra=access(Permission.READ), tags=["plan"], responses=REFUSALS)
def api_pacing(
    request: Request,
    period: Annotated[
        str | None, Query(max_length=16, description="2027, 2027-Q1 or 2027-01 (default: the current quarter).")
    ] = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Plan against actual (`tandem plan pacing`): per stage, the planned volume, what is due by as_of by the plan's
    shape, the actual entries, the gap, the pace and where it ends the period; against the accepted plan, or
    without one the goal's requirement (`basis` says which)."""
    state: ServerState = request.app.state.tandem
    moment = parse_moment(as_of, "as_of")
    try:
        chosen = parse_period(period) if period else current_quarter(moment.date() if moment else None)
    except TandemError as exc:
        raise _named("period", exc) from None
    return pacing_document(state, chosen, moment)


@router.get("/plan", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def plan_page(
    request: Request,
    period: PageText = None,
    revenue: PageText = None,
    deal_size: PageText = None,
    rate: PageLines = None,
    lag: PageLines = None,
    channel: PageLines = None,
    as_of: AsOf = None,
    lookback: PageText = None,
    horizon: PageText = None,
    where: PageLines = None,
    seed: PageText = None,
) -> HTMLResponse:
    state: ServerState = request.app.state.tandem
    form = PlanForm(
        period=period or "",
        revenue=revenue or "",
        deal_size=deal_size or "",
        rate="\n".join(_lines(rate)),
        lag="\n".join(_lines(lag)),
        channel="\n".join(_lines(channel)),
        as_of=as_of or "",
        lookback=lookback or "",
        horizon=horizon or "",
        where="\n".join(_lines(where)),
        seed=seed or "",
    )
    steps = [f"{a}:{b}" for a, b in zip(state.workspace.stages, state.workspace.stages[1:], strict=False)]
    context: dict[str, Any] = {
        "title": "Plan",
        "form": form,
        "steps": steps,
        "period": None,
        "goal": None,
        "no_goal": None,
        "doc": None,
        "view": None,
        "chart": None,
        "query_string": form.query_string(),
        "may_set_goals": request.state.principal.may(Permission.GOALS),
        "pacing": None,
    }
    try:
        q = _form_question(form)
        context.update(period=q.period, goal=goal_document(state, q.period))
        if q.revenue is None and (why := missing_goal(state, q.period)):
            context["no_goal"] = why
            return render(request, "plan.html", **context)
        doc = waterfall_document(state, q)
        context.update(doc=doc, view=page_view(doc), chart=chart_spec(state, q))
        context["pacing"] = pacing_or_reason(state, current_quarter())
    except TandemError as exc:
        return render(request, "plan.html", 400, error=str(exc), **context)
    return render(request, "plan.html", **context)
