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
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from tandem.accounts import Permission
from tandem.plan.goals import MAX_NOTE_CHARS, MAX_VALUE_CHARS
from tandem.questions.plan import GoalQuestion, GoalsQuestion
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.refusals import INVALID
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

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
