"""The Funnel page, its drill-down to the leads behind a number, and the REST endpoints of the funnel engine.

Each endpoint answers with the document the matching CLI command prints with ``--format json``: the same
question (`tandem.questions`), cached by the versions of what it reads. A bad question (unknown column or stage,
bad date, reversed range) is a 422 naming the parameter and the bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from tandem.accounts import Permission
from tandem.errors import ConfigError, TandemError
from tandem.periods import period_label
from tandem.questions import (
    FunnelQuestion,
    LeadsQuestion,
    PipelineQuestion,
    QualityQuestion,
    Question,
    RevenueQuestion,
    VelocityQuestion,
)
from tandem.questions.pipeline import order_advice
from tandem.server import charts
from tandem.server.access import GuardedRoute, NotFound, access
from tandem.server.charts import IMAGE_TYPES, ImageFormat
from tandem.server.pages import render
from tandem.server.refusals import INVALID, explain
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

T = TypeVar("T")

#: Lead columns never offered as breakdowns: identifiers and moments (a group per lead or per second).
NOT_BREAKDOWNS = frozenset({"lead_id", "created_at", "email"})
#: Rows the Funnel page's table shows at most; the API has them all.
TABLE_ROWS = 1000
#: Leads the drill-down page lists at most, newest entry first; the CSV has up to `LEADS_LIMIT`.
PAGE_LEADS = 500
LEADS_LIMIT = 5000
MISSING = "(missing)"


class PeriodChoice(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"


class ChartName(StrEnum):
    stage_volumes = "stage-volumes"
    cohort_conversion = "cohort-conversion"
    reached_by_period = "reached-by-period"
    velocity = "velocity"


By = Annotated[
    list[str] | None,
    Query(description="Break down by a lead column (repeatable): a canonical column or an attribute."),
]
PeriodParam = Annotated[
    PeriodChoice | None, Query(description="Group by period of entry (UTC calendar periods; weeks start on Monday).")
]
From = Annotated[
    str | None,
    Query(alias="from", max_length=64, description="First day included (YYYY-MM-DD, UTC), or a moment."),
]
To = Annotated[str | None, Query(max_length=64, description="First day excluded (YYYY-MM-DD, UTC), or a moment.")]
Strict = Annotated[bool, Query(description="Count only leads that passed each stage in order.")]
Window = Annotated[
    int | None, Query(ge=1, le=36500, description="Count a conversion only within this many days of entry.")
]
Horizon = Annotated[
    int | None,
    Query(ge=1, le=36500, description="Days for 'still open' and the Kaplan-Meier estimate (default: window, or 90)."),
]
AsOf = Annotated[
    str | None,
    Query(max_length=64, description="Observe the data as of this moment (ISO 8601, UTC; default now)."),
]
StageParam = Annotated[str, Query(max_length=100, description="The stage whose leads to list.")]
DefinitionsVersion = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**31 - 1,
        description="Count under this definitions version (default: the version in force at as_of).",
    ),
]
Where = Annotated[
    list[str] | None,
    Query(description="Filter COL=VALUE (repeatable; COL= for a missing value), e.g. channel=email."),
]
Limit = Annotated[int, Query(ge=1, le=LEADS_LIMIT, description="At most this many leads, newest entry first.")]


class Problem(BaseModel):
    """Why a request was refused: the bad value and what would be accepted."""

    detail: str


#: The refusals every endpoint may answer with, documented so clients (and fuzzers) expect them.
REFUSALS: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "A bad question: unknown column or stage, bad date, reversed range."},
    404: {"model": Problem, "description": "The definitions version asked for does not exist."},
    401: {"model": Problem, "description": "No valid credentials."},
    403: {"model": Problem, "description": "The role may not read."},
}
#: The chart export is a page route: its refusals are HTML pages.
PAGE_REFUSALS: dict[int | str, dict[str, Any]] = {
    422: {"content": {"text/html": {}}, "description": "A bad question (the page says which value)."},
    404: {
        "content": {"text/html": {}},
        "description": "The question has no such chart (a cohort chart needs a period).",
    },
}


# --- answering ----------------------------------------------------------------------------------------------------
def _cached(state: ServerState, name: str, q: Question, compute: Callable[[], T]) -> T:
    """Another rendering of a question (CSV, a count) through the server's cache, checked before it runs."""
    tables = [t for t in q.reads if t != "definitions"]
    return state.cached(name, q.key(), compute, tables=tables, check=lambda: q.check(state.workspace))


# --- REST API -----------------------------------------------------------------------------------------------------
@router.get("/api/funnel", openapi_extra=access(Permission.READ), tags=["funnel"], responses=REFUSALS)
def api_funnel(
    request: Request,
    by: By = None,
    period: PeriodParam = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    window: Window = None,
    horizon: Horizon = None,
    as_of: AsOf = None,
    definitions: DefinitionsVersion = None,
) -> dict[str, Any]:
    """Volumes, conversion (raw, Kaplan-Meier, period view) and velocity per stage, by breakdown and period.

    The document `tandem funnel --format json` prints: one row per group, period and stage; a missing group value
    is null, never dropped. Rules: docs/funnel-semantics.md.
    """
    q = FunnelQuestion.parse(
        by=by,
        period=period.value if period else None,
        start=from_,
        end=to,
        strict=strict,
        window_days=window,
        horizon_days=horizon,
        as_of=as_of,
        version=definitions,
    )
    return _state(request).answer(q)


@router.get("/api/revenue", openapi_extra=access(Permission.READ), tags=["funnel"], responses=REFUSALS)
def api_revenue(
    request: Request,
    by: By = None,
    period: PeriodParam = None,
    from_: From = None,
    to: To = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Won revenue, deal size, win rate, open pipeline and sales cycle from opportunities (`tandem revenue`).

    Breakdowns use the opportunity's columns or its lead's.
    """
    q = RevenueQuestion.parse(by=by, period=period.value if period else None, start=from_, end=to, as_of=as_of)
    return _state(request).answer(q)


@router.get("/api/velocity", openapi_extra=access(Permission.READ), tags=["funnel"], responses=REFUSALS)
def api_velocity(
    request: Request,
    from_stage: Annotated[str, Query(max_length=100, description="Stage the step starts at.")],
    to_stage: Annotated[
        str | None, Query(max_length=100, description="Stage it ends at (default: the next one).")
    ] = None,
    by: By = None,
    period: PeriodParam = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    as_of: AsOf = None,
    definitions: DefinitionsVersion = None,
) -> dict[str, Any]:
    """Days from one stage to a later one: quantiles, mean and counts per bin of days (`tandem velocity`)."""
    q = VelocityQuestion.parse(
        from_stage=from_stage,
        to_stage=to_stage,
        by=by,
        period=period.value if period else None,
        start=from_,
        end=to,
        strict=strict,
        as_of=as_of,
        version=definitions,
    )
    return _state(request).answer(q)


@router.get("/api/pipeline", openapi_extra=access(Permission.READ), tags=["funnel"], responses=REFUSALS)
def api_pipeline(request: Request, by: By = None, as_of: AsOf = None) -> dict[str, Any]:
    """Open pipeline at `as_of`: deals and amount by CRM stage and age in days (`tandem pipeline`)."""
    return _state(request).answer(PipelineQuestion.parse(by=by, as_of=as_of))


@router.get("/api/quality", openapi_extra=access(Permission.READ), tags=["funnel"], responses=REFUSALS)
def api_quality(request: Request, as_of: AsOf = None) -> dict[str, Any]:
    """The data-quality report: each check's count, meaning, effect on the numbers and examples (`tandem quality`)."""
    return _state(request).answer(QualityQuestion.parse(as_of=as_of))


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


def _leads_question(
    stage: str,
    where: Sequence[str] | None,
    from_: str | None,
    to: str | None,
    strict: bool,
    limit: int | None,
    as_of: str | None,
    version: int | None = None,
) -> LeadsQuestion:
    return LeadsQuestion.parse(
        stage=stage, where=where, start=from_, end=to, strict=strict, limit=limit, as_of=as_of, version=version
    )


@router.get("/api/leads", openapi_extra=access(Permission.READ), tags=["funnel"], responses=REFUSALS)
def api_leads(
    request: Request,
    stage: StageParam,
    where: Where = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    limit: Limit = 100,
    as_of: AsOf = None,
    definitions: DefinitionsVersion = None,
) -> dict[str, Any]:
    """Drill down: the leads that entered `stage` in the range and match the filters, newest entry first."""
    q = _leads_question(stage, where, from_, to, strict, limit, as_of, definitions)
    return _state(request).answer(q)


@router.get(
    "/api/leads.csv",
    openapi_extra=access(Permission.READ),
    tags=["funnel"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The leads as CSV, with a header."}, **REFUSALS},
)
def api_leads_csv(
    request: Request,
    stage: StageParam,
    where: Where = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    limit: Limit = 100,
    as_of: AsOf = None,
    definitions: DefinitionsVersion = None,
) -> Response:
    """The drill-down as CSV for a spreadsheet: every column; text that could run as a formula is neutralised."""
    state: ServerState = request.app.state.tandem
    q = _leads_question(stage, where, from_, to, strict, limit, as_of, definitions)
    text = _cached(state, "leads.csv", q, lambda: q.csv(state.workspace))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tandem-leads-{q.stage}.csv"'},
    )


# --- the Funnel page ----------------------------------------------------------------------------------------------
@dataclass
class FunnelForm:
    """The Funnel page's form as the browser sent it (shown back as given), and the question it asks."""

    by: list[str] = field(default_factory=list)
    period: str = ""
    from_: str = ""
    to: str = ""
    strict: bool = False
    window: str = ""
    horizon: str = ""
    as_of: str = ""
    from_stage: str = ""
    to_stage: str = ""

    def params(self, **changes: Any) -> dict[str, Any]:
        """The form as query parameters (for `query()` in templates and for links)."""
        values = {
            "by": self.by,
            "period": self.period,
            "from": self.from_,
            "to": self.to,
            "strict": self.strict,
            "window": self.window,
            "horizon": self.horizon,
            "as_of": self.as_of,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
        }
        return {**values, **changes}

    def query_string(self, **changes: Any) -> str:
        pairs: list[tuple[str, str]] = []
        for key, value in self.params(**changes).items():
            for item in value if isinstance(value, list) else [value]:
                if item not in (None, "", False):
                    pairs.append((key, "1" if item is True else str(item)))
        return urlencode(pairs)

    def question(self) -> FunnelQuestion:
        """The funnel question (parsing dates and numbers: a bad one is refused naming its field)."""
        return FunnelQuestion.parse(
            by=self.by,
            period=self.period or None,
            start=self.from_,
            end=self.to,
            strict=self.strict,
            window_days=self.window.strip() or None,
            horizon_days=self.horizon.strip() or None,
            as_of=self.as_of,
        )

    def velocity_question(self, stages: Sequence[str]) -> VelocityQuestion:
        """The velocity section's question: the chosen step, over the funnel's range, mode and as_of."""
        base = self.question()
        return VelocityQuestion.parse(
            from_stage=self.from_stage or stages[0],
            to_stage=self.to_stage or None,
            start=base.start,
            end=base.end,
            strict=base.strict,
            as_of=base.as_of,
        )


def breakdown_columns(state: ServerState) -> list[str]:
    """The lead columns a funnel can be broken down by: canonical ones present and attributes, no ids or times."""
    columns = state.cached("columns", "leads", lambda: state.workspace.warehouse.columns("leads"), tables=("leads",))
    return [
        name
        for name, kind in columns.items()
        if name not in NOT_BREAKDOWNS and not name.startswith("_") and kind not in ("timestamp", "date")
    ]


def period_end(start: datetime, period: str) -> datetime | None:
    """The first moment after the period that starts at `start` (None past the calendar's end)."""
    try:
        if period == "day":
            return start + timedelta(days=1)
        if period == "week":
            return start + timedelta(days=7)
        month = start.month - 1 + (1 if period == "month" else 3)
        return datetime(start.year + month // 12, month % 12 + 1, 1)
    except (OverflowError, ValueError):  # past 9999-12-31
        return None


def _moment_text(moment: datetime) -> str:
    if moment == datetime(moment.year, moment.month, moment.day):
        return moment.date().isoformat()
    return moment.isoformat()


def filter_text(value: Any) -> str:
    """A group value as a drill-down filter matches it (the engine compares the column cast to text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def drill_href(row: dict[str, Any], q: FunnelQuestion, back: str, breakdown: Sequence[str]) -> str:
    """The drill-down behind a row's `reached`: its stage, its group values, its period within the range.

    `breakdown` names the group columns as the row has them (the document's ``breakdown``): ``by_stage`` for an
    attribute named ``stage``, filtered on as ``stage``."""
    start, end = q.start, q.end
    if q.period and row.get("period"):
        first = datetime.fromisoformat(str(row["period"]))
        after = period_end(first, q.period)
        start = max(start, first) if start else first
        end = min(end, after) if end and after else (after or end)
    pairs: list[tuple[str, str]] = [("stage", str(row["stage"]))]
    pairs += [("where", f"{column}={filter_text(row.get(name))}") for column, name in zip(q.by, breakdown, strict=True)]
    if start:
        pairs.append(("from", _moment_text(start)))
    if end:
        pairs.append(("to", _moment_text(end)))
    if q.strict:
        pairs.append(("strict", "1"))
    if q.as_of:
        pairs.append(("as_of", _moment_text(q.as_of)))
    pairs.append(("back", back))
    return "/funnel/leads?" + urlencode(pairs)


def _label(value: Any) -> str:
    return MISSING if value is None else str(value)


def funnel_charts(doc: dict[str, Any], by: Sequence[str], velocity: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The page's charts, from its documents: the same specs the PNG/SVG export draws."""
    stages: list[str] = doc["stages"]
    rows: list[dict[str, Any]] = doc["rows"]
    specs: dict[str, dict[str, Any]] = {}
    # Stage volumes: one series per group of the table (each combination of the breakdown's values), none merged
    # away, in the table's order, so that the chart and the table show the same groups.
    columns: list[str] = list(doc["breakdown"]) if by else []  # as the rows name them (`by_stage` for `stage`)
    volumes: dict[tuple[str, str], int] = {}
    for row in rows:
        label = " · ".join(_label(row.get(c)) for c in columns) if columns else "all leads"
        volumes[(label, row["stage"])] = volumes.get((label, row["stage"]), 0) + int(row["reached"] or 0)
    if not volumes:  # no lead yet: a zero bar per stage, not a chart with nothing to lay out (Vega sizes it at 1e308)
        volumes = {("all leads", stage): 0 for stage in stages}
    series = " · ".join(by) if by else None
    title = f"Leads reaching each stage{' by ' + series if series else ''}"
    specs["stage-volumes"] = charts.stage_volumes(
        [{"stage": stage, "series": label, "reached": n} for (label, stage), n in volumes.items()],
        stages,
        "series",
        title,
        order=list(dict.fromkeys(label for label, _ in volumes)),
    )
    if doc.get("period"):
        per: dict[tuple[str, str], dict[str, int]] = {}
        said: dict[str, str] = {}  # ISO start -> as people say it (`tandem.periods.period_label`)
        for row in rows:
            said[str(row["period"])] = row.get("period_label") or period_label(row["period"], doc["period"])
            cell = per.setdefault((str(row["period"]), row["stage"]), {"reached": 0, "converted": 0, "cohort": 0})
            cell["reached"] += int(row["reached"] or 0)
            cell["converted"] += int(row.get("converted_from_previous") or 0)
            cell["cohort"] += int(row.get("previous_reached") or 0)
        heat = [
            {
                "period": said[period],
                "stage": stage,
                "conversion": c["converted"] / c["cohort"] if c["cohort"] else None,
                "cohort": c["cohort"],
            }
            for (period, stage), c in sorted(per.items())
            if stage != stages[0]
        ]
        specs["cohort-conversion"] = charts.cohort_heatmap(
            heat, stages[1:], f"Cohort conversion from the previous stage, by {doc['period']} of entry"
        )
        trend = [
            {"period": said[period], "stage": stage, "reached": c["reached"]}
            for (period, stage), c in sorted(per.items())
        ]
        specs["reached-by-period"] = charts.stage_trend(trend, stages, f"Leads reaching each stage by {doc['period']}")
    if velocity and velocity["rows"]:
        row = velocity["rows"][0]
        bins = [
            {"bin": key[len("days_") :], "leads": value or 0} for key, value in row.items() if key.startswith("days_")
        ]
        specs["velocity"] = charts.velocity_histogram(
            bins, f"Days from {row.get('from_stage')} to {row.get('to_stage')}"
        )
    return specs


def pipeline_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The pipeline document as the page's table: a row per stage in pipeline order, a column per age bin in age
    order, each cell the deals and their amount, with the stages' totals and a total row (the document's own)."""
    cells = {(row.get("stage"), row.get("age_bin")): row for row in doc["rows"]}
    by_stage = {row.get("stage"): row for row in doc["stage_totals"]}
    bins: list[str] = doc["age_bins"]
    columns = {b: {"deals": 0, "amount": 0.0} for b in bins}
    for row in doc["rows"]:
        if row.get("age_bin") in columns:
            columns[row["age_bin"]]["deals"] += int(row.get("deals") or 0)
            columns[row["age_bin"]]["amount"] += float(row.get("amount") or 0.0)
    return {
        "bins": bins,
        "stages": [
            {"stage": stage, "cells": [cells.get((stage, b)) for b in bins], "total": by_stage[stage]}
            for stage in doc["stage_order"]
        ],
        "columns": [columns[b] for b in bins],
        "total": doc["total"],
        "order_from": doc["stage_order_from"],
        "advice": (advice[:1].upper() + advice[1:]) if (advice := order_advice(doc)) else None,
        "unknown_open_deals": doc.get("unknown_open_deals") or 0,
    }


def _table_rows(doc: dict[str, Any], q: FunnelQuestion, back: str) -> list[dict[str, Any]]:
    return [{**row, "drill": drill_href(row, q, back, doc["breakdown"])} for row in doc["rows"][:TABLE_ROWS]]


def _funnel_form(
    by: list[str] | None,
    period: str | None,
    from_: str | None,
    to: str | None,
    strict: bool,
    window: str | None,
    horizon: str | None,
    as_of: str | None,
    from_stage: str | None,
    to_stage: str | None,
) -> FunnelForm:
    return FunnelForm(
        by=[c for c in by or [] if c],
        period=period or "",
        from_=from_ or "",
        to=to or "",
        strict=strict,
        window=window or "",
        horizon=horizon or "",
        as_of=as_of or "",
        from_stage=from_stage or "",
        to_stage=to_stage or "",
    )


PageText = Annotated[str | None, Query(max_length=100)]


def chart_specs(
    state: ServerState, q: FunnelQuestion, velocity_q: VelocityQuestion | None
) -> dict[str, dict[str, Any]]:
    """The charts of a question, built once per question: building a spec costs more than serving it."""

    def build() -> dict[str, dict[str, Any]]:
        velocity = state.answer(velocity_q) if velocity_q is not None else None
        return funnel_charts(state.answer(q), q.by, velocity)

    question = {"funnel": q.key(), "velocity": velocity_q.key() if velocity_q is not None else None}
    tables = [t for t in q.reads if t != "definitions"]
    return state.cached("funnel.charts", question, build, tables=tables)


@router.get("/funnel", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def funnel_page(
    request: Request,
    by: Annotated[list[str] | None, Query()] = None,
    period: PageText = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    window: PageText = None,
    horizon: PageText = None,
    as_of: AsOf = None,
    from_stage: PageText = None,
    to_stage: PageText = None,
) -> HTMLResponse:
    state: ServerState = request.app.state.tandem
    form = _funnel_form(by, period, from_, to, strict, window, horizon, as_of, from_stage, to_stage)
    stages = state.workspace.stages
    context: dict[str, Any] = {
        "title": "Funnel",
        "form": form,
        "columns": breakdown_columns(state),
        "periods": list(PeriodChoice.__members__),
        "stages": stages,
        "doc": None,
        "rows": [],
        "charts": {},
        "velocity": None,
        "velocity_error": None,
    }
    try:
        q = form.question()
        doc = state.answer(q)
    except TandemError as exc:
        status, text = explain(exc)
        return render(request, "funnel.html", status, error=text, **context)
    velocity: dict[str, Any] | None = None
    velocity_q: VelocityQuestion | None = None
    try:
        velocity_q = form.velocity_question(stages)
        velocity = state.answer(velocity_q)
    except TandemError as exc:
        context["velocity_error"] = explain(exc)[1]
        velocity_q = None
    back = form.query_string()
    try:
        pipeline = pipeline_view(state.answer(PipelineQuestion.parse(as_of=form.as_of or None)))
    except TandemError as exc:
        pipeline = {"error": explain(exc)[1]}
    context.update(
        pipeline=pipeline,
        doc=doc,
        question=q,
        rows=_table_rows(doc, q, back),
        charts=chart_specs(state, q, velocity_q),
        velocity=velocity["rows"][0] if velocity and velocity["rows"] else None,
        chart_query=back,
    )
    return render(request, "funnel.html", **context)


@router.get(
    "/charts/funnel/{name}.{fmt}",
    openapi_extra=access(Permission.READ),
    tags=["funnel"],
    response_class=Response,
    responses={
        200: {"content": {t: {} for t in IMAGE_TYPES.values()}, "description": "The chart as an image."},
        **PAGE_REFUSALS,
    },
)
def funnel_chart_image(
    request: Request,
    name: Annotated[ChartName, Path(description="The chart (cohort-conversion and reached-by-period need a period).")],
    fmt: Annotated[ImageFormat, Path(description="The image format.")],
    by: By = None,
    period: PeriodParam = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    window: Window = None,
    horizon: Horizon = None,
    as_of: AsOf = None,
    from_stage: Annotated[str | None, Query(max_length=100, description="Velocity chart: the step's start.")] = None,
    to_stage: Annotated[str | None, Query(max_length=100, description="Velocity chart: the step's end.")] = None,
) -> Response:
    """A Funnel page chart as PNG or SVG, for the same question: the spec the page draws.

    Charts: stage-volumes, cohort-conversion and reached-by-period (with a period), velocity.
    """
    state: ServerState = request.app.state.tandem
    form = FunnelForm(
        by=list(by or []),
        period=period.value if period else "",
        from_=from_ or "",
        to=to or "",
        strict=strict,
        window=str(window or ""),
        horizon=str(horizon or ""),
        as_of=as_of or "",
        from_stage=from_stage or "",
        to_stage=to_stage or "",
    )
    q = form.question()
    wanted = name is ChartName.velocity
    specs = chart_specs(state, q, form.velocity_question(state.workspace.stages) if wanted else None)
    if name.value not in specs:
        raise NotFound(f"no chart {name.value!r} for this question (it needs a period); charts: {', '.join(specs)}")
    return Response(charts.to_image(specs[name.value], fmt.value), media_type=IMAGE_TYPES[fmt.value])


# --- the drill-down page ------------------------------------------------------------------------------------------
def _in_words(q: LeadsQuestion) -> str:
    """The drill-down's question as a sentence."""
    text = f"Leads that entered {q.stage}"
    if q.start and q.end:
        text += f" from {_moment_text(q.start)} up to (not including) {_moment_text(q.end)}"
    elif q.start:
        text += f" from {_moment_text(q.start)} on"
    elif q.end:
        text += f" before {_moment_text(q.end)}"
    if q.where:
        text += ", where " + " and ".join(
            f"{column} is missing" if value is None else f"{column} is {value}" for column, value in q.where.items()
        )
    text += (
        "; strict mode (stages passed in order)"
        if q.strict
        else "; cumulative mode (a later stage implies the earlier)"
    )
    if q.as_of:
        text += f"; as of {_moment_text(q.as_of)} UTC"
    return text + "."


@router.get(
    "/funnel/leads", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False
)
def leads_page(
    request: Request,
    stage: Annotated[str, Query(max_length=100)] = "",
    where: Where = None,
    from_: From = None,
    to: To = None,
    strict: Strict = False,
    as_of: AsOf = None,
    back: Annotated[str | None, Query(max_length=4000)] = None,
) -> HTMLResponse:
    state: ServerState = request.app.state.tandem
    if not stage:
        raise ConfigError(f"choose a stage: one of {', '.join(state.workspace.stages)}", field="stage", value=stage)
    q = _leads_question(stage, where, from_, to, strict, PAGE_LEADS, as_of)
    doc = state.answer(q)
    count = _cached(state, "leads.count", q.model_copy(update={"limit": None}), lambda: q.count(state.workspace))
    download = {
        "stage": q.stage,
        "where": list(where or []),
        "from": from_,
        "to": to,
        "strict": strict,
        "as_of": as_of,
        "limit": LEADS_LIMIT,
    }
    back_query = (
        back
        if back is not None
        else urlencode(
            [("by", c) for c in q.where]
            + [(k, v) for k, v in (("from", from_), ("to", to), ("as_of", as_of)) if v]
            + ([("strict", "1")] if strict else [])
        )
    )
    shown = ["lead_id", "company", *q.where, "channel", "owner", "created_at", "entered", "next_stage_entered"]
    names = list(dict.fromkeys(c for c in shown if not doc["rows"] or c in doc["rows"][0]))
    return render(
        request,
        "leads.html",
        title=f"Leads · {q.stage}",
        doc=doc,
        question=q,
        in_words=_in_words(q),
        count=count,
        shown_columns=names,
        download=download,
        back_query=back_query,
        moments=("created_at", "entered", "next_stage_entered"),
        page_limit=PAGE_LEADS,
        csv_limit=LEADS_LIMIT,
    )
