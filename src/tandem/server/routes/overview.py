"""The Overview page: this quarter so far against the same days of the last one, revenue by month, data health.

Its document (``GET /api/overview``) is what the page draws; the quarter's plan pacing (``/api/plan/pacing``) and
forecast (``/api/forecast``: the range against the goal, the chance of reaching it, where it comes from) join it
on the page, each from its own cached document.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from tandem.accounts import Permission
from tandem.engine.usable import left_out
from tandem.plan.goals import current_quarter
from tandem.plan.pacing import verdict_of
from tandem.questions import MarketingShareQuestion, SlaSummaryQuestion, StatusQuestion
from tandem.server import charts
from tandem.server.access import GuardedRoute, access
from tandem.server.charts import IMAGE_TYPES, ImageFormat
from tandem.server.pages import render
from tandem.server.refusals import INVALID
from tandem.server.routes.forecast import forecast_or_reason, range_bar
from tandem.server.routes.plan import pacing_or_reason
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)


def quarter_start(moment: datetime) -> datetime:
    return datetime(moment.year, 3 * ((moment.month - 1) // 3) + 1, 1)


def previous_quarter_start(start: datetime) -> datetime:
    month = start.month - 3
    return datetime(start.year - (month < 1), (month - 1) % 12 + 1, 1)


def overview_document(state: ServerState) -> dict[str, Any]:
    """The quarter to date against the same number of days of the previous quarter, and the last 12 months.

    Stage volumes are counted as every page counts them: each stretch of time under the definitions in force then
    (`tandem.definitions.counting`). When a version took effect inside the quarter, the document says so
    (``definition_changes``) and gives each stage's volume recounted under the version in force now
    (``reached_restated``), so a looser definition never rewrites the quarter silently.
    """

    def compute() -> dict[str, Any]:
        ws = state.workspace
        now = datetime.now(UTC).replace(tzinfo=None)
        this_start = quarter_start(now)
        last_start = previous_quarter_start(this_start)
        last_same_day = min(last_start + (now - this_start), this_start)
        stages = ws.stages
        this_result = ws.funnel(start=this_start, end=now, as_of=now)
        this_funnel = {r["stage"]: r for r in this_result.rows()}
        last_funnel = {r["stage"]: r for r in ws.funnel(start=last_start, end=last_same_day, as_of=now).rows()}
        counting = this_result.counting
        stretches = counting.within(this_start, now)
        restated: dict[str, Any] = {}
        if len(stretches) > 1:  # the quarter is split: what the version in force now would make of all of it
            recount = ws.funnel(start=this_start, end=now, as_of=now, version=counting.current.version)
            restated = {r["stage"]: r["reached"] for r in recount.rows()}
        this_rev = ws.revenue(start=this_start, end=now, as_of=now).rows()
        last_rev = ws.revenue(start=last_start, end=last_same_day, as_of=now).rows()
        year_ago = datetime(now.year - 1, now.month, 1)
        monthly = ws.revenue(period="month", start=year_ago, as_of=now).rows()
        quality = ws.quality(as_of=now, examples=0).to_dict()
        stage_rows = [
            {
                "stage": stage,
                "reached": this_funnel.get(stage, {}).get("reached", 0),
                "reached_same_days_last_quarter": last_funnel.get(stage, {}).get("reached", 0),
                "conversion_from_previous": this_funnel.get(stage, {}).get("conversion_from_previous"),
                **({"reached_restated": restated.get(stage, 0)} if restated else {}),
            }
            for stage in stages
        ]
        revenue_now = this_rev[0] if this_rev else {}
        revenue_then = last_rev[0] if last_rev else {}
        return {
            "computed_at": now,
            "definition_version": ws.definition_version,
            "counted_under": [s.as_dict() for s in stretches],
            "definition_changes": [
                {
                    "version": s.version.version,
                    "from": s.start.date(),
                    "proposal_id": s.version.proposal_id,
                    "note": s.version.note,
                }
                for s in stretches
                if s.start is not None and s.start > this_start
            ],
            "backend": ws.warehouse.backend_name,
            "stages": stages,
            "quarter": {"start": this_start, "previous_start": last_start, "previous_compared_until": last_same_day},
            "stage_volumes": stage_rows,
            "revenue": {
                "won_revenue": revenue_now.get("won_revenue"),
                "won_revenue_same_days_last_quarter": revenue_then.get("won_revenue"),
                "win_rate": revenue_now.get("win_rate"),
                "win_rate_same_days_last_quarter": revenue_then.get("win_rate"),
                "open_pipeline": _open_pipeline(state, now),
            },
            "revenue_by_month": [
                {k: r.get(k) for k in ("period", "won_revenue", "won_deals", "win_rate", "average_deal_size")}
                for r in monthly
            ],
            "data_quality": [
                {"check": c["check"], "count": c["count"], "meaning": c["meaning"]}
                for c in quality["checks"]
                if c["count"]
            ]
            + [
                {"check": f"unusable_values ({found.table})", "count": found.rows, "meaning": found.message()}
                for found in left_out(
                    {name: ws.warehouse.table(name) for name in ("leads", "stage_events", "opportunities")}
                )
            ],
        }

    return state.cached("overview", {}, compute, tables=("leads", "stage_events", "opportunities"))


def _open_pipeline(state: ServerState, now: datetime) -> float:
    rows = state.workspace.pipeline(as_of=now).rows()
    return float(sum(r["amount"] or 0 for r in rows))


def overview_charts(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    quarter = document["quarter"]
    volumes = []
    for row in document["stage_volumes"]:
        volumes.append({"stage": row["stage"], "when": "this quarter so far", "reached": row["reached"]})
        volumes.append(
            {"stage": row["stage"], "when": "same days last quarter", "reached": row["reached_same_days_last_quarter"]}
        )
    monthly = [
        {"period": r["period"].isoformat(), "won_revenue": r["won_revenue"] or 0, "win_rate": r["win_rate"]}
        for r in document["revenue_by_month"]
    ]
    return {
        "stage-volumes": charts.stage_volumes(
            volumes, document["stages"], "when", f"Stage volumes since {quarter['start']:%Y-%m-%d}"
        ),
        "revenue-by-month": charts.revenue_trend(monthly, "Won revenue and win rate by month"),
    }


def overview_specs(state: ServerState) -> dict[str, dict[str, Any]]:
    """The Overview's chart specs, built once per overview document: building a spec costs more than serving it."""
    return state.cached(
        "overview.charts",
        {},
        lambda: overview_charts(overview_document(state)),
        tables=("leads", "stage_events", "opportunities"),
    )


@router.get("/api/overview", openapi_extra=access(Permission.READ), tags=["dashboard"])
def api_overview(request: Request) -> dict[str, Any]:
    """The Overview page's figures: quarter to date against the same days of the last quarter, revenue by month."""
    return overview_document(request.app.state.tandem)


@router.get("/api/status", openapi_extra=access(Permission.READ), tags=["dashboard"])
def api_status(request: Request) -> dict[str, Any]:
    """Counts per table, definition version, backends and the last import (as `tandem status`)."""
    state: ServerState = request.app.state.tandem
    return state.answer(StatusQuestion())


@router.get("/", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def overview(request: Request) -> HTMLResponse:
    document = overview_document(request.app.state.tandem)
    forecast = forecast_or_reason(request.app.state.tandem, current_quarter())
    return render(
        request,
        "overview.html",
        title="Overview",
        doc=document,
        charts=overview_specs(request.app.state.tandem),
        pacing=pacing_or_reason(request.app.state.tandem, current_quarter()),
        forecast=forecast,
        verdict=verdict_of(forecast.get("chance_of_goal")),
        forecast_chart=None if "unavailable" in forecast else range_bar(forecast),
        top_sources=top_sources(forecast),
        handoff=request.app.state.tandem.answer(SlaSummaryQuestion()),
        marketing=request.app.state.tandem.answer(MarketingShareQuestion()),
        elapsed_days=(document["computed_at"] - document["quarter"]["start"]) // timedelta(days=1),
    )


def top_sources(forecast: dict[str, Any], count: int = 3) -> list[dict[str, Any]]:
    """Where the rest of the forecast comes from: the largest sources beyond what is won already."""
    sources = [s for s in forecast.get("sources", []) if s["source"] != "won" and s["expected_revenue"] > 0]
    return sorted(sources, key=lambda s: -s["expected_revenue"])[:count]


class OverviewChart(StrEnum):
    stage_volumes = "stage-volumes"
    revenue_by_month = "revenue-by-month"


@router.get(
    "/charts/overview/{name}.{fmt}",
    openapi_extra=access(Permission.READ),
    tags=["dashboard"],
    response_class=Response,
    responses={
        200: {"content": {t: {} for t in IMAGE_TYPES.values()}, "description": "The chart as an image."},
        422: {"content": {"text/html": {}}, "description": "No such chart or image format (a page says which)."},
    },
)
def overview_chart_image(
    request: Request,
    name: Annotated[OverviewChart, Path(description="The chart.")],
    fmt: Annotated[ImageFormat, Path(description="The image format.")],
) -> Response:
    """An Overview chart as PNG or SVG: the same spec the page draws."""
    specs = overview_specs(request.app.state.tandem)
    return Response(charts.to_image(specs[name.value], fmt.value), media_type=IMAGE_TYPES[fmt.value])
