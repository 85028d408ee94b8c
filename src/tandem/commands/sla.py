"""``tandem sla``: the service levels at the handoff (docs/sla.md): the report, a rep's queue, and a rep's
decision on a lead (accept, or reject with a reason).

Words keep one meaning each: *undecided* is a handoff sales has not accepted, rejected or recycled yet; a *clock
open* is a running clock (a handoff has up to three: accept, first touch, attempts). Durations in the tables of
clocks are hours and minutes alike (``0 h 46 min``, ``23 h 05 min``), so a column reads at a glance."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    AsOfOption,
    AsOption,
    Format,
    FormatOption,
    FromOption,
    PasswordStdinOption,
    ResultFormatOption,
    TableFormat,
    ToOption,
    WorkspaceOption,
    open_workspace,
    out,
    print_json,
    sign_in,
)
from tandem.durations import format_business
from tandem.exports import format_number, write_csv
from tandem.money import format_amount

__all__ = ["sla_app"]

sla_app = typer.Typer(
    help="Service levels at the handoff: the report per rep or team, a rep's queue, accept and reject.",
    no_args_is_help=True,
)


class GroupChoice(StrEnum):
    rep = "rep"
    team = "team"


class SlaPeriod(StrEnum):
    week = "week"
    month = "month"
    quarter = "quarter"


LeadArgument = Annotated[str, typer.Argument(metavar="LEAD", help="The lead's id.")]
NoteOption = Annotated[str | None, typer.Option("--note", help="A note for marketing (why, what next).")]

_ROW_COLUMNS = (
    "handoffs",
    "accepted",
    "rejected",
    "recycled",
    "undecided",
    "accept_median_s",
    "accept_p90_s",
    "first_touch_median_s",
    "first_touch_p90_s",
    "accept_breaches",
    "first_touch_breaches",
    "breach_rate",
    "open_clocks",
    "at_risk",
    "package_complete_share",
)


@sla_app.command("report")
def report(
    by: Annotated[GroupChoice, typer.Option("--by", help="One row per rep or per team.")] = GroupChoice.rep,
    period: Annotated[SlaPeriod | None, typer.Option("--period", help="One row per period of handoff.")] = None,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Service levels per rep (or team): handoffs, decisions, time to accept and to first touch in business time
    (median, P90), breaches, open clocks, package completeness; rejections by reason; the most urgent clocks."""
    from tandem.questions import SlaQuestion, ask

    question = SlaQuestion.parse(
        by=by.value, period=None if period is None else period.value, start=start, end=end, as_of=as_of
    )
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is TableFormat.json:
        print_json(document)
        return
    key = document["by"]
    columns = [key, *(["period"] if document["period"] else []), *_ROW_COLUMNS]
    if format is TableFormat.csv:
        write_csv(sys.stdout, columns, document["rows"])
        return
    _show_report(document, key)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column.endswith("_s"):
        return format_business(value)
    if column.endswith("rate") or column.endswith("share"):
        return format_number(value, "pct")
    if column == "period":
        return str(value)[:10]
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _show_report(document: dict[str, Any], key: str) -> None:
    contract = document["contract"]
    out.print(
        f"[bold]Service levels[/] as of {document['as_of'][:16].replace('T', ' ')} UTC · contract of definitions "
        f"version {document['contract_version']} · handoff stage {contract['stage']}",
        highlight=False,
    )
    table = RichTable(
        key,
        *(["period"] if document["period"] else []),
        "handoffs",
        "accepted",
        "rejected",
        "undecided",
        "accept\nmedian · P90",
        "first touch\nmedian · P90",
        "breaches\n(rate)",
        "at risk",
        "package\ncomplete",
        title="times in business hours of each lead's team",
    )
    for row in document["rows"]:
        table.add_row(
            escape(str(row.get(key) or "(none)")),
            *([_cell("period", row.get("period"))] if document["period"] else []),
            _cell("handoffs", row["handoffs"]),
            _cell("accepted", row["accepted"]),
            _cell("rejected", row["rejected"]),
            _cell("undecided", row["undecided"]),
            f"{_cell('s_s', row['accept_median_s'])} · {_cell('s_s', row['accept_p90_s'])}",
            f"{_cell('s_s', row['first_touch_median_s'])} · {_cell('s_s', row['first_touch_p90_s'])}",
            f"{row['breaches']:,} ({_cell('breach_rate', row['breach_rate'])})",
            _cell("at_risk", row["at_risk"]),
            _cell("package_complete_share", row["package_complete_share"]),
        )
    out.print(table, highlight=False)
    totals = document["totals"]
    out.print(
        f"All: {totals['handoffs']:,} handoffs, {totals['accepted']:,} accepted, {totals['rejected']:,} rejected "
        f"({_cell('rate', totals['rejection_rate'])} of decisions), {totals['undecided']:,} undecided; "
        f"{totals['breaches']:,} breaches ({_cell('rate', totals['breach_rate'])} of clocks judged), "
        f"{totals['open_clocks']:,} clocks open, {totals['at_risk']:,} of them at risk.",
        highlight=False,
    )
    if document["rejection_reasons"]:
        reasons = ", ".join(f"{escape(str(r['reason']))} {r['count']:,}" for r in document["rejection_reasons"])
        out.print(f"Rejections by reason: {reasons}.", highlight=False)
    for dimension, label in _OVER_CEILING:
        over = [e for e in document["rejections"].get(dimension, []) if e["over_ceiling"]]
        if over:
            listed = ", ".join(
                f"{escape(_value(dimension, e['value']))} {_cell('rate', e['rate'])} of {e['decided']:,}" for e in over
            )
            out.print(
                f"{label} over the {document['rejection_ceiling_percent']} % rejection ceiling: {listed}.",
                highlight=False,
            )
    _show_speed(document.get("speed_to_lead") or {})
    if document["open_clocks"]:
        urgent = RichTable(
            "lead",
            "clock",
            "owner",
            "team",
            "priority",
            "elapsed",
            "left",
            "deadline (UTC)",
            title="most urgent open clocks",
        )
        for row in document["open_clocks"][:10]:
            urgent.add_row(
                escape(str(row["lead_id"])),
                row["clock"].replace("_", " "),
                escape(str(row["owner"] or "-")),
                escape(str(row["team"])),
                escape(str(row["priority"])),
                hours_minutes(row["elapsed_s"]),
                hours_minutes(row["left_s"]),
                (row["deadline"] or "-")[:16].replace("T", " "),
            )
        out.print(urgent, highlight=False)


#: The rejection breakdowns held against the ceiling, as the report names them.
_OVER_CEILING = (("channel", "Channels"), ("campaign_id", "Campaigns"), ("version", "Definitions versions"))


def _value(dimension: str, value: Any) -> str:
    if value is None:
        return "(none)"
    return f"v{value}" if dimension == "version" else str(value)


def hours_minutes(seconds: float | None) -> str:
    """A clock's business time as hours and minutes, whatever its size (``0 h 46 min``, ``23 h 05 min``; past a
    target ``1 h 30 min over``): the elapsed and left columns side by side read alike. Seconds are dropped."""
    if seconds is None:
        return "-"
    hours, minutes = divmod(int(abs(seconds)) // 60, 60)
    return f"{hours:,} h {minutes:02d} min" + (" over" if seconds < 0 else "")


def _show_speed(speed: dict[str, Any]) -> None:
    """Conversion by time to first touch, the evidence, and what slow follow-up cost this quarter."""
    if not speed.get("buckets"):
        return
    table = RichTable(
        "first touch",
        "leads",
        f"reached {speed['next_stage']}\n(by day {speed['horizons']['next_stage']})",
        f"won\n(by day {speed['horizons']['last_stage']})",
        title="what speed is worth: conversion by time to first touch (censoring-aware)",
    )
    for row in [*speed["buckets"], *speed["groups"]]:
        table.add_row(
            escape(str(row["group"])),
            f"{row['leads']:,}",
            _cell("rate", row.get("sql_rate")),
            _cell("rate", row.get("won_rate")),
        )
    out.print(table, highlight=False)
    out.print(escape(speed["evidence_text"]), highlight=False)
    lost = speed.get("lost_revenue")
    if lost and "amount" in lost:
        out.print(
            f"Slow follow-up this quarter ({lost['period']}): {lost['slow_leads']:,} leads touched after an hour or "
            f"not yet, about {lost['lost_next_stage']:,.0f} fewer reaching {escape(speed['next_stage'])}, about "
            f"{format_amount(lost['amount'])} of revenue at the plan model's rates.",
            highlight=False,
        )


@sla_app.command("summary")
def summary(
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """The handoff this quarter so far, in one sentence: handoffs, breaches, clocks at risk (the Overview's card)."""
    from tandem.questions import SlaSummaryQuestion, ask

    with open_workspace(workspace) as ws:
        document = ask(ws, SlaSummaryQuestion.parse(as_of=as_of))
    if format is Format.json:
        print_json(document)
        return
    if "unavailable" in document:
        out.print(f"{document['period']}: {escape(document['unavailable'])}", highlight=False)
        return
    worst = ", ".join(f"{escape(str(r['rep']))} {r['breaches']:,}" for r in document["most_breaches"])
    out.print(escape(document["message"]) + (f" Most breaches: {worst}." if worst else ""), highlight=False)


@sla_app.command("queue")
def queue(
    owner: Annotated[
        str,
        typer.Argument(
            metavar="REP", help="The rep: a user name, a user's display name, or the lead owner as written."
        ),
    ],
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """A rep's queue: the leads handed to them that wait for a decision, most urgent first."""
    from tandem.questions import SlaQueueQuestion, ask

    with open_workspace(workspace) as ws:
        document = ask(ws, SlaQueueQuestion.parse(owner=owner, as_of=as_of))
    if format is Format.json:
        print_json(document)
        return
    leads = document["leads"]
    also = [name for name in document.get("held_as", []) if name != owner]
    known_as = f" ({escape(', '.join(also))})" if also else ""
    out.print(f"[bold]{escape(owner)}[/]{known_as}: {len(leads):,} lead(s) waiting for a decision", highlight=False)
    table = RichTable("lead", "since (UTC)", "priority", "accept: left", "first touch: left", "deadline (UTC)")
    for lead in leads:
        clocks = lead["clocks"]
        accept, touch = clocks.get("accept", {}), clocks.get("first_touch", {})
        table.add_row(
            escape(str(lead["lead_id"])),
            str(lead["since"])[:16].replace("T", " "),
            escape(str(lead["priority"])),
            hours_minutes(accept.get("left_s")),
            hours_minutes(touch.get("left_s")),
            (accept.get("deadline") or "-")[:16].replace("T", " "),
        )
    out.print(table, highlight=False)
    if document["reasons"]:
        out.print(f"Reasons a rejection takes: {', '.join(document['reasons'])}.", highlight=False)


def _decide(
    lead: str,
    decision: str,
    reason: str | None,
    note: str | None,
    as_: str | None,
    password_stdin: bool,
    workspace: Path | None,
    format: Format,
) -> None:
    with open_workspace(workspace) as ws:
        principal = sign_in(ws, as_, password_stdin)
        result = ws.decide_handoff(principal, lead, decision, reason=reason, note=note)
    if format is Format.json:
        print_json({"lead_id": lead, "decision": decision, "reason": reason, "import_id": result.import_id})
        return
    because = f" ({reason})" if reason else ""
    out.print(
        f"Lead {escape(lead)} {decision}{escape(because)} by {principal.username}; import {result.import_id}.",
        highlight=False,
    )


@sla_app.command("accept")
def accept(
    lead: LeadArgument,
    note: NoteOption = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Accept a lead handed to you (a sales leader may accept any)."""
    _decide(lead, "accepted", None, note, as_, password_stdin, workspace, format)


@sla_app.command("reject")
def reject(
    lead: LeadArgument,
    reason: Annotated[str, typer.Option("--reason", help="A reason code from the contract's list.")],
    note: NoteOption = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Reject a lead handed to you, with a reason code from the contract and an optional note."""
    _decide(lead, "rejected", reason, note, as_, password_stdin, workspace, format)
