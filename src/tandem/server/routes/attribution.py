"""Marketing's share of revenue on the REST API (docs/attribution.md).

- ``GET /api/attribution/deals?item=ITEM``: the deals behind a credit (`tandem.questions.AttributionDealsQuestion`).
- ``GET /api/roi``: `tandem roi --format json` (`tandem.questions.RoiQuestion`): cost and return per cohort.
- ``GET /api/attribution``: `tandem attribution --format json` for the same question
  (`tandem.questions.AttributionQuestion`): credit per channel or campaign under the approved model in force, every
  rule-based model side by side, sourced and influenced.

Reading is read permission and cached like every document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tandem.accounts import Permission
from tandem.questions import AttributionQuestion
from tandem.server.access import GuardedRoute, access
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
