"""The Forecast page and its REST endpoints: the period's revenue as a range against the goal, how the forecast did
on past periods, the early warnings and the alerts sent.

- ``GET /api/forecast``: `tandem forecast --format json` for the same question (`tandem.forecast.service`);
- ``GET /api/forecast/backtest``: `tandem forecast backtest --format json`;
- ``GET /api/forecast/warnings``: `tandem forecast warnings --format json` (`tandem.forecast.warnings`);
- ``GET /api/alerts``: what the alert rules sent or tried, newest first (`tandem alerts list`), without the
  destinations' addresses (a webhook's address can be its secret);
- ``GET /forecast``: all four for people, with a chart of the range and one of the backtest.

Everything is read permission and cached like every document: by the data version of the tables the forecast
reads and the definition version; goals and the period's accepted plan live outside those versions, so the
forecast and the warnings carry them in their keys. Asked "as of now", a document is kept to the end of the clock
hour at most. A period that is not ``2027``, ``2027-Q1`` or ``2027-01`` is a 422 naming it; a question the data
cannot answer (warnings without a goal or plan to measure against) a 400 saying why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tandem.accounts import Permission
from tandem.errors import ConfigError, TandemError
from tandem.forecast.backtest import BACKTEST_SIMULATIONS
from tandem.forecast.simulate import DEFAULT_SIMULATIONS
from tandem.plan.goals import Period, current_quarter, parse_period
from tandem.questions import AlertsQuestion, BacktestQuestion, ForecastQuestion, WarningsQuestion, ask
from tandem.questions.forecast import MAX_SEED, MAX_SIMULATIONS, MIN_BACKTEST_SIMULATIONS, MIN_SIMULATIONS
from tandem.server import charts
from tandem.server.access import GuardedRoute, access
from tandem.server.pages import render
from tandem.server.refusals import INVALID, MAX_ID, SIGNED_IN, Refusal
from tandem.server.state import ServerState

__all__ = [
    "backtest_document",
    "forecast_document",
    "forecast_or_reason",
    "router",
    "warnings_document",
]

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: Alert history rows a request may ask for, and how many the page shows.
MAX_ALERTS = 500
PAGE_ALERTS = 20

PeriodParam = Annotated[
    str | None,
    Query(max_length=16, description="2027, 2027-Q1 or 2027-01 (default: the current quarter).", examples=["2026-Q4"]),
]
Simulations = Annotated[
    int,
    Query(ge=MIN_SIMULATIONS, le=MAX_SIMULATIONS, description="Simulated outcomes behind the range."),
]
BacktestSimulations = Annotated[
    int,
    Query(
        ge=MIN_BACKTEST_SIMULATIONS,
        le=MAX_SIMULATIONS,
        description="Simulated outcomes behind each of the backtest's forecasts.",
    ),
]
AsOf = Annotated[
    str | None,
    Query(max_length=64, description="Forecast as of this moment, with only what was known then (default now)."),
]
Seed = Annotated[int, Query(ge=0, le=MAX_SEED, description="Seed of the simulations: the same seed, the same answer.")]
Kind = Annotated[Literal["quarter", "month"], Query(description="The past periods to forecast again.")]
Limit = Annotated[int, Query(ge=1, le=MAX_ALERTS, description="At most this many, newest first.")]

BAD_PERIOD: dict[int | str, dict[str, Any]] = {
    422: {"model": Refusal, "description": "Not a period (2027, 2027-Q1 or 2027-01), or a value out of bounds."},
}
CANNOT_MEASURE: dict[int | str, dict[str, Any]] = {
    400: {"model": Refusal, "description": "Nothing to measure the period against (no goal, no accepted plan)."},
}


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


def chosen_period(period: str | None) -> Period:
    """The period asked for (default: the current quarter); a bad one is refused naming the ``period`` field."""
    if period is None or not period.strip():
        return current_quarter()
    try:
        return parse_period(period)
    except TandemError as exc:
        raise ConfigError(str(exc), field="period", value=period) from None


# --- the documents, through the cache -----------------------------------------------------------------------------
def forecast_document(
    state: ServerState, period: Period, simulations: int = DEFAULT_SIMULATIONS, seed: int = 0
) -> dict[str, Any]:
    """`tandem forecast --format json` for the period as of now."""
    return state.answer(ForecastQuestion.parse(period=period.label, simulations=simulations, seed=seed))


def forecast_or_reason(state: ServerState, period: Period) -> dict[str, Any]:
    """The forecast for a page, or why there is none (the page shows the rest either way)."""
    try:
        return forecast_document(state, period)
    except TandemError as exc:
        return {"period": period.as_dict(), "unavailable": str(exc)}


def backtest_document(
    state: ServerState, kind: Literal["quarter", "month"] = "quarter", simulations: int = BACKTEST_SIMULATIONS
) -> dict[str, Any]:
    """`tandem forecast backtest --format json` as of now (the slowest document here: cached above all)."""
    return state.answer(BacktestQuestion.parse(period_kind=kind, simulations=simulations))


def warnings_document(state: ServerState, period: Period) -> dict[str, Any]:
    """`tandem forecast warnings --format json` for the period as of now; a `TandemError` when there is nothing
    to measure it against."""
    return state.answer(WarningsQuestion.parse(period=period.label))


def _warnings_or_reason(state: ServerState, period: Period) -> dict[str, Any]:
    try:
        return warnings_document(state, period)
    except TandemError as exc:
        return {"period": period.label, "unavailable": str(exc)}


def alerts_document(
    state: ServerState,
    limit: int = 50,
    period: str | None = None,
    status: str | None = None,
    rule: str | None = None,
) -> dict[str, Any]:
    """What the alert rules sent or tried, newest first (`tandem.questions.AlertsQuestion`); each destination by name
    and channel, not its address. Asked afresh each time: the history changes outside the warehouse."""
    return ask(state.workspace, AlertsQuestion.parse(limit=limit, status=status, rule=rule, period=period))


# --- the REST API -------------------------------------------------------------------------------------------------
@router.get(
    "/api/forecast",
    openapi_extra=access(Permission.READ),
    tags=["forecast"],
    response_model=None,
    responses={**SIGNED_IN, **BAD_PERIOD, 404: {"model": Refusal, "description": "No such plan (with `plan`)."}},
)
def api_forecast(
    request: Request,
    period: PeriodParam = None,
    as_of: AsOf = None,
    simulations: Simulations = DEFAULT_SIMULATIONS,
    seed: Seed = 0,
    plan: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="The forecast as if this plan's version were the baseline.")
    ] = None,
    plan_version: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="The plan's version (default: its latest).")
    ] = None,
) -> dict[str, Any]:
    """The period's revenue as a distribution, as `tandem forecast --format json`: ``won_to_date``, ``expected``,
    ``p10``/``p50``/``p90``, ``goal`` and ``chance_of_goal`` (null without a goal), ``sources`` (won, open deals,
    leads in flight, new volume: count, expected deals and revenue), ``baselines`` (weighted pipeline, run rate),
    ``histogram`` of the simulated outcomes, ``summary``, and ``previous`` and ``changes``: the forecast of a week
    earlier and what changed since, source by source. With ``plan`` (and ``plan_version``): the forecast of that
    plan's period as if that version were its baseline, new leads at its volumes."""
    question = ForecastQuestion.parse(
        period=period,
        as_of=as_of,
        simulations=simulations,
        seed=seed,
        plan=plan,
        plan_version=plan_version,
    )
    return _state(request).answer(question)


def plan_forecast_or_reason(
    state: ServerState, period: Period, plan_id: int, version: int, *, baseline: bool
) -> dict[str, Any]:
    """The chance a plan page shows: for the period's baseline, the period's forecast (the one every page shows);
    for any other version, the forecast as if it were accepted; or why there is none."""
    try:
        if baseline:
            return forecast_document(state, period)
        return state.answer(ForecastQuestion.parse(plan=plan_id, plan_version=version))
    except TandemError as exc:
        return {"period": period.as_dict(), "unavailable": str(exc)}


@router.get(
    "/api/forecast/backtest",
    openapi_extra=access(Permission.READ),
    tags=["forecast"],
    responses={**SIGNED_IN, **BAD_PERIOD},
)
def api_forecast_backtest(
    request: Request,
    kind: Kind = "quarter",
    as_of: AsOf = None,
    simulations: BacktestSimulations = BACKTEST_SIMULATIONS,
    seed: Seed = 0,
) -> dict[str, Any]:
    """How the forecast did, as `tandem forecast backtest --format json`: every past period forecast from its first
    day and every week in it with only what was known then; ``scores`` per method (tandem, weighted_pipeline,
    run_rate: forecasts, mape, bias, coverage, width), ``scores_by_stretch``, and every forecast in ``points``."""
    question = BacktestQuestion.parse(period_kind=kind, as_of=as_of, simulations=simulations, seed=seed)
    return _state(request).answer(question)


@router.get(
    "/api/forecast/warnings",
    openapi_extra=access(Permission.READ),
    tags=["forecast"],
    response_model=None,
    responses={**SIGNED_IN, **BAD_PERIOD, **CANNOT_MEASURE},
)
def api_forecast_warnings(request: Request, period: PeriodParam = None, as_of: AsOf = None) -> dict[str, Any]:
    """The early warnings, as `tandem forecast warnings --format json`: each stage's pace week by week against the
    accepted plan (or the goal's requirement), shortfalls carried into revenue gaps this period and next, the
    bottleneck stage and the last day extra top-of-funnel volume can still close in the period."""
    return _state(request).answer(WarningsQuestion.parse(period=period, as_of=as_of))


@router.get(
    "/api/alerts",
    openapi_extra=access(Permission.READ),
    tags=["forecast"],
    response_model=None,
    responses={**SIGNED_IN, **BAD_PERIOD},
)
def api_alerts(
    request: Request,
    limit: Limit = 50,
    period: Annotated[
        str | None, Query(max_length=16, description="Only this period's: 2027, 2027-Q1 or 2027-01.")
    ] = None,
    status: Annotated[
        str | None, Query(max_length=20, description="Only this status: sending, sent, failed or gave_up.")
    ] = None,
    rule: Annotated[str | None, Query(max_length=200, description="Only this rule's alerts.")] = None,
) -> dict[str, Any]:
    """What the alert rules sent (or tried to), newest first, as `tandem alerts list --format json`: each alert's
    rule, signal, period, destination (its name and channel, not its address), status, tries, last error, when it
    fired, was last tried and was sent (UTC), its text and payload. Optional ``period``, ``status`` and ``rule``
    keep only those."""
    return alerts_document(_state(request), limit, period, status, rule)


# --- the page -----------------------------------------------------------------------------------------------------
def range_chart(document: dict[str, Any]) -> dict[str, Any]:
    """The forecast's distribution with P10, P50, P90, the goal and won so far marked."""
    marks = [
        {"label": "won so far", "value": document["won_to_date"]},
        {"label": "P10", "value": document["p10"]},
        {"label": "P50", "value": document["p50"]},
        {"label": "P90", "value": document["p90"]},
        {"label": "goal", "value": document["goal"]},
    ]
    title = f"{document['period']['label']}: simulated revenue, {document['simulations']:,} outcomes"
    return charts.forecast_range(document["histogram"], marks, title)


def range_bar(document: dict[str, Any]) -> dict[str, Any]:
    """The compact range for the Overview: P10 to P90, P50 and the goal."""
    return charts.forecast_bar(
        document["p10"], document["p50"], document["p90"], document["goal"], f"{document['period']['label']} range"
    )


def backtest_chart(document: dict[str, Any]) -> dict[str, Any]:
    """Every backtest forecast: its P10-P90 band, tandem's P50, the weighted pipeline and the actual."""
    band, lines = [], []
    for point in document["points"]:
        when = point["as_of"].isoformat() if hasattr(point["as_of"], "isoformat") else str(point["as_of"])
        band.append({"period": point["period"], "as_of": when, "p10": point["p10"], "p90": point["p90"]})
        for series, key in (("tandem P50", "p50"), ("weighted pipeline", "weighted_pipeline"), ("actual", "actual")):
            lines.append({"period": point["period"], "as_of": when, "series": series, "value": point[key]})
    return charts.backtest_band(band, lines, f"Backtest by {document['kind']}: each forecast against the actual")


def period_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per tested period: the actual, the forecasts from its first day, how many forecasts held it."""
    rows = []
    for period in document["periods"]:
        points = [p for p in document["points"] if p["period"] == period]
        if not points:
            continue
        first = min(points, key=lambda p: p["week"])
        rows.append(
            {
                "period": period,
                "actual": first["actual"],
                "p10": first["p10"],
                "p50": first["p50"],
                "p90": first["p90"],
                "weighted_pipeline": first["weighted_pipeline"],
                "run_rate": first["run_rate"],
                "forecasts": len(points),
                "covered": sum(1 for p in points if p["covered"]),
            }
        )
    return rows


@router.get(
    "/forecast",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.READ),
    include_in_schema=False,
)
def forecast_page(request: Request, period: PeriodParam = None) -> HTMLResponse:
    state = _state(request)
    chosen = chosen_period(period)
    document = forecast_or_reason(state, chosen)
    backtest = backtest_document(state)
    try:
        alerts: dict[str, Any] = alerts_document(state, PAGE_ALERTS)
    except TandemError as exc:
        alerts = {"alerts": [], "unavailable": str(exc)}
    return render(
        request,
        "forecast.html",
        title="Forecast",
        period=chosen,
        doc=document,
        range_chart=None if "unavailable" in document else range_chart(document),
        backtest=backtest,
        backtest_chart=backtest_chart(backtest) if backtest["points"] else None,
        period_rows=period_rows(backtest),
        warnings=_warnings_or_reason(state, chosen),
        alerts=alerts,
        method_labels={"tandem": "tandem (P50)", "weighted_pipeline": "weighted pipeline", "run_rate": "run rate"},
    )
