"""``tandem plan``: the reverse waterfall (what each stage must deliver, and when, for the goal), scenarios and
pacing; then the marketing plan as a proposal that sales leaders accept.

Each reading command asks one question of `tandem.questions.plan` (waterfall, scenarios, pacing, plan, plans):
``--format json`` prints its document, the table renders it. Whoever proposes, reviews or decides a plan signs in
as themselves, like the definitions commands; `plan show` and `plan history` sign in only when told who reads
(``--as`` or $TANDEM_TOKEN), to say what that person may do on the plan (`tandem.plan.proposals.allowed_actions`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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
    counted_under,
    decide,
    err,
    open_workspace,
    out,
    print_json,
    sign_in,
    when,
)
from tandem.errors import ConfigError
from tandem.exports import format_number
from tandem.money import format_amount, format_money
from tandem.periods import period_label

if TYPE_CHECKING:
    from tandem.accounts import Principal
    from tandem.plan.proposals import PlanVersionInfo
    from tandem.questions import Question
    from tandem.questions.plan import ScenariosQuestion, WaterfallQuestion
    from tandem.workspace import Workspace

Q = TypeVar("Q", bound="Question")

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


def _workspace_currency(workspace: Path | None) -> str | None:
    """The currency of the workspace named (else $TANDEM_WORKSPACE or the current folder, when it is one); None
    without one. Read from its settings alone: the warehouse is not opened."""
    from tandem.workspace import CONFIG_FILE, resolve_path

    if workspace is None and not (resolve_path(None) / CONFIG_FILE).exists():
        return None
    with open_workspace(workspace, needs_warehouse=False) as ws:
        return str(ws.settings["currency"])


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
    int | None, typer.Option("--lookback", metavar="DAYS", help="Days of history, 30 to 3650 (365).")
]
HorizonOption = Annotated[
    int | None, typer.Option("--horizon", metavar="DAYS", help="Days a cohort has to convert, 7 to 3650 (180).")
]
HistoryOption = Annotated[
    bool, typer.Option("--history/--no-history", help="Fill in from the workspace's history and goal.")
]
SeedOption = Annotated[int, typer.Option("--seed", metavar="SEED", help="Seed of the draws behind the ranges.")]


def _plan_question(kind: type[Q], **values: Any) -> Q:
    """The question from the command's options (parsed before any workspace opens: a bad value is a usage error)."""
    return kind.parse(**values)


def _document(question: WaterfallQuestion | ScenariosQuestion, workspace: Path | None) -> dict[str, Any]:
    """The question's document: on the workspace's history and goal when there is one (and --history), else from
    the numbers given alone."""
    from tandem.questions import ask, plain

    ws = _optional_workspace(workspace, question.history)
    if ws is None:
        document: dict[str, Any] = plain(question.answer(None))
        currency = _workspace_currency(workspace)
        if currency is not None:  # the numbers given are in the workspace's currency, as `ask` says (Question.money)
            document["currency"] = currency
        return document
    with ws:
        return ask(ws, question)


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
    from tandem.questions.plan import WaterfallQuestion

    question = _plan_question(
        WaterfallQuestion,
        period=period,
        revenue=revenue,
        deal_size=deal_size,
        rate=rate,
        lag=lag,
        channel=channel,
        where=where,
        as_of=as_of,
        lookback=lookback,
        horizon=horizon,
        seed=seed,
        history=history,
    )
    document = _document(question, workspace)
    if format is Format.json:
        print_json(document)
        return
    show_waterfall(document)


@plan_app.command("scenarios")
def plan_scenarios(
    document: Annotated[Path, typer.Argument(metavar="FILE", help="The scenarios (YAML): name and what each changes.")],
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
    from tandem.questions.plan import ScenariosQuestion

    try:
        text = document.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {document}: {exc}") from None
    question = _plan_question(
        ScenariosQuestion,
        document=text,
        source=str(document),
        period=period,
        revenue=revenue,
        deal_size=deal_size,
        rate=rate,
        lag=lag,
        channel=channel,
        where=where,
        as_of=as_of,
        lookback=lookback,
        horizon=horizon,
        seed=seed,
        history=history,
    )
    show_scenarios(_document(question, workspace), format)


def show_scenarios(document: dict[str, Any], format: Format) -> None:
    """The scenarios document as JSON, or side by side: a column per scenario, the base first."""
    if format is Format.json:
        print_json(document)
        return
    outcomes = document["scenarios"]
    table = RichTable("", *(escape(o["name"]) for o in outcomes), title=f"scenarios for {document['period']}")
    table.add_row("changes", *(escape(o["describe"]) for o in outcomes))
    table.add_row("deal size", *(format_number(o["deal_size"], "money") for o in outcomes))
    table.add_row("deals", *(format_number(o["deals"], "expected") for o in outcomes))
    for k, total in enumerate(outcomes[0]["stages"]):
        table.add_row(f"{total['stage']} needed", *(f"{o['stages'][k]['required']:,.0f}" for o in outcomes))
    table.add_row("budget needed", *(format_number(o["budget_needed"], "money") for o in outcomes))
    table.add_row("budget given", *(format_number(o["budget"], "money") for o in outcomes))
    table.add_row("revenue from it", *(format_number(o["revenue_from_budget"], "money") for o in outcomes))
    table.add_row("share of goal", *(format_number(o["goal_share"], "pct") for o in outcomes))
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
    from tandem.questions import ask
    from tandem.questions.plan import PacingQuestion

    question = PacingQuestion.parse(period=period, as_of=as_of)
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    as_of_moment = datetime.fromisoformat(document["as_of"])
    table = RichTable(
        "stage", "planned", "due by today", "actual", "gap", "pace", "projected",
        title=f"{document['period']} as of {as_of_moment:%Y-%m-%d %H:%M} UTC ({document['elapsed']:.0%} of the period) "
        f"against {escape(document['basis'])} · {counted_under(document)}",
    )  # fmt: skip
    for stage in document["stages"]:
        table.add_row(
            stage["stage"],
            f"{stage['planned']:,.0f}",
            format_number(stage["expected_to_date"], "expected"),
            f"{stage['actual_to_date']:,.0f}",
            f"{stage['gap']:+,.0f}",
            format_number(stage["pace"], "pct"),
            format_number(stage["projected"], "expected"),
        )
    revenue = document.get("revenue")
    if revenue is not None:  # won revenue against the goal by month
        table.add_row(
            "won revenue",
            format_number(revenue["planned"], "money"),
            format_number(revenue["expected_to_date"], "money"),
            format_number(revenue["actual_to_date"], "money"),
            ("+" if (revenue["gap"] or 0) >= 0 else "") + format_number(revenue["gap"], "money"),
            format_number(revenue["pace"], "pct"),
            format_number(revenue["projected"], "money"),
        )
    out.print(table, highlight=False)


def show_waterfall(document: dict[str, Any]) -> None:
    """The waterfall document for people: the deals it takes, each stage's total and last days, the month x stage
    grid, the budget by channel; the model's basis and notes, and the warnings (months already past), on stderr."""
    model = document["model"]
    stages: list[str] = model["stages"]
    out.print(
        f"[bold]{document['period']['label']}[/]: {format_number(document['revenue'], 'money')} in revenue at "
        f"{format_number(document['deal_size'], 'money')} a deal: {format_number(document['deals'], 'expected')} deals",
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
    for total in document["stages"]:
        totals.add_row(
            total["stage"],
            f"{total['required']:,.0f}",
            f"{total['low']:,.0f} - {total['high']:,.0f}",
            format_number(total["rate_to_end"], "pct"),
            f"{total['lead_time_days']:,.0f}",
            str(total["last_entry"]),
            str(total["last_entry_p80"]),
        )
    out.print(totals, highlight=False)
    needed = {(row["stage"], row["month"]): row["required"] for row in document["rows"]}
    grid = RichTable("month", *stages, title="needed per month (expected)")
    for month in sorted({row["month"] for row in document["rows"]}):
        if all(needed.get((stage, month), 0) < 0.5 for stage in stages):
            continue  # the far tail of long lags: under half an entry at every stage (the JSON keeps every month)
        grid.add_row(
            period_label(month, "month"),
            *(f"{needed[(stage, month)]:,.0f}" if (stage, month) in needed else "" for stage in stages),
        )
    out.print(grid, highlight=False)
    if document["budget"]:
        title = "budget by channel" + (
            f" (a lead counts under {document['mix_basis']})" if document.get("mix_basis") else ""
        )
        budget = RichTable("channel", "share", "leads", "cost per lead", "budget", "range", title=title)
        for row in document["budget"]:
            budget.add_row(
                escape(row["channel"]),
                format_number(row["share"], "pct"),
                f"{row['leads']:,.0f}",
                format_number(row["cost_per_lead"], "money"),
                format_number(row["budget"], "money"),
                f"{format_number(row['budget_low'], 'money')} - {format_number(row['budget_high'], 'money')}"
                if row["budget"] is not None
                else "",
            )
        out.print(budget, highlight=False)
    err.print(f"model: {escape(model['basis'])}", highlight=False)
    for note in model["notes"]:
        err.print(f"note: {escape(note)}", highlight=False)
    for warning in document.get("warnings", []):
        err.print(f"warning: {escape(warning)}", highlight=False)


# --- the marketing plan as a proposal sales leaders accept ----------------------------------------------------------

PlanArgument = Annotated[int, typer.Argument(metavar="ID", help="The plan's number (see `tandem plan history`).")]
PlanVersionOption = Annotated[
    int, typer.Option("--version", min=1, metavar="N", help="The version you read (see `plan show`).")
]


def _sufficiency_lines(checked: dict[str, Any] | None) -> list[str]:
    """The sufficiency check in words: expected revenue and range against the goal, the chance, the gaps."""
    if checked is None:
        return ["No sufficiency check was run on this version."]
    after = checked.get("after_period_revenue")
    lines = [
        f"Expected revenue within the period {format_money(checked['expected_revenue'])} "
        f"(P10-P90 {format_money(checked['low'])} - {format_money(checked['high'])}) "
        f"against a goal of {format_money(checked['goal'])}"
        + (f", and {format_money(after)} after it" if after is not None else "")
        + (f", for a budget of {format_money(checked['budget'])}." if checked.get("budget") is not None else ".")
        + " The chance of reaching the goal is the forecast's (`tandem forecast`): it adds what is open and in flight."
    ]
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for gap in checked.get("shortfall", []):
        by_stage.setdefault(gap["stage"], []).append(gap)
    this_month = datetime.now(UTC).date().replace(day=1).isoformat()
    short = []
    for stage, gaps in by_stage.items():
        planned, required = sum(g["planned"] for g in gaps), sum(g["required"] for g in gaps)
        # The month furthest behind among those that can still be acted on (a month gone by is history).
        ahead = [g for g in gaps if str(g["month"])[:10] >= this_month and g["gap"] > 0.5]
        worst = max(ahead, key=lambda g: g["gap"]) if ahead else None
        if required - planned > 0.5:
            short.append((stage, planned, required, worst))
    if short:
        lines.append("Shortfall by stage (all months), and the month furthest behind from this one on:")
        lines += [
            f"  {stage}: {planned:,.0f} planned of {required:,.0f} required ({required - planned:,.0f} short); "
            + (
                f"worst {str(worst['month'])[:7]}: {worst['planned']:,.0f} of {worst['required']:,.0f}"
                if worst is not None
                else "none short from this month on"
            )
            for stage, planned, required, worst in short
        ]
    return lines


def _plan_version_line(v: PlanVersionInfo) -> str:
    return _version_line(v.plan_id, v.period, v.version, v.status)


def _version_line(plan_id: int, period: str, version: int, status: str) -> str:
    return f"Plan #{plan_id} ({period}) version {version}, {status.replace('_', ' ')}"


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
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "version",
        lambda ws, principal: ws.plans.review(principal, plan_id, comment, version),
        lambda reviewed, principal, _: f"{_plan_version_line(reviewed)}: comment by {principal.username} kept",
    )


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
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "version",
        lambda ws, principal: ws.plans.accept(principal, plan_id, version),
        lambda accepted, principal, _: (
            f"{_plan_version_line(accepted)} by {principal.username}: the baseline of {accepted.period}"
        ),
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
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "version",
        lambda ws, principal: ws.plans.send_back(principal, plan_id, reason, version),
        _closing_line,
    )


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
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "version",
        lambda ws, principal: ws.plans.reject(principal, plan_id, reason, version),
        _closing_line,
    )


def _closing_line(decided: PlanVersionInfo, principal: Principal, _: Workspace) -> str:
    """A version sent back or rejected, by whom, and the reason marketing reads."""
    return f"{_plan_version_line(decided)} by {principal.username}: {escape(decided.reason)}"


PlanRefArgument = Annotated[
    str | None,
    typer.Argument(metavar="[PERIOD|ID]", help="2027-Q1, or the plan's number (default: the newest plan)."),
]
AsReaderOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="USER",
        help="Who you are, to be told what you may do on the plans (optional; signs in like the changes do).",
    ),
]


def _reader(ws: Workspace, username: str | None, password_stdin: bool) -> Principal | None:
    """Who reads: signed in when they say who they are (`--as`, or an API token in $TANDEM_TOKEN), else nobody."""
    if username is None and not os.environ.get("TANDEM_TOKEN", "").strip():
        return None
    return sign_in(ws, username, password_stdin)


@plan_app.command("show")
def plan_show(
    plan: PlanRefArgument = None,
    plan_version: Annotated[
        int | None,
        typer.Option("--version", metavar="N", help="This version (default: the waiting one, else the latest)."),
    ] = None,
    as_: AsReaderOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """A plan version: its programs, its sufficiency check, the comments on it, and the period's baseline; signed
    in, what you may do on it."""
    from tandem.questions import ask
    from tandem.questions.plan import PlanQuestion

    PlanQuestion.parse(plan=plan, plan_version=plan_version)  # a bad value is refused before anyone signs in
    with open_workspace(workspace, needs_warehouse=False) as ws:
        reader = _reader(ws, as_, password_stdin)
        document = ask(ws, PlanQuestion.parse(plan=plan, plan_version=plan_version, asked_by=reader))
    if format is Format.json:
        print_json(document)
        return
    show_plan(document)


def show_plan(document: dict[str, Any]) -> None:
    """A plan document for people: the version shown, the baseline, the programs, the check and the comments."""
    shown = document["version"]
    decided = f" by {shown['decided_by']}" if shown["decided_by"] and shown["status"] != "superseded" else ""
    line = _version_line(shown["plan_id"], shown["period"], shown["version"], shown["status"])
    out.print(f"[bold]{escape(line)}[/]{decided}", highlight=False)
    out.print(f"by {shown['author']}, {_when(shown['created_at'])} UTC: {escape(shown['note'])}", highlight=False)
    if shown["reason"]:
        out.print(f"reason: {escape(shown['reason'])}", highlight=False)
    baseline = next((v for v in document["versions"] if v["version"] == document["baseline"]), None)
    out.print(
        f"baseline of {document['period']}: "
        + (
            "none accepted yet"
            if baseline is None
            else f"version {baseline['version']}, accepted by {baseline['decided_by']}"
        ),
        highlight=False,
    )
    programs = RichTable("program", "channel", "campaign", "budget", "from", "to", "volume", "at", title="programs")
    for p in shown["plan"]["programs"]:
        programs.add_row(
            escape(p["name"]),
            escape(p["channel"]),
            escape(p["campaign"] or ""),
            format_amount(p["budget"]) if p["budget"] else "0",
            str(p["start"]),
            str(p["end"]),
            "" if p["volume"] is None else f"{p['volume']:,.0f}",
            p["stage"] or "",
        )
    out.print(programs, highlight=False)
    for line in _sufficiency_lines(shown["sufficiency"]):
        out.print(escape(line), highlight=False)
    for c in shown["comments"]:
        out.print(f"{_when(c['at'])} {c['author']}: {escape(c['comment'])}", highlight=False)
    if document["asked_by"] is not None:
        allowed = ", ".join(a.replace("_", " ") for a in document["actions"]) or "nothing (you read it)"
        out.print(f"{document['asked_by']} may: {allowed}", highlight=False)


def _when(value: str | None) -> str:
    """A document's moment (ISO 8601 text) as tables show it: to the minute."""
    return when(datetime.fromisoformat(value)) if value else ""


@plan_app.command("history")
def plan_history(
    period: Annotated[str | None, typer.Argument(metavar="[PERIOD]", help="2027-Q1 (default: every plan).")] = None,
    as_: AsReaderOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Every version of a period's plan (or of every plan): status, who decided, the sufficiency check's verdict;
    signed in, what you may do on each plan."""
    from tandem.questions import ask
    from tandem.questions.plan import PlansQuestion

    PlansQuestion.parse(period=period)  # a bad value is refused before anyone signs in
    with open_workspace(workspace, needs_warehouse=False) as ws:
        reader = _reader(ws, as_, password_stdin)
        document = ask(ws, PlansQuestion.parse(period=period, asked_by=reader))
    if format is Format.json:
        print_json(document)
        return
    if not document["plans"]:
        err.print("No plans yet; propose one with `tandem plan propose FILE --as USER`.", highlight=False)
        return
    columns = ["plan", "period", "version", "status", "author", "proposed (UTC)", "decided by", "in period", "after"]
    table = RichTable(*columns, "note", title="plans")
    for p in document["plans"]:
        for v in p["versions"]:
            checked = v["sufficiency"] or {}
            table.add_row(
                f"#{p['id']}",
                p["period"],
                str(v["version"]),
                v["status"].replace("_", " "),
                v["author"],
                _when(v["created_at"]),
                v["decided_by"] or "" if v["status"] != "superseded" else "",
                format_number(checked.get("expected_revenue"), "money"),
                format_number(checked.get("after_period_revenue"), "money"),
                escape(v["note"]),
            )
    out.print(table, highlight=False)
    if document["asked_by"] is not None:
        for p in document["plans"]:
            allowed = ", ".join(a.replace("_", " ") for a in p["actions"]) or "nothing (you read it)"
            out.print(f"#{p['id']} ({p['period']}): {document['asked_by']} may {allowed}", highlight=False)
