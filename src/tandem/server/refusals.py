"""How the REST API says no: one shape for every refusal, and the problems of a file by line and column.

Every refusal is ``{"detail": "...what went wrong and what to do...", "problems": [...]}``; ``problems`` lists a
proposed file's problems (definitions, a plan), each where it is and what would do instead, so a client can point
at the line; a refused question names its parameter in ``field``. Nothing is changed by a refused request. The
OpenAPI document describes these with the models here.

Each kind of `tandem.errors` refusal has one HTTP status, here and nowhere else (`refusal`): invalid 422, not
found 404, conflict 409, forbidden 403, busy 503, any other `TandemError` 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from tandem.errors import (
    BusyError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    Issue,
    NotFoundError,
    TandemError,
)

__all__ = [
    "INVALID",
    "MAX_ID",
    "NO_NUL",
    "PARAMETER_NAMES",
    "SIGNED_IN",
    "UNREADABLE",
    "FileProblem",
    "ParameterError",
    "Refusal",
    "explain",
    "file_problems",
    "refusal",
]

#: The largest id a path takes (a 32-bit integer column).
MAX_ID = 2**31 - 1
#: No NUL characters in text that is stored (PostgreSQL refuses them in text columns).
NO_NUL = r"^[^\x00]*$"


class FileProblem(BaseModel):
    """One problem in a proposed file, where it is and what would do instead."""

    line: int | None = Field(description="1-based line of the file (None when the problem is the whole file).")
    column: int | None = Field(description="1-based column on that line.")
    problem: str
    hint: str = Field(description="What would be accepted there.")
    value: str | None = Field(description="What was there, when it helps.")


#: A question's field as the REST API and the pages' forms call it, where the name differs.
PARAMETER_NAMES = {
    "start": "from",
    "end": "to",
    "version": "definitions",
    "window_days": "window",
    "horizon_days": "horizon",
    "period_kind": "kind",
    "definition_version": "version",  # the path parameter of GET /api/definitions/{version}
    "signal_window_days": "window_days",  # GET /api/definitions/signal
    "plan_version": "version",  # GET /api/plans/{plan_id}?version=
}
#: The HTTP status and a page's heading for each kind of refusal; any other `TandemError` is a 400.
STATUS_OF: tuple[tuple[type[TandemError], int, str], ...] = (
    (InvalidError, 422, "Cannot do that"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Cannot do that now"),
    (ForbiddenError, 403, "Not allowed"),
    (BusyError, 503, "Busy: an import is running"),
)


class ParameterError(ConfigError):
    """A query or path parameter FastAPI itself refused: its `field` is the parameter's own name already."""


def refusal(exc: TandemError) -> tuple[int, str, dict[str, Any]]:
    """The status, a page's heading and the JSON body of a refused request: one mapping for every route."""
    status, heading = next(((s, h) for kind, s, h in STATUS_OF if isinstance(exc, kind)), (400, "Cannot do that"))
    body: dict[str, Any] = {"detail": str(exc)}
    if isinstance(exc, InvalidError) and exc.field is not None:
        name = exc.field if isinstance(exc, ParameterError) else PARAMETER_NAMES.get(exc.field, exc.field)
        body = {"detail": f"{name}: {exc.message}", "field": name}
    return status, heading, body


def explain(exc: TandemError) -> tuple[int, str]:
    """The status and the sentence a page shows for a refusal (naming the form's input at fault)."""
    status, _, body = refusal(exc)
    return status, str(body["detail"])


class Refusal(BaseModel):
    """Why a request was refused; nothing was changed (except a proposal found stale, which stays marked)."""

    detail: str | list[Any] = Field(
        description="What went wrong and what to do (a list when the request does not fit the schema at all)."
    )
    problems: list[FileProblem] = Field(
        default_factory=list, description="For a proposed file with problems: every one, by line and column."
    )
    field: str | None = Field(default=None, description="For a refused question: the parameter at fault.")


#: The refusals of any route that needs a signed-in user.
SIGNED_IN: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "No valid API token or session."},
    403: {"model": Refusal, "description": "The role lacks the permission (see x-access)."},
}
#: Every router's refusal of a bad question or parameter: one field named (`refusal`), or a body's problems.
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Refusal, "description": "A bad question or parameter: `field` names it, `detail` says why."}
}
#: A JSON body that is not JSON is refused before anything else, even before who is asking.
UNREADABLE: dict[int | str, dict[str, Any]] = {400: {"model": Refusal, "description": "The body is not valid JSON."}}


def file_problems(issues: Sequence[Issue]) -> list[dict[str, Any]]:
    """Each problem of a file as {line, column, problem, hint, value}."""
    return [
        {
            "line": issue.line,
            "column": int(issue.column) if issue.column is not None and str(issue.column).isdigit() else None,
            "problem": issue.problem,
            "hint": issue.expected,
            "value": issue.value,
        }
        for issue in issues
    ]
