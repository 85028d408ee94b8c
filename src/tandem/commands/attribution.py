"""``tandem attribution``: marketing's share of revenue by channel or campaign, under the approved model and
every other model side by side; ``tandem roi``: cost and return per channel or campaign (docs/attribution.md)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.attribution.model import model_name
from tandem.commands.common import (
    AsOfOption,
    FromOption,
    ResultFormatOption,
    TableFormat,
    ToOption,
    WorkspaceOption,
    open_workspace,
    out,
    print_json,
)
from tandem.exports import format_number, write_csv

__all__ = ["attribution", "roi"]


class ModelChoice(StrEnum):
    first_touch = "first_touch"
    last_touch = "last_touch"
    last_non_direct = "last_non_direct"
    linear = "linear"
    u_shaped = "u_shaped"
    w_shaped = "w_shaped"
    full_path = "full_path"
    time_decay = "time_decay"
    custom = "custom"


class OutcomeChoice(StrEnum):
    revenue = "revenue"
    pipeline = "pipeline"
    leads = "leads"


class LevelChoice(StrEnum):
    lead = "lead"
    opportunity = "opportunity"
    account = "account"


class ByChoice(StrEnum):
    channel = "channel"
    campaign = "campaign"


class PeriodChoice(StrEnum):
    month = "month"
    quarter = "quarter"


def attribution(
    model: Annotated[
        ModelChoice | None, typer.Option("--model", help="Show this model (default: the approved one in force).")
    ] = None,
    outcome: Annotated[OutcomeChoice, typer.Option("--outcome", help="What is credited.")] = OutcomeChoice.revenue,
    level: Annotated[
        LevelChoice | None, typer.Option("--level", help="Whose touches make a journey (default: as approved).")
    ] = None,
    by: Annotated[ByChoice, typer.Option("--by", help="Credit per channel or per campaign.")] = ByChoice.channel,
    period: Annotated[PeriodChoice | None, typer.Option("--period", help="Also one row per period.")] = None,
    deals: Annotated[
        str | None,
        typer.Option("--deals", metavar="ITEM", help="The deals behind ITEM's credit, each with its journey."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="With --deals: how many deals, most credited first.")] = 20,
    summary: Annotated[
        bool, typer.Option("--summary", help="The quarter so far: marketing's revenue against its quota.")
    ] = False,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Marketing's share of revenue: credit per channel (or campaign) under the approved model, what each sourced
    and influenced, and every rule-based model side by side with the channels whose credit depends on the model."""
    from tandem.questions import AttributionDealsQuestion, AttributionQuestion, MarketingShareQuestion, ask

    if summary:
        with open_workspace(workspace) as ws:
            share = ask(ws, MarketingShareQuestion.parse(as_of=as_of))
        if format is TableFormat.table:
            out.print(escape(_share_line(share)), highlight=False)
        else:
            print_json(share)
        return
    if deals is not None:
        drill = AttributionDealsQuestion.parse(
            item=deals,
            model=None if model is None else model.value,
            outcome=outcome.value,
            level=None if level is None else level.value,
            by=by.value,
            start=start,
            end=end,
            as_of=as_of,
            limit=limit,
        )
        with open_workspace(workspace) as ws:
            found = ask(ws, drill)
        if format is TableFormat.json:
            print_json(found)
        elif format is TableFormat.csv:
            write_csv(
                sys.stdout, ["id", "lead_id", "at", "value", "share", "credit", "version", "model"], found["deals"]
            )
        else:
            _show_deals(found)
        return
    question = AttributionQuestion.parse(
        model=None if model is None else model.value,
        outcome=outcome.value,
        level=None if level is None else level.value,
        by=by.value,
        period=None if period is None else period.value,
        start=start,
        end=end,
        as_of=as_of,
    )
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is TableFormat.json:
        print_json(document)
        return
    if format is TableFormat.csv:
        if document["period"]:
            write_csv(sys.stdout, ["item", "period", "outcomes", "value"], document["by_period"])
        else:
            write_csv(sys.stdout, ["item", "outcomes", "value", "share"], document["rows"])
        return
    _show(document)


def _money(value: float | None) -> str:
    return format_number(value, "money") or "-"


def _models_line(document: dict[str, Any]) -> str:
    """Which model credited the outcomes, and under which definitions versions."""
    parts = []
    for stretch in document["models_in_force"]:
        how = "approved" if stretch["approved"] else "the default: no model approved"
        parts.append(f"{stretch['label']} (definitions version {stretch['version']}, {how}; {stretch['level']} level)")
    if document["model"]:
        return f"Model: {model_name(document['model'])}, asked for, with the settings of " + "; ".join(parts)
    return "Model: " + "; ".join(parts)


def _show(document: dict[str, Any]) -> None:
    word = {"revenue": "revenue won", "pipeline": "pipeline created", "leads": "leads created"}[document["outcome"]]
    key = document["by"]
    totals = document["totals"]
    money = document["outcome"] != "leads"
    out.print(
        f"[bold]Attribution[/] of {word} as of {document['as_of'][:10]} · {document['currency']} · "
        f"{totals['outcomes']:,} outcomes" + (f", {_money(totals['value'])}" if money else ""),
        highlight=False,
    )
    out.print(escape(_models_line(document)), highlight=False)
    sourced = {r["item"]: r for r in document["sourced"]}
    table = RichTable(key, "credited", "share", "sourced", "influenced", title="credit, sourced and influenced")
    for row in document["rows"]:
        s = sourced.get(row["item"], {})
        if money:
            cells = [_money(row["value"]), format_number(row.get("share"), "pct")]
            cells += [_money(s.get("sourced_value")), _money(s.get("influenced_value"))]
        else:
            share = row["outcomes"] / totals["outcomes"] if totals["outcomes"] else None
            cells = [format_number(row["outcomes"], "expected"), format_number(share, "pct")]
            cells += [format_number(s.get("sourced")), format_number(s.get("influenced"))]
        table.add_row(escape(row["item"]), *cells)
    out.print(table, highlight=False)
    if money:
        _show_comparison(document, key)


def _share_line(share: dict[str, Any]) -> str:
    """The quarter so far in one sentence, as the Overview's card says it."""
    quota = share["quota"]
    against = (
        f" of a {_money(quota)} quota ({format_number(share['attainment'], 'pct')})"
        if quota
        else " (no marketing quota for the quarter)"
    )
    return (
        f"{share['period']} so far: marketing's channels earned {_money(share['marketing_credited'])}{against}, "
        f"{format_number(share['share_of_won'], 'pct') or '-'} of {_money(share['won_revenue'])} won; measured by "
        f"{share['measured_by']}."
    )


def _show_deals(found: dict[str, Any]) -> None:
    out.print(
        f"[bold]{escape(found['item'])}[/]: credit from {found['outcomes']:,} outcomes "
        f"({found['shown']:,} shown, the most credited first) · {found['currency']}",
        highlight=False,
    )
    for deal in found["deals"]:
        path = (
            " > ".join(f"{escape(t['channel'])} {format_number(t['share'], 'pct')}" for t in deal["touches"])
            or "(no touch)"
        )
        out.print(
            f"{escape(deal['id'])} ({str(deal['at'])[:10]}, {_money(deal['value'])}): "
            f"{_money(deal['credit'])} credited ({format_number(deal['share'], 'pct')}, "
            f"{model_name(str(deal['model'] or '-'))}, definitions version {deal['version']}) · {path}",
            highlight=False,
        )


def _show_comparison(document: dict[str, Any], key: str) -> None:
    comparison = document["comparison"]
    names = comparison["models"]
    table = RichTable(key, *(model_name(n) for n in names), "range", title="every model side by side")
    for row in comparison["rows"]:
        flag = " [bold]model-dependent[/]" if row["model_dependent"] else ""
        table.add_row(
            escape(row["item"]),
            *(_money(row[name]) for name in names),
            f"{_money(row['low'])}-{_money(row['high'])}{flag}",
        )
    out.print(table, highlight=False)
    dependent = [escape(r["item"]) for r in comparison["rows"] if r["model_dependent"]]
    if dependent:
        out.print(
            f"Credit that depends heavily on the model (its range is at least its mean): {', '.join(dependent)}.",
            highlight=False,
        )


def roi(
    by: Annotated[ByChoice, typer.Option("--by", help="One row per channel or per campaign.")] = ByChoice.channel,
    period: Annotated[PeriodChoice | None, typer.Option("--period", help="One cohort per period of creation.")] = None,
    start: FromOption = None,
    end: ToOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Cost and return per channel (or campaign): spend, cost per stage, CAC, realised revenue with ROI, ROAS and
    payback, and what the leads still in flight are expected to bring (with a P10-P90 range), never a zero return
    because a campaign is young. Cohorts of the leads created in the window (default: the last twelve months)."""
    from tandem.questions import RoiQuestion, ask

    question = RoiQuestion.parse(
        by=by.value, period=None if period is None else period.value, start=start, end=end, as_of=as_of
    )
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is TableFormat.json:
        print_json(document)
        return
    if format is TableFormat.csv:
        write_csv(sys.stdout, _ROI_COLUMNS, [_roi_flat(row) for row in document["rows"]])
        return
    _show_roi(document)


_ROI_COLUMNS = [
    "item",
    "period",
    "spend",
    "leads",
    "won_deals",
    "cost_per_lead",
    "cac",
    "revenue",
    "roi",
    "roas",
    "payback_month",
    "expected_revenue",
    "expected_low",
    "expected_high",
    "roi_with_expected",
]


def _roi_flat(row: dict[str, Any]) -> dict[str, Any]:
    realised, expected = row["realised"], row["expected"]
    return {
        "item": row["item"],
        "period": row["period"],
        "spend": row["spend"],
        "leads": next(iter(row["reached"].values()), 0),
        "won_deals": realised["won_deals"],
        "cost_per_lead": next((v for k, v in row.items() if k.startswith("cost_per_")), None),
        "cac": row["cac"],
        "revenue": realised["revenue"],
        "roi": realised["roi"],
        "roas": realised["roas"],
        "payback_month": realised["payback_month"],
        "expected_revenue": expected["revenue"],
        "expected_low": expected["low"],
        "expected_high": expected["high"],
        "roi_with_expected": row["with_expected"]["roi"],
    }


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _show_roi(document: dict[str, Any]) -> None:
    out.print(
        f"[bold]Cost and return[/] of the leads created {document['start'][:10]} to {document['end'][:10]}, "
        f"as of {document['as_of'][:10]} · {document['currency']}",
        highlight=False,
    )
    if document["expected_unavailable"]:
        out.print(escape(document["expected_unavailable"]), highlight=False)
    stages = document["stages"]
    table = RichTable(
        document["by"],
        *(["period"] if document["period"] else []),
        "spend",
        "leads",
        f"cost per\n{stages[1] if len(stages) > 1 else stages[0]}",
        "CAC",
        "revenue\nrealised",
        "ROI\nrealised",
        "expected\n(P10-P90)",
        "ROI with\nexpected",
        "payback",
        title="realised: deals won by the as-of day; expected: leads in flight, through the plan model",
    )
    second = f"cost_per_{stages[1]}" if len(stages) > 1 else f"cost_per_{stages[0]}"
    for row in [*document["rows"], document["totals"]]:
        realised, expected, both = row["realised"], row["expected"], row["with_expected"]
        table.add_row(
            escape(row["item"]),
            *([str(row["period"] or "")[:10]] if document["period"] else []),
            _money(row["spend"]),
            format_number(row["reached"][stages[0]]),
            _money(row.get(second)),
            _money(row["cac"]),
            _money(realised["revenue"]),
            _times(realised["roi"]),
            f"{_money(expected['revenue'])} ({_money(expected['low'])}-{_money(expected['high'])})",
            _times(both["roi"]),
            str(realised["payback_month"] or "not yet")[:7],
        )
    out.print(table, highlight=False)
