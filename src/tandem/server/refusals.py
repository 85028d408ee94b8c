"""How the REST API says no: one shape for every refusal, and the problems of a file by line and column.

Every refusal is ``{"detail": "...what went wrong and what to do...", "problems": [...]}``; ``problems`` lists a
proposed file's problems (definitions, a plan), each where it is and what would do instead, so a client can point
at the line. Nothing is changed by a refused request. The OpenAPI document describes these with the models here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from tandem.errors import Issue

__all__ = ["MAX_ID", "NO_NUL", "SIGNED_IN", "UNREADABLE", "FileProblem", "Refusal", "file_problems"]

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


class Refusal(BaseModel):
    """Why a request was refused; nothing was changed (except a proposal found stale, which stays marked)."""

    detail: str | list[Any] = Field(
        description="What went wrong and what to do (a list when the request does not fit the schema at all)."
    )
    problems: list[FileProblem] = Field(
        default_factory=list, description="For a proposed file with problems: every one, by line and column."
    )


#: The refusals of any route that needs a signed-in user.
SIGNED_IN: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "No valid API token or session."},
    403: {"model": Refusal, "description": "The role lacks the permission (see x-access)."},
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
