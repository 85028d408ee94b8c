"""The numbers: ``tandem funnel``, ``revenue``, ``pipeline``, ``velocity``, ``quality`` and ``leads``.

Each prints one `tandem.engine.Result` as a readable table of its main columns, or every column as JSON or CSV.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table as RichTable

from tandem.commands.common import (
    AsOfOption,
    ByOption,
    Format,
    FormatOption,
    FromOption,
    PeriodOption,
    ResultFormatOption,
    StrictOption,
    TableFormat,
    ToOption,
    VersionOption,
    WorkspaceOption,
    counted_under,
    err,
    open_workspace,
    out,
    print_json,
)
from tandem.exports import format_number, json_value, write_csv

if TYPE_CHECKING:
    from tandem.engine import Result
    from tandem.questions import (
        FunnelQuestion,
        LeadsQuestion,
        PipelineQuestion,
        RevenueQuestion,
        VelocityQuestion,
    )

    EngineQuestion = FunnelQuestion | RevenueQuestion | PipelineQuestion | VelocityQuestion | LeadsQuestion
    from tandem.workspace import Workspace

__all__ = ["funnel", "leads", "pipeline", "quality", "revenue", "velocity"]

#: Column -> (header, style) of the readable tables; JSON and CSV carry every column under its own name.
HEADERS: dict[str, tuple[str, str]] = {
    "period": ("period", "period"),
    "stage": ("stage", "text"),
    "reached": ("reached", "int"),
    "conversion_from_previous": ("conversion", "pct"),
    "km_conversion_from_previous": ("conversion (KM)", "pct"),
    "still_open_from_previous": ("still open", "int"),
    "period_conversion_from_previous": ("period view", "pct"),
    "median_days_from_previous": ("median days", "days"),
    "versions": ("counted under", "text"),
    "reached_restated": ("restated", "int"),
    "won_revenue": ("won revenue", "money"),
    "won_deals": ("won", "int"),
    "lost_deals": ("lost", "int"),
    "average_deal_size": ("avg deal", "money"),
    "win_rate": ("win rate", "pct"),
    "open_pipeline": ("open pipeline", "money"),
    "median_sales_cycle_days": ("median cycle days", "days"),
    "leads": ("leads", "int"),
    "median_days": ("median days", "days"),
    "p25_days": ("p25", "days"),
    "p75_days": ("p75", "days"),
    "mean_days": ("mean", "days"),
    "age_bin": ("age (days)", "text"),
    "deals": ("deals", "int"),
    "amount": ("amount", "money"),
    "unknown_deals": ("stage & amount unknown", "int"),
}


def emit(
    ws: Workspace,
    question: EngineQuestion,
    format: TableFormat,
    columns: Sequence[str],
    title: str = "",
    prefix: str | None = None,
) -> None:
    """Print the question's answer: its document as JSON, every column as CSV, or a readable table of `columns`
    (and of the columns whose names start with `prefix`, when given)."""
    from tandem.questions import ask

    if format is TableFormat.csv:
        question.check(ws)
        result = question.result(ws)
        names = result.to_arrow().column_names
        # The pipeline's rows in pipeline order, as its table lists them; the others as the engine gives them.
        rows = ask(ws, question)["rows"] if question.kind == "pipeline" else result.rows()
        if any(HEADERS.get(c, (c, ""))[1] == "money" for c in names):  # amounts name their currency on every row
            currency = str(ws.settings["currency"])
            write_csv(sys.stdout, [*names, "currency"], ({**row, "currency": currency} for row in rows))
        else:
            write_csv(sys.stdout, names, rows)
        return
    document = ask(ws, question)
    if format is TableFormat.json:
        print_json(document)
        return
    by = list(getattr(question, "by", ()))
    breakdown = document.get("breakdown", by)  # as the rows name them: `by_stage` for an attribute named `stage`
    groups = set(breakdown)
    columns = [*breakdown, *columns[len(by) :]]  # every caller lists the breakdown first
    names = list(document["rows"][0]) if document["rows"] else list(columns)
    shown = [c for c in columns if c in names]
    shown += [c for c in names if prefix is not None and c.startswith(prefix) and c not in shown]
    heading = f"{title + ' · ' if title else ''}{counted_under(document)} · {document['backend']}"
    table = RichTable(*(HEADERS.get(c, (c, ""))[0] for c in shown), title=heading)
    styles = ["group" if c in groups else HEADERS.get(c, (c, "text"))[1] for c in shown]
    if "stage_order" in document:  # the pipeline: a deal whose stage is not known, said so; a subtotal per stage
        styles = ["unknown stage" if c == "stage" else style for c, style in zip(shown, styles, strict=True)]
    for row, subtotal in _with_subtotals(document, breakdown):
        table.add_row(
            *(_cell(row.get(c), style, row) for c, style in zip(shown, styles, strict=True)),
            style="bold" if subtotal else None,
        )
    if isinstance(document.get("total"), dict) and shown:  # a document with totals (the pipeline): its total row
        total = document["total"]
        cells = [_cell(total.get(c), HEADERS.get(c, (c, "text"))[1]) if c in total else "" for c in shown]
        table.add_section()
        table.add_row("total", *cells[1:])
    out.print(table)
    if document.get("stage_order_from"):
        out.print(f"stages in pipeline order, from {document['stage_order_from']}", highlight=False, markup=False)
    if "stage_order" in document:  # the pipeline (its module reads the engine's age bins: imported only for it)
        from tandem.questions.pipeline import order_advice

        if advice := order_advice(document):
            out.print(advice, highlight=False, markup=False)
    if note := unknown_note(document):
        out.print(note, highlight=False)
    for caution in document.get("cautions") or []:  # the funnel's entries with no date of their own
        out.print(caution, highlight=False, markup=False)


def _with_subtotals(document: dict[str, Any], breakdown: Sequence[str]) -> list[tuple[dict[str, Any], bool]]:
    """The document's rows, each with whether it is a subtotal: after the rows of a stage in more than one age bin
    (the pipeline), that stage's total (``stage_totals``, its ``age_bin`` cell reading ``subtotal``)."""
    rows: list[dict[str, Any]] = document["rows"]
    if "stage_totals" not in document:
        return [(row, False) for row in rows]

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (*(row.get(c) for c in breakdown), row.get("stage"))

    totals = {key(total): total for total in document["stage_totals"]}
    shown: list[tuple[dict[str, Any], bool]] = []
    for i, row in enumerate(rows):
        shown.append((row, False))
        last = i + 1 == len(rows) or key(rows[i + 1]) != key(row)
        if last and i > 0 and key(rows[i - 1]) == key(row):
            shown.append(({**totals[key(row)], "age_bin": "subtotal"}, True))
    return shown


def unknown_note(document: dict[str, Any]) -> str | None:
    """The footnote of an as-of view that left open deals unvalued (``unknown_open_deals``), else None."""
    unknown = int(document.get("unknown_open_deals") or 0)
    if not unknown:
        return None
    day = str(document.get("as_of") or "")[:10]
    deals = "deal" if unknown == 1 else "deals"
    return (
        f"{unknown:,} open {deals} as of {day}: stage and amount not known then (written by a later import), "
        "so not counted in open pipeline; see docs/funnel-semantics.md, 'As of a past day'"
    )


def _cell(value: Any, style: str, row: dict[str, Any] | None = None) -> str:
    if value is None:
        return {"group": "(missing)", "unknown stage": "(stage unknown)"}.get(style, "")
    if style == "period":  # as people say it (``2026-Q1``), the document's label of the row's ISO day
        return str((row or {}).get("period_label") or json_value(value))
    if style in ("pct", "days", "int", "money"):
        return format_number(value, style)
    if isinstance(value, list):
        return ", ".join(f"v{v}" for v in value)
    return str(json_value(value))


def _stage_rules(ws: Workspace, version: int) -> list[str]:
    """One line per stage of `version`: its rule, or that only its stage events count."""
    stages = ws.definitions.version(version).definitions.stages
    return [f"  {stage.name}: {stage.rule or '(stage events only)'}" for stage in stages]


def _explain(result: Result, lines: list[str]) -> None:
    err.print("\n".join(lines), highlight=False)
    out.print(result.sql, highlight=False)


def funnel(
    by: ByOption = None,
    period: PeriodOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    strict: StrictOption = False,
    window: Annotated[
        int | None, typer.Option("--window", metavar="DAYS", help="Count a conversion only within N days.")
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon", metavar="DAYS", help="Days for 'still open' and the Kaplan-Meier estimate (default 90)."
        ),
    ] = None,
    as_of: AsOfOption = None,
    definitions_version: VersionOption = None,
    restated: Annotated[
        bool,
        typer.Option(
            "--restated",
            help="Beside each volume, the same volume recounted under the version in force at --as-of throughout.",
        ),
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the rules applied and the SQL, not the numbers.")
    ] = False,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Volumes, conversion and velocity per stage, by breakdown and period."""
    from tandem.questions import FunnelQuestion

    question = FunnelQuestion.parse(
        by=by,
        period=period.value if period else None,
        start=from_,
        end=to,
        strict=strict,
        window_days=window,
        horizon_days=horizon,
        as_of=as_of,
        version=definitions_version,
        restated=restated,
    )
    with open_workspace(workspace) as ws:
        if explain:
            question.check(ws)
            result = question.result(ws)
            spec = result.spec
            _explain(
                result,
                [
                    f"definition version {result.definition_version}: {' -> '.join(spec.stages)}",
                    "a lead reaches a stage by its stage event or at the first moment it meets the stage's rule:",
                    *_stage_rules(ws, result.definition_version),
                    "mode: "
                    + (
                        "strict (stages passed in order)"
                        if strict
                        else "cumulative (a later stage implies the earlier)"
                    ),
                    "cohort view: of the leads that first entered a stage, the share that reached the next"
                    + (f" within {window} days" if window else ""),
                    f"still open / Kaplan-Meier horizon: {spec.horizon} days; as of {spec.as_of:%Y-%m-%d %H:%M} UTC",
                    "rules: docs/funnel-semantics.md; the query follows on stdout",
                ],
            )
            return
        columns = [
            *question.by,
            "period",
            "stage",
            "versions",
            "reached",
            "reached_restated",
            "conversion_from_previous",
            "km_conversion_from_previous",
            "still_open_from_previous",
            "period_conversion_from_previous",
            "median_days_from_previous",
        ]
        emit(ws, question, format, columns)


def revenue(
    by: ByOption = None,
    period: PeriodOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Won revenue, deal size, win rate, open pipeline and sales cycle, from opportunities."""
    from tandem.questions import RevenueQuestion

    question = RevenueQuestion.parse(by=by, period=period.value if period else None, start=from_, end=to, as_of=as_of)
    columns = [
        *question.by,
        "period",
        "won_revenue",
        "won_deals",
        "lost_deals",
        "average_deal_size",
        "win_rate",
        "open_pipeline",
        "median_sales_cycle_days",
    ]
    with open_workspace(workspace) as ws:
        emit(ws, question, format, columns)


def pipeline(
    by: ByOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Open pipeline as of now (or --as-of): deals and amount by CRM stage (in pipeline order) and age in days,
    with a subtotal per stage and a total row.

    Stages come in the order of the pipeline_stages setting, else of HubSpot's default sales pipeline or
    Salesforce's standard stages when the deals carry them, else of their open deals' age (docs/funnel-semantics.md,
    "Pipeline order").
    """
    from tandem.questions import PipelineQuestion

    question = PipelineQuestion.parse(by=by, as_of=as_of)
    with open_workspace(workspace) as ws:
        emit(ws, question, format, [*question.by, "stage", "age_bin", "deals", "amount", "unknown_deals"])


def velocity(
    from_stage: Annotated[str, typer.Argument(metavar="FROM_STAGE", help="Stage the step starts at.")],
    to_stage: Annotated[
        str | None, typer.Argument(metavar="TO_STAGE", help="Stage it ends at (default: the next one).")
    ] = None,
    by: ByOption = None,
    period: PeriodOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    strict: StrictOption = False,
    as_of: AsOfOption = None,
    definitions_version: VersionOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Days from one stage to a later one: quantiles and a distribution in bins (to the last stage: the sales cycle)."""
    from tandem.questions import VelocityQuestion

    question = VelocityQuestion.parse(
        from_stage=from_stage,
        to_stage=to_stage,
        by=by,
        period=period.value if period else None,
        start=from_,
        end=to,
        strict=strict,
        as_of=as_of,
        version=definitions_version,
    )
    with open_workspace(workspace) as ws:
        question.check(ws)
        stages = question.spec(ws, definitions_version).stages
        columns = [*question.by, "period", "leads", "median_days", "p25_days", "p75_days", "mean_days"]
        emit(ws, question, format, columns, title=f"{from_stage} -> {question.target(stages)}", prefix="days_")


def quality(
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Data-quality report: out-of-order events, re-entries, unknown leads, negative durations, skipped stages."""
    from tandem.questions import QualityQuestion, ask

    question = QualityQuestion.parse(as_of=as_of)
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    table = RichTable("check", "count", "what it means", "where it changes a number")
    for check in document["checks"]:
        table.add_row(check["check"], f"{check['count']:,}", check["meaning"], check["effect"])
    out.print(table)
    volumes = RichTable("stage", "cumulative", "strict", "dropped by strict", title="strict against cumulative")
    for row in document["strict_vs_cumulative"]:
        volumes.add_row(row["stage"], f"{row['cumulative']:,}", f"{row['strict']:,}", f"{row['dropped_by_strict']:,}")
    out.print(volumes)
    for check in document["checks"]:
        if check["examples"]:
            out.print(
                f"[bold]{check['check']}[/], e.g.: "
                + "; ".join(
                    ", ".join(f"{k}={json_value(v)}" for k, v in example.items() if v is not None)
                    for example in check["examples"][:3]
                ),
                highlight=False,
            )


def leads(
    stage: Annotated[str, typer.Option("--stage", metavar="STAGE", help="The stage whose leads to list.")],
    where: Annotated[
        list[str] | None,
        typer.Option("--by", metavar="COL=VALUE", help="Filter COL=VALUE (repeatable; COL= for a missing value)."),
    ] = None,
    from_: FromOption = None,
    to: ToOption = None,
    strict: StrictOption = False,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most this many leads, newest entry first.")
    ] = 100,
    as_of: AsOfOption = None,
    definitions_version: VersionOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Drill down: the leads behind a funnel number."""
    from tandem.questions import LeadsQuestion

    question = LeadsQuestion.parse(
        stage=stage,
        where=where,
        start=from_,
        end=to,
        strict=strict,
        limit=limit,
        as_of=as_of,
        version=definitions_version,
    )
    columns = ["lead_id", "created_at", *question.where, "channel", "owner", "entered", "next_stage_entered"]
    with open_workspace(workspace) as ws:
        emit(ws, question, format, columns)
