"""The SLA page, the rep's queue and their REST endpoints: service levels at the marketing->sales handoff.

- ``GET /api/sla``: `tandem sla report --format json` for the same question (`tandem.questions.SlaQuestion`);
- ``GET /api/sla/queue?owner=REP``: `tandem sla queue REP --format json` (`tandem.questions.SlaQueueQuestion`);
- ``POST /api/sla/leads/{lead}/decision``: a sales user's decision on a lead waiting for one, as `tandem sla accept`
  and `tandem sla reject` (`Workspace.decide_handoff`: a one-row import into ``handoffs``, audited, undoable);
- ``GET /sla``: the report for people; ``GET /sla/queue``: a rep's waiting leads, with Accept and Reject for those
  who may decide (``POST /sla/queue/decision`` takes the page's forms and comes back to the queue).

Reading is read permission and cached like every document; deciding needs the handoff permission (sales), and the
rules of `tandem.handoffs.decisions` say on which leads. A workspace without a contract or without handoffs gets
a page saying so and how to fix it, never a server error.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tandem.accounts import Permission, Principal
from tandem.durations import format_business
from tandem.errors import NotFoundError, TandemError
from tandem.handoffs.decisions import MAX_NOTE
from tandem.questions import SlaQuestion, SlaQueueQuestion, SlaSummaryQuestion
from tandem.server import charts
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, SIGNED_IN, UNREADABLE, Refusal, explain
from tandem.server.state import ServerState

__all__ = ["decide", "router", "sla_document", "speed_chart"]

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: Rows of the rejections by campaign the page shows (most rejections first); the API has them all.
PAGE_CAMPAIGNS = 15
#: Flash messages the queue shows after a decision, chosen by the `done` query parameter (never user text).
DONE = ("accepted", "rejected")

By = Annotated[str, Query(max_length=10, description="One row per rep or per team.", examples=["rep"])]
SlaPeriod = Annotated[
    str | None, Query(max_length=10, description="One row per period of handoff: week, month or quarter.")
]
From = Annotated[
    str | None,
    Query(alias="from", max_length=64, description="Handoffs from this day (YYYY-MM-DD, UTC), or a moment."),
]
To = Annotated[
    str | None,
    Query(alias="to", max_length=64, description="Handoffs before this day (YYYY-MM-DD, UTC), or a moment."),
]
AsOf = Annotated[str | None, Query(max_length=64, description="The clocks as of this moment (default now).")]
Owner = Annotated[str, Query(min_length=1, max_length=200, description="The rep, as the lead owner is written.")]
LeadId = Annotated[str, PathParam(min_length=1, max_length=200, description="The lead's id.")]

NO_CONTRACT: dict[int | str, dict[str, Any]] = {
    404: {"model": Refusal, "description": "The definitions in force have no `service_levels:` section."},
}
DECISION_REFUSALS: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    **UNREADABLE,
    **NO_CONTRACT,
    403: {"model": Refusal, "description": "Not sales, or a rep deciding on a lead someone else holds."},
    409: {"model": Refusal, "description": "No handoff of the lead waits for a decision."},
    422: {
        "model": Refusal,
        "description": "Not accepted or rejected, a rejection without a contract reason, a bad note.",
    },
}


class DecisionBody(BaseModel):
    """A decision on a lead handed to sales: accept it, or reject it with a reason code of the contract."""

    model_config = ConfigDict(extra="forbid")

    decision: str = Field(max_length=20, description="accepted or rejected.", examples=["rejected"])
    reason: str | None = Field(
        None, max_length=200, description="A rejection's reason code, one of the contract's (none for accepted)."
    )
    note: str | None = Field(None, max_length=4 * MAX_NOTE, description=f"A note for marketing (up to {MAX_NOTE}).")


class Decided(BaseModel):
    lead_id: str
    decision: str
    reason: str | None
    note: str | None
    import_id: int = Field(description="The import that recorded it (undo it on the Imports page).")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


# --- the documents and the decision -------------------------------------------------------------------------------
def sla_document(
    state: ServerState,
    by: str = "rep",
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    as_of: str | None = None,
) -> dict[str, Any]:
    """`tandem sla report --format json` through the cache; a bad value is refused naming its parameter."""
    question = SlaQuestion.parse(by=by, period=period or None, start=start, end=end, as_of=as_of)
    return state.answer(question)


def decide(
    state: ServerState, principal: Principal, lead_id: str, decision: str, reason: str | None, note: str | None
) -> dict[str, Any]:
    """Record `principal`'s decision under the server's write lease; every cached document sees it at once."""
    with state.using_warehouse() as workspace:
        try:
            result = workspace.decide_handoff(principal, lead_id, decision, reason=reason, note=note)
        finally:
            state.data_changed()
    return {"lead_id": lead_id, "decision": decision, "reason": reason, "note": note, "import_id": result.import_id}


# --- the REST API -------------------------------------------------------------------------------------------------
@router.get(
    "/api/sla",
    openapi_extra=access(Permission.READ),
    tags=["sla"],
    response_model=None,
    responses={**SIGNED_IN, **NO_CONTRACT},
)
def api_sla(
    request: Request, by: By = "rep", period: SlaPeriod = None, start: From = None, end: To = None, as_of: AsOf = None
) -> dict[str, Any]:
    """The service levels at the handoff, as `tandem sla report --format json`: the contract in force (``contract``,
    ``contract_version``), one row per rep or team (and period): handoffs, accepted, rejected, recycled, undecided,
    time to accept and to first touch in business seconds (median, P90), breaches and ``breach_rate``, open clocks,
    ``at_risk``, ``package_complete_share``; ``totals``; ``rejection_reasons``; ``rejections`` by channel,
    campaign and definitions version against ``rejection_ceiling_percent``; the most urgent ``open_clocks``."""
    return sla_document(_state(request), by, period, start, end, as_of)


@router.get(
    "/api/sla/summary",
    openapi_extra=access(Permission.READ),
    tags=["sla"],
    response_model=None,
    responses={**SIGNED_IN},
)
def api_sla_summary(request: Request, as_of: AsOf = None) -> dict[str, Any]:
    """The handoff in the as-of quarter so far, as `tandem sla summary --format json` (the Overview's card):
    handoffs, breaches and ``breach_rate``, clocks ``at_risk`` now and ``open_past_target``, the reps with the most
    breaches (``most_breaches``) and one sentence (``message``); ``unavailable`` when there is no contract."""
    return _state(request).answer(SlaSummaryQuestion.parse(as_of=as_of))


@router.get(
    "/api/sla/queue",
    openapi_extra=access(Permission.READ),
    tags=["sla"],
    response_model=None,
    responses={**SIGNED_IN, **NO_CONTRACT},
)
def api_sla_queue(request: Request, owner: Owner, as_of: AsOf = None) -> dict[str, Any]:
    """A rep's queue, as `tandem sla queue REP --format json`: the leads handed to them that wait for a decision,
    most urgent first, each with its priority, since when, every open clock (target, elapsed and left in business
    seconds, deadline, breached, at risk), channel, campaign and package; and the reason codes a rejection takes."""
    return _state(request).answer(SlaQueueQuestion.parse(owner=owner, as_of=as_of))


@router.post(
    "/api/sla/leads/{lead}/decision",
    openapi_extra=access(Permission.HANDOFF),
    tags=["sla"],
    responses=DECISION_REFUSALS,
)
def api_decide(request: Request, lead: LeadId, body: DecisionBody) -> Decided:
    """Accept a lead handed to sales, or reject it with a reason code of the contract, as `tandem sla accept` and
    `tandem sla reject`: a rep decides on the leads they hold, a sales leader on any. Recorded as a one-row import
    into ``handoffs`` under the person deciding (audited, undone like any import)."""
    done = decide(_state(request), principal_of(request), lead, body.decision, body.reason or None, body.note)
    return Decided.model_validate(done)


# --- the pages ----------------------------------------------------------------------------------------------------
def speed_chart(speed: dict[str, Any]) -> dict[str, Any]:
    """The speed-to-lead buckets as bars of their rate of reaching the next stage (a bucket is named by ``group``;
    ``bucket`` is read too, as the document was first drafted)."""
    rows = [
        {"bucket": str(b.get("group", b.get("bucket"))), "leads": b["leads"], "sql_rate": b["sql_rate"]}
        for b in speed["buckets"]
    ]
    stage = str(speed.get("next_stage") or "sql")
    return charts.speed_to_lead(rows, f"Share of leads reaching {stage}, by time to first touch")


def _document_or_reason(state: ServerState, question: SlaQuestion) -> tuple[dict[str, Any] | None, str]:
    """The report, or None and the one line saying why there is none (no contract in force)."""
    try:
        return state.answer(question), ""
    except NotFoundError as exc:
        return None, str(exc)


@router.get("/sla", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def sla_page(request: Request, by: By = "rep", period: SlaPeriod = None) -> HTMLResponse:
    question = SlaQuestion.parse(by=by, period=period or None)
    document, missing = _document_or_reason(_state(request), question)
    speed = (document or {}).get("speed_to_lead")
    campaigns = document["rejections"].get("campaign_id", []) if document else []
    return render(
        request,
        "sla.html",
        title="SLA",
        doc=document,
        missing=missing,
        by=question.by,
        period=question.period or "",
        speed=speed,
        speed_chart=speed_chart(speed) if speed and speed.get("buckets") else None,
        campaigns=campaigns[:PAGE_CAMPAIGNS],
        more_campaigns=max(len(campaigns) - PAGE_CAMPAIGNS, 0),
        business=format_business,
    )


def _queue_page(request: Request, owner: str | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The queue of `owner` (default: the signed-in sales user's own), with the reps a chooser may pick from."""
    state = _state(request)
    principal = principal_of(request)
    is_sales = principal.may(Permission.HANDOFF)
    chooses = not is_sales or principal.is_leader
    chosen = (owner or "").strip() or (principal.name if is_sales else "")
    report, missing = _document_or_reason(state, SlaQuestion.parse(by="rep", open_limit=0))
    reps = sorted(str(r["rep"]) for r in (report or {}).get("rows", []) if r.get("rep") and r.get("undecided"))
    queue = state.answer(SlaQueueQuestion.parse(owner=chosen)) if chosen and report is not None else None
    may_decide = is_sales and (principal.is_leader or chosen in (principal.username, principal.display_name))
    return render(
        request,
        "sla_queue.html",
        status_code,
        title="SLA queue",
        missing=missing,
        owner=chosen,
        reps=reps,
        chooses=chooses,
        queue=queue,
        may_decide=may_decide,
        business=format_business,
        **context,
    )


@router.get("/sla/queue", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def queue_page(
    request: Request,
    owner: Annotated[str, Query(max_length=200)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
    lead: Annotated[str, Query(max_length=200)] = "",
    import_id: Annotated[int | None, Query(alias="import", ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    message = ""
    if done in DONE and lead:
        message = f"Lead {lead} {done}" + (f" (import {import_id})." if import_id else ".")
    return _queue_page(request, owner, message=message)


@router.post(
    "/sla/queue/decision",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.HANDOFF),
    include_in_schema=False,
)
def decide_from_page(
    request: Request,
    lead: Annotated[str, Form(max_length=200)],
    decision: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=4 * MAX_NOTE)] = "",
    owner: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        done = decide(_state(request), principal_of(request), lead, decision, reason or None, note.strip() or None)
    except TandemError as exc:  # the queue again, saying why
        status, sentence = explain(exc)
        return _queue_page(request, owner, status, error=sentence)
    target = urlencode({"owner": owner, "done": decision, "lead": lead, "import": done["import_id"]})
    return RedirectResponse(f"/sla/queue?{target}", status_code=303)
