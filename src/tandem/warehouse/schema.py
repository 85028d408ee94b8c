"""The canonical tables: the data contract every source is mapped to.

A table has a key (one or more columns), required columns and optional ones. Columns beyond these that a source
brings are kept as *attributes*: extra columns added to the table on first sight (snake_case names, type inferred
then fixed), so rules and breakdowns can use them like any other column.

Timestamps are stored as UTC without a zone; dates as dates; money as double.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_STAGES",
    "HANDOFF_EVENTS",
    "SYSTEM_COLUMNS",
    "TABLES",
    "Column",
    "ColumnType",
    "Table",
    "attribute_name",
    "table",
]

ColumnType = Literal["string", "timestamp", "date", "float", "integer", "boolean"]

DEFAULT_STAGES: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "won")

#: The events of the `handoffs` table; when two share a moment they are taken in this order.
HANDOFF_EVENTS: tuple[str, ...] = (
    "assigned",
    "reassigned",
    "status",
    "accepted",
    "rejected",
    "recycled",
    "requalified",
)

#: Columns tandem adds to every table: the import that last wrote the row.
SYSTEM_COLUMNS: tuple[str, ...] = ("_import_id",)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Column:
    """One canonical column. `choices` limits a string column to known values; `minimum` bounds a number."""

    name: str
    type: ColumnType
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    description: str = ""


@dataclass(frozen=True)
class Table:
    """A canonical table. `references` maps a column to the table whose key it must name (checked on import)."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str
    references: dict[str, str] = field(default_factory=dict)
    #: Columns of the key that may be empty; two empty values count as equal when matching rows.
    nullable_key: tuple[str, ...] = ()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _c(name: str, type_: ColumnType = "string", **kw: object) -> Column:
    return Column(name, type_, **kw)  # type: ignore[arg-type]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "leads",
            key=("lead_id",),
            description="People or companies marketing generated, one row each.",
            columns=(
                _c("lead_id", required=True),
                _c("created_at", "timestamp", required=True),
                _c("channel"),
                _c("campaign_id"),
                _c("account_id"),
                _c("owner"),
                _c("email"),
                _c("company"),
                _c("country"),
                _c("industry"),
                _c("employees", "integer", minimum=0),
                _c("score", "float"),
            ),
        ),
        Table(
            "stage_events",
            key=("lead_id", "stage", "occurred_at"),
            description="A lead entering a funnel stage (lifecycle-stage history).",
            references={"lead_id": "leads"},
            columns=(
                _c("lead_id", required=True),
                _c("stage", required=True),
                _c("occurred_at", "timestamp", required=True),
                _c("amount", "float", minimum=0),
                _c("source"),
            ),
        ),
        Table(
            "opportunities",
            key=("opportunity_id",),
            description="Deals: open, won or lost.",
            columns=(
                _c("opportunity_id", required=True),
                _c("created_at", "timestamp", required=True),
                _c("status", required=True, choices=("open", "won", "lost")),
                _c("lead_id"),
                _c("account_id"),
                _c("amount", "float", minimum=0),
                _c("stage"),
                _c("close_date", "date"),
                _c("owner"),
                _c("product"),
            ),
        ),
        Table(
            "touches",
            key=("touch_id",),
            description="Marketing touches (ad click, email open, webinar...) for attribution.",
            columns=(
                _c("touch_id", required=True),
                _c("occurred_at", "timestamp", required=True),
                _c("channel", required=True),
                _c("lead_id"),
                _c("account_id"),
                _c("campaign_id"),
                _c("kind"),
            ),
        ),
        Table(
            "campaigns",
            key=("campaign_id",),
            description="Marketing campaigns with their channel and budget.",
            columns=(
                _c("campaign_id", required=True),
                _c("name", required=True),
                _c("channel", required=True),
                _c("start_date", "date"),
                _c("end_date", "date"),
                _c("budget", "float", minimum=0),
            ),
        ),
        Table(
            "spend",
            key=("campaign_id", "channel", "date"),
            nullable_key=("campaign_id", "channel"),
            description="Money spent per campaign or channel per day.",
            columns=(
                _c("date", "date", required=True),
                _c("amount", "float", required=True, minimum=0),
                _c("campaign_id"),
                _c("channel"),
            ),
        ),
        Table(
            "activities",
            key=("activity_id",),
            description="Sales follow-up on a lead: calls, emails, meetings.",
            references={"lead_id": "leads"},
            columns=(
                _c("activity_id", required=True),
                _c("lead_id", required=True),
                _c("occurred_at", "timestamp", required=True),
                _c("kind", required=True),
                _c("actor"),
            ),
        ),
        Table(
            "handoffs",
            key=("lead_id", "occurred_at", "event"),
            description=(
                "A lead handed from marketing to sales: assigned, reassigned, accepted, rejected (with a reason), "
                "recycled to nurture, re-qualified, and status changes (which may pause its service-level clocks)."
            ),
            references={"lead_id": "leads"},
            columns=(
                _c("lead_id", required=True),
                _c("occurred_at", "timestamp", required=True),
                _c("event", required=True, choices=HANDOFF_EVENTS),
                _c("owner", description="the rep holding the lead after this event"),
                _c("team", description="the owner's team, when the source says it (else the contract's)"),
                _c("reason", description="a rejection's reason code"),
                _c("note"),
                _c("status", description="the lead status after a status change"),
                _c("actor", description="who did it"),
            ),
        ),
        Table(
            "accounts",
            key=("account_id",),
            description="Companies leads and deals belong to.",
            columns=(
                _c("account_id", required=True),
                _c("name", required=True),
                _c("segment"),
                _c("industry"),
                _c("employees", "integer", minimum=0),
                _c("region"),
            ),
        ),
    )
}


def table(kind: str) -> Table:
    """The canonical table called `kind`, or a clear error listing the valid names."""
    from tandem.errors import ConfigError

    try:
        return TABLES[kind]
    except KeyError:
        raise ConfigError(f"unknown table {kind!r}; tandem imports one of: {', '.join(TABLES)}") from None


def attribute_name(source_column: str) -> str:
    """The column name an extra source column is kept under: lower snake_case, safe as an identifier.

    "Lead Source" -> "lead_source"; "Total Time Spent on Website" -> "total_time_spent_on_website".
    """
    name = re.sub(r"[^0-9a-zA-Z]+", "_", source_column.strip()).strip("_").lower()
    if not name:
        name = "column"
    if name[0].isdigit():
        name = "c_" + name
    name = name[:63]
    assert _IDENTIFIER.match(name), name
    return name
