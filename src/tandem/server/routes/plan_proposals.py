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

import itertools
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
    InvalidPlanError,
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
    with state.using_warehouse():  # the sufficiency check runs the plan forward on the warehouse's history
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


def _example_programs(state: ServerState, period: CalendarPeriod, doc: dict[str, Any] | None) -> list[dict[str, str]]:
    """Programs for `period` to start from: one for each priced channel, with the budget the reverse waterfall
    gives it (`doc`, the Plan page's), from the first month the leads are needed (not before this month) to the
    period's end. Each program's values as the plan file writes them."""
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
    programs = [
        {
            "name": cost["channel"].replace("_", " ").capitalize(),
            "channel": cost["channel"],
            "budget": f"{max(1, round((budgets.get(cost['channel']) or 10_000) / 1000))}k",
            "start": str(start),
            "end": str(last),
        }
        for cost in priced
    ]
    if not priced:
        channel = next((c["channel"] for c in costs if c["channel"] != "(none)"), "webinar")
        programs.append(
            {
                "name": channel.replace("_", " ").capitalize(),
                "channel": channel,
                "budget": "0",
                "start": str(start),
                "end": str(last),
                "volume": "500",
            }
        )
    return programs


def _example(state: ServerState, period: CalendarPeriod, doc: dict[str, Any] | None) -> str:
    """A plan file for `period` to start from (`_example_programs`)."""
    return plan_text(period.label, f"{period.label} demand plan", _example_programs(state, period, doc))[0]


def _scalar(text: str) -> str:
    """A value as a YAML scalar: plain when that reads back as the same text, else double-quoted (JSON)."""
    plain = (
        re.fullmatch(r"[A-Za-z0-9$][A-Za-z0-9_ .,$-]*", text) is not None
        and text.strip() == text
        and text.lower() not in ("null", "true", "false", "yes", "no", "on", "off")
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


#: The plan file's keys of a program, in the order the plan table writes them.
TABLE_KEYS = ("name", "channel", "budget", "start", "end", "volume")


def plan_text(period: str, note: str, programs: list[dict[str, str]]) -> tuple[str, dict[int, tuple[int, str]]]:
    """The plan file of `programs` (each a program's values as written, keys in `TABLE_KEYS` order), and where
    each program's values landed: {line: (program's number from 1, key)}, so a problem found on a line of the file
    can be told as the table's row and column."""
    lines = [f"period: {_scalar(period)}"]
    if note.strip():
        lines.append(f"note: {_scalar(note.strip())}")
    lines.append("programs:")
    where: dict[int, tuple[int, str]] = {}
    for number, program in enumerate(programs, start=1):
        first = True
        for key in TABLE_KEYS:
            value = program.get(key, "")
            if not value:
                continue
            lines.append(f"{'  - ' if first else '    '}{key}: {_scalar(value)}")
            where[len(lines)] = (number, key)
            first = False
    return "\n".join(lines) + "\n", where


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
    examples = _example_programs(state, chosen, doc) if can_propose else []
    default_note = f"{chosen.label} demand plan"
    return {
        "plans": rows,
        "can_propose": can_propose,
        "draft": posted.get("draft")
        or {"document": plan_text(chosen.label, default_note, examples)[0] if can_propose else "", "note": ""},
        "problems": posted.get("problems"),
        "error": posted.get("error"),
        "max_document": MAX_DOCUMENT_CHARS,
        "table": posted.get("table")
        or {"period": chosen.label, "note": default_note, "rows": [_row_of(p) for p in examples] or [_blank_row()]},
        "table_problems": posted.get("table_problems") or [],
        "channels": sorted({p["channel"] for p in examples}),
    }


def scenarios_section(request: Request) -> dict[str, Any]:
    """What the Plan page's "Scenarios" section shows (a template global: `plan_scenarios.html`): the form's text
    (an example to start from), and what the form posted here compared, or why it could not."""
    state = _state(request)
    posted: dict[str, Any] = getattr(request.state, "plan_proposals", {})
    stages = state.workspace.stages
    step = f"{stages[1]}:{stages[2]}" if len(stages) > 2 else f"{stages[0]}:{stages[-1]}"
    compared = posted.get("scenarios")
    blank = {"name": "", "rate_step": step, "rate_change": "", "lag_step": "", "lag_shift": "", "deal_size_change": ""}
    return {
        "form": posted["scenario_form"] if any(posted.get("scenario_form", {}).values()) else {**blank, "budget": ""},
        "steps": [f"{a}:{b}" for a, b in itertools.pairwise(stages)],
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


# --- the plan table: a program a row, written as the plan file ---------------------------------------------------
#: The plan table's columns: the form's field of each, and what a problem with it is called on the page.
ROW_FIELDS = ("name", "channel", "month", "through", "budget", "volume")
COLUMN_LABELS = {"start": "month", "end": "through", "volume": "expected leads"}
MAX_ROWS = 200


def _blank_row() -> dict[str, str]:
    return dict.fromkeys(ROW_FIELDS, "")


def _row_of(program: dict[str, str]) -> dict[str, str]:
    """A program of the plan file as a row of the table (its months from its first and last days)."""
    month, through = program["start"][:7], program["end"][:7]
    return {
        "name": program.get("name", ""),
        "channel": program.get("channel", ""),
        "month": month,
        "through": "" if through == month else through,
        "budget": program.get("budget", ""),
        "volume": program.get("volume", ""),
    }


def _month(text: str, row: int, column: str) -> CalendarPeriod:
    """A row's month as typed (2027-01), or why not, naming the row and column."""
    try:
        month = parse_period(text.strip())
    except TandemError as exc:
        raise InvalidPlanError(f"row {row}, {column}: {exc}") from None
    if month.kind != "month":
        raise InvalidPlanError(
            f"row {row}, {column}: {text.strip()!r} is not a month; give one as YYYY-MM, e.g. 2027-01"
        )
    return month


def _program_of(row: dict[str, str], number: int) -> dict[str, str]:
    """The plan file's program for a row of the table: its months as first and last days; the name, if none is
    given, the channel and the month (Webinar Jan 2027)."""
    channel = row["channel"].strip()
    month_text = row["month"].strip()
    if not month_text:
        raise InvalidPlanError(f"row {number}, month: give the month the program runs in, as YYYY-MM, e.g. 2027-01")
    first = _month(month_text, number, "month")
    last = _month(row["through"], number, "through") if row["through"].strip() else first
    span = first.start.strftime("%b %Y") + ("" if last == first else " to " + last.start.strftime("%b %Y"))
    name = row["name"].strip() or f"{channel.replace('_', ' ').capitalize() or 'Program'} {span}"
    return {
        "name": name,
        "channel": channel,
        "budget": row["budget"].strip(),
        "start": str(first.start),
        "end": str(last.end - timedelta(days=1)),
        "volume": row["volume"].strip().replace(",", ""),
    }


def table_problems(exc: PlanFileError, where: dict[int, tuple[int, str]]) -> list[str]:
    """Each problem of the plan the table wrote, told by the table's row and column (one line each)."""
    told = []
    for issue in exc.issues:
        row, key = where.get(issue.line or 0, (0, ""))
        hint = f" ({issue.expected})" if issue.expected else ""
        if row and key != "name":
            told.append(f"row {row}, {COLUMN_LABELS.get(key, key)}: {issue.problem}{hint}")
        elif row:
            told.append(f"row {row}: {issue.problem}{hint}")
        elif issue.line == 1:
            told.append(f"period: {issue.problem}{hint}")
        else:
            told.append(f"{issue.problem}{hint}")
    return told


def plan_from_table(period: str, note: str, rows: list[dict[str, str]]) -> tuple[str, dict[int, tuple[int, str]]]:
    """The plan file the table describes (blank rows left out), as `plan_text` writes it."""
    kept = [(n, r) for n, r in enumerate(rows, start=1) if any(v.strip() for v in r.values())]
    if not kept:
        raise InvalidPlanError("the table has no programs: fill in a row (channel, month, budget)")
    programs = [_program_of(row, number) for number, row in kept]
    text, where = plan_text(period.strip(), note, programs)
    numbers = [number for number, _ in kept]  # a problem names the row as the table shows it, blank rows counted
    return text, {line: (numbers[index - 1], key) for line, (index, key) in where.items()}


TableColumn = Annotated[list[str], Form(max_length=MAX_TEXT_CHARS)]


@router.post(
    "/plan/proposals/table",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.PROPOSE),
    include_in_schema=False,
)
def propose_from_table(
    request: Request,
    period: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
    name: TableColumn = [],  # noqa: B006 - FastAPI copies the default
    channel: TableColumn = [],  # noqa: B006
    month: TableColumn = [],  # noqa: B006
    through: TableColumn = [],  # noqa: B006
    budget: TableColumn = [],  # noqa: B006
    volume: TableColumn = [],  # noqa: B006
    add_row: Annotated[str, Form(max_length=8)] = "",
    remove_row: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The Plan page's plan table: a program a row (channel, month, budget, expected leads), written as the plan
    file the YAML editor takes and proposed through the same `Plans.propose`. "Add a row" and "Remove" come back
    here too (the page works without JavaScript): the table again, one row more or less, nothing proposed."""
    columns = (name, channel, month, through, budget, volume)
    count = min(max((len(c) for c in columns), default=0), MAX_ROWS)
    rows = [
        {f: (c[i] if i < len(c) else "").replace("\x00", "") for f, c in zip(ROW_FIELDS, columns, strict=True)}
        for i in range(count)
    ]
    text_note = note.replace("\x00", "")
    table: dict[str, Any] = {"period": period, "note": text_note, "rows": rows}
    shown = _period_named(f"period: {period}")
    if add_row:
        rows.append(_blank_row())
        return _plan_page_again(request, 200, shown, "", table=table)
    if remove_row.isdigit() and 1 <= int(remove_row) <= len(rows):
        del rows[int(remove_row) - 1]
        table["rows"] = rows or [_blank_row()]
        return _plan_page_again(request, 200, shown, "", table=table)
    where: dict[int, tuple[int, str]] = {}
    try:
        text, where = plan_from_table(period, text_note, rows)
        proposed = _propose(_state(request), principal_of(request), text, text_note)
    except PlanFileError as exc:
        return _plan_page_again(request, 422, shown, "", table=table, table_problems=table_problems(exc, where))
    except TandemError as exc:
        status, why = explain(exc)
        return _plan_page_again(request, status, shown, "", table=table, table_problems=[why])
    return RedirectResponse(f"/plan/proposals/{proposed.plan_id}?done=proposed", status_code=303)


# --- the scenario form: one what-if, written as the scenarios file ------------------------------------------------
ScenarioField = Annotated[str, Query(max_length=200)]


def _percent(text: str) -> str:
    """A relative change as typed (20, +20, -5%, 20%) as the scenarios file writes it (+20%, -5%)."""
    signed = text if text.startswith(("+", "-")) else f"+{text}"
    return signed if signed.endswith("%") else f"{signed}%"


def scenario_text(fields: dict[str, str]) -> str:
    """The scenarios file of the one scenario the Plan page's small form describes: its name and, for each input
    filled in, the key it sets (rate_changes, lag_shifts, deal_size_change, budget). The file is then read by
    `load_scenarios` like any other, whose refusals name the key at fault."""
    if not fields["name"]:
        raise ConfigError("scenario name: give the scenario a name, e.g. better qualification")
    lines = ["scenarios:", f"  - name: {json.dumps(fields['name'], ensure_ascii=False)}"]
    for key, step, change, write in (
        ("rate_changes", fields["rate_step"], fields["rate_change"], _percent),
        ("lag_shifts", fields["lag_step"], fields["lag_shift"], lambda days: days),
    ):
        if change:
            if not step:
                raise ConfigError(f"{key}: choose the step the change is for, e.g. mql:sql")
            lines += [f"    {key}:", f"      - {json.dumps(f'{step}={write(change)}', ensure_ascii=False)}"]
    if fields["deal_size_change"]:
        lines.append(f"    deal_size_change: {json.dumps(_percent(fields['deal_size_change']), ensure_ascii=False)}")
    if fields["budget"]:
        lines.append(f"    budget: {json.dumps(fields['budget'], ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


@router.get(
    "/plan/scenarios", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False
)
def scenarios_page(
    request: Request,
    document: Annotated[str, Query(max_length=MAX_SCENARIOS_CHARS)] = "",
    period: Annotated[str, Query(max_length=32)] = "",
    revenue: Annotated[str, Query(max_length=64)] = "",
    name: ScenarioField = "",
    rate_step: ScenarioField = "",
    rate_change: ScenarioField = "",
    lag_step: ScenarioField = "",
    lag_shift: ScenarioField = "",
    deal_size_change: ScenarioField = "",
    budget: ScenarioField = "",
) -> Response:
    """The Plan page for the period and revenue, with the scenarios compared (or why they cannot be): those of the
    YAML (`document`), or the one the small form describes (`name` and what it changes), written as that YAML."""
    fields = {
        "name": name,
        "rate_step": rate_step,
        "rate_change": rate_change,
        "lag_step": lag_step,
        "lag_shift": lag_shift,
        "deal_size_change": deal_size_change,
        "budget": budget,
    }
    fields = {k: v.replace("\x00", "").strip() for k, v in fields.items()}
    text = document.replace("\r\n", "\n").replace("\x00", "")
    try:
        if any(fields.values()):
            text = scenario_text(fields)
        if not text.strip():
            raise ConfigError("write the scenarios into the text box: `scenarios:` and a list of what-ifs")
        question = ScenariosQuestion.parse(document=text, period=period or None, revenue=revenue or None)
        compared = _state(request).answer(question)
    except TandemError as exc:
        status, why = explain(exc)
        return _plan_page_again(
            request, status, period, revenue, scenarios_text=text, scenarios_error=why, scenario_form=fields
        )
    return _plan_page_again(
        request, 200, period, revenue, scenarios_text=text, scenarios=compared, scenario_form=fields
    )


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
