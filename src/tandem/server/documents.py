"""The funnel engine's answers as JSON documents: exactly what ``tandem <command> --format json`` prints.

One `Question` holds what a request asks, parsed once (dates, filters); one function per command turns it into the
command's document, so the REST API, the pages and (should it want to) the CLI build the same document the same
way. `check` refuses a bad question before anything runs, naming the bad value: a `ConfigError`, which the app
answers with 400 (API) or an error on the page.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from tandem.engine import FunnelSpec, Result
from tandem.engine.spec import to_timestamp
from tandem.errors import ConfigError
from tandem.exports import json_value, write_csv
from tandem.workspace import Workspace

__all__ = [
    "KINDS",
    "Question",
    "check",
    "document",
    "funnel_document",
    "leads_count",
    "leads_csv",
    "leads_document",
    "parse_moment",
    "parse_where",
    "pipeline_document",
    "quality_document",
    "result_document",
    "revenue_document",
    "velocity_document",
]

#: The canonical tables each kind of document reads (what invalidates it in the server's cache).
KINDS: dict[str, tuple[str, ...]] = {
    "funnel": ("leads", "stage_events"),
    "velocity": ("leads", "stage_events"),
    "leads": ("leads", "stage_events"),
    "quality": ("leads", "stage_events"),
    "revenue": ("opportunities", "leads"),
    "pipeline": ("opportunities", "leads"),
}


def parse_moment(value: str | None, name: str) -> datetime | None:
    """A query's date or moment as a naive UTC datetime; a bad one is a `ConfigError` naming the parameter."""
    if value is None or value == "":
        return None
    try:
        return to_timestamp(value)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00+01:00 is before the first representable moment
        raise ConfigError(f"{name}: {value!r} is out of the range of dates tandem can use") from None


def parse_where(items: Iterable[str]) -> dict[str, str | None]:
    """``COL=VALUE`` filters (``COL=`` for a missing value) as column -> value; the last one of a column wins."""
    where: dict[str, str | None] = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise ConfigError(f"filter {item!r} is not COL=VALUE (COL= for a missing value)")
        if "\x00" in value:
            raise ConfigError(f"filter {item!r}: a value cannot contain a NUL character")
        where[column] = value or None
    return where


@dataclass(frozen=True)
class Question:
    """Everything a funnel-engine request can ask; each document uses the fields its command has."""

    by: tuple[str, ...] = ()
    period: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    strict: bool = False
    window_days: int | None = None
    horizon_days: int | None = None
    as_of: datetime | None = None
    from_stage: str | None = None
    to_stage: str | None = None
    stage: str | None = None
    where: Mapping[str, str | None] = field(default_factory=dict)
    limit: int | None = 100
    #: Count under this definitions version (None: the one in force at as_of).
    version: int | None = None

    def key(self) -> dict[str, Any]:
        """The question as plain JSON values: the cache key's question part."""
        value: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "by": list(self.by),
                    "period": self.period,
                    "start": self.start,
                    "end": self.end,
                    "strict": self.strict,
                    "window_days": self.window_days,
                    "horizon_days": self.horizon_days,
                    "as_of": self.as_of,
                    "from_stage": self.from_stage,
                    "to_stage": self.to_stage,
                    "stage": self.stage,
                    "where": dict(self.where),
                    "limit": self.limit,
                    "version": self.version,
                },
                default=_iso,
            )
        )
        return value


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value))


def _plain(value: Any) -> Any:
    """A JSON value as the CLI writes it; infinities (never expected) become null rather than invalid JSON."""
    value = json_value(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


def result_document(result: Result, extra: Mapping[str, Any]) -> dict[str, Any]:
    """A result as the CLI's ``--format json``: provenance, the command's extra fields, then every row."""
    return {
        "definition_version": result.definition_version,
        "backend": result.backend,
        **extra,
        "rows": [{k: _plain(v) for k, v in row.items()} for row in result.rows()],
    }


def _spec(ws: Workspace, q: Question, **fields: Any) -> FunnelSpec:
    """The engine's spec for the question (validates dates, range, window); pydantic errors become ConfigError."""
    values = {"start": q.start, "end": q.end, **fields}
    if q.as_of is not None:
        values["as_of"] = q.as_of
    try:
        return ws.funnel_spec(version=q.version, **{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(problems) from None


def check(ws: Workspace, kind: str, q: Question) -> None:
    """Refuse a bad question before it runs: bad range or window, unknown stage or column (cheap checks only).

    The engine checks again when it runs; this only spares the server a computation bound to fail.
    """
    spec = _spec(ws, q, by=q.by, period=q.period, strict=q.strict, window_days=q.window_days)
    if q.horizon_days is not None and q.horizon_days < 1:
        raise ConfigError(f"horizon must be at least 1 day, not {q.horizon_days}")
    if kind in ("funnel", "velocity"):
        _known_columns(q.by, ws.warehouse.columns("leads"), "breakdown")
    elif kind in ("revenue", "pipeline"):
        known = sorted({*ws.warehouse.columns("opportunities"), *ws.warehouse.columns("leads")})
        _known_columns(q.by, known, "breakdown")
    if kind == "velocity":
        start = spec.stage_index(q.from_stage or "")
        end = spec.stage_index(q.to_stage) if q.to_stage else start + 1
        if end >= len(spec.stages):
            raise ConfigError(f"{q.from_stage!r} is the last stage: velocity goes from a stage to a later one")
        if end <= start:
            raise ConfigError(
                f"velocity goes from a stage to a later one; {q.to_stage!r} is not after {q.from_stage!r}"
            )
    if kind == "leads":
        spec.stage_index(q.stage or "")
        _known_columns(list(q.where), ws.warehouse.columns("leads"), "filter")


def _known_columns(asked: Iterable[str], columns: Iterable[str], what: str) -> None:
    """Refuse unknown columns, quoted (a name may be empty or hold control characters), listing the known ones."""
    known = [c for c in columns if not c.startswith("_")]
    unknown = [c for c in asked if c not in known]
    if unknown:
        names = ", ".join(repr(c) for c in unknown)
        raise ConfigError(f"unknown {what} column(s) {names}; available: {', '.join(known)}")


def funnel_document(ws: Workspace, q: Question) -> dict[str, Any]:
    """``tandem funnel --format json``."""
    result = ws.funnel(
        by=q.by,
        period=q.period,
        start=q.start,
        end=q.end,
        strict=q.strict,
        window_days=q.window_days,
        horizon_days=q.horizon_days,
        as_of=q.as_of,
        version=q.version,
    )
    spec = result.spec
    return result_document(
        result,
        {
            "as_of": json_value(spec.as_of),
            "mode": "strict" if spec.strict else "cumulative",
            "stages": list(spec.stages),
            "period": spec.period,
            "window_days": spec.window_days,
            "horizon_days": spec.horizon,
        },
    )


def revenue_document(ws: Workspace, q: Question) -> dict[str, Any]:
    """``tandem revenue --format json``."""
    result = ws.revenue(by=q.by, period=q.period, start=q.start, end=q.end, as_of=q.as_of)
    return result_document(result, {"as_of": json_value(result.spec.as_of)})


def pipeline_document(ws: Workspace, q: Question) -> dict[str, Any]:
    """``tandem pipeline --format json``."""
    result = ws.pipeline(by=q.by, as_of=q.as_of)
    return result_document(result, {"as_of": json_value(result.spec.as_of)})


def velocity_document(ws: Workspace, q: Question) -> dict[str, Any]:
    """``tandem velocity FROM [TO] --format json``."""
    result = ws.velocity(
        q.from_stage or "",
        q.to_stage or None,
        by=q.by,
        period=q.period,
        start=q.start,
        end=q.end,
        strict=q.strict,
        as_of=q.as_of,
        version=q.version,
    )
    return result_document(result, {"as_of": json_value(result.spec.as_of)})


def quality_document(ws: Workspace, q: Question) -> dict[str, Any]:
    """``tandem quality --format json``: the checks with examples, strict against cumulative volumes."""
    report = ws.quality(as_of=q.as_of)
    document: dict[str, Any] = json.loads(json.dumps(report.to_dict(), default=_plain))
    return document


def leads_document(ws: Workspace, q: Question) -> dict[str, Any]:
    """``tandem leads --stage S --by COL=VALUE... --format json``: the leads behind a number, newest entry first."""
    result = ws.leads(
        q.stage or "",
        dict(q.where),
        start=q.start,
        end=q.end,
        strict=q.strict,
        limit=q.limit,
        as_of=q.as_of,
        version=q.version,
    )
    return result_document(result, {"stage": q.stage, "filters": dict(q.where)})


_DOCUMENTS = {
    "funnel": funnel_document,
    "revenue": revenue_document,
    "pipeline": pipeline_document,
    "velocity": velocity_document,
    "quality": quality_document,
    "leads": leads_document,
}


def document(ws: Workspace, kind: str, q: Question) -> dict[str, Any]:
    """The document of `kind` ("funnel", "revenue", ...) for the question."""
    return _DOCUMENTS[kind](ws, q)


def leads_csv(ws: Workspace, q: Question) -> str:
    """``tandem leads ... --format csv``: every column, text cells neutralised against spreadsheet formulas."""
    result = ws.leads(
        q.stage or "",
        dict(q.where),
        start=q.start,
        end=q.end,
        strict=q.strict,
        limit=q.limit,
        as_of=q.as_of,
        version=q.version,
    )
    stream = io.StringIO()
    write_csv(stream, result.to_arrow().column_names, result.rows())
    return stream.getvalue()


def leads_count(ws: Workspace, q: Question) -> int:
    """How many leads the drill-down's question has in all (its table shows only the newest)."""
    result = ws.leads(
        q.stage or "",
        dict(q.where),
        start=q.start,
        end=q.end,
        strict=q.strict,
        limit=None,
        as_of=q.as_of,
        version=q.version,
    )
    return int(result.expr.count().execute())
