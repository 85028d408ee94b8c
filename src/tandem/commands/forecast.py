"""``tandem forecast``: the period's revenue as a range against the goal, where it comes from and what changed
since a week earlier; ``tandem forecast backtest``: how the forecast did on past periods (tandem.forecast.service);
``tandem forecast warnings``: the early warnings (tandem.commands.warnings, docs/early-warnings.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

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
from tandem.commands.warnings import warnings as warnings_command
from tandem.exports import format_number
from tandem.money import format_amount

__all__ = ["forecast_app"]

forecast_app = typer.Typer(
    help="The period's revenue as a range against the goal, where it comes from, and how well it forecasts.",
    invoke_without_command=True,
)

PeriodOption = Annotated[
    str | None,
    typer.Option("--period", metavar="PERIOD", help="2027, 2027-Q1 or 2027-01 (default: the current quarter)."),
]
SimulationsOption = Annotated[
    int | None,
    typer.Option(
        "--simulations",
        metavar="N",
        help="Simulated outcomes behind the range (1,000 to 50,000; a backtest's forecasts: 100 to 50,000).",
    ),
]
SeedOption = Annotated[
    int,
    typer.Option(
        "--seed",
        metavar="SEED",
        help="Seed of the simulations (the same seed, the same answer).",
    ),
]


class BacktestKind(StrEnum):
    """The periods the backtest forecasts again."""

    quarter = "quarter"
    month = "month"


KindOption = Annotated[BacktestKind, typer.Option("--kind", help="The periods to forecast again.")]

METHOD_LABELS = {"tandem": "tandem (P50)", "weighted_pipeline": "weighted pipeline", "run_rate": "run rate"}


def _money(value: float | None) -> str:
    return format_number(value, "money")


def _signed(value: float) -> str:
    """A change of an amount: ``+$1,200``, ``-$138,057`` (the workspace's currency)."""
    shown = format_number(value, "money")
    return shown if shown.startswith("-") else "+" + shown


@forecast_app.callback()
def forecast(
    ctx: typer.Context,
    period: PeriodOption = None,
    as_of: AsOfOption = None,
    simulations: SimulationsOption = None,
    seed: SeedOption = 0,
    plan: Annotated[
        int | None,
        typer.Option("--plan", min=1, metavar="N", help="The forecast as if plan N's version were its baseline."),
    ] = None,
    plan_version: Annotated[
        int | None,
        typer.Option("--plan-version", min=1, metavar="V", help="That plan's version (default: its latest)."),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """The forecast of a period (default: this quarter): its revenue as a P10-P50-P90 range, the chance of the
    goal, where it comes from (won, open deals, leads in flight, new volume), the weighted-pipeline and run-rate
    baselines, and what changed since the forecast a week earlier. With --plan: the plan's period, as if that
    version were accepted (what a sales leader reads before accepting it)."""
    if ctx.invoked_subcommand is not None:
        return
    from tandem.questions import ForecastQuestion, ask

    question = ForecastQuestion.parse(
        period=period,
        as_of=as_of,
        seed=seed,
        plan=plan,
        plan_version=plan_version,
        **({} if simulations is None else {"simulations": simulations}),
    )
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    show_forecast(document)


def show_forecast(document: dict[str, Any]) -> None:
    """The forecast for people: the sentence, the cautions, the sources, the baselines and what changed."""
    out.print(escape(document["summary"]), highlight=False)
    for caution in document["cautions"]:
        out.print(f"Caution: {escape(caution)}", highlight=False)
    if document["unknown_deals"]:
        out.print(
            f"{document['unknown_deals']:,} deals open then had their row rewritten since: their stage, amount and "
            "close date then are unknown, and are estimated, not read from today",
            highlight=False,
        )
    if document["calibration"] is not None:
        out.print(f"Median and range {escape(document['calibration']['basis'])}", highlight=False)
    label = document["period"]["label"]
    goal = document["goal"]
    if goal is None:
        out.print(f"No goal for {label}: {escape(document['goal_explanation'])}", highlight=False)
    else:
        out.print(
            f"Goal {format_amount(goal)} ({escape(document['goal_explanation'])}); chance of reaching it: "
            f"{format_number(document['chance_of_goal'], 'pct')}",
            highlight=False,
        )
    out.print(
        f"As of {document['as_of']}, {document['days_left']} days left; {document['simulations']:,} simulations, "
        f"seed {document['seed']}; {escape(document['arrivals_basis'])}",
        highlight=False,
    )
    sources = RichTable(
        "source", "stage", "count", "expected deals", "expected revenue", title=f"where {label}'s revenue comes from"
    )
    for row in document["sources"]:
        adjustment = row["source"] == "backtest calibration"  # no deals of its own: the calibrated mean's difference
        sources.add_row(
            escape(row["source"]),
            escape(row["stage"]),
            "" if adjustment else f"{row['count']:,}",
            "" if adjustment else format_number(row["expected_deals"], "int" if row["source"] == "won" else "expected"),
            _signed(row["expected_revenue"]) if adjustment else _money(row["expected_revenue"]),
        )
    sources.add_row("total", "", "", "", _money(document["expected"]), style="bold")
    out.print(sources, highlight=False)

    methods = RichTable("method", "forecast", "P10", "P90", title="the forecast beside the baselines")
    methods.add_row("tandem (P50)", _money(document["p50"]), _money(document["p10"]), _money(document["p90"]))
    methods.add_row("tandem (mean)", _money(document["expected"]), "", "")
    methods.add_row("weighted pipeline", _money(document["baselines"]["weighted_pipeline"]), "", "")
    methods.add_row("run rate", _money(document["baselines"]["run_rate"]), "", "")
    out.print(methods, highlight=False)
    pipeline = document["weighted_pipeline"]
    line = (
        f"weighted pipeline: {pipeline['counted']:,} open deals due in {label}; probabilities: "
        f"{escape(pipeline['probabilities']['basis'])}"
    )
    if pipeline["overdue"]:
        line += (
            f"; {pipeline['overdue']:,} overdue deals ({_money(pipeline['overdue_amount'])}) with a close date in an "
            "earlier period not counted"
        )
    if pipeline["estimated_close"]:
        line += f"; {pipeline['estimated_close']:,} close dates not known then, estimated"
    out.print(line, highlight=False)
    if pipeline["caution"]:
        out.print(f"Caution (weighted pipeline): {escape(pipeline['caution'])}", highlight=False)

    previous = document["previous"]
    if previous is None:
        return
    changes = RichTable(
        "source", "stage", "before", "now", "change", title=f"what changed since the forecast of {previous['as_of']}"
    )
    for row in document["changes"]:
        changes.add_row(
            escape(row["source"]), escape(row["stage"]), _money(row["before"]), _money(row["after"]),
            _signed(row["delta"]),
        )  # fmt: skip
    out.print(changes, highlight=False)
    line = f"P50 {_money(previous['p50'])} -> {_money(document['p50'])} ({_signed(document['p50'] - previous['p50'])})"
    if previous["chance_of_goal"] is not None and document["chance_of_goal"] is not None:
        line += (
            f"; chance of the goal {format_number(previous['chance_of_goal'], 'pct')} -> "
            f"{format_number(document['chance_of_goal'], 'pct')}"
        )
    out.print(line, highlight=False)


@forecast_app.command("backtest")
def forecast_backtest(
    kind: KindOption = BacktestKind.quarter,
    as_of: AsOfOption = None,
    simulations: SimulationsOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """How the forecast did: every past period forecast from its first day and every week in it with only what was
    known then, against what it won; MAPE, bias and P10-P90 coverage beside the weighted pipeline and run rate."""
    from tandem.questions import BacktestQuestion, ask

    question = BacktestQuestion.parse(
        period_kind=kind.value, as_of=as_of, **({} if simulations is None else {"simulations": simulations})
    )
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    show_backtest(document)


def _pct(value: float | None) -> str:
    return format_number(value, "pct")


def show_backtest(document: dict[str, Any]) -> None:
    """The backtest for people: the scores overall and by stretch, then one row per period."""
    periods = document["periods"]
    if not periods:
        out.print(f"No past {document['kind']} to test yet: {escape(document['entry_rule'])}.", highlight=False)
        return
    skipped = f", {document['skipped_empty']} that won nothing left out" if document["skipped_empty"] else ""
    out.print(
        f"Backtest of {len(periods)} {document['kind']}s ({periods[0]} to {periods[-1]}{skipped}); "
        f"{document['simulations']:,} simulations a forecast",
        highlight=False,
    )
    stretches: list[tuple[str, list[dict[str, Any]]]] = [("every forecast", document["scores"])]
    stretches += list(document["scores_by_stretch"].items())
    for name, scores in stretches:
        table = RichTable(
            "method", "forecasts", "MAPE %", "bias %", "P10-P90 coverage %", "width", title=f"scores: {name}"
        )
        for score in scores:
            table.add_row(
                METHOD_LABELS.get(score["method"], score["method"]),
                f"{score['forecasts']:,}",
                _pct(score["mape"]),
                _pct(score["bias"]),
                _pct(score["coverage"]),
                _pct(score["width"]),
            )
        out.print(table, highlight=False)
    out.print("width: the mean P10-P90 range as a share of the actual", highlight=False)
    out.print(f"Tested: {escape(document['entry_rule'])}", highlight=False)
    for name, target in document["targets"].items():
        if target["met"] is None:
            continue
        if name == "coverage":
            text = f"P10-P90 coverage {_pct(target['value'])} (target {_pct(target['low'])}-{_pct(target['high'])})"
        else:
            text = (
                f"{name}: tandem's MAPE {_pct(target['tandem'])}, the better baseline's {_pct(target['best_baseline'])}"
            )
        out.print(f"{text}: {'target met' if target['met'] else 'target NOT met'}", highlight=False)
    rows = RichTable(
        "period",
        "actual",
        "tandem P50 at the start",
        "P10-P90 at the start",
        "weighted pipeline at the start",
        "covered",
        title="per period",
    )
    for period in periods:
        points = [p for p in document["points"] if p["period"] == period]
        if not points:
            continue
        first = min(points, key=lambda p: p["week"])
        covered = sum(1 for p in points if p["covered"])
        rows.add_row(
            period,
            _money(first["actual"]),
            _money(first["p50"]),
            f"{_money(first['p10'])} - {_money(first['p90'])}",
            _money(first["weighted_pipeline"]),
            f"{covered} of {len(points)}",
        )
    out.print(rows, highlight=False)


forecast_app.command("warnings")(warnings_command)
