"""What every question shares: a frozen, typed request that is validated once, computes one JSON document, and
declares what it reads.

How this works: each kind of answer tandem gives (funnel, forecast, status, ...) is one `Question` subclass. Its
fields are the request, in the domain's own vocabulary (``start``, not ``--from`` or ``?from=``). `parse` builds it
from loose values (text from a flag, a query parameter or a form) and turns every refusal into an `InvalidError`
naming the field and its value, so each front end can say it in its own words: the CLI names the flag, the REST API
the query parameter. `answer` computes the document that ``--format json``, the REST API and the pages all serve;
`check` refuses what the data cannot answer (an unknown column or stage) before anything heavy runs. `reads` says
which warehouse tables and which application state the document depends on, so a cache can key it exactly.

The model: PostHog's query runners, one typed query per insight kind, validated once and cached by its runner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from tandem.engine.spec import to_timestamp
from tandem.errors import ConfigError, InvalidError

if TYPE_CHECKING:
    from tandem.workspace import Workspace

__all__ = [
    "KINDS",
    "STATE",
    "Breakdown",
    "Grain",
    "Moment",
    "Question",
    "parse_moment",
    "parse_where",
]

#: Application state a document may read besides the warehouse tables (named in `Question.reads`). ``proposals``:
#: the definitions' versions, proposals and decisions, and who may decide them (users' roles and leader flags).
STATE = frozenset({"definitions", "proposals", "goals", "plans", "accounts", "audit", "imports", "alerts"})

Grain = Literal["day", "week", "month", "quarter"]


def parse_moment(value: date | datetime | str | None, field: str | None = None) -> datetime | None:
    """A date or moment as a naive UTC datetime (empty text: none); a bad one is a `ConfigError` saying why,
    naming `field` when given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return to_timestamp(value.strip() if isinstance(value, str) else value)
    except ConfigError as exc:
        raise ConfigError(exc.message, field=field, value=value) from None
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00+01:00 is before the first representable moment
        raise ConfigError(f"{value!r} is out of the range of dates tandem can use", field=field, value=value) from None


def _moment(value: Any) -> datetime | None:
    return parse_moment(value)


def parse_where(items: Any) -> dict[str, str | None]:
    """``COL=VALUE`` filters (``COL=`` for a missing value) as column -> value; a column given twice is refused."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k): (None if v in (None, "") else str(v)) for k, v in items.items()}
    where: dict[str, str | None] = {}
    for item in [items] if isinstance(items, str) else items:
        column, sep, value = str(item).partition("=")
        if not sep or not column:
            raise ConfigError(f"{item!r} is not COL=VALUE (COL= for a missing value)")
        if "\x00" in value:
            raise ConfigError(f"{item!r}: a value cannot contain a NUL character")
        if column in where:
            raise ConfigError(f"column {column!r} is filtered more than once; give each column once")
        where[column] = value or None
    return where


def _breakdown(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    columns = (value,) if isinstance(value, str) else tuple(value)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ConfigError(f"column(s) {', '.join(map(repr, duplicated))} given more than once; give each once")
    return columns


#: A date or moment, as naive UTC.
Moment = Annotated[datetime | None, BeforeValidator(_moment)]
#: Breakdown columns, in order, each once.
Breakdown = Annotated[tuple[str, ...], BeforeValidator(_breakdown)]

#: Every kind of question, by name (filled as subclasses are defined).
KINDS: dict[str, type[Question]] = {}


class Question(BaseModel):
    """One request for one kind of document. Subclasses set `kind` and `reads` and implement `answer`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    #: The kind's name: the CLI command and the document's name.
    kind: ClassVar[str] = ""
    #: The warehouse tables and the application state (`STATE`) the document depends on.
    reads: ClassVar[tuple[str, ...]] = ()
    #: The document has amounts of money: `tandem.questions.ask` names the workspace's currency in it
    #: (``"currency": "EUR"``), so a program reading any document with money never guesses (tandem never converts).
    money: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            KINDS[cls.kind] = cls

    @classmethod
    def parse(cls, **values: Any) -> Self:
        """The question from loose values; a refusal is an `InvalidError` naming the first field at fault."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise invalid(exc) from None

    def key(self) -> str:
        """The question as canonical JSON: the cache key's question part."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    def check(self, ws: Workspace) -> None:
        """Refuse what this workspace cannot answer (unknown column or stage) before anything heavy runs."""

    def answer(self, ws: Workspace) -> dict[str, Any]:
        """The document: exactly what ``--format json``, the REST API and the pages serve."""
        raise NotImplementedError


def invalid(exc: ValidationError) -> InvalidError:
    """Pydantic's refusal as one `InvalidError`: the first problem, with its field and value, in plain words."""
    field, value, message = describe(dict(exc.errors()[0]))
    return ConfigError(message, field=field, value=value)


def describe(error: Mapping[str, Any]) -> tuple[str | None, Any, str]:
    """One pydantic error (also FastAPI's, whose location starts with ``query`` or ``body``) as the field, the value
    and a sentence about the value."""
    location = [part for part in error.get("loc", ()) if part not in ("query", "path", "body")]
    field = str(location[0]) if location else None
    value = error.get("input")
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InvalidError):
        if cause.field is not None:  # a rule across fields names the one at fault
            return cause.field, cause.value, cause.message
        return field, value, cause.message
    kind, bounds = error.get("type"), error.get("ctx", {})
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "greater_than_equal":
        message = f"{value!r} is too small; use {bounds['ge']} or more"
    elif kind == "less_than_equal":
        message = f"{value!r} is too large; use at most {bounds['le']}"
    elif kind == "int_parsing":
        message = f"{value!r} is not a whole number"
    elif kind == "extra_forbidden":
        message = "is not a field of this question"
    elif kind == "missing":
        message = "is required"
    elif kind != "value_error" and field is not None and not isinstance(value, dict):
        message = f"{value!r}: {message[0].lower()}{message[1:]}" if message else repr(value)
    return field, value, message


def check_field(condition: bool, field: str, value: Any, message: str) -> None:
    """Refuse a value the field's type allows but the question cannot use."""
    if not condition:
        raise ConfigError(message, field=field, value=value)
