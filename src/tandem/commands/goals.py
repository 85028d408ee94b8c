"""``tandem goal``: the one revenue target both teams share, per year, quarter or month, and per slice.

`goal list` and `goal show` ask the goals' questions (`tandem.questions.plan`: goals, goal): ``--format json``
prints the document, the table renders it. Setting and deleting sign in as the person acting (an exec or an
admin), like the definitions commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    AsOption,
    Format,
    FormatOption,
    PasswordStdinOption,
    WorkspaceOption,
    err,
    open_workspace,
    out,
    print_json,
    sign_in,
    when,
)
from tandem.exports import format_number
from tandem.money import format_amount

if TYPE_CHECKING:
    from tandem.plan.goals import GoalInfo

__all__ = ["goal_app"]

goal_app = typer.Typer(
    help="The revenue goal both teams share: per year, quarter or month, optionally per segment, region or product.",
    no_args_is_help=True,
)

PeriodArgument = Annotated[
    str, typer.Argument(metavar="PERIOD", help="A year (2027), a quarter (2027-Q1) or a month (2027-01).")
]
SegmentOption = Annotated[
    str | None, typer.Option("--segment", metavar="VALUE", help="The goal of one segment (this value).")
]
RegionOption = Annotated[
    str | None, typer.Option("--region", metavar="VALUE", help="The goal of one region (this value).")
]
ProductOption = Annotated[
    str | None, typer.Option("--product", metavar="VALUE", help="The goal of one product (this value).")
]


def _goal_slice(segment: str | None, region: str | None, product: str | None) -> tuple[str | None, str | None]:
    """(dimension, value) of the one slice option given, (None, None) for the whole company."""
    given = [(d, v) for d, v in (("segment", segment), ("region", region), ("product", product)) if v is not None]
    if len(given) > 1:
        raise typer.BadParameter("a goal is for one slice at most: give one of --segment, --region or --product")
    return given[0] if given else (None, None)


def _goal_line(goal: GoalInfo) -> str:
    share = f", marketing share {goal.marketing_share:g}" if goal.marketing_share is not None else ""
    note = f" ({goal.note})" if goal.note else ""
    return f"{goal.key}: {format_amount(goal.amount)}{share}{note}"


@goal_app.command("set")
def goal_set(
    period: PeriodArgument,
    amount: Annotated[
        str, typer.Argument(metavar="AMOUNT", help="10000000, 10M, 2.5M, 750k or $1,200,000 (k thousand, M million).")
    ],
    segment: SegmentOption = None,
    region: RegionOption = None,
    product: ProductOption = None,
    marketing_share: Annotated[
        float | None,
        typer.Option(
            "--marketing-share",
            min=0.0,
            max=1.0,
            metavar="SHARE",
            help="Marketing-sourced share of the goal, 0 to 1 (default: measured on the 12 months before).",
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", metavar="TEXT", help="Why this number: both teams read it.")] = "",
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Set the goal of a period (an exec or an admin); setting it again replaces it (the audit log keeps the old)."""
    dimension, value = _goal_slice(segment, region, product)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, as_, password_stdin)
        goal = ws.goals.set(
            principal, period, amount, dimension=dimension, value=value, marketing_share=marketing_share, note=note
        )
    if format is Format.json:
        print_json({"goal": goal.as_dict()})
        return
    replaced = f" (was {format_amount(goal.replaced.amount)})" if goal.replaced is not None else ""
    out.print(f"Goal {escape(_goal_line(goal))}{replaced}, set by {principal.username}", highlight=False)


@goal_app.command("delete")
def goal_delete(
    period: PeriodArgument,
    segment: SegmentOption = None,
    region: RegionOption = None,
    product: ProductOption = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Delete the goal of a period, or of one slice of it (an exec or an admin); the audit log keeps what it was."""
    dimension, value = _goal_slice(segment, region, product)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, as_, password_stdin)
        goal = ws.goals.delete(principal, period, dimension=dimension, value=value)
    if format is Format.json:
        print_json({"deleted": goal.as_dict()})
        return
    out.print(f"Deleted goal {escape(_goal_line(goal))}, by {principal.username}", highlight=False)


@goal_app.command("list")
def goal_list(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Every goal: per period (a year before its quarters and months), then per slice."""
    from tandem.questions import ask
    from tandem.questions.plan import GoalsQuestion

    with open_workspace(workspace, needs_warehouse=False) as ws:
        document = ask(ws, GoalsQuestion())
    if format is Format.json:
        print_json(document)
        return
    if not document["goals"]:
        err.print("No goals yet; set one with `tandem goal set PERIOD AMOUNT --as USER`.", highlight=False)
        return
    table = RichTable("period", "slice", "goal", "marketing share", "note", "set by", "updated (UTC)", title="goals")
    for g in document["goals"]:
        table.add_row(
            g["period"],
            escape(f"{g['dimension']}={g['value']}" if g["dimension"] else ""),
            format_amount(g["amount"]),
            "measured" if g["marketing_share"] is None else f"{g['marketing_share']:g}",
            escape(g["note"]),
            g["updated_by"],
            when(datetime.fromisoformat(g["updated_at"])),
        )
    out.print(table, highlight=False)


@goal_app.command("show")
def goal_show(
    period: Annotated[
        str | None, typer.Argument(metavar="[PERIOD]", help="2027, 2027-Q1 or 2027-01 (default: this quarter).")
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """A period's goal, the targets of the periods in it, its slices, both teams' quotas and attainment so far."""
    from tandem.questions import ask
    from tandem.questions.plan import GoalQuestion

    question = GoalQuestion.parse(period=period)
    with open_workspace(workspace) as ws:
        shown = ask(ws, question)
    if format is Format.json:
        print_json(shown)
        return
    label, target = shown["period"]["label"], shown["target"]
    if target["amount"] is None:
        out.print(f"{label}: {target['from']}", highlight=False)
    else:
        out.print(f"{label}: {format_amount(target['amount'])} ({escape(target['from'])})", highlight=False)
    for parent in shown["parents"]:
        out.print(f"  in {parent['period']}: {format_amount(parent['amount'])} ({escape(parent['from'])})")
    if len(shown["periods"]) > 1:
        periods = RichTable("period", "target", "from", title="periods")
        for row in shown["periods"]:
            periods.add_row(row["period"], format_amount(row["amount"]), escape(row["from"]))
        out.print(periods, highlight=False)
    for allocation in shown["allocations"]:
        if allocation["with_goal"]:
            out.print(escape(allocation["message"]), highlight=False)
    for dimension in shown["slices"]:
        slices = RichTable(
            dimension["dimension"], "goal", "won so far", "attainment", title=f"by {dimension['dimension']}"
        )
        for row in dimension["slices"]:
            slices.add_row(
                escape(str(row["value"])),
                format_amount(row["amount"]),
                format_number(row.get("won_revenue"), "money"),
                format_number(row.get("attainment"), "pct"),
            )
        out.print(slices, highlight=False)
        out.print(escape(dimension["message"]), highlight=False)
    if shown["quotas"]:
        quotas = RichTable("team", "quota", "amount", "from", title="quotas")
        for quota in shown["quotas"]:
            quotas.add_row(quota["team"], quota["quota"], format_amount(quota["amount"]), escape(quota["from"]))
        out.print(quotas, highlight=False)
    attainment = shown["attainment"]
    if attainment["won_revenue"] is not None:
        share = (
            f", {format_number(attainment['share'], 'pct')} of the target" if attainment["share"] is not None else ""
        )
        out.print(
            f"Won so far: {format_amount(attainment['won_revenue'])}{share}; "
            f"{format_number(attainment['elapsed'], 'pct')} of {label} has elapsed",
            highlight=False,
        )
