"""The goals' REST endpoints: the revenue target both teams share, per period and slice (`tandem.plan.goals`).

Everyone reads (`Permission.READ`); only execs and admins set or delete a goal (`Permission.GOALS`), and each change
is written to the audit log with it. The show document of a period (``GET /api/goals/{period}``) is what the Plan
page will show: the target and where it comes from, the periods in it with their derived targets, how children and
slices add up, both teams' quotas with their derivation, and the won revenue so far.

The two readings are the goals' questions (`tandem.questions.plan`: goals, goal), answered through the server's
cache like every document; the changes go to `tandem.plan.goals.Goals`. Refusals say why and change nothing, with
the status of their kind (`tandem.server.refusals`): a period that is not ``2027``, ``2027-Q1`` or ``2027-01``, an
amount that is not a positive number of whole cents, half a slice: 422; a goal that does not exist (to delete):
404; a role without the goals permission: 403.

The Plan page's goal form (``POST /plan/goal``, shown to execs and admins only) sets a goal through the same
`Goals.set`: its inputs are read by the domain's parsers in the form's order, and the first bad one comes back as
one line naming the input (``amount: 'ten' is not an amount; ...``), the Plan page again with what was typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from tandem.accounts import Permission, Principal
from tandem.errors import InvalidError, TandemError
from tandem.plan.goals import (
    MAX_NOTE_CHARS,
    MAX_VALUE_CHARS,
    GoalInfo,
    Goals,
    InvalidGoalError,
    parse_amount,
    parse_period,
)
from tandem.questions.plan import GoalQuestion, GoalsQuestion
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.refusals import INVALID, explain
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)
T = TypeVar("T")

NO_NUL = r"^[^\x00]*$"
Dimension = Literal["segment", "region", "product"]
PeriodPath = Annotated[
    str, Path(max_length=16, description="A year (2027), a quarter (2027-Q1) or a month (2027-01).", examples=["2027"])
]


class GoalRefusal(BaseModel):
    """Why a goal request was refused; nothing was changed."""

    detail: str | list[Any] = Field(
        description="What went wrong and what to do (a list when the request does not fit the schema at all)."
    )


class GoalIn(BaseModel):
    """A period's goal, for the whole company or one slice; replaces the goal there (the audit log keeps it)."""

    amount: float = Field(gt=0, le=1e15, description="The revenue target, in whole cents at most.")
    dimension: Dimension | None = Field(default=None, description="The slice's dimension; none: the whole company.")
    value: str | None = Field(
        default=None, min_length=1, max_length=MAX_VALUE_CHARS, pattern=NO_NUL, description="The slice's value."
    )
    marketing_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Marketing-sourced share of the goal; none: measured on the 12 months before the period.",
    )
    note: str = Field(default="", max_length=MAX_NOTE_CHARS, pattern=NO_NUL, description="Why this number.")


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": GoalRefusal, "description": "No valid API token or session."},
    403: {"model": GoalRefusal, "description": "The role lacks the permission (see x-access)."},
}
BAD_PERIOD: dict[int | str, dict[str, Any]] = {
    422: {"model": GoalRefusal, "description": "Not a period (2027, 2027-Q1 or 2027-01), or a bad slice."},
}
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": GoalRefusal, "description": "The body is not valid JSON."}
}


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


@router.get("/api/goals", openapi_extra=access(Permission.READ), tags=["goals"], responses=REFUSALS)
def api_goals(request: Request) -> dict[str, Any]:
    """Every goal, by period (a year before its quarters and months), then slice, as `tandem goal list --format
    json`."""
    return _state(request).answer(GoalsQuestion())


@router.get(
    "/api/goals/{period}",
    openapi_extra=access(Permission.READ),
    tags=["goals"],
    responses={**REFUSALS, **BAD_PERIOD, 400: {"model": GoalRefusal, "description": "The data cannot be measured."}},
)
def api_goal(request: Request, period: PeriodPath) -> dict[str, Any]:
    """A period's goal as `tandem goal show PERIOD --format json`: the target and where it comes from (its goal, or
    its share of a longer period's by days), the periods in it, how their goals and the slices' add up (unallocated
    or in excess), sales' and marketing's quotas with their derivation, won revenue so far, and the changes made."""
    return _state(request).answer(GoalQuestion.parse(period=period))


@router.put(
    "/api/goals/{period}",
    openapi_extra=access(Permission.GOALS),
    tags=["goals"],
    responses={**REFUSALS, **UNREADABLE, **BAD_PERIOD},
)
def api_set_goal(request: Request, period: PeriodPath, body: GoalIn) -> dict[str, Any]:
    """Set the goal of a period, or of one slice of it (an exec or an admin); the answer's ``replaced`` is the goal
    it replaced. Written to the audit log as ``goal.set`` with the amount it replaced."""
    goal = _state(request).workspace.goals.set(
        principal_of(request),
        period,
        body.amount,
        dimension=body.dimension,
        value=body.value,
        marketing_share=body.marketing_share,
        note=body.note,
    )
    return {"goal": goal.as_dict()}


@router.delete(
    "/api/goals/{period}",
    openapi_extra=access(Permission.GOALS),
    tags=["goals"],
    responses={**REFUSALS, **BAD_PERIOD, 404: {"model": GoalRefusal, "description": "No such goal."}},
)
def api_delete_goal(
    request: Request,
    period: PeriodPath,
    dimension: Annotated[
        Dimension | None, Query(description="The slice's dimension (none: the whole company).")
    ] = None,
    value: Annotated[str | None, Query(max_length=MAX_VALUE_CHARS, description="The slice's value.")] = None,
) -> dict[str, Any]:
    """Delete the goal of a period, or of one slice (an exec or an admin); audited as ``goal.delete``."""
    deleted = _state(request).workspace.goals.delete(principal_of(request), period, dimension=dimension, value=value)
    return {"deleted": deleted.as_dict()}


# --- the Plan page's goal form ------------------------------------------------------------------------------------
def _field(name: str, check: Callable[[], T]) -> T:
    """`check()`, with a refusal of the domain's naming the form's input `name` (one line: "amount: ...")."""
    try:
        return check()
    except InvalidError as exc:
        raise InvalidGoalError(exc.message, field=name, value=exc.value) from None


def _share(text: str) -> float | None:
    """The marketing share as typed: empty for measured, else a number (the domain checks it is 0 to 1)."""
    if not text.strip():
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise InvalidGoalError(
            f"{text.strip()!r} is not a number; give a fraction from 0 to 1, like 0.6, or leave it empty to measure it",
            field="marketing_share",
            value=text,
        ) from None


def goal_from_form(goals: Goals, principal: Principal, posted: Mapping[str, str]) -> GoalInfo:
    """Set the goal the Plan page's form describes, through `Goals.set` as `tandem goal set` does.

    Each input is read by the domain's own parsers (`parse_period`, `parse_amount`), in the form's order, so the
    first bad one is refused naming it; the marketing share and the note are checked by `Goals.set` itself.
    """
    period_text = posted.get("period", "").strip()
    if not period_text:
        raise InvalidGoalError(
            "choose the period: a year (2027), a quarter (2027-Q1) or a month (2027-01)", field="period"
        )
    period = _field("period", lambda: parse_period(period_text))
    amount_text = posted.get("amount", "").strip()
    if not amount_text:
        raise InvalidGoalError("give the revenue target, e.g. 2.5M, 750k or 1,200,000", field="amount")
    amount = _field("amount", lambda: parse_amount(amount_text))
    share = _share(posted.get("marketing_share", ""))
    dimension = posted.get("dimension", "").strip() or None
    value = posted.get("value", "").strip() or None
    # The share's range, the slice and the note are the domain's to check; its refusals name them already.
    return goals.set(
        principal,
        period,
        amount,
        dimension=dimension,
        value=value,
        marketing_share=share,
        note=posted.get("note", "").replace("\x00", ""),
    )


FormText = Annotated[str, Form(max_length=MAX_NOTE_CHARS)]
FormShort = Annotated[str, Form(max_length=MAX_VALUE_CHARS)]


@router.post("/plan/goal", response_class=HTMLResponse, openapi_extra=access(Permission.GOALS), include_in_schema=False)
def set_goal_from_page(
    request: Request,
    period: Annotated[str, Form(max_length=32)] = "",
    amount: Annotated[str, Form(max_length=64)] = "",
    marketing_share: Annotated[str, Form(max_length=32)] = "",
    note: FormText = "",
    dimension: Annotated[str, Form(max_length=16)] = "",
    value: FormShort = "",
) -> Response:
    """The Plan page's goal form (an exec or an admin): set or replace a period's goal, audited as ``goal.set``
    exactly as `tandem goal set`; refused, the Plan page again with what was typed and why."""
    from tandem.server.routes.plan import plan_page

    posted = {
        "period": period,
        "amount": amount,
        "marketing_share": marketing_share,
        "note": note,
        "dimension": dimension,
        "value": value,
    }
    try:
        goal = goal_from_form(_state(request).workspace.goals, principal_of(request), posted)
    except TandemError as exc:
        status, why = explain(exc)
        request.state.goal_form = {**posted, "error": why}
        shown = period.strip()[:16]
        try:
            parse_period(shown)
        except TandemError:
            shown = ""
        response = plan_page(request, period=shown or None)
        response.status_code = status
        return response
    return RedirectResponse(f"/plan?{urlencode({'period': goal.period.label, 'done': 'goal'})}", status_code=303)
