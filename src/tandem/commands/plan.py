"""``tandem plan``: the reverse waterfall (what each stage must deliver, and when, for the goal), scenarios and
pacing; then the marketing plan as a proposal that sales leaders accept.

Whoever proposes, reviews or decides a plan signs in as themselves, like the definitions commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    AsOfOption,
    AsOption,
    Format,
    FormatOption,
    PasswordStdinOption,
    WorkspaceOption,
    err,
    moment,
    open_workspace,
    out,
    print_json,
    sign_in,
    when,
)
from tandem.errors import ConfigError, TandemError
from tandem.exports import format_number
from tandem.money import format_amount

if TYPE_CHECKING:
    from tandem.plan.proposals import PlanInfo, PlanVersionInfo
    from tandem.plan.waterfall import Waterfall
    from tandem.workspace import Workspace

__all__ = ["plan_app"]

plan_app = typer.Typer(
    help="The revenue plan: what each stage must deliver, and when, for the goal.", no_args_is_help=True
)


def _optional_workspace(workspace: Path | None, use_history: bool) -> Workspace | None:
    """The workspace to take history and goals from: the one named, else $TANDEM_WORKSPACE or the current folder
    when it is one; None for the calculator without data (or with --no-history)."""
    from tandem.workspace import CONFIG_FILE, resolve_path

    if not use_history:
        return None
    if workspace is None and not (resolve_path(None) / CONFIG_FILE).exists():
        return None
    return open_workspace(workspace)


RevenueOption = Annotated[
    str | None,
    typer.Option("--revenue", metavar="R", help="Revenue for the period: 10M, 2.5M, 750k (default: its goal)."),
]
DealSizeOption = Annotated[
    str | None, typer.Option("--deal-size", metavar="D", help="Mean won amount (default: from history).")
]
RateOption = Annotated[
    list[str] | None,
    typer.Option(
        "--rate",
        metavar="FROM:TO=R",
        help="A step's conversion: 0.4, 40% or counts 120/400 (repeatable).",
    ),
]
LagOption = Annotated[
    list[str] | None,
    typer.Option("--lag", metavar="FROM:TO=DAYS", help="Days from a stage to the next: 45, 2w or 3m (repeatable)."),
]
ChannelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        metavar="NAME=SHARE[@COST_PER_LEAD]",
        help="The channel mix for the budget (repeatable).",
    ),
]
PlanPeriodOption = Annotated[
    str | None, typer.Option("--period", metavar="PERIOD", help="2027, 2027-Q1 or 2027-01 (default: next quarter).")
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option("--where", metavar="COL=VALUE", help="A model of these leads only (repeatable)."),
]
LookbackOption = Annotated[
    int | None, typer.Option("--lookback", min=30, metavar="DAYS", help="Days of history (365).")
]
HorizonOption = Annotated[
    int | None, typer.Option("--horizon", min=7, metavar="DAYS", help="Days a cohort has to convert (180).")
]
HistoryOption = Annotated[
    bool, typer.Option("--history/--no-history", help="Fill in from the workspace's history and goal.")
]
SeedOption = Annotated[int, typer.Option("--seed", metavar="SEED", help="Seed of the draws behind the ranges.")]


@dataclass
class _PlanQuestion:
    """The plan commands' shared options, parsed: what the base model and the goal rest on."""

    given: Any
    period: Any
    revenue: float | None
    channels: list[Any]
    moment: datetime | None
    where: dict[str, str]

    def inputs(self, ws: Workspace | None, lookback: int | None, horizon: int | None) -> Any:
        from tandem.plan.calculator import plan_inputs

        return plan_inputs(
            self.given,
            ws,
            period=self.period,
            revenue=self.revenue,
            costs=self.channels,
            as_of=self.moment,
            lookback_days=lookback,
            horizon_days=horizon,
            where=self.where,
        )


def _plan_question(
    revenue: str | None,
    deal_size: str | None,
    rate: list[str] | None,
    lag: list[str] | None,
    channel: list[str] | None,
    period: str | None,
    where: list[str] | None,
    as_of: str | None,
) -> _PlanQuestion:
    from tandem.plan.calculator import Given, next_quarter, parse_channel, parse_lag, parse_rate
    from tandem.plan.goals import parse_amount, parse_period

    at = moment(as_of)
    filters = dict(item.split("=", 1) for item in where or [] if "=" in item)
    if len(filters) != len(where or []):
        raise typer.BadParameter("is not COL=VALUE", param_hint="--where")
    return _PlanQuestion(
        given=Given(
            rates=dict(parse_rate(text) for text in rate or []),
            lags=dict(parse_lag(text) for text in lag or []),
            deal_size=float(parse_amount(deal_size)) if deal_size else None,
        ),
        period=parse_period(period) if period else next_quarter((at or datetime.now()).date()),
        revenue=float(parse_amount(revenue)) if revenue else None,
        channels=[parse_channel(text) for text in channel or []],
        moment=at,
        where=filters,
    )


@plan_app.command("waterfall")
def plan_waterfall(
    revenue: RevenueOption = None,
    deal_size: DealSizeOption = None,
    rate: RateOption = None,
    lag: LagOption = None,
    channel: ChannelOption = None,
    period: PlanPeriodOption = None,
    where: WhereOption = None,
    lookback: LookbackOption = None,
    horizon: HorizonOption = None,
    history: HistoryOption = True,
    seed: SeedOption = 0,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """What do we need? The volume each stage must reach per month, with a range, for a revenue goal.

    Works from hand-given numbers before any data is imported; in a workspace, what is not given comes from its
    history (rates, lag distributions, deal size, channel mix and cost per lead) and the revenue from its goal.
    """
    from tandem.plan.waterfall import reverse_waterfall

    question = _plan_question(revenue, deal_size, rate, lag, channel, period, where, as_of)
    ws = _optional_workspace(workspace, history)
    try:
        inputs = question.inputs(ws, lookback, horizon)
    finally:
        if ws is not None:
            ws.close()
    plan = reverse_waterfall(
        inputs.model, inputs.goal_by_month, period_end=inputs.period_end, costs=inputs.costs, seed=seed
    )
    if format is Format.json:
        document = plan.as_dict()
        document["period"]["label"] = question.period.label
        print_json(document)
        return
    _show_waterfall(question.period.label, plan)


@plan_app.command("scenarios")
def plan_scenarios(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The scenarios (YAML): name and what each changes.")],
    revenue: RevenueOption = None,
    deal_size: DealSizeOption = None,
    rate: RateOption = None,
    lag: LagOption = None,
    channel: ChannelOption = None,
    period: PlanPeriodOption = None,
    where: WhereOption = None,
    lookback: LookbackOption = None,
    horizon: HorizonOption = None,
    history: HistoryOption = True,
    seed: SeedOption = 0,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Named what-ifs side by side with the base plan: what each stage needs, the budget that takes, and what a
    given budget brings. The base takes the same options as `tandem plan waterfall`."""
    from tandem.plan.scenarios import compare, load_scenarios

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from None
    scenarios = load_scenarios(text, str(file))
    question = _plan_question(revenue, deal_size, rate, lag, channel, period, where, as_of)
    ws = _optional_workspace(workspace, history)
    try:
        inputs = question.inputs(ws, lookback, horizon)
    finally:
        if ws is not None:
            ws.close()
    outcomes = compare(
        inputs.model, scenarios, inputs.goal_by_month, period_end=inputs.period_end, costs=inputs.costs, seed=seed
    )
    if format is Format.json:
        print_json({"period": question.period.label, "scenarios": [o.as_dict() for o in outcomes]})
        return
    table = RichTable("", *(o.name for o in outcomes), title=f"scenarios for {question.period.label}")
    table.add_row("changes", *(escape(o.describe) for o in outcomes))
    table.add_row("deal size", *(f"{o.waterfall.model.deal_size:,.0f}" for o in outcomes))
    table.add_row("deals", *(f"{o.waterfall.deals:,.1f}" for o in outcomes))
    for k, stage in enumerate(inputs.model.stages):
        table.add_row(f"{stage} needed", *(f"{o.waterfall.totals[k].required:,.0f}" for o in outcomes))
    table.add_row("budget needed", *(format_number(o.budget_needed, "money") for o in outcomes))
    table.add_row("budget given", *(format_number(o.budget, "money") for o in outcomes))
    table.add_row("revenue from it", *(format_number(o.revenue_from_budget, "money") for o in outcomes))
    table.add_row("share of goal", *(format_number(o.goal_share, "pct") for o in outcomes))
    out.print(table, highlight=False)


@plan_app.command("pacing")
def plan_pacing(
    period: Annotated[
        str | None,
        typer.Option("--period", metavar="PERIOD", help="2027, 2027-Q1 or 2027-01 (default: the current quarter)."),
    ] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Plan against actual: each stage's entries so far against where the accepted plan (or, without one, the
    goal's requirement) says it should be today, with its pace and where that pace ends the period."""
    from tandem.plan.goals import current_quarter, parse_period
    from tandem.plan.pacing import period_pacing

    at = moment(as_of)
    chosen = parse_period(period) if period else current_quarter(at.date() if at else None)
    with open_workspace(workspace) as ws:
        paced = period_pacing(ws, chosen, as_of=at)
    if format is Format.json:
        print_json({"period": chosen.label, **paced.as_dict()})
        return
    table = RichTable(
        "stage", "planned", "due by today", "actual", "gap", "pace", "projected",
        title=f"{chosen.label} as of {paced.as_of:%Y-%m-%d %H:%M} UTC ({paced.elapsed:.0%} of the period) against "
        f"{paced.basis} · definition version {paced.definition_version}",
    )  # fmt: skip
    for stage in paced.stages:
        table.add_row(
            stage.stage,
            f"{stage.planned:,.0f}",
            f"{stage.expected:,.0f}",
            f"{stage.actual:,}",
            f"{stage.gap:+,.0f}",
            format_number(stage.pace, "pct"),
            format_number(stage.projected),
        )
    out.print(table, highlight=False)


def _show_waterfall(label: str, plan: Waterfall) -> None:
    out.print(
        f"[bold]{label}[/]: {plan.revenue:,.0f} in revenue at {plan.model.deal_size:,.0f} a deal = "
        f"{plan.deals:,.1f} deals",
        highlight=False,
    )
    totals = RichTable(
        "stage",
        "needed",
        "range (P10-P90)",
        "to the end",
        "lead time (days)",
        "last day (median)",
        "last day (80 %)",
        title="what each stage must deliver",
    )
    for total in plan.totals:
        totals.add_row(
            total.stage,
            f"{total.required:,.0f}",
            f"{total.low:,.0f} - {total.high:,.0f}",
            format_number(total.rate_to_end, "pct"),
            f"{total.lead_time_days:,.0f}",
            str(total.last_entry),
            str(total.last_entry_p80),
        )
    out.print(totals, highlight=False)
    months = sorted({row.month for row in plan.rows})
    grid = RichTable("month", *plan.model.stages, title="needed per month (expected)")
    needed = {(row.stage, row.month): row.required for row in plan.rows}
    for month in months:
        if all(needed.get((stage, month), 0) < 0.5 for stage in plan.model.stages):
            continue  # the far tail of long lags: under half an entry at every stage (the JSON keeps every month)
        grid.add_row(
            f"{month:%Y-%m}",
            *(f"{needed[(stage, month)]:,.0f}" if (stage, month) in needed else "" for stage in plan.model.stages),
        )
    out.print(grid, highlight=False)
    if plan.budget:
        budget = RichTable("channel", "share", "leads", "cost per lead", "budget", "range", title="budget by channel")
        for row in plan.budget:
            budget.add_row(
                row.channel,
                format_number(row.share, "pct"),
                f"{row.leads:,.0f}",
                format_number(row.cost_per_lead, "money"),
                format_number(row.budget, "money"),
                f"{format_number(row.budget_low, 'money')} - {format_number(row.budget_high, 'money')}"
                if row.budget is not None
                else "",
            )
        out.print(budget, highlight=False)
    err.print(f"model: {plan.model.basis}", highlight=False)
    for note in plan.model.notes:
        err.print(f"note: {note}", highlight=False)


# --- the marketing plan as a proposal sales leaders accept ----------------------------------------------------------

PlanArgument = Annotated[int, typer.Argument(metavar="ID", help="The plan's number (see `tandem plan history`).")]
PlanVersionOption = Annotated[
    int, typer.Option("--version", min=1, metavar="N", help="The version you read (see `plan show`).")
]


def _sufficiency_lines(checked: dict[str, Any] | None) -> list[str]:
    """The sufficiency check in words: expected revenue and range against the goal, the chance, the gaps."""
    if checked is None:
        return ["No sufficiency check was run on this version."]
    lines = [
        f"Expected revenue {checked['expected_revenue']:,.0f} (P10-P90 {checked['low']:,.0f} - {checked['high']:,.0f}) "
        f"against a goal of {checked['goal']:,.0f}: a {checked['probability']:.0%} chance of meeting it"
        + (f", for a budget of {checked['budget']:,.0f}." if checked.get("budget") is not None else ".")
    ]
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for gap in checked.get("shortfall", []):
        by_stage.setdefault(gap["stage"], []).append(gap)
    short = []
    for stage, gaps in by_stage.items():
        planned, required = sum(g["planned"] for g in gaps), sum(g["required"] for g in gaps)
        worst = max(gaps, key=lambda g: g["gap"])
        if required - planned > 0.5:
            short.append((stage, planned, required, worst))
    if short:
        lines.append("Shortfall by stage (all months), and the month furthest behind:")
        lines += [
            f"  {stage}: {planned:,.0f} planned of {required:,.0f} required ({required - planned:,.0f} short); "
            f"worst {str(worst['month'])[:7]}: {worst['planned']:,.0f} of {worst['required']:,.0f}"
            for stage, planned, required, worst in short
        ]
    return lines


def _plan_version_line(v: PlanVersionInfo) -> str:
    return f"Plan #{v.plan_id} ({v.period}) version {v.version}, {v.status.replace('_', ' ')}"


@plan_app.command("propose")
def plan_propose(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The marketing plan (YAML): period and programs.")],
    as_: AsOption = None,
    note: Annotated[
        str, typer.Option("--note", metavar="TEXT", help="What this version is (default: the file's note).")
    ] = "",
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Propose the marketing plan for its period (a marketing user): checked, run forward against the goal, and
    waiting for a sales leader to accept it."""
    with open_workspace(workspace) as ws:
        principal = sign_in(ws, as_, password_stdin)
        proposed = ws.plans.propose(principal, file, note=note)
    if format is Format.json:
        print_json({"version": proposed.as_dict()})
        return
    out.print(f"{_plan_version_line(proposed)} by {proposed.author}: waiting for a sales leader", highlight=False)
    for line in _sufficiency_lines(proposed.sufficiency):
        out.print(escape(line), highlight=False)


@plan_app.command("review")
def plan_review(
    plan_id: PlanArgument,
    version: PlanVersionOption,
    comment: Annotated[
        str, typer.Option("--comment", metavar="TEXT", help="Your comment: the authors and sales leaders read it.")
    ],
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Comment on the version waiting for a decision (marketing or sales); a replaced version is refused."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, as_, password_stdin)
        reviewed = ws.plans.review(principal, plan_id, comment, version)
    if format is Format.json:
        print_json({"version": reviewed.as_dict()})
        return
    out.print(f"{_plan_version_line(reviewed)}: comment by {principal.username} kept", highlight=False)


@plan_app.command("accept")
def plan_accept(
    plan_id: PlanArgument,
    version: PlanVersionOption,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Accept the version you read as the period's baseline (a sales leader, not its author)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, as_, password_stdin)
        accepted = ws.plans.accept(principal, plan_id, version)
    if format is Format.json:
        print_json({"version": accepted.as_dict()})
        return
    out.print(
        f"{_plan_version_line(accepted)} by {principal.username}: the baseline of {accepted.period}", highlight=False
    )


@plan_app.command("send-back")
def plan_send_back(
    plan_id: PlanArgument,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="What to change: marketing will read it.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, metavar="N", help="The version (default: the waiting one).")
    ] = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Send the waiting version back to marketing with a reason (a sales leader, not its author)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, as_, password_stdin)
        sent = ws.plans.send_back(principal, plan_id, reason, version)
    if format is Format.json:
        print_json({"version": sent.as_dict()})
        return
    out.print(f"{_plan_version_line(sent)} by {principal.username}: {escape(sent.reason)}", highlight=False)


@plan_app.command("reject")
def plan_reject(
    plan_id: PlanArgument,
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why: marketing will read it.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, metavar="N", help="The version (default: the waiting one).")
    ] = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Close the waiting version for good, with a reason (a sales leader, not its author)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, as_, password_stdin)
        rejected = ws.plans.reject(principal, plan_id, reason, version)
    if format is Format.json:
        print_json({"version": rejected.as_dict()})
        return
    out.print(f"{_plan_version_line(rejected)} by {principal.username}: {escape(rejected.reason)}", highlight=False)


PlanRefArgument = Annotated[
    str | None,
    typer.Argument(metavar="[PERIOD|ID]", help="2027-Q1, or the plan's number (default: the newest plan)."),
]


@plan_app.command("show")
def plan_show(
    ref: PlanRefArgument = None,
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, metavar="N", help="This version (default: the waiting one, else the latest)."),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """A plan version: its programs, its sufficiency check, the comments on it, and the period's baseline."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        plan = _plan_of(ws, ref)
        shown = plan.waiting or plan.latest if version is None else ws.plans.version(plan.id, version)
    if format is Format.json:
        print_json(
            {
                "plan": {"id": plan.id, "period": plan.period},
                "baseline": None if plan.baseline is None else plan.baseline.version,
                "version": shown.as_dict(),
            }
        )
        return
    decided = f" by {shown.decided_by}" if shown.decided_by and shown.status != "superseded" else ""
    out.print(f"[bold]{escape(_plan_version_line(shown))}[/]{decided}", highlight=False)
    out.print(f"by {shown.author}, {when(shown.created_at)} UTC: {escape(shown.note)}", highlight=False)
    if shown.reason:
        out.print(f"reason: {escape(shown.reason)}", highlight=False)
    baseline = plan.baseline
    out.print(
        f"baseline of {plan.period}: "
        + (
            "none accepted yet"
            if baseline is None
            else f"version {baseline.version}, accepted by {baseline.decided_by}"
        ),
        highlight=False,
    )
    programs = RichTable("program", "channel", "campaign", "budget", "from", "to", "volume", "at", title="programs")
    for p in shown.plan.programs:
        programs.add_row(
            escape(p.name),
            escape(p.channel),
            escape(p.campaign or ""),
            format_amount(p.budget) if p.budget else "0",
            str(p.start),
            str(p.end),
            "" if p.volume is None else f"{p.volume:,.0f}",
            p.stage or "",
        )
    out.print(programs, highlight=False)
    for line in _sufficiency_lines(shown.sufficiency):
        out.print(escape(line), highlight=False)
    for c in shown.comments:
        out.print(f"{when(c.at)} {c.author}: {escape(c.comment)}", highlight=False)


def _plan_of(ws: Workspace, ref: str | None) -> PlanInfo:
    if ref is not None:
        return ws.plans.plan(ref)
    plans = ws.plans.plans()
    if not plans:
        raise TandemError("no plans yet; propose one with `tandem plan propose FILE --as USER`")
    return max(plans, key=lambda p: max(v.created_at for v in p.versions))


@plan_app.command("history")
def plan_history(
    period: Annotated[str | None, typer.Argument(metavar="[PERIOD]", help="2027-Q1 (default: every plan).")] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Every version of a period's plan (or of every plan): status, who decided, the sufficiency check's verdict."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        plans = ws.plans.history(period)
    if format is Format.json:
        print_json({"plans": [p.as_dict() for p in plans]})
        return
    if not plans:
        err.print("No plans yet; propose one with `tandem plan propose FILE --as USER`.", highlight=False)
        return
    table = RichTable(
        "plan",
        "period",
        "version",
        "status",
        "author",
        "proposed (UTC)",
        "decided by",
        "expected",
        "chance",
        "note",
        title="plans",
    )
    for p in plans:
        for v in p.versions:
            checked = v.sufficiency or {}
            table.add_row(
                f"#{p.id}",
                p.period,
                str(v.version),
                v.status.replace("_", " "),
                v.author,
                when(v.created_at),
                v.decided_by or "" if v.status != "superseded" else "",
                format_number(checked.get("expected_revenue"), "money"),
                format_number(checked.get("probability"), "pct"),
                escape(v.note),
            )
    out.print(table, highlight=False)
