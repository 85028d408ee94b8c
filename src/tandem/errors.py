"""The one exception tree of tandem.

Every error a user can cause names the offending thing and says how to fix it::

    TandemError                    the request could not be done (CLI exit 1, HTTP 400)
     ├── WorkspaceError            no workspace here, a broken config, an outdated schema
     │    └── BusyError            another process still holds the warehouse after the wait (HTTP 503)
     ├── InvalidError (ValueError) what was asked is malformed or out of bounds (HTTP 422)
     │    ├── ConfigError          a setting, URL, option or question field with a wrong value
     │    ├── MappingError         a mapping file or preset that cannot be used
     │    ├── FileProblemsError    a file someone wrote (definitions, plan, alert rules); every problem found
     │    └── ImportValidationError  a source file with problems; carries every `Issue` found
     ├── NotFoundError (LookupError)  the thing named does not exist (HTTP 404)
     ├── ConflictError             the thing exists but is in a state that forbids the action (HTTP 409)
     └── ForbiddenError            the person acting may not do this (HTTP 403)

An error about one field of a question (`InvalidError.field`) names the field in the question's own vocabulary;
each front end says it in its own: the CLI as the flag (`--from`), the REST API as the query parameter.
The CLI turns a question's `InvalidError` into exit code 2 (a usage error), any other `TandemError` into exit
code 1, with its message on stderr; anything else is a bug. The web app maps each kind to its HTTP status in one
place (`tandem.server.app`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BusyError",
    "ConfigError",
    "ConflictError",
    "FileProblemsError",
    "ForbiddenError",
    "ImportValidationError",
    "InvalidError",
    "Issue",
    "MappingError",
    "NotFoundError",
    "TandemError",
    "WorkspaceError",
]


class TandemError(Exception):
    """Base class: something the user asked for could not be done; the message says why and what to do."""


class WorkspaceError(TandemError):
    """The workspace is missing, unreadable, or needs `tandem upgrade`."""


class BusyError(WorkspaceError):
    """Another process (an import) still held the warehouse when the wait ran out: try again when it has finished."""


class InvalidError(TandemError, ValueError):
    """What was asked is malformed or out of bounds; `field` names the question's field when one is at fault.

    The message says what is wrong with the value and what would do, without naming the field: each front end
    prefixes it with the field's own name there (a CLI flag, a query parameter, a form input).
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFoundError(TandemError, LookupError):
    """The thing named (a proposal, a plan, a goal, a user, an import) does not exist."""


class ConflictError(TandemError):
    """The thing exists, but its state forbids the action (already decided, not the latest, still in use)."""


class ForbiddenError(TandemError):
    """The person acting may not do this: their role lacks the permission, or the workflow reserves it."""


class ConfigError(InvalidError):
    """A setting, URL, option or question field has a value tandem cannot use."""


class MappingError(InvalidError):
    """A mapping (preset or TOML file) is malformed or does not fit the file it is applied to."""


@dataclass(frozen=True)
class Issue:
    """One problem found in a source file: where it is, what was there, and what was expected."""

    file: str
    line: int | None
    column: str | None
    value: str | None
    problem: str
    expected: str

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f", line {self.line}"
        if self.column is not None:
            place += f", column {self.column!r}"
        shown = "" if self.value is None else f": value {_shorten(self.value)!r}"
        return f"{place}{shown}: {self.problem}; expected {self.expected}"


class FileProblemsError(InvalidError):
    """A file someone wrote (the definitions, a plan, the alert rules) cannot be used: every problem found, each
    with its place (file, 1-based line and column), the value when it helps, and a hint; nothing was done.

    A subclass names the file in `subject` and what was not done in `outcome`.
    """

    subject = "the file"
    outcome = "nothing was changed"
    show_values = True

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        summary = f"{count} problem{'s' if count != 1 else ''} in {self.subject}; {self.outcome}."
        super().__init__("\n".join([summary, *(self.describe(issue) for issue in self.issues)]))

    def describe(self, issue: Issue) -> str:
        place = issue.file
        if issue.line is not None:
            place += f", line {issue.line}"
        if issue.column is not None:
            place += f", column {issue.column}"
        shown = f" ({issue.value!r})" if self.show_values and issue.value is not None else ""
        return f"{place}: {issue.problem}{shown}. Hint: {issue.expected}"


def _shorten(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + f"... ({len(value):,} characters)"


class ImportValidationError(InvalidError):
    """A file failed validation. Nothing was imported; `issues` holds every problem found (not just the first)."""

    def __init__(
        self,
        issues: list[Issue],
        total: int | None = None,
        shown: int = 50,
        by_problem: dict[str, int] | None = None,
    ) -> None:
        self.issues = issues
        self.total = len(issues) if total is None else total
        #: "file: column: problem" -> how many rows have it, when there are several kinds of problem or many rows.
        self.by_problem = by_problem or {}
        lines = [str(issue) for issue in issues[:shown]]
        more = self.total - len(lines)
        summary = f"{self.total:,} problem{'s' if self.total != 1 else ''} found; nothing was imported."
        if self.by_problem and more > 0:
            summary += "".join(f"\n  {count:>9,} x {label}" for label, count in self.by_problem.items())
        hint = "Fix the file or the mapping and import again"
        if any(issue.column is not None for issue in issues):  # a bad value: its row can be set aside
            hint += (
                ", or use --skip-invalid to import the valid rows and write the rejected ones, each with its "
                "reason, beside the input."
            )
        else:  # the file as a whole (its header, its width, its format): no row can be set aside
            hint += "."
        body = "\n".join(lines + ([f"... and {more:,} more"] if more > 0 else []))
        super().__init__(f"{summary}\n{body}\n{hint}")
