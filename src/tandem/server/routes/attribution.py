"""Marketing's share of revenue on the REST API (docs/attribution.md).

- ``GET /api/attribution/deals?item=ITEM``: the deals behind a credit (`tandem.questions.AttributionDealsQuestion`).
- ``GET /api/attribution/summary``: the quarter's marketing revenue against its quota (the Overview's card).
- ``GET /api/roi``: `tandem roi --format json` (`tandem.questions.RoiQuestion`): cost and return per cohort.
- ``GET /api/attribution``: `tandem attribution --format json` for the same question
  (`tandem.questions.AttributionQuestion`): credit per channel or campaign under the approved model in force, every
  rule-based model side by side, sourced and influenced.

- ``GET /attribution``: the page: credit, sourced and influenced, every model side by side, the data-driven models'
  strength, cost and return with spend against revenue by month; ``GET /attribution/deals?item=ITEM``: the deals
  behind a credit, each with its journey.

Reading is read permission and cached like every document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tandem.accounts import Permission
from tandem.attribution.model import RULE_MODELS
from tandem.questions import AttributionQuestion
from tandem.server.access import GuardedRoute, access
from tandem.server.pages import render
from tandem.server.refusals import INVALID, SIGNED_IN
from tandem.server.state import ServerState

__all__ = ["attribution_document", "router"]

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

Model = Annotated[
    str | None,
    Query(max_length=40, description="A rule-based model to show instead of the approved one, e.g. linear."),
]
Outcome = Annotated[str, Query(max_length=20, description="What is credited: revenue, pipeline or leads.")]
Level = Annotated[
    str | None, Query(max_length=20, description="Whose touches: lead, opportunity or account (default: approved).")
]
By = Annotated[str, Query(max_length=20, description="Credit per channel or per campaign.")]
Period = Annotated[str | None, Query(max_length=10, description="Also per period of the outcome: month or quarter.")]
From = Annotated[
    str | None, Query(alias="from", max_length=64, description="Outcomes from this day (YYYY-MM-DD, UTC).")
]
To = Annotated[str | None, Query(alias="to", max_length=64, description="Outcomes before this day (YYYY-MM-DD, UTC).")]
AsOf = Annotated[str | None, Query(max_length=64, description="With only what was known at this moment.")]


def attribution_document(state: ServerState, **values: Any) -> dict[str, Any]:
    """`tandem attribution --format json` through the cache; a bad value is refused naming its parameter."""
    question = AttributionQuestion.parse(**{k: (v or None) if k != "outcome" else v for k, v in values.items()})
    return state.answer(question)


@router.get(
    "/api/attribution",
    openapi_extra=access(Permission.READ),
    tags=["attribution"],
    response_model=None,
    responses={**SIGNED_IN},
)
def api_attribution(
    request: Request,
    model: Model = None,
    outcome: Outcome = "revenue",
    level: Level = None,
    by: By = "channel",
    period: Period = None,
    start: From = None,
    end: To = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Marketing's share of revenue, as `tandem attribution --format json`: the models in force
    (``models_in_force``: definitions version, model, level, lookback, repeats, sourced rule; ``approved``),
    ``totals``, one row per channel or campaign (``rows``: outcomes and value credited, share), per period
    (``by_period``), every rule-based model side by side (``comparison``: each model's value, the range, and
    ``model_dependent``), and what each ``sourced`` and influenced."""
    state: ServerState = request.app.state.tandem
    return attribution_document(
        state, model=model, outcome=outcome, level=level, by=by, period=period, start=start, end=end, as_of=as_of
    )


Item = Annotated[str, Query(min_length=1, max_length=200, description="The channel or campaign whose credit to trace.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="How many deals, the most credited first.")]


@router.get(
    "/api/attribution/deals",
    openapi_extra=access(Permission.READ),
    tags=["attribution"],
    response_model=None,
    responses={**SIGNED_IN},
)
def api_attribution_deals(
    request: Request,
    item: Item,
    model: Model = None,
    outcome: Outcome = "revenue",
    level: Level = None,
    by: By = "channel",
    start: From = None,
    end: To = None,
    as_of: AsOf = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    """The deals behind one channel's or campaign's credit, as `tandem attribution --deals ITEM --format json`:
    ``outcomes`` (how many gave it credit), ``shown``, and ``deals`` (the most credited first: ``id``, ``lead_id``,
    ``at``, ``value``, ``share``, ``credit``, the definitions ``version`` and ``model`` that credited it, and its
    ``touches`` in order, each with its ``share``)."""
    from tandem.questions import AttributionDealsQuestion

    state: ServerState = request.app.state.tandem
    question = AttributionDealsQuestion.parse(
        item=item,
        model=model or None,
        outcome=outcome,
        level=level or None,
        by=by,
        start=start,
        end=end,
        as_of=as_of,
        limit=limit,
    )
    return state.answer(question)


@router.get(
    "/api/attribution/summary",
    openapi_extra=access(Permission.READ),
    tags=["attribution"],
    response_model=None,
    responses={**SIGNED_IN},
)
def api_attribution_summary(request: Request, as_of: AsOf = None) -> dict[str, Any]:
    """The quarter so far, as `tandem attribution --summary --format json` (the Overview's card): the won revenue
    marketing's channels earned (``marketing_credited``, measured as the quota is: ``measured_by``), ``won_revenue``,
    ``share_of_won``, marketing's ``quota`` and where it comes from (``quota_from``), ``attainment``, the
    ``sales_sourced_channels`` and the ``models_in_force``."""
    from tandem.questions import MarketingShareQuestion

    state: ServerState = request.app.state.tandem
    return state.answer(MarketingShareQuestion.parse(as_of=as_of))


RoiPeriod = Annotated[
    str | None, Query(max_length=10, description="One cohort per period of creation: month, quarter.")
]


@router.get(
    "/api/roi",
    openapi_extra=access(Permission.READ),
    tags=["attribution"],
    response_model=None,
    responses={**SIGNED_IN},
)
def api_roi(
    request: Request,
    by: By = "channel",
    period: RoiPeriod = None,
    start: From = None,
    end: To = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Cost and return per channel or campaign, as `tandem roi --format json`: the window (``start``, ``end``), the
    ``stages``, the plan ``model`` that values leads in flight (or ``expected_unavailable``), and per cohort
    (``rows``, ``totals``): ``spend``, ``reached`` per stage, ``cost_per_<stage>``, ``cac``, ``realised`` (won deals,
    revenue, ROI, ROAS, payback month), ``expected`` (leads in flight, won deals, revenue with its P10-P90
    ``low``/``high``) and ``with_expected`` (revenue, ROI and its range, ROAS, CAC)."""
    from tandem.questions import RoiQuestion

    state: ServerState = request.app.state.tandem
    question = RoiQuestion.parse(by=by, period=period or None, start=start, end=end, as_of=as_of)
    return state.answer(question)


# --- the pages ----------------------------------------------------------------------------------------------------
PageChoice = Annotated[str, Query(max_length=40)]


def spend_chart(roi_by_month: dict[str, Any]) -> dict[str, Any] | None:
    """Spend against the revenue of the leads it bought, month by month (all channels together)."""
    from tandem.server import charts

    months: dict[str, dict[str, float]] = {}
    for row in roi_by_month.get("rows", []):
        month = str(row["period"])[:10]
        totals = months.setdefault(month, {"spend": 0.0, "realised revenue": 0.0, "expected revenue": 0.0})
        totals["spend"] += row["spend"] or 0.0
        totals["realised revenue"] += row["realised"]["revenue"] or 0.0
        totals["expected revenue"] += row["expected"]["revenue"] or 0.0
    values = [
        {"period": month, "series": series, "amount": round(amount, 2)}
        for month, totals in sorted(months.items())
        for series, amount in totals.items()
    ]
    if not values:
        return None
    return charts.spend_and_revenue(values, "Spend and the revenue of the leads it bought, by month")


@router.get("/attribution", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def attribution_page(
    request: Request,
    model: PageChoice = "",
    outcome: PageChoice = "revenue",
    level: PageChoice = "",
    by: PageChoice = "channel",
) -> HTMLResponse:
    from tandem.questions import AttributionQuestion, RoiQuestion

    state: ServerState = request.app.state.tandem
    question = AttributionQuestion.parse(model=model or None, outcome=outcome, level=level or None, by=by)
    document = state.answer(question)
    roi = state.answer(RoiQuestion.parse(by=by))
    roi_by_month = state.answer(RoiQuestion.parse(by=by, period="month"))
    return render(
        request,
        "attribution.html",
        title="Attribution",
        doc=document,
        roi=roi,
        spend_chart=spend_chart(roi_by_month),
        choice={"model": question.model or "", "outcome": question.outcome, "level": question.level or "", "by": by},
        rule_models=RULE_MODELS,
    )


@router.get(
    "/attribution/deals", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False
)
def attribution_deals_page(
    request: Request,
    item: Item,
    model: PageChoice = "",
    outcome: PageChoice = "revenue",
    level: PageChoice = "",
    by: PageChoice = "channel",
) -> HTMLResponse:
    from tandem.questions import AttributionDealsQuestion

    state: ServerState = request.app.state.tandem
    question = AttributionDealsQuestion.parse(
        item=item, model=model or None, outcome=outcome, level=level or None, by=by, limit=50
    )
    return render(
        request,
        "attribution_deals.html",
        title=f"Attribution: {item}",
        doc=state.answer(question),
        choice={"model": model, "outcome": outcome, "level": level, "by": by},
    )
