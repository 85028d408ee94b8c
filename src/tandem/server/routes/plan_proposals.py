"""The marketing plan as a proposal in the web app, and scenarios side by side: REST endpoints and pages.

A plan goes through `tandem.plan.proposals.Plans`, as on the command line (`tandem plan propose|review|accept|
send-back|reject|show|history`). The coarse gates are the definitions' permissions: proposing needs
`Permission.PROPOSE` (and `Plans` itself takes only marketing users); commenting, accepting, sending back and
rejecting need `Permission.DECIDE` (and `Plans` decides who exactly: marketing or sales users comment, a sales
leader who is not the version's author decides). What it refuses is answered, never hidden:

- a plan file with problems: 422, every problem with its line and column (``problems``); nothing stored;
- a refusal as asked (not marketing, not a sales leader, the author deciding, no goal to check the plan against,
  a file identical to the version waiting or to the baseline, an empty comment or reason): 422 with the reason;
- a decision or comment on a version that is no longer the one waiting (stale: a newer version replaced it; or
  decided already): 409, since only a new version can go on;
- an unknown plan: 404.

Scenarios (`GET /api/plan/scenarios`, and the Plan page's form, `GET /plan/scenarios`) answer `tandem plan
scenarios FILE --format json` for a period and revenue (default: next quarter and its goal); a scenarios file that
cannot be used is a 422 naming the place. They are questions, not changes: asked with GET (the file in the query
string), so that every role may ask them, viewers included (who may change nothing: test_access_matrix.py).

The Plan page (`tandem.server.routes.plan`) includes ``plan_plans.html``, which asks `plans_section` (a template
global) for the plans, the propose form's example and what the form posted here left to show (problems, the
scenarios compared): the forms here re-render the Plan page through its own route with that in ``request.state``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from tandem.accounts import Permission, Principal, Role
from tandem.errors import ConfigError, TandemError
from tandem.plan.calculator import Given, next_quarter, plan_inputs
from tandem.plan.goals import Period, parse_amount, parse_period
from tandem.plan.proposals import MAX_COMMENT_CHARS, PlanError, PlanFileError, PlanInfo, PlanVersionInfo
from tandem.plan.scenarios import compare, load_scenarios
from tandem.server.access import GuardedRoute, NotFound, access, principal_of
from tandem.server.pages import environment, render
from tandem.server.refusals import INVALID, MAX_ID, NO_NUL, SIGNED_IN, UNREADABLE, Refusal, file_problems
from tandem.server.routes.plan import TABLES, goals_key, missing_goal, plan_page
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: A plan file is a few kilobytes of YAML; a scenarios file a few hundred characters.
MAX_DOCUMENT_CHARS = 256 * 1024
MAX_SCENARIOS_CHARS = 8 * 1024  # asked in the query string
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
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Refusal, "description": "No such plan."}}
DECISION_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **UNREADABLE,
    **NOT_FOUND,
    409: {
        "model": Refusal,
        "description": "The version named is no longer the one waiting (replaced by a newer one, or decided "
        "already); read the plan again.",
    },
    422: {
        "model": Refusal,
        "description": "Refused as asked (not a sales leader, the author deciding, not marketing or sales, no "
        "comment or reason, no such version); the detail says why. Nothing changed.",
    },
}
PROPOSAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **UNREADABLE,
    422: {
        "model": Refusal,
        "description": "The file has problems (every one in `problems`, by line and column), or the proposal is "
        "refused as asked (not marketing, no goal for the period, identical to the version waiting or the "
        "baseline). Nothing was stored.",
    },
}
SCENARIO_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    400: {"model": Refusal, "description": "A bad period or revenue, or no goal to plan for; the detail says."},
    422: {"model": Refusal, "description": "The scenarios file cannot be used; the detail names the place."},
}


# --- reading ------------------------------------------------------------------------------------------------------
def actions_of(principal: Principal, plan: PlanInfo) -> list[str]:
    """What `principal` may do with the plan's waiting version: "review", "accept", "send_back", "reject".

    Mirrors `Plans`' rules so that pages show only the forms that work; `Plans` still decides.
    """
    waiting = plan.waiting
    if waiting is None or principal.role not in (Role.MARKETING, Role.SALES):
        return []
    actions = ["review"]
    if principal.role is Role.SALES and principal.is_leader and principal.username != waiting.author:
        actions += ["accept", "send_back", "reject"]
    return actions


def plan_document(principal: Principal, plan: PlanInfo) -> dict[str, Any]:
    """A plan with every version, its status (the latest version's), and what the caller may do with it."""
    return {
        **plan.as_dict(),
        "status": plan.latest.status,
        "latest": plan.latest.version,
        "actions": actions_of(principal, plan),
    }


def _plan(state: ServerState, plan_id: int) -> PlanInfo:
    try:
        return state.workspace.plans.plan(plan_id)
    except PlanError as exc:
        raise NotFound(str(exc)) from None


def _problems(exc: PlanFileError) -> list[dict[str, Any]]:
    return file_problems(exc.issues)


def _summary(exc: PlanFileError) -> str:
    return str(exc).splitlines()[0]


# --- changing -----------------------------------------------------------------------------------------------------
def _propose(state: ServerState, principal: Principal, text: str, note: str) -> PlanVersionInfo:
    with state.warehouse_lock:  # the sufficiency check runs the plan forward on the warehouse's history
        try:
            return state.workspace.plans.propose(principal, text, note=note)
        except (PlanError, PlanFileError):  # ValueErrors too: the service's own refusals pass as they are
            raise
        except (ValueError, ArithmeticError) as exc:
            # Numbers or dates the model cannot carry (a volume of 1e29 leads, a program to 9999-12-31): the check
            # fails before anything is stored, so this is a refusal of the file, not a server error.
            raise PlanError(
                f"the sufficiency check cannot run on this plan: its volumes or dates are out of range ({exc}); "
                "nothing was stored"
            ) from None


def _decide(
    state: ServerState, principal: Principal, plan_id: int, decision: str, text: str, version: int | None
) -> PlanVersionInfo:
    plans = state.workspace.plans
    _plan(state, plan_id)
    if decision == "review":
        assert version is not None
        return plans.review(principal, plan_id, text, version)
    if decision == "accept":
        assert version is not None
        return plans.accept(principal, plan_id, version)
    if decision == "send_back":
        return plans.send_back(principal, plan_id, text, version)
    return plans.reject(principal, plan_id, text, version)


def _refusal_status(state: ServerState, plan_id: int, version: int | None) -> int:
    """409 when the version named is no longer the one waiting (only a new version can go on); 422 otherwise."""
    plan = state.workspace.plans.plan(plan_id)
    if version is None:
        return 409 if plan.waiting is None else 422
    named = next((v for v in plan.versions if v.version == version), None)
    return 409 if named is not None and named.status != "proposed" else 422


# --- REST ---------------------------------------------------------------------------------------------------------
@router.get("/api/plans", openapi_extra=access(Permission.READ), tags=["plan"], responses=REFUSALS)
def api_plans(request: Request) -> dict[str, Any]:
    """Every period's plan, oldest period first: each version (status, author, note, the file, its sufficiency
    check as run when proposed, comments, decisions), the baseline (the accepted version) and the one waiting."""
    state: ServerState = request.app.state.tandem
    principal = principal_of(request)
    return {"plans": [plan_document(principal, p) for p in state.workspace.plans.plans()]}


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
    state: ServerState = request.app.state.tandem
    try:
        proposed = _propose(state, principal_of(request), body.document, body.note)
    except PlanFileError as exc:
        return JSONResponse({"detail": _summary(exc), "problems": _problems(exc)}, status_code=422)
    except PlanError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return {"version": proposed.as_dict()}


@router.get(
    "/api/plans/{plan_id}",
    openapi_extra=access(Permission.READ),
    tags=["plan"],
    responses={**REFUSALS, **NOT_FOUND},
)
def api_plan(request: Request, plan_id: PlanId) -> dict[str, Any]:
    """One period's plan: every version with its file, programs, sufficiency check, comments and decision; the
    baseline and the version waiting; and what the caller may do with it (``actions``)."""
    state: ServerState = request.app.state.tandem
    return plan_document(principal_of(request), _plan(state, plan_id))


def _api_decision(
    request: Request, plan_id: int, decision: str, text: str, version: int | None
) -> dict[str, Any] | JSONResponse:
    state: ServerState = request.app.state.tandem
    try:
        decided = _decide(state, principal_of(request), plan_id, decision, text, version)
    except PlanError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=_refusal_status(state, plan_id, version))
    return {"version": decided.as_dict()}


@router.post(
    "/api/plans/{plan_id}/review",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_review(request: Request, plan_id: PlanId, body: ReviewIn) -> dict[str, Any] | JSONResponse:
    """Comment on the version waiting for a decision (a marketing or sales user), naming the version read."""
    return _api_decision(request, plan_id, "review", body.comment, body.version)


@router.post(
    "/api/plans/{plan_id}/accept",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_accept(request: Request, plan_id: PlanId, body: AcceptIn) -> dict[str, Any] | JSONResponse:
    """Accept the version read as the period's baseline (a sales leader, not its author): plan against actual
    (``GET /api/plan/pacing``) measures the period against it from now on."""
    return _api_decision(request, plan_id, "accept", "", body.version)


@router.post(
    "/api/plans/{plan_id}/send-back",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_send_back(request: Request, plan_id: PlanId, body: ReasonIn) -> dict[str, Any] | JSONResponse:
    """Send the waiting version back to marketing with a reason (a sales leader, not its author)."""
    return _api_decision(request, plan_id, "send_back", body.reason, body.version)


@router.post(
    "/api/plans/{plan_id}/reject",
    openapi_extra=access(Permission.DECIDE),
    tags=["plan"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_reject(request: Request, plan_id: PlanId, body: ReasonIn) -> dict[str, Any] | JSONResponse:
    """Close the waiting version for good, with a reason (a sales leader, not its author)."""
    return _api_decision(request, plan_id, "reject", body.reason, body.version)


# --- scenarios ----------------------------------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def scenarios_question(period: str | None, revenue: str | None) -> tuple[Period, float | None]:
    """The period (default: next quarter) and the revenue (None: the goal's); a bad one names the parameter."""
    try:
        chosen = (
            parse_period(period)
            if period and period.strip()
            else next_quarter(datetime.now(UTC).replace(tzinfo=None).date())
        )
    except TandemError as exc:
        raise ConfigError(f"period: {exc}") from None
    try:
        amount = float(parse_amount(revenue)) if revenue and revenue.strip() else None
    except TandemError as exc:
        raise ConfigError(f"revenue: {exc}") from None
    return chosen, amount


class ScenarioFileError(ConfigError):
    """The scenarios file cannot be used (or a scenario in it cannot be applied): a 422 naming the place."""


def scenarios_document(state: ServerState, text: str, period: Period, revenue: float | None) -> dict[str, Any]:
    """`tandem plan scenarios FILE --format json` on the server's workspace, through the result cache."""
    try:
        scenarios = load_scenarios(text, "scenarios.yaml")
    except ConfigError as exc:
        raise ScenarioFileError(str(exc)) from None
    key = {
        "document": text,
        "period": period.label,
        "revenue": revenue,
        "goals": goals_key(state) if revenue is None else None,
    }

    def check() -> None:
        if revenue is None and (why := missing_goal(state, period)):
            raise ConfigError(f"revenue: {why}")

    def compute() -> dict[str, Any]:
        inputs = plan_inputs(Given({}, {}), state.workspace, period=period, revenue=revenue)
        try:
            outcomes = compare(
                inputs.model, scenarios, inputs.goal_by_month, period_end=inputs.period_end, costs=inputs.costs
            )
        except ConfigError as exc:
            raise ScenarioFileError(f"scenarios.yaml: {exc}") from None
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ScenarioFileError(f"scenarios.yaml: the changes put the plan out of range ({exc})") from None
        document = {"period": period.label, "scenarios": [o.as_dict() for o in outcomes]}
        if not _finite(document):
            raise ScenarioFileError("scenarios.yaml: the changes put the plan's numbers out of range")
        return document

    document: dict[str, Any] = state.cached("plan.scenarios", key, compute, tables=TABLES, check=check)
    return document


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
    response_model=None,
    responses=SCENARIO_REFUSALS,
)
def api_scenarios(
    request: Request,
    document: ScenariosText,
    period: ScenariosPeriod = None,
    revenue: ScenariosRevenue = None,
) -> dict[str, Any] | JSONResponse:
    """Named what-ifs side by side with the base plan, as `tandem plan scenarios FILE --format json`: for each (the
    base first) what each stage needs, the deals, the budget that takes, and with a budget, the revenue it brings
    and the share of the goal. The base is the workspace's history and the period's goal (or ``revenue``).

    A question, not a change: asked with GET (the file in ``document``, a few hundred characters), so that every
    role may ask it, and answers are cached like every document."""
    chosen, amount = scenarios_question(period, revenue)
    try:
        return scenarios_document(request.app.state.tandem, document.replace("\r\n", "\n"), chosen, amount)
    except ScenarioFileError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)


# --- pages --------------------------------------------------------------------------------------------------------
#: The notice after a change, chosen by the `done` query parameter (never user text: the page fills in the facts).
DONE = ("proposed", "reviewed", "accepted", "sent_back", "rejected")
EXAMPLE_PROGRAMS = 12


def _yaml_text(text: str) -> str:
    """A channel's name as a YAML scalar: plain when that reads back the same, else double-quoted (JSON)."""
    return text if re.fullmatch(r"[A-Za-z][A-Za-z0-9_ .-]*", text) and text.strip() == text else json.dumps(text)


def _example(state: ServerState, period: Period, doc: dict[str, Any] | None) -> str:
    """A plan for `period` to start from: a program for each priced channel, with the budget the reverse waterfall
    gives it (`doc`, the Plan page's), from the first month the leads are needed (not before this month) to the
    period's end."""
    budgets = {row["channel"]: row.get("budget") for row in (doc or {}).get("budget", [])}
    try:
        from tandem.plan.history import channel_costs

        costs = state.cached(
            "plan.channels", {}, lambda: [c.__dict__ for c in channel_costs(state.workspace)], tables=TABLES
        )
    except TandemError:
        costs = []
    priced = [c for c in costs if c["cost_per_lead"] and c["channel"] != "(none)"][:EXAMPLE_PROGRAMS]
    start = period.start
    if doc and doc.get("rows"):
        first_stage = doc["model"]["stages"][0]
        needed = [r["month"] for r in doc["rows"] if r["stage"] == first_stage and r["required"] >= 0.5]
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


def plans_section(request: Request, period: Period | None, doc: dict[str, Any] | None) -> dict[str, Any]:
    """What the Plan page's "Plans" and "Scenarios" sections show (a template global: `plan_plans.html`)."""
    state: ServerState = request.app.state.tandem
    principal = principal_of(request)
    posted: dict[str, Any] = getattr(request.state, "plan_proposals", {})
    chosen = period or next_quarter(datetime.now(UTC).replace(tzinfo=None).date())
    plans = state.workspace.plans.plans()
    rows = [
        {
            "id": p.id,
            "period": p.period,
            "latest": p.latest,
            "baseline": p.baseline,
            "waiting": p.waiting,
            "versions": len(p.versions),
        }
        for p in sorted(plans, key=lambda p: p.period, reverse=True)
    ]
    can_propose = principal.role is Role.MARKETING
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
    state: ServerState = request.app.state.tandem
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
    state: ServerState = request.app.state.tandem
    text = document.replace("\r\n", "\n").replace("\x00", "")
    draft = {"document": text, "note": note}
    period = _period_named(text)  # the page comes back for the plan's period, when it names one
    try:
        if not text.strip():
            raise PlanError("write the plan into the text box: its period and programs")
        proposed = _propose(state, principal_of(request), text, note.replace("\x00", ""))
    except PlanFileError as exc:
        problems = {"detail": _summary(exc), "issues": _problems(exc)}
        return _plan_page_again(request, 422, period, "", draft=draft, problems=problems)
    except PlanError as exc:
        return _plan_page_again(request, 422, period, "", draft=draft, error=str(exc))
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
    state: ServerState = request.app.state.tandem
    text = document.replace("\r\n", "\n").replace("\x00", "")
    try:
        if not text.strip():
            raise ScenarioFileError("write the scenarios into the text box: `scenarios:` and a list of what-ifs")
        chosen, amount = scenarios_question(period, revenue)
        compared = scenarios_document(state, text, chosen, amount)
    except ScenarioFileError as exc:
        return _plan_page_again(request, 422, period, revenue, scenarios_text=text, scenarios_error=str(exc))
    except TandemError as exc:
        return _plan_page_again(request, 400, period, revenue, scenarios_text=text, scenarios_error=str(exc))
    return _plan_page_again(request, 200, period, revenue, scenarios_text=text, scenarios=compared)


def _shortfalls(sufficiency: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The biggest shortfalls by stage and month (as `Sufficiency.biggest_gaps`: by share of what is needed)."""
    rows = [g for g in (sufficiency or {}).get("shortfall", []) if g.get("gap", 0) > 0.5]
    rows.sort(key=lambda g: -g["gap"] / max(g["required"], 1))
    return [{**g, "month": str(g["month"])[:7]} for g in rows[:SHORTFALLS_SHOWN]]


def _proposal_page(request: Request, plan_id: int, status_code: int = 200, **context: Any) -> HTMLResponse:
    state: ServerState = request.app.state.tandem
    plan = _plan(state, plan_id)
    shown = plan.waiting or plan.latest
    return render(
        request,
        "plan_proposal.html",
        status_code,
        title=f"Plan #{plan.id} ({plan.period})",
        plan=plan,
        shown=shown,
        programs=shown.plan.programs,
        check=shown.sufficiency,
        shortfalls=_shortfalls(shown.sufficiency),
        actions=actions_of(principal_of(request), plan),
        kept=context.pop("kept", {}),
        **context,
    )


@router.get(
    "/plan/proposals/{plan_id}",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.READ),
    include_in_schema=False,
)
def proposal_page(request: Request, plan_id: PlanId, done: str = "") -> HTMLResponse:
    return _proposal_page(request, plan_id, done=done if done in DONE else "")


def _page_decision(request: Request, plan_id: int, decision: str, text: str, version: str) -> Response:
    state: ServerState = request.app.state.tandem
    try:
        number = int(version) if version.strip() else None
    except ValueError:
        number = None
    if number is not None and not 1 <= number <= MAX_ID:
        number = None
    kept = {decision: text}
    try:
        if number is None and decision in ("review", "accept"):
            raise PlanError("the form did not say which version was read; reload the page and try again")
        _decide(state, principal_of(request), plan_id, decision, text, number)
    except PlanError as exc:
        status = _refusal_status(state, plan_id, number) if number is not None else 422
        return _proposal_page(request, plan_id, status, error=str(exc), kept=kept)
    done = {"review": "reviewed", "accept": "accepted", "send_back": "sent_back", "reject": "rejected"}[decision]
    return RedirectResponse(f"/plan/proposals/{plan_id}?done={done}", status_code=303)


FormText = Annotated[str, Form(max_length=MAX_COMMENT_CHARS)]
FormVersion = Annotated[str, Form(max_length=12)]


@router.post(
    "/plan/proposals/{plan_id}/review",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def review_from_page(request: Request, plan_id: PlanId, comment: FormText = "", version: FormVersion = "") -> Response:
    return _page_decision(request, plan_id, "review", comment.replace("\x00", ""), version)


@router.post(
    "/plan/proposals/{plan_id}/accept",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def accept_from_page(request: Request, plan_id: PlanId, version: FormVersion = "") -> Response:
    return _page_decision(request, plan_id, "accept", "", version)


@router.post(
    "/plan/proposals/{plan_id}/send-back",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def send_back_from_page(
    request: Request, plan_id: PlanId, reason: FormText = "", version: FormVersion = ""
) -> Response:
    return _page_decision(request, plan_id, "send_back", reason.replace("\x00", ""), version)


@router.post(
    "/plan/proposals/{plan_id}/reject",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def reject_from_page(request: Request, plan_id: PlanId, reason: FormText = "", version: FormVersion = "") -> Response:
    return _page_decision(request, plan_id, "reject", reason.replace("\x00", ""), version)
