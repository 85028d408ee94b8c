"""The marketing plan as a proposal in the web app, and scenarios side by side: REST endpoints and pages.

A plan goes through `tandem.plan.proposals.Plans`, as on the command line (`tandem plan propose|review|accept|
send-back|reject|show|history`). The coarse gates are the definitions' permissions: proposing needs
`Permission.PROPOSE`, commenting and deciding `Permission.DECIDE`; who exactly may take which step on which version
is `tandem.plan.proposals.allowed_actions`, which the plans' documents list for the person asking (``actions``) and
the pages ask to show their forms, and which the steps themselves enforce. What is refused is answered with the
status of its kind (`tandem.server.refusals`), never hidden:

- a plan file with problems: 422, every problem with its line and column (``problems``); nothing stored;
- something asked that cannot be used (an empty comment or reason, no goal to check the plan against): 422;
- a role, or the version's author, that may not take the step (not marketing, not a sales leader, deciding on
  one's own version): 403;
- a version that is no longer the one waiting (replaced by a newer one, or decided already), nothing waiting, or a
  proposal identical to the version waiting: 409, since only a new version can go on;
- an unknown plan or version: 404.

The plans' documents are the plans and plan questions (`tandem.questions.plan`), asked for the signed-in user. They
are read straight from the application database rather than through the result cache: every proposal, comment and
decision changes them, and a key that said so would read as much as the documents themselves.

Scenarios (`GET /api/plan/scenarios`, and the Plan page's form, `GET /plan/scenarios`) answer the scenarios question,
`tandem plan scenarios FILE --format json`, for a period and revenue (default: next quarter and its goal) and the
waterfall's other parameters; a scenarios file that cannot be used is a 422 naming the place. They are questions, not
changes: asked with GET (the file in the query string), so that every role may ask them, viewers included (who may
change nothing: test_access_matrix.py).

The Plan page (`tandem.server.routes.plan`) includes ``plan_plans.html``, which asks `plans_section` (a template
global) for the plans, the propose form's example and what the form posted here left to show (problems, the
scenarios compared): the forms here re-render the Plan page through its own route with that in ``request.state``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from tandem.accounts import Permission, Principal
from tandem.errors import ConfigError, TandemError
from tandem.periods import CalendarPeriod, next_quarter, parse_period
from tandem.plan.proposals import (
    MAX_COMMENT_CHARS,
    Action,
    PlanFileError,
    PlanVersionInfo,
    allowed_actions,
)
from tandem.questions import ask
from tandem.questions.plan import (
    MAX_SCENARIOS_CHARS,
    PLAN_TABLES,
    PlanQuestion,
    PlansQuestion,
    ScenariosQuestion,
)
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.pages import environment, render
from tandem.server.refusals import INVALID, MAX_ID, NO_NUL, SIGNED_IN, UNREADABLE, Refusal, explain, file_problems
from tandem.server.routes.forecast import plan_forecast_or_reason
from tandem.server.routes.plan import (
    AsOf,
    Channels,
    DealSize,
    History,
    Horizon,
    Lags,
    Lookback,
    Rates,
    Seed,
    Where,
    plan_page,
)
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: A plan file is a few kilobytes of YAML.
MAX_DOCUMENT_CHARS = 256 * 1024
#: Notes and reasons: a few sentences (comments: what `Plans` takes).
MAX_TEXT_CHARS = 2000
#: The biggest shortfalls a proposal's page lists.
SHORTFALLS_SHOWN = 8

PlanId = Annotated[int, Path(ge=1, le=MAX_ID, description="The plan's number (one plan per period).")]


# --- documents ----------------------------------------------------------------------------------------------------
class PlanIn(BaseModel):
    """A marketing plan proposed for its period (the file names the period)."""

    document: str = Field(
        min_length=1, max_length=MAX_DOCUMENT_CHARS, pattern=NO_NUL, description="The whole plan file (YAML)."
    )
    note: str = Field(
        default="", max_length=MAX_TEXT_CHARS, pattern=NO_NUL, description="What this version is; default: its note."
    )


class ReviewIn(BaseModel):
    comment: str = Field(min_length=1, max_length=MAX_COMMENT_CHARS, pattern=NO_NUL, description="Your comment.")
    version: int = Field(ge=1, le=MAX_ID, description="The version read: a replaced one is refused (409).")


class AcceptIn(BaseModel):
    version: int = Field(ge=1, le=MAX_ID, description="The version read: a replaced one is refused (409).")


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=NO_NUL, description="Why: marketing reads it.")
    version: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="The version read (default: the one waiting)."
    )


REFUSALS = SIGNED_IN
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Refusal, "description": "No such plan (or version)."}}
NOT_ALLOWED: dict[int | str, dict[str, Any]] = {
    403: {
        "model": Refusal,
        "description": "The role lacks the permission (see x-access), or may not take this step on this version "
        "(not marketing, not a sales leader, its author deciding: see the plan's `actions`). Nothing changed.",
    },
}
DECISION_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **NOT_ALLOWED,
    **UNREADABLE,
    **NOT_FOUND,
    409: {
        "model": Refusal,
        "description": "The version named is no longer the one waiting (replaced by a newer one, or decided "
        "already), or nothing is waiting; read the plan again.",
    },
    422: {"model": Refusal, "description": "No comment or reason; the detail says why. Nothing changed."},
}
PROPOSAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **NOT_ALLOWED,
    **UNREADABLE,
    409: {"model": Refusal, "description": "Identical to the version waiting (or, none waiting, to the baseline)."},
    422: {
        "model": Refusal,
        "description": "The file has problems (every one in `problems`, by line and column), or cannot be checked "
        "(no goal for the period, numbers out of range). Nothing was stored.",
    },
}
SCENARIO_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    400: {"model": Refusal, "description": "The workspace cannot answer it; the detail says why."},
    422: {
        "model": Refusal,
        "description": "A bad parameter or no goal to plan for (`field` names it), or a scenarios file that cannot "
        "be used (the detail names the place).",
    },
}


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


# --- reading ------------------------------------------------------------------------------------------------------
def plans_document(state: ServerState, principal: Principal, period: str | None = None) -> dict[str, Any]:
    """`tandem plan history [PERIOD] --format json` for `principal`: every plan, with what they may do on each."""
    return ask(state.workspace, PlansQuestion.parse(period=period, asked_by=principal))


def plan_document(
    state: ServerState, principal: Principal, plan: int | str, version: int | str | None = None
) -> dict[str, Any]:
    """`tandem plan show PLAN [--version N] --format json` for `principal`."""
    return ask(state.workspace, PlanQuestion.parse(plan=plan, plan_version=version, asked_by=principal))


def _problems(exc: PlanFileError) -> list[dict[str, Any]]:
    return file_problems(exc.issues)


def _summary(exc: PlanFileError) -> str:
    return str(exc).splitlines()[0]


# --- changing -----------------------------------------------------------------------------------------------------
def _propose(state: ServerState, principal: Principal, text: str, note: str) -> PlanVersionInfo:
    with state.warehouse_lock:  # the sufficiency check runs the plan forward on the warehouse's history
        return state.workspace.plans.propose(principal, text, note=note)


def _decide(
    state: ServerState, principal: Principal, plan_id: int, decision: Action, text: str, version: int | None
) -> PlanVersionInfo:
    plans = state.workspace.plans
    if decision in (Action.REVIEW, Action.ACCEPT) and version is None:  # the API's bodies always name it
        raise ConfigError("the form did not say which version was read; reload the page and try again")
    if decision is Action.REVIEW:
        assert version is not None
        return plans.review(principal, plan_id, text, version)
    if decision is Action.ACCEPT:
        assert version is not None
        return plans.accept(principal, plan_id, version)
    if decision is Action.SEND_BACK:
        return plans.send_back(principal, plan_id, text, version)
    return plans.reject(principal, plan_id, text, version)


# --- REST ---------------------------------------------------------------------------------------------------------
@router.get("/api/plans", openapi_extra=access(Permission.READ), tags=["plan"], responses={**REFUSALS, **NOT_FOUND})
def api_plans(
    request: Request,
    period: Annotated[str | None, Query(max_length=16, description="2027-Q1: that period's plan only.")] = None,
) -> dict[str, Any]:
    """Every period's plan, oldest period first, as `tandem plan history --format json`: each version (status,
    author, note, the file, its sufficiency check as run when proposed, comments, decisions), the baseline (the
    accepted version), the one waiting, and the ``actions`` the caller may take on it (``asked_by``)."""
    return plans_document(_state(request), principal_of(request), period)


@router.post(
    "/api/plans",
    openapi_extra=access(Permission.PROPOSE),
    tags=["plan"],
    status_code=201,
    response_model=None,
    responses=PROPOSAL_REFUSALS,
)
def api_propose(request: Request, body: PlanIn) -> dict[str, Any] | JSONResponse:
    """Propose the marketing plan for its period (a marketing user): the next version of the period's plan,
    waiting for a sales leader. The file is checked in full (every problem by line and column) and run forward
    through the funnel model against the period's goal (the sufficiency check, kept with the version) before
    anything is stored. Answers ``version`` as `tandem plan propose --format json` prints it."""
    try:
        proposed = _propose(_state(request), principal_of(request), body.document, body.note)
    except PlanFileError as exc:
        return JSONResponse({"detail": _summary(exc), "problems": _problems(exc)}, status_code=422)
    return {"version": proposed.as_dict()}


@router.get(
    "/api/plans/{plan_id}",
    openapi_extra=access(Permission.READ),
    tags=["plan"],
    responses={**REFUSALS, **NOT_FOUND},
)
def api_plan(
    request: Request,
    plan_id: PlanId,
    version: Annotated[
        str | None, Query(description="The version shown in full (default: the one waiting, else the latest).")
    ] = None,
) -> dict[str, Any]:
    """One period's plan, as `tandem plan show ID --format json`: every version with its file, programs,
    sufficiency check, comments and decision; the baseline and the version waiting; ``version``, the one shown in
    full; and what the caller may do on it (``actions``)."""
    return plan_document(_state(request), principal_of(request), plan_id, version or None)


def _api_decision(request: Request, plan_id: int, decision: Action, text: str, version: int | None) -> dict[str, Any]:
    decided = _decide(_state(request), principal_of(request), plan_id, decision, text, version)
    return {"version": decided.as_dict()}


@router.post(
    "/api/plans/{plan_id}/review",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    responses=DECISION_REFUSALS,
)
def api_review(request: Request, plan_id: PlanId, body: ReviewIn) -> dict[str, Any]:
    """Comment on the version waiting for a decision (a marketing or sales user), naming the version read."""
    return _api_decision(request, plan_id, Action.REVIEW, body.comment, body.version)


@router.post(
    "/api/plans/{plan_id}/accept",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    responses=DECISION_REFUSALS,
)
def api_accept(request: Request, plan_id: PlanId, body: AcceptIn) -> dict[str, Any]:
    """Accept the version read as the period's baseline (a sales leader, not its author): plan against actual
    (``GET /api/plan/pacing``) measures the period against it from now on."""
    return _api_decision(request, plan_id, Action.ACCEPT, "", body.version)


@router.post(
    "/api/plans/{plan_id}/send-back",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    responses=DECISION_REFUSALS,
)
def api_send_back(request: Request, plan_id: PlanId, body: ReasonIn) -> dict[str, Any]:
    """Send the waiting version back to marketing with a reason (a sales leader, not its author)."""
    return _api_decision(request, plan_id, Action.SEND_BACK, body.reason, body.version)


@router.post(
    "/api/plans/{plan_id}/reject",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    responses=DECISION_REFUSALS,
)
def api_reject(request: Request, plan_id: PlanId, body: ReasonIn) -> dict[str, Any]:
    """Close the waiting version for good, with a reason (a sales leader, not its author)."""
    return _api_decision(request, plan_id, Action.REJECT, body.reason, body.version)


# --- scenarios ----------------------------------------------------------------------------------------------------
ScenariosText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_SCENARIOS_CHARS,
        pattern=NO_NUL,
        description="The scenarios file (YAML): `scenarios:` with a list of named what-ifs.",
    ),
]
ScenariosPeriod = Annotated[
    str | None, Query(max_length=32, description="2027, 2027-Q1 or 2027-01 (default: next quarter).")
]
ScenariosRevenue = Annotated[
    str | None, Query(max_length=64, description="Revenue for the period: 10M, 750k (default: its goal).")
]


@router.get(
    "/api/plan/scenarios",
    openapi_extra=access(Permission.READ),
    tags=["plan"],
    responses=SCENARIO_REFUSALS,
)
def api_scenarios(
    request: Request,
    document: ScenariosText,
    period: ScenariosPeriod = None,
    revenue: ScenariosRevenue = None,
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
    """Named what-ifs side by side with the base plan, as `tandem plan scenarios FILE --format json`: for each (the
    base first) what each stage needs, the deals, the budget that takes, and with a budget, the revenue it brings
    and the share of the goal. The base is the waterfall of the same parameters (`GET /api/plan/waterfall`): the
    workspace's history and the period's goal, where not given.

    A question, not a change: asked with GET (the file in ``document``, a few hundred characters), so that every
    role may ask it, and answers are cached like every document."""
    question = ScenariosQuestion.parse(
        document=document,
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
    return _state(request).answer(question)


# --- pages --------------------------------------------------------------------------------------------------------
#: The notice after a change, chosen by the `done` query parameter (never user text: the page fills in the facts).
DONE = ("proposed", "reviewed", "accepted", "sent_back", "rejected")
EXAMPLE_PROGRAMS = 12


def _yaml_text(text: str) -> str:
    """A channel's name as a YAML scalar: plain when that reads back the same, else double-quoted (JSON)."""
    return text if re.fullmatch(r"[A-Za-z][A-Za-z0-9_ .-]*", text) and text.strip() == text else json.dumps(text)


def _example(state: ServerState, period: CalendarPeriod, doc: dict[str, Any] | None) -> str:
    """A plan for `period` to start from: a program for each priced channel, with the budget the reverse waterfall
    gives it (`doc`, the Plan page's), from the first month the leads are needed (not before this month) to the
    period's end."""
    budgets = {row["channel"]: row.get("budget") for row in (doc or {}).get("budget", [])}
    try:
        from tandem.plan.history import channel_costs

        costs = state.cached(
            "plan.channels", {}, lambda: [c.__dict__ for c in channel_costs(state.workspace)], tables=PLAN_TABLES
        )
    except TandemError:
        costs = []
    priced = [c for c in costs if c["cost_per_lead"] and c["channel"] != "(none)"][:EXAMPLE_PROGRAMS]
    start = period.start
    if doc and doc.get("rows"):
        first_stage = doc["model"]["stages"][0]
        needed = [
            date.fromisoformat(r["month"]) for r in doc["rows"] if r["stage"] == first_stage and r["required"] >= 0.5
        ]
        this_month = datetime.now(UTC).date().replace(day=1)
        start = max(min(needed, default=period.start), this_month) if needed else period.start
        start = min(start, period.start)
    last = period.end - timedelta(days=1)
    lines = [f"period: {period.label}", f"note: {period.label} demand plan", "programs:"]
    for cost in priced:
        budget = budgets.get(cost["channel"]) or 10_000
        lines += [
            f"  - name: {_yaml_text(cost['channel'].replace('_', ' ').capitalize())}",
            f"    channel: {_yaml_text(cost['channel'])}",
            f"    budget: {max(1, round(budget / 1000))}k",
            f"    start: {start}",
            f"    end: {last}",
        ]
    if not priced:
        channel = next((c["channel"] for c in costs if c["channel"] != "(none)"), "webinar")
        lines += [
            f"  - name: {_yaml_text(channel.replace('_', ' ').capitalize())}",
            f"    channel: {_yaml_text(channel)}",
            "    budget: 0",
            f"    start: {start}",
            f"    end: {last}",
            "    volume: 500",
        ]
    return "\n".join(lines) + "\n"


SCENARIOS_EXAMPLE = """\
scenarios:
  - name: better qualification
    rate_changes: [{step}=+20%]
  - name: bigger deals
    deal_size_change: +15%
"""


def _version_of(plan: dict[str, Any], number: int | None) -> dict[str, Any] | None:
    """Version `number` of a plan document, if any."""
    return next((v for v in plan["versions"] if v["version"] == number), None)


def plans_section(request: Request, period: CalendarPeriod | None, doc: dict[str, Any] | None) -> dict[str, Any]:
    """What the Plan page's "Plans" section shows (a template global: `plan_plans.html`): the plans document for
    the signed-in user, and the propose form when `allowed_actions` lets them propose."""
    state = _state(request)
    principal = principal_of(request)
    posted: dict[str, Any] = getattr(request.state, "plan_proposals", {})
    chosen = period or next_quarter(datetime.now(UTC).replace(tzinfo=None).date())
    plans = plans_document(state, principal)["plans"]
    rows = [
        {
            "id": p["id"],
            "period": p["period"],
            "latest": p["versions"][-1],
            "baseline": _version_of(p, p["baseline"]),
            "waiting": _version_of(p, p["waiting"]),
            "versions": len(p["versions"]),
            "actions": p["actions"],
        }
        for p in sorted(plans, key=lambda p: str(p["period"]), reverse=True)
    ]
    can_propose = Action.PROPOSE in allowed_actions(principal)
    return {
        "plans": rows,
        "can_propose": can_propose,
        "draft": posted.get("draft") or {"document": _example(state, chosen, doc) if can_propose else "", "note": ""},
        "problems": posted.get("problems"),
        "error": posted.get("error"),
        "max_document": MAX_DOCUMENT_CHARS,
    }


def scenarios_section(request: Request) -> dict[str, Any]:
    """What the Plan page's "Scenarios" section shows (a template global: `plan_scenarios.html`): the form's text
    (an example to start from), and what the form posted here compared, or why it could not."""
    state = _state(request)
    posted: dict[str, Any] = getattr(request.state, "plan_proposals", {})
    stages = state.workspace.stages
    step = f"{stages[1]}:{stages[2]}" if len(stages) > 2 else f"{stages[0]}:{stages[-1]}"
    compared = posted.get("scenarios")
    return {
        "text": posted.get("scenarios_text") or SCENARIOS_EXAMPLE.format(step=step),
        "compared": compared,
        "stages": stages if compared is None else [s["stage"] for s in compared["scenarios"][0]["stages"]],
        "error": posted.get("scenarios_error"),
        "max_document": MAX_SCENARIOS_CHARS,
    }


environment.globals["plans_section"] = plans_section
environment.globals["scenarios_section"] = scenarios_section


def _period_named(text: str) -> str:
    """The period a plan file names on its `period:` line, if it is one; else ""."""
    named = re.search(r"^period:[ \t]*['\"]?([0-9A-Za-z-]{4,10})", text, re.MULTILINE)
    if named is None:
        return ""
    try:
        return parse_period(named.group(1)).label
    except TandemError:
        return ""


def _plan_page_again(request: Request, status_code: int, period: str, revenue: str, **posted: Any) -> Response:
    """The Plan page for the period and revenue, showing what a form posted here left (`plans_section`)."""
    request.state.plan_proposals = posted
    response = plan_page(request, period=period[:100] or None, revenue=revenue[:100] or None)
    if status_code != 200:  # what the form posted was refused, whatever else the page says
        response.status_code = status_code
    return response


@router.post(
    "/plan/proposals", response_class=HTMLResponse, openapi_extra=access(Permission.PROPOSE), include_in_schema=False
)
def propose_from_page(
    request: Request,
    document: Annotated[str, Form(max_length=MAX_DOCUMENT_CHARS)] = "",
    note: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
) -> Response:
    text = document.replace("\r\n", "\n").replace("\x00", "")
    draft = {"document": text, "note": note}
    period = _period_named(text)  # the page comes back for the plan's period, when it names one
    try:
        if not text.strip():
            raise ConfigError("write the plan into the text box: its period and programs")
        proposed = _propose(_state(request), principal_of(request), text, note.replace("\x00", ""))
    except PlanFileError as exc:
        problems = {"detail": _summary(exc), "issues": _problems(exc)}
        return _plan_page_again(request, 422, period, "", draft=draft, problems=problems)
    except TandemError as exc:
        status, why = explain(exc)
        return _plan_page_again(request, status, period, "", draft=draft, error=why)
    return RedirectResponse(f"/plan/proposals/{proposed.plan_id}?done=proposed", status_code=303)


@router.get(
    "/plan/scenarios", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False
)
def scenarios_page(
    request: Request,
    document: Annotated[str, Query(max_length=MAX_SCENARIOS_CHARS)] = "",
    period: Annotated[str, Query(max_length=32)] = "",
    revenue: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The Plan page for the period and revenue, with the scenarios compared (or why they cannot be)."""
    text = document.replace("\r\n", "\n").replace("\x00", "")
    try:
        if not text.strip():
            raise ConfigError("write the scenarios into the text box: `scenarios:` and a list of what-ifs")
        question = ScenariosQuestion.parse(document=text, period=period or None, revenue=revenue or None)
        compared = _state(request).answer(question)
    except TandemError as exc:
        status, why = explain(exc)
        return _plan_page_again(request, status, period, revenue, scenarios_text=text, scenarios_error=why)
    return _plan_page_again(request, 200, period, revenue, scenarios_text=text, scenarios=compared)


def _shortfalls(sufficiency: dict[str, Any] | None, today: date | None = None) -> list[dict[str, Any]]:
    """The biggest shortfalls by stage and month that can still be acted on (this month and later), as
    `Sufficiency.biggest_gaps` ranks them: by share of what is needed. A month gone by is history, not a to-do."""
    this_month = (today or datetime.now(UTC).date()).replace(day=1).isoformat()
    rows = [
        g
        for g in (sufficiency or {}).get("shortfall", [])
        if g.get("gap", 0) > 0.5 and str(g["month"])[:10] >= this_month
    ]
    rows.sort(key=lambda g: -g["gap"] / max(g["required"], 1))
    return [{**g, "month": str(g["month"])[:7]} for g in rows[:SHORTFALLS_SHOWN]]


def _proposal_page(
    request: Request, plan_id: int, status_code: int = 200, version: int | None = None, **context: Any
) -> HTMLResponse:
    plan = plan_document(_state(request), principal_of(request), plan_id, version)
    shown = plan["version"]
    return render(
        request,
        "plan_proposal.html",
        status_code,
        title=f"Plan #{plan['id']} ({plan['period']})",
        plan=plan,
        shown=shown,
        baseline=_version_of(plan, plan["baseline"]),
        programs=shown["plan"]["programs"],
        check=shown["sufficiency"],
        shortfalls=_shortfalls(shown["sufficiency"]),
        forecast=plan_forecast_or_reason(
            _state(request),
            parse_period(plan["period"]),
            plan["id"],
            shown["version"],
            baseline=plan["baseline"] == shown["version"],
        ),
        as_if_accepted=plan["baseline"] != shown["version"],
        actions=plan["actions"],
        kept=context.pop("kept", {}),
        **context,
    )


@router.get(
    "/plan/proposals/{plan_id}",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.READ),
    include_in_schema=False,
)
def proposal_page(
    request: Request,
    plan_id: PlanId,
    done: str = "",
    version: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="The version shown (default: waiting, else latest).")
    ] = None,
) -> HTMLResponse:
    return _proposal_page(request, plan_id, version=version, done=done if done in DONE else "")


def _page_decision(request: Request, plan_id: int, decision: Action, text: str, version: str) -> Response:
    try:
        number = int(version) if version.strip() else None
    except ValueError:
        number = None
    if number is not None and not 1 <= number <= MAX_ID:
        number = None
    kept = {decision.value: text}
    try:
        _decide(_state(request), principal_of(request), plan_id, decision, text, number)
    except TandemError as exc:
        status, why = explain(exc)
        return _proposal_page(request, plan_id, status, error=why, kept=kept)
    done = {"review": "reviewed", "accept": "accepted", "send_back": "sent_back", "reject": "rejected"}
    return RedirectResponse(f"/plan/proposals/{plan_id}?done={done[decision.value]}", status_code=303)


FormText = Annotated[str, Form(max_length=MAX_COMMENT_CHARS)]
FormVersion = Annotated[str, Form(max_length=12)]


@router.post(
    "/plan/proposals/{plan_id}/review",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def review_from_page(request: Request, plan_id: PlanId, comment: FormText = "", version: FormVersion = "") -> Response:
    return _page_decision(request, plan_id, Action.REVIEW, comment.replace("\x00", ""), version)


@router.post(
    "/plan/proposals/{plan_id}/accept",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def accept_from_page(request: Request, plan_id: PlanId, version: FormVersion = "") -> Response:
    return _page_decision(request, plan_id, Action.ACCEPT, "", version)


@router.post(
    "/plan/proposals/{plan_id}/send-back",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def send_back_from_page(
    request: Request, plan_id: PlanId, reason: FormText = "", version: FormVersion = ""
) -> Response:
    return _page_decision(request, plan_id, Action.SEND_BACK, reason.replace("\x00", ""), version)


@router.post(
    "/plan/proposals/{plan_id}/reject",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def reject_from_page(request: Request, plan_id: PlanId, reason: FormText = "", version: FormVersion = "") -> Response:
    return _page_decision(request, plan_id, Action.REJECT, reason.replace("\x00", ""), version)
