"""Rows a figure cannot use, kept out of every figure in one place, and counted so nobody misses them.

An import refuses these values (docs/import.md), but a warehouse can still hold them: a workspace imported before
that check, or a PostgreSQL warehouse written by another tool. One such value must not take a page down (a close
date in year 1 breaks the quarter arithmetic, an infinite amount every sum), nor blank a figure silently (a NaN
amount turns won revenue into NaN). So the engine reads each canonical table through `usable`, which leaves out a
row holding:

- a number that is not finite (NaN, +inf, -inf) in a canonical number column;
- a date or time before `EARLIEST` or after `LATEST` (the defaults of the import settings ``import_earliest_date``
  and ``import_latest_date``: a fixed range here, so a figure does not change with a setting that only governs what
  an import takes);
- no value in a column the table requires (``created_at``, ``status``...).

`left_out` counts those rows per table with a few examples (key, column, value), the data-quality finding the
Overview and Forecast pages and ``tandem forecast`` show. On clean data the filter keeps every row: figures are
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import ibis
import ibis.expr.types as ir

from tandem.settings import SETTINGS

__all__ = ["EARLIEST", "LATEST", "LeftOut", "left_out", "left_out_messages", "usable"]

_DEFAULTS = {s.name: s.default for s in SETTINGS}
#: The first and last day a figure uses: the import settings' defaults.
EARLIEST: date = date.fromisoformat(str(_DEFAULTS["import_earliest_date"]))
LATEST: date = date.fromisoformat(str(_DEFAULTS["import_latest_date"]))
#: Examples named per table in a finding.
EXAMPLES = 3

#: Per canonical table (tandem.warehouse.schema, which the engine does not import): the key column named in an
#: example, the columns that must hold a value, and the number, date and time columns a figure reads.
_RULES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "leads": ("lead_id", ("lead_id", "created_at"), ("created_at", "score", "employees")),
    "stage_events": ("lead_id", ("lead_id", "stage", "occurred_at"), ("occurred_at", "amount")),
    "opportunities": (
        "opportunity_id",
        ("opportunity_id", "created_at", "status"),
        ("created_at", "amount", "close_date"),
    ),
    "touches": ("touch_id", ("touch_id", "occurred_at", "channel"), ("occurred_at",)),
    "campaigns": ("campaign_id", ("campaign_id", "name", "channel"), ("start_date", "end_date", "budget")),
    "spend": ("date", ("date", "amount"), ("date", "amount")),
    "activities": ("activity_id", ("activity_id", "lead_id", "occurred_at", "kind"), ("occurred_at",)),
    "accounts": ("account_id", ("account_id", "name"), ("employees",)),
    "handoffs": ("lead_id", ("lead_id", "occurred_at", "event"), ("occurred_at",)),
}
#: What one row of each table is called, and many of them.
_NOUNS = {
    "leads": ("lead", "leads"),
    "stage_events": ("stage event of lead", "stage events"),
    "opportunities": ("opportunity", "opportunities"),
    "touches": ("touch", "touches"),
    "campaigns": ("campaign", "campaigns"),
    "spend": ("spend row", "spend rows"),
    "activities": ("activity", "activities"),
    "accounts": ("account", "accounts"),
    "handoffs": ("handoff event of lead", "handoff events"),
}


def _checks(rel: ir.Table, name: str) -> list[tuple[str, ir.BooleanValue]]:
    """(column, "this row's value there is unusable") for each canonical column of `name` that `rel` holds."""
    rule = _RULES.get(name)
    if rule is None:
        return []
    _, required, read = rule
    schema = rel.schema()
    out: list[tuple[str, ir.BooleanValue]] = []
    for column in dict.fromkeys((*required, *read)):
        if column not in schema:
            continue
        value = rel[column]
        dtype = schema[column]
        bad: ir.BooleanValue | None = None
        if column in read and dtype.is_floating():
            bad = value.isnan() | value.isinf()
        elif column in read and dtype.is_timestamp():
            low = ibis.literal(datetime.combine(EARLIEST, time.min), type="timestamp")
            high = ibis.literal(datetime.combine(LATEST, time.max), type="timestamp")
            bad = (value < low) | (value > high)
        elif column in read and dtype.is_date():
            bad = (value < ibis.literal(EARLIEST, type="date")) | (value > ibis.literal(LATEST, type="date"))
        if bad is not None:
            bad = bad.fill_null(False)
        if column in required:
            bad = value.isnull() if bad is None else (value.isnull() | bad)
        if bad is not None:
            out.append((column, bad))
    return out


def usable(rel: ir.Table, name: str) -> ir.Table:
    """`rel` (the canonical table `name`, or a selection of its columns) without the rows a figure cannot use."""
    checks = _checks(rel, name)
    if not checks:
        return rel
    return rel.filter(~ibis.or_(*(bad for _, bad in checks)))


@dataclass(frozen=True)
class LeftOut:
    """Rows of one table left out of every figure: how many, and the first few as (key, column, value)."""

    table: str
    rows: int
    examples: tuple[tuple[str, str, str], ...]

    def message(self) -> str:
        noun, plural = _NOUNS.get(self.table, (self.table, self.table))
        shown = ", ".join(f"{noun} {key} {column} {value}" for key, column, value in self.examples)
        more = f" and {self.rows - len(self.examples)} more" if self.rows > len(self.examples) else ""
        one = self.rows == 1
        return (
            f"{self.rows:,} {noun if one else plural} with an unusable value {'is' if one else 'are'} left out of "
            f"every figure: {shown}{more} (usable: finite numbers, dates {EARLIEST.isoformat()} to "
            f"{LATEST.isoformat()}, required values present); correct {'it' if one else 'them'} at the source and "
            "import again"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "examples": [{"key": k, "column": c, "value": v} for k, c, v in self.examples],
            "message": self.message(),
        }


def _show(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def left_out(tables: dict[str, ir.Table]) -> list[LeftOut]:
    """What `usable` leaves out of each of `tables` (canonical name -> table), tables with none omitted."""
    found = []
    for name, rel in tables.items():
        checks = _checks(rel, name)
        if not checks:
            continue
        flags = {f"_bad_{i}": bad for i, (_, bad) in enumerate(checks)}
        marked = rel.mutate(**flags)
        bad_rows = marked.filter(ibis.or_(*(marked[f] for f in flags)))
        count = int(bad_rows.count().execute())
        if not count:
            continue
        keys = [k for k in _RULES[name][:1] if k in rel.columns]
        values = {f"_v_{i}": bad_rows[c].cast("string") for i, (c, _) in enumerate(checks)}
        first = bad_rows.select(
            _key=bad_rows[keys[0]].cast("string").fill_null("") if keys else ibis.literal(""),
            **values,
            **{f: bad_rows[f] for f in flags},
        )
        first = first.order_by("_key").limit(EXAMPLES).to_pyarrow().to_pylist()
        examples = []
        for row in first:
            column, value = next((c, row[f"_v_{i}"]) for i, (c, _) in enumerate(checks) if row[f"_bad_{i}"])
            examples.append((str(row["_key"]), column, _show(value)))
        found.append(LeftOut(name, count, tuple(examples)))
    return found


def left_out_messages(tables: dict[str, ir.Table]) -> list[str]:
    """`left_out` as the one-line findings the pages and the command line show."""
    return [found.message() for found in left_out(tables)]
