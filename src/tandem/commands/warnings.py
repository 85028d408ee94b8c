"""``tandem forecast warnings``: the early warnings for a period (docs/early-warnings.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    AsOfOption,
    Format,
    FormatOption,
    WorkspaceOption,
    open_workspace,
    out,
    print_json,
)
from tandem.exports import format_number
from tandem.money import format_amount

if TYPE_CHECKING:
    from tandem.forecast.warnings import EarlyWarnings

__all__ = ["warnings"]

PeriodArgument = Annotated[
    str | None,
    typer.Option("--period", metavar="PERIOD", help="2027, 2027-Q1 or 2027-01 (default: the current quarter)."),
]


def warnings(
    period: PeriodArgument = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Early warnings: each stage's pace week by week, today's shortfalls as next period's revenue gaps, the
    bottleneck stage and the last day extra top-of-funnel volume can still close in the period."""
    from tandem.questions import WarningsQuestion, ask

    question = WarningsQuestion.parse(period=period, as_of=as_of)
    with open_workspace(workspace) as ws:
        if format is Format.json:
            print_json(ask(ws, question))
            return
        found = question.compute(ws)  # the objects the table reads
    show(found)


def show(found: EarlyWarnings) -> None:
    """The warnings for people: the weekly table, the gaps in sentences, the bottleneck, the last day."""
    out.print(
        f"[bold]{found.period.label}[/] as of {found.as_of:%Y-%m-%d %H:%M} UTC against {escape(found.basis)} · "
        f"definition version {found.definition_version}",
        highlight=False,
    )
    weekly = RichTable(
        "week",
        "days",
        *(f"{s.stage}\nactual / planned · pace" for s in found.stages),
        title="pace week by week (pace: actual / due, from the period's start)",
    )
    for i, week in enumerate(found.stages[0].weeks if found.stages else []):
        cells = []
        for s in found.stages:
            row = s.weeks[i]
            actual = "-" if row.actual is None else f"{row.actual:,}"
            pace = "" if row.pace is None else f" · {format_number(row.pace, 'pct')}"
            cells.append(f"{actual} / {format_number(row.planned, 'expected')}{pace}")
        weekly.add_row(week.week, f"{week.start:%m-%d}..{week.end:%m-%d}", *cells)
    out.print(weekly, highlight=False)

    summary = RichTable(
        "stage", "due to date", "actual", "shortfall", "pace", "vs the stage above", title="the period so far"
    )
    for s in found.stages:
        summary.add_row(
            s.stage,
            format_number(s.expected, "expected"),
            f"{s.actual:,}",
            format_number(s.shortfall, "expected"),
            format_number(s.pace, "pct"),
            format_number(s.relative_pace, "pct"),
        )
    out.print(summary, highlight=False)

    if found.gaps:
        gaps = RichTable(
            "stage",
            "shortfall of",
            "entries",
            "won deals lost",
            f"gap {found.period.label}",
            f"gap {found.next_period.label}",
            "gap later",
            title="shortfalls carried into revenue (each stage's own reading: do not add stages up)",
        )
        for gap in found.gaps:
            gaps.add_row(
                gap.stage,
                "this month" if gap.scope == "month" else "the period so far",
                format_number(gap.shortfall, "expected"),
                f"{gap.lost_deals:,.2f}",
                format_amount(float(round(gap.this_period))),
                format_amount(float(round(gap.next_period))),
                format_amount(float(round(gap.later))),
            )
        out.print(gaps, highlight=False)
        for gap in found.gaps:
            out.print(f"- {escape(gap.message)}", highlight=False)
    else:
        out.print("No stage is behind plan: no revenue gap to carry forward.", highlight=False)
    if found.bottleneck is not None:
        out.print(f"Bottleneck: {escape(found.bottleneck.reason)}", highlight=False)
    else:
        out.print("Bottleneck: none (no stage behind plan, with enough due to judge, converts below plan)")
    last = found.last_date
    out.print(f"Last day: {escape(last.message)}", highlight=False)
    levels = found.service_levels
    if levels is not None and "error" in levels:
        out.print(f"Note: {escape(levels['error'])}", highlight=False)
    elif levels is not None:
        worst = ", ".join(f"{escape(str(r['rep']))} {r['breaches']:,}" for r in levels["most_breaches"])
        out.print(
            f"Handoff: {escape(levels['message'])}"
            + (f" Most breaches: {worst}." if worst else "")
            + " See `tandem sla report`.",
            highlight=False,
        )
    for note in found.notes:
        out.print(f"Note: {escape(note)}", highlight=False)
