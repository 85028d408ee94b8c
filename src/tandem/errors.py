"""The one exception tree of tandem.

Every error a user can cause names the offending thing and says how to fix it::

    TandemError
     ├── WorkspaceError          no workspace here, a broken config, an outdated schema
     ├── ConfigError (ValueError)  a setting, URL or option with a wrong value
     ├── MappingError (ValueError) a mapping file or preset that cannot be used
     └── ImportValidationError (ValueError)
                                 a source file with problems; carries every `Issue` found

The CLI turns a `TandemError` into exit code 1 and its message on stderr; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ImportValidationError",
    "Issue",
    "MappingError",
    "TandemError",
    "WorkspaceError",
]


class TandemError(Exception):
    """Base class: something the user asked for could not be done; the message says why and what to do."""


class WorkspaceError(TandemError):
    """The workspace is missing, unreadable, or needs `tandem upgrade`."""


class ConfigError(TandemError, ValueError):
    """A setting, URL or option has a value tandem cannot use."""


class MappingError(TandemError, ValueError):
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


class FileProblemsError(TandemError, ValueError):
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


class ImportValidationError(TandemError, ValueError):
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
        hint = (
            "Fix the file or the mapping and import again, or use --skip-invalid to import the valid rows "
            "and write the rejected ones, each with its reason, beside the input."
        )
        body = "\n".join(lines + ([f"... and {more:,} more"] if more > 0 else []))
        super().__init__(f"{summary}\n{body}\n{hint}")
