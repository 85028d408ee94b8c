"""The funnel engine's questions: funnel, revenue, velocity, pipeline, quality and the leads behind a number.

Each document is what ``tandem <kind> --format json`` prints and ``GET /api/<kind>`` answers: the result's
provenance (definition version, backend), the question's resolved settings, then every row (a missing group value
is null, never dropped). The rules behind the numbers are in docs/funnel-semantics.md.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from tandem.engine.spec import to_timestamp
from tandem.errors import ConfigError
from tandem.exports import json_value, write_csv
from tandem.periods import add_months, period_label
from tandem.questions.base import Breakdown, Grain, Moment, Question, parse_where

if TYPE_CHECKING:
    from tandem.engine import FunnelSpec, Result
    from tandem.workspace import Workspace

__all__ = [
    "MAX_DAYS",
    "MAX_LEADS",
    "FunnelQuestion",
    "LeadsQuestion",
    "PipelineQuestion",
    "QualityQuestion",
    "RevenueQuestion",
    "VelocityQuestion",
    "result_document",
    "undated_caution",
    "undated_entries",
]

#: Longest window or horizon a question may ask for, in days (a century).
MAX_DAYS = 36500
#: Most leads a drill-down lists.
MAX_LEADS = 5000
FUNNEL_READS = ("leads", "stage_events", "touches", "activities", "definitions")

Days = Annotated[int | None, Field(ge=1, le=MAX_DAYS)]
Version = Annotated[int | None, Field(ge=1, le=2**31 - 1)]
Where = Annotated[dict[str, str | None], BeforeValidator(parse_where)]


def _plain(value: Any) -> Any:
    """A JSON value as the CLI writes it; infinities (never expected) become null rather than invalid JSON."""
    value = json_value(value)
    return None if isinstance(value, float) and not math.isfinite(value) else value


def result_document(result: Result, extra: Mapping[str, Any]) -> dict[str, Any]:
    """A result as a document: provenance, the question's resolved settings, the breakdown's columns as the rows
    name them (an attribute named like one of the result's own columns is ``by_<name>``), then every row.

    A result counted from stage events says which definitions counted which stretch of its range
    (``counted_under``, `tandem.definitions.counting`); when more than one version counts a range with periods,
    each row names the versions that counted its period (``versions``). A row of a period also carries its
    ``period_label`` (``2026-Q1``, ``Dec 2026``, ``week of 7 Dec 2026``) beside the ISO ``period``.
    """
    rows = [{k: _plain(v) for k, v in row.items()} for row in result.rows()]
    grain = getattr(result.spec, "period", None)
    if grain:  # the ISO day the period starts, and how people say it (`tandem.periods.period_label`)
        for row in rows:
            row["period_label"] = period_label(row.get("period"), grain)
    counting = result.counting
    provenance: dict[str, Any] = {}
    if counting is not None:
        spec = result.spec
        provenance = {
            "counting": f"version {counting.current.version} throughout" if counting.explicit else "in force",
            "counted_under": json_value(counting.as_list(spec.start, spec.end)),
        }
        if len(counting.within(spec.start, spec.end)) > 1 and getattr(spec, "period", None):
            for row in rows:
                start = to_timestamp(row["period"])
                parts = counting.within(start, period_end(start, spec.period))
                row["versions"] = [part.version.version for part in parts]
    return {
        "definition_version": result.definition_version,
        "backend": result.backend,
        **provenance,
        **extra,
        "breakdown": list(result.breakdown),
        "rows": rows,
    }


def period_end(start: datetime | None, grain: str) -> datetime | None:
    """The first moment after the period of `grain` that begins at `start`."""
    if start is None:
        return None
    if grain in ("day", "week"):
        return start + timedelta(days=1 if grain == "day" else 7)
    return datetime.combine(add_months(start.date(), 1 if grain == "month" else 3), start.time())


def _known_columns(field: str, asked: Iterable[str], columns: Iterable[str]) -> None:
    """Refuse unknown columns, quoted (a name may be empty or hold control characters), listing the known ones."""
    known = [c for c in columns if not c.startswith("_")]
    unknown = [c for c in asked if c not in known]
    if unknown:
        names = ", ".join(repr(c) for c in unknown)
        raise ConfigError(f"unknown column(s) {names}; available: {', '.join(known)}", field=field, value=unknown)


class _Ranged(Question):
    """A question over a range of entry moments [start, end), observed as of a moment."""

    start: Moment = None
    end: Moment = None
    as_of: Moment = None

    @model_validator(mode="after")
    def _ordered(self) -> _Ranged:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ConfigError(
                f"{self.end:%Y-%m-%d %H:%M} is not after the start, {self.start:%Y-%m-%d %H:%M}; "
                "the range is [start, end)",
                field="end",
                value=self.end.isoformat(),
            )
        return self

    def spec(self, ws: Workspace, version: int | None = None, **fields: Any) -> FunnelSpec:
        """The engine's spec for this question on the stages in force (checks the rest of the question)."""
        values = {"start": self.start, "end": self.end, "as_of": self.as_of, **fields}
        return ws.funnel_spec(version=version, **{k: v for k, v in values.items() if v is not None})


class FunnelQuestion(_Ranged):
    """Volumes, conversion (raw, Kaplan-Meier, period view) and velocity per stage, by breakdown and period."""

    kind = "funnel"
    reads = FUNNEL_READS

    by: Breakdown = ()
    period: Grain | None = None
    strict: bool = False
    window_days: Days = None
    horizon_days: Days = None
    version: Version = None
    #: Also give each row's volume as the version in force at as-of would count it throughout (``reached_restated``).
    restated: bool = False

    def check(self, ws: Workspace) -> None:
        self.spec(ws, self.version)
        _known_columns("by", self.by, ws.warehouse.columns("leads"))

    def result(self, ws: Workspace) -> Result:
        return ws.funnel(
            by=self.by,
            period=self.period,
            start=self.start,
            end=self.end,
            strict=self.strict,
            window_days=self.window_days,
            horizon_days=self.horizon_days,
            as_of=self.as_of,
            version=self.version,
        )

    def answer(self, ws: Workspace) -> dict[str, Any]:
        result = self.result(ws)
        spec = result.spec
        document = result_document(
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
        undated = undated_entries(ws, result)
        document["undated_entries"] = undated  # stage -> entries dated by the import, not by the CRM
        document["cautions"] = [undated_caution(undated, _reached(document["rows"]))] if undated else []
        if self.restated:
            restated_rows(ws, self, result, document)
        return document


def _reached(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Entries per stage over every group and period of a funnel document's rows."""
    reached: dict[str, int] = {}
    for row in rows:
        reached[row["stage"]] = reached.get(row["stage"], 0) + int(row.get("reached") or 0)
    return reached


def undated_entries(ws: Workspace, result: Result) -> dict[str, int]:
    """Per stage after the first (in funnel order, stages with none left out), how many of the funnel's entries
    in its range come from a stage event with no date of its own (`tandem.engine.quality.is_undated`).

    Read from the imported stage events as the funnel reads them (an undated event that yields to a dated one,
    `tandem.engine.quality.prefer_dated`, is not among them): a lead's entry into a stage is its earliest event
    there (cumulative mode: there or later; strict mode: there, with an event at every stage before), and it is
    undated when no event with a date of its own is as early.
    Entries by a stage's rule are not read: an undated event is dated at the lead's creation, before any rule is
    met. One query, over the leads with an undated event only, compiled once per shape like the funnel's own
    (`tandem.engine.compiled`: a command asked again imports no Ibis).
    """
    from tandem.engine.result import Result

    spec, stages = result.spec, list(result.spec.stages)
    if len(stages) < 2:
        return {}
    found = Result.for_question(
        "undated_entries",
        ws.warehouse,
        spec,
        lambda spec: _undated_entries_table(ws, spec),
        reads=("leads", "stage_events"),
        definition_version=result.definition_version,
        backend=result.backend,
    ).rows()[0]
    return {stages[k]: int(found[f"n_{k}"] or 0) for k in range(1, len(stages)) if found[f"n_{k}"]}


def _undated_entries_table(ws: Workspace, spec: FunnelSpec) -> Any:
    """`undated_entries` as one row of counts, ``n_1`` ... ``n_<last stage>`` (an Ibis table)."""
    import ibis

    from tandem.engine.quality import is_undated, prefer_dated

    stages = list(spec.stages)
    raw, leads = ws.warehouse.table("stage_events"), ws.warehouse.table("leads")
    raw = raw.filter(raw.lead_id.isin(raw.filter(is_undated(raw)).lead_id))  # the other leads have none
    events = prefer_dated(raw, stages)
    index = ibis.cases(*((events.stage == stage, k) for k, stage in enumerate(stages)), else_=ibis.null("int64"))
    events = events.mutate(_k=index, _undated=is_undated(events))
    events = events.filter(events._k.notnull() & (events.occurred_at <= ibis.literal(spec.as_of, type="timestamp")))
    events = events.filter(events.lead_id.isin(leads.lead_id))
    moments: dict[str, Any] = {}
    for k in range(1, len(stages)):
        there = events._k == k if spec.strict else events._k >= k
        moments[f"entry_{k}"] = events.occurred_at.min(where=there)
        moments[f"dated_{k}"] = events.occurred_at.min(where=there & ~events._undated)
    per_lead = events.group_by("lead_id").aggregate(**moments)
    counts: dict[str, Any] = {}
    for k in range(1, len(stages)):
        entry, dated = per_lead[f"entry_{k}"], per_lead[f"dated_{k}"]
        undated = entry.notnull() & (dated.isnull() | (dated > entry))
        if spec.strict:  # a stage is reached in strict mode only through an event at each stage before it
            for j in range(1, k):
                undated &= per_lead[f"entry_{j}"].notnull()
        if spec.start is not None:
            undated &= entry >= ibis.literal(spec.start, type="timestamp")
        if spec.end is not None:
            undated &= entry < ibis.literal(spec.end, type="timestamp")
        counts[f"n_{k}"] = per_lead.count(where=undated)
    return per_lead.aggregate(**counts)


def undated_caution(undated: Mapping[str, int], reached: Mapping[str, int]) -> str:
    """The funnel's caution about entries with no date of their own: how many per stage, of its entries, what that
    leaves unknown, and (in the data-quality report's own words, `tandem.engine.quality.CHECKS`) where they come
    from and how to get real dates. The CLI's footer, the Funnel page's notice and the JSON's ``cautions`` say it."""
    from tandem.engine.quality import CHECKS

    counts = ", ".join(f"{stage} {n:,} of {max(reached.get(stage, 0), n):,}" for stage, n in undated.items())
    origin = CHECKS["undated_events"]
    return (
        f"Entries with no date of their own: {counts}; the days between stages and velocity are unknown for "
        f"them, and so is the period they are counted in. They come from {origin}"
    )


def restated_rows(ws: Workspace, question: FunnelQuestion, result: Result, document: dict[str, Any]) -> None:
    """Add ``reached_restated`` to each row: its volume recounted under the version in force at as-of throughout
    (what finance calls the restated figure), and ``restated_version``. Rows counted by that version alone keep
    their own volume."""
    current = result.counting.current.version if result.counting is not None else result.definition_version
    document["restated_version"] = current
    counting, spec = result.counting, result.spec
    if (
        counting is None
        or counting.explicit
        or {s.version.version for s in counting.within(spec.start, spec.end)} == {current}
    ):
        for row in document["rows"]:
            row["reached_restated"] = row["reached"]
        return
    recount = question.model_copy(update={"version": current, "restated": False}).result(ws)
    keys = [*result.breakdown, *(["period"] if result.spec.period else []), "stage"]
    restated = {tuple(_plain(row[k]) for k in keys): row["reached"] for row in recount.rows()}
    for row in document["rows"]:
        row["reached_restated"] = restated.pop(tuple(row[k] for k in keys), 0)


class RevenueQuestion(_Ranged):
    """Won revenue, deal size, win rate, open pipeline and sales cycle from opportunities, by breakdown and period.

    Breakdowns use the opportunity's columns or its lead's.
    """

    kind = "revenue"
    money = True
    reads = ("opportunities", "leads")

    by: Breakdown = ()
    period: Grain | None = None

    def check(self, ws: Workspace) -> None:
        known = sorted({*ws.warehouse.columns("opportunities"), *ws.warehouse.columns("leads")})
        _known_columns("by", self.by, known)

    def result(self, ws: Workspace) -> Result:
        return ws.revenue(by=self.by, period=self.period, start=self.start, end=self.end, as_of=self.as_of)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        result = self.result(ws)
        document = result_document(result, {"as_of": json_value(result.spec.as_of)})
        return _with_unknown_open_deals(document, "open_unknown_amount_deals")


class PipelineQuestion(Question):
    """Open pipeline as of a moment: deals and amount by CRM stage and age in days.

    A deal whose stage and amount that day are unknown (its row was written by a later import) is in the stage-null
    bucket and counted in ``unknown_deals``, never valued with today's amount (docs/funnel-semantics.md). The rows
    come in pipeline order with totals (`tandem.questions.pipeline`).
    """

    kind = "pipeline"
    money = True
    reads = ("opportunities", "leads")

    by: Breakdown = ()
    as_of: Moment = None

    def check(self, ws: Workspace) -> None:
        known = sorted({*ws.warehouse.columns("opportunities"), *ws.warehouse.columns("leads")})
        _known_columns("by", self.by, known)

    def result(self, ws: Workspace) -> Result:
        return ws.pipeline(by=self.by, as_of=self.as_of)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.questions.pipeline import ordered_pipeline

        result = self.result(ws)
        document = result_document(result, {"as_of": json_value(result.spec.as_of)})
        configured = list(ws.settings.get("pipeline_stages") or [])
        return ordered_pipeline(_with_unknown_open_deals(document, "unknown_deals"), configured)


def _with_unknown_open_deals(document: dict[str, Any], column: str) -> dict[str, Any]:
    """`document` with ``unknown_open_deals``: how many of its open deals had a stage and amount not known as of
    its moment (their rows were written by a later import, `tandem.engine.known`), summed from the rows' `column`.

    Said once at the top so that a reader of the open pipeline learns what it leaves out without adding rows up.
    """
    document["unknown_open_deals"] = sum(int(row.get(column) or 0) for row in document["rows"])
    return document


class VelocityQuestion(_Ranged):
    """Days from one stage to a later one (default: the next): quantiles, mean and counts per bin of days."""

    kind = "velocity"
    reads = FUNNEL_READS

    from_stage: Annotated[str, Field(min_length=1, max_length=100)]
    to_stage: Annotated[str | None, Field(max_length=100)] = None
    by: Breakdown = ()
    period: Grain | None = None
    strict: bool = False
    version: Version = None

    @field_validator("to_stage", mode="before")
    @classmethod
    def _none_when_empty(cls, value: Any) -> Any:
        return None if value == "" else value

    def check(self, ws: Workspace) -> None:
        spec = self.spec(ws, self.version)
        _known_columns("by", self.by, ws.warehouse.columns("leads"))
        stages = spec.stages
        if self.from_stage not in stages:
            raise ConfigError(
                f"unknown stage {self.from_stage!r}; the funnel's stages are: {', '.join(stages)}",
                field="from_stage",
                value=self.from_stage,
            )
        if self.to_stage is not None and self.to_stage not in stages:
            raise ConfigError(
                f"unknown stage {self.to_stage!r}; the funnel's stages are: {', '.join(stages)}",
                field="to_stage",
                value=self.to_stage,
            )
        start = stages.index(self.from_stage)
        if self.to_stage is None and start == len(stages) - 1:
            raise ConfigError(
                f"{self.from_stage!r} is the last stage: velocity goes from a stage to a later one",
                field="from_stage",
                value=self.from_stage,
            )
        if self.to_stage is not None and stages.index(self.to_stage) <= start:
            raise ConfigError(
                f"velocity goes from a stage to a later one; {self.to_stage!r} is not after {self.from_stage!r}",
                field="to_stage",
                value=self.to_stage,
            )

    def target(self, stages: tuple[str, ...]) -> str:
        """The stage the step ends at."""
        return self.to_stage or stages[min(stages.index(self.from_stage) + 1, len(stages) - 1)]

    def result(self, ws: Workspace) -> Result:
        return ws.velocity(
            self.from_stage,
            self.to_stage,
            by=self.by,
            period=self.period,
            start=self.start,
            end=self.end,
            strict=self.strict,
            as_of=self.as_of,
            version=self.version,
        )

    def answer(self, ws: Workspace) -> dict[str, Any]:
        result = self.result(ws)
        return result_document(result, {"as_of": json_value(result.spec.as_of)})


class QualityQuestion(Question):
    """The data-quality report: each check's count, meaning, effect on the numbers and examples."""

    kind = "quality"
    reads = FUNNEL_READS

    as_of: Moment = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        report = ws.quality(as_of=self.as_of)
        document: dict[str, Any] = json.loads(json.dumps(report.to_dict(), default=_plain))
        return document


class LeadsQuestion(_Ranged):
    """Drill down: the leads that entered `stage` in the range and match the filters, newest entry first."""

    kind = "leads"
    reads = FUNNEL_READS

    stage: Annotated[str, Field(min_length=1, max_length=100)]
    where: Where = Field(default_factory=dict)
    strict: bool = False
    limit: Annotated[int | None, Field(ge=1, le=MAX_LEADS)] = 100
    version: Version = None

    def check(self, ws: Workspace) -> None:
        spec = self.spec(ws, self.version)
        if self.stage not in spec.stages:
            raise ConfigError(
                f"unknown stage {self.stage!r}; the funnel's stages are: {', '.join(spec.stages)}",
                field="stage",
                value=self.stage,
            )
        _known_columns("where", list(self.where), ws.warehouse.columns("leads"))

    def result(self, ws: Workspace, limit: int | None = None, *, everything: bool = False) -> Result:
        return ws.leads(
            self.stage,
            dict(self.where),
            start=self.start,
            end=self.end,
            strict=self.strict,
            limit=None if everything else (limit or self.limit),
            as_of=self.as_of,
            version=self.version,
        )

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return result_document(self.result(ws), {"stage": self.stage, "filters": dict(self.where)})

    def csv(self, ws: Workspace) -> str:
        """The leads as CSV: every column, text cells neutralised against spreadsheet formulas."""
        result = self.result(ws)
        stream = io.StringIO()
        write_csv(stream, result.to_arrow().column_names, result.rows())
        return stream.getvalue()

    def count(self, ws: Workspace) -> int:
        """How many leads the question has in all (a listing shows only the newest `limit`)."""
        return int(self.result(ws, everything=True).expr.count().execute())
