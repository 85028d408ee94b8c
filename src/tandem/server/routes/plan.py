"""The Plan page and the REST endpoints of the reverse waterfall and of plan against actual.

``GET /api/plan/waterfall`` answers the waterfall question (`tandem.questions.plan.WaterfallQuestion`): the
document `tandem plan waterfall --format json` prints for the same question on the server's workspace, the given
numbers where given, the workspace's history for the rest (``history=false``: the given numbers alone), and the
revenue given or the period's goal. ``GET /api/plan/pacing`` answers the pacing question (`tandem plan pacing`).
The Plan page shows the period's goal (the goal question: target, how it was derived, quotas, attainment) above
the waterfall's document, a chart of it, the current quarter's pacing, the plans and the scenarios.

Every document comes through the server's cache (`ServerState.answer`), keyed by what its question reads: the
tables, the definitions, and the goals (and the accepted plans, for pacing), so setting a goal recomputes what
depends on it. A bad value is refused naming its parameter (`tandem.server.refusals`), by the question's rules:
the API and the command line refuse the same things.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from tandem.accounts import Permission
from tandem.errors import TandemError
from tandem.periods import CalendarPeriod, current_quarter, parse_period
from tandem.plan.calculator import missing_goal
from tandem.plan.pacing import verdict_of
from tandem.questions.plan import GoalQuestion, PacingQuestion, WaterfallQuestion
from tandem.server import charts
from tandem.server.access import GuardedRoute, NotFound, access
from tandem.server.charts import IMAGE_TYPES, ImageFormat
from tandem.server.pages import render
from tandem.server.refusals import INVALID, SIGNED_IN, Refusal, explain
from tandem.server.routes.forecast import forecast_or_reason
from tandem.server.routes.funnel import PAGE_REFUSALS
from tandem.server.state import ServerState

__all__ = ["goal_document", "pacing_or_reason", "router", "waterfall_document"]

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: The month x stage grid (and the chart) leaves out months where every stage needs less than this (the CLI's rule).
SHOWN_FROM = 0.5


#: What the waterfall's and the pacing's endpoints answer when they cannot.
REFUSALS: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    422: {
        "model": Refusal,
        "description": "A bad parameter, or no goal to plan for without a revenue: `field` names it, `detail` says "
        "why.",
    },
    400: {
        "model": Refusal,
        "description": "The workspace cannot answer it: for pacing, nothing to measure the period against (no "
        "accepted plan, no goal); the detail says what to do.",
    },
}


class ChartName(StrEnum):
    required = "required"


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


# --- the documents, through the cache -----------------------------------------------------------------------------
def waterfall_document(state: ServerState, question: WaterfallQuestion) -> dict[str, Any]:
    """`tandem plan waterfall --format json` for the question."""
    return state.answer(question)


def goal_document(state: ServerState, period: CalendarPeriod) -> dict[str, Any]:
    """`tandem goal show PERIOD --format json`: the period's target, quotas and attainment."""
    return state.answer(GoalQuestion.parse(period=period.label))


def pacing_or_reason(state: ServerState, period: CalendarPeriod) -> dict[str, Any]:
    """The period's pacing for a page, or why there is none (the page shows the rest either way)."""
    try:
        return state.answer(PacingQuestion.parse(period=period.label))
    except TandemError as exc:
        return {"period": period.label, "unavailable": str(exc), "stages": []}


def shown_months(document: dict[str, Any]) -> list[str]:
    """The months of the grid (first days, as the document has them): those where some stage needs at least half
    an entry (the CLI's rule)."""
    needed: dict[str, float] = {}
    for row in document["rows"]:
        needed[row["month"]] = max(needed.get(row["month"], 0.0), row["required"])
    return sorted(month for month, most in needed.items() if most >= SHOWN_FROM)


def chart_spec(document: dict[str, Any]) -> dict[str, Any]:
    """The chart of a waterfall document: what each stage needs per month, with the P10-P90 range."""
    months = set(shown_months(document))
    rows = [
        {
            "stage": row["stage"],
            "month": row["month"][:7],
            "required": row["required"],
            "low": row["low"],
            "high": row["high"],
        }
        for row in document["rows"]
        if row["month"] in months
    ]
    title = f"Needed per month for {document['period']['label']}, with the P10-P90 range"
    return charts.plan_requirements(rows, document["model"]["stages"], title)


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
    Query(description="FROM:TO=R, a step's conversion: 0.4, 40% or counts 120/400, at least 1e-06 (repeatable)."),
]
Lags = Annotated[
    list[str] | None,
    Query(description="FROM:TO=DAYS from a stage to the next: 45, 2w or 3m, at most 3,650 days (repeatable)."),
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
History = Annotated[
    bool, Query(description="Fill in from the workspace's history and goal (false: the numbers given alone).")
]


def _question(**values: Any) -> WaterfallQuestion:
    return WaterfallQuestion.parse(**values)


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
    history: History = True,
) -> dict[str, Any]:
    """What do we need? The volume each stage must reach per month, with a P10-P90 range, for a revenue goal.

    The document `tandem plan waterfall --format json` prints: ``rows`` {stage, month, required, low, high};
    ``stages`` with the total, the rate to the end, the lead time and the last days (median and 80 %); ``budget``
    by channel; ``model`` (rates, lags, deal size, basis, notes). What is not given comes from the history.
    """
    question = _question(
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
        history=history,
    )
    return waterfall_document(_state(request), question)


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
    history: History = True,
) -> Response:
    """The Plan page's chart as PNG or SVG, for the same question: the spec the page draws."""
    question = _question(
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
        history=history,
    )
    if name is not ChartName.required:  # pragma: no cover - the path parameter admits no other
        raise NotFound(f"no chart {name.value!r}")
    spec = chart_spec(waterfall_document(_state(request), question))
    return Response(charts.to_image(spec, fmt.value), media_type=IMAGE_TYPES[fmt.value])


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
    without one the goal's requirement (`basis` says which). Nothing to measure against (no plan, no goal): 400."""
    return _state(request).answer(PacingQuestion.parse(period=period, as_of=as_of))


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
            for line in value.splitlines():
                if line.strip():
                    pairs.append((key, line.strip()))
        return urlencode(pairs)

    def question(self) -> WaterfallQuestion:
        """The waterfall question the form asks (each text area's lines are its repeatable values)."""
        values = {key: value for key, value in self.__dict__.items() if value.strip()}
        return _question(**values)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def page_view(document: dict[str, Any]) -> dict[str, Any]:
    """What the page's tables show of the waterfall document, formatted as the CLI prints it."""
    stages: list[str] = document["model"]["stages"]
    needed = {(row["stage"], row["month"]): row for row in document["rows"]}
    # Past against the day the plan is made (the question's as-of day), as the document's warnings say it.
    made = str(document.get("as_of") or datetime.now(UTC).date().isoformat())[:10]
    this_month = made[:8] + "01"
    grid = [
        {
            "month": month[:7],
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


#: The goal form's period choices: years and quarters from last year to two years ahead (any other is typed).
GOAL_YEARS_BACK, GOAL_YEARS_AHEAD = 1, 2


def goal_periods(today: date) -> list[CalendarPeriod]:
    """The periods the goal form offers: each year from last year to two years ahead, then its quarters."""
    offered: list[CalendarPeriod] = []
    for year in range(today.year - GOAL_YEARS_BACK, today.year + GOAL_YEARS_AHEAD + 1):
        whole = parse_period(str(year))
        offered += [whole, *whole.children]
    return offered


def goal_form(request: Request, state: ServerState, chosen: CalendarPeriod | None) -> dict[str, Any] | None:
    """What the Plan page's goal form shows, for those who may set goals (`Permission.GOALS`), else None: what was
    posted and refused (with why), or the chosen period's own goal to edit, or an empty form for that period."""
    if not request.state.principal.may(Permission.GOALS):
        return None
    today = datetime.now(UTC).date()
    offered = [p.label for p in goal_periods(today)]
    posted: dict[str, str] | None = getattr(request.state, "goal_form", None)
    if posted is not None:
        return {**posted, "periods": offered, "editing": False}
    period = chosen or current_quarter(today)
    existing = state.workspace.goals.get(period)
    form: dict[str, Any] = {
        "period": period.label,
        "amount": "",
        "marketing_share": "",
        "note": "",
        "dimension": "",
        "value": "",
    }
    form.update(error="", periods=offered, editing=existing is not None)
    if existing is not None:
        form.update(
            amount=f"{existing.amount:f}".rstrip("0").rstrip("."),
            marketing_share="" if existing.marketing_share is None else f"{existing.marketing_share:g}",
            note=existing.note,
        )
    if period.label not in offered:
        form["periods"] = [period.label, *offered]
    return form


def _lines(values: list[str] | None) -> str:
    return "\n".join(line.strip() for value in values or [] for line in value.splitlines() if line.strip())


PageText = Annotated[str | None, Query(max_length=100)]
#: The notice after a change made on the page, chosen by the `done` query parameter (never user text).
DONE = ("goal",)
PageLines = Annotated[list[str] | None, Query()]


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
    done: PageText = None,
) -> HTMLResponse:
    state = _state(request)
    form = PlanForm(
        period=period or "",
        revenue=revenue or "",
        deal_size=deal_size or "",
        rate=_lines(rate),
        lag=_lines(lag),
        channel=_lines(channel),
        as_of=as_of or "",
        lookback=lookback or "",
        horizon=horizon or "",
        where=_lines(where),
        seed=seed or "",
    )
    stages = state.workspace.stages
    context: dict[str, Any] = {
        "title": "Plan",
        "form": form,
        "steps": [f"{a}:{b}" for a, b in itertools.pairwise(stages)],
        "period": None,
        "goal": None,
        "no_goal": None,
        "doc": None,
        "view": None,
        "chart": None,
        "query_string": form.query_string(),
        "may_set_goals": request.state.principal.may(Permission.GOALS),
        "pacing": None,
        "forecast": None,
        "verdict": None,
        "goal_form": goal_form(request, state, None),
        "done": done if done in DONE else "",
    }
    try:
        question = form.question()
        chosen = question.calendar_period()
        context.update(period=chosen, goal=goal_document(state, chosen), goal_form=goal_form(request, state, chosen))
        if question.revenue is None and (why := missing_goal(state.workspace.goals.all(), chosen)):
            context["no_goal"] = why
            return render(request, "plan.html", **context)
        doc = waterfall_document(state, question)
        context.update(doc=doc, view=page_view(doc), chart=chart_spec(doc))
        quarter = current_quarter()
        context["pacing"] = pacing_or_reason(state, quarter)
        context["forecast"] = forecast_or_reason(state, quarter)
        context["verdict"] = verdict_of(context["forecast"].get("chance_of_goal"))
    except TandemError as exc:
        status, text = explain(exc)
        return render(request, "plan.html", status, error=text, **context)
    return render(request, "plan.html", **context)
