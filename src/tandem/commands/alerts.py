"""``tandem alerts``: run the alert rules (from cron), read what was sent, check the rules file.

``tandem alerts run`` exits 1 when a delivery failed or was given up in this run, after printing its report, so
cron (which mails a failing job's output) and monitoring notice; alerts that were already sent, readings with
too little data and quiet readings are not failures. A broken rules file is an error too (exit 1, nothing sent).

``tandem alerts list`` asks `tandem.questions.AlertsQuestion`: ``--format json`` prints the document
``GET /api/alerts`` answers (no destination's address: a webhook's URL can be its secret), the table renders it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.alerts.history import HISTORY_STATUSES, MAX_HISTORY
from tandem.commands.common import (
    AsOfOption,
    Format,
    FormatOption,
    WorkspaceOption,
    cli_actor,
    err,
    moment,
    open_workspace,
    out,
    print_json,
    when,
)
from tandem.errors import ConfigError
from tandem.forecast.signals import Signal

if TYPE_CHECKING:
    from tandem.alerts import AlertRules, RunReport

alerts_app = typer.Typer(
    help="Alerts on the forecast's early warnings: rules in alerts.yaml, sent by webhook and email once per period.",
    no_args_is_help=True,
)

SignalsOption = Annotated[
    Path | None,
    typer.Option(
        "--signals",
        metavar="FILE",
        help="Judge the readings in this JSON file (a list of signals, docs/alerts.md) instead of computing them.",
    ),
]


@alerts_app.command("run")
def run(
    workspace: WorkspaceOption = None,
    as_of: AsOfOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be sent; send and record nothing.")
    ] = False,
    signals_file: SignalsOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Judge the current signals by the rules and send what fires (cron-friendly: once per signal per period).

    Exits 1 when a delivery failed in this run (it is retried on the next run).
    """
    with open_workspace(workspace, needs_warehouse=signals_file is None) as ws:
        at = moment(as_of)
        contract = ws.counting(at).current.definitions.service_levels
        # A broken file (a `team:` the contract does not have, too) is reported before any signal is computed.
        rules = ws.alerts.rules(teams=[team.name for team in contract.teams] if contract is not None else [])
        notes: list[str] = []
        if signals_file is not None:
            signals = signals_from_file(signals_file)
        else:
            from tandem.forecast.current import read_signals

            found = read_signals(ws, at, teams=rules.followed_teams())
            signals, notes = found.signals, found.notes
        report = ws.alerts.run(signals, dry_run=dry_run, actor=cli_actor(), rules=rules)
    if format is Format.json:
        print_json({**report.as_dict(), "notes": notes})
    else:
        _print_report(report)
        for note in notes:
            out.print(f"Note: {escape(note)}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def signals_from_file(path: Path) -> list[Signal]:
    """Signals from a JSON file: a list of objects with Signal's fields (details optional)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}, line {exc.lineno}, column {exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of signals, e.g. [{_EXAMPLE}]")
    signals: list[Signal] = []
    for index, item in enumerate(data, start=1):
        try:
            signals.append(_signal(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: signal {index} cannot be read ({exc}); each looks like {_EXAMPLE}") from None
    return signals


_EXAMPLE = (
    '{"kind": "goal_chance", "subject": "", "period": "2026Q4", "value": 0.38, "unit": "share", '
    '"sample": 5000, "message": "..."}'
)


def _signal(item: Any) -> Signal:
    if not isinstance(item, dict):
        raise TypeError("not an object")
    value, sample = item["value"], item["sample"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"value must be a number, got {value!r}")
    if isinstance(sample, bool) or not isinstance(sample, int):
        raise ValueError(f"sample must be a whole number, got {sample!r}")
    texts = {name: item[name] for name in ("kind", "period", "unit", "message")}
    texts["subject"] = item.get("subject", "")
    for name, text in texts.items():
        if not isinstance(text, str):
            raise ValueError(f"{name} must be text, got {text!r}")
    details = item.get("details", {})
    if not isinstance(details, dict):
        raise ValueError("details must be an object")
    return Signal(value=float(value), sample=sample, details=details, **texts)


_STYLE = {"sent": "green", "failed": "red", "gave_up": "bold red", "would_send": "yellow"}


def _print_report(report: RunReport) -> None:
    title = "alerts (dry run: nothing sent)" if report.dry_run else "alerts"
    if report.alerts:
        table = RichTable("rule", "signal", "destination", "outcome", "tries", "error", title=title)
        for alert in report.alerts:
            style = _STYLE.get(alert.outcome, "")
            outcome = f"[{style}]{alert.outcome}[/]" if style else alert.outcome
            table.add_row(
                alert.rule, alert.signal_key, alert.destination, outcome, str(alert.attempts), escape(alert.error)
            )
        out.print(table)
    for skipped in report.not_enough_data:
        out.print(f"{skipped.rule} · {skipped.signal_key}: {escape(skipped.reason)}", highlight=False)
    counts = ", ".join(f"{report.count(o)} {o.replace('_', ' ')}" for o in ("sent", "failed", "gave_up", "would_send"))
    out.print(
        f"{report.signals} signal readings: {len(report.alerts)} alert(s) fired ({counts}); "
        f"{report.quiet} within thresholds; {len(report.not_enough_data)} with not enough data",
        highlight=False,
    )
    if report.failures:
        err.print(
            f"{len(report.failures)} delivery(ies) failed in this run; failed ones are retried by the next run",
            highlight=False,
        )


@alerts_app.command("list")
def list_(
    workspace: WorkspaceOption = None,
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(HISTORY_STATUSES)}.", metavar="STATUS")
    ] = None,
    rule: Annotated[str | None, typer.Option(metavar="RULE", help="Only this rule's alerts.")] = None,
    period: Annotated[
        str | None, typer.Option(metavar="PERIOD", help="Only alerts for this period: 2027, 2027-Q1 or 2027-01.")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help=f"How many, newest first (1-{MAX_HISTORY}).")] = 50,
    format: FormatOption = Format.table,
) -> None:
    """The history of alerts: what was sent, to which destination, after how many tries, and what failed."""
    from tandem.questions import AlertsQuestion, ask

    question = AlertsQuestion.parse(limit=limit, status=status, rule=rule, period=period)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    if not document["alerts"]:
        out.print("No alerts yet.")
        return
    table = RichTable("fired (UTC)", "rule", "signal", "destination", "status", "tries", "sent (UTC)", "text / error")
    for r in document["alerts"]:
        note = r["last_error"] if r["status"] != "sent" and r["last_error"] else r["text"]
        table.add_row(
            when(r["fired_at"]),
            r["rule"],
            r["signal_key"],
            f"{r['destination']} ({r['channel']})",
            r["status"],
            str(r["attempts"]),
            when(r["sent_at"]),
            escape(note),
        )
    out.print(table)


@alerts_app.command("check")
def check(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Check alerts.yaml and print its rules and destinations (a problem: file, line, column and a hint)."""
    from tandem.alerts.delivery import format_value

    with open_workspace(workspace, needs_warehouse=False) as ws:
        rules = ws.alerts.rules()
        path = ws.alerts.path
    if format is Format.json:
        print_json(_rules_document(rules))
        return
    table = RichTable("rule", "signal", "subject", "fires when", "min sample", "send to", title=str(path))
    for rule in rules.rules:
        unit = "share" if rule.signal == "goal_chance" else "ratio" if rule.signal == "stage_pace" else ""
        shown = format_value(rule.threshold, unit) if unit else f"{rule.threshold:g}"
        table.add_row(
            rule.name,
            rule.signal,
            rule.subject or "(any)",
            f"{rule.direction} {shown}",
            str(rule.min_sample),
            ", ".join(rule.send_to),
        )
    out.print(table)
    for name, destination in rules.destinations.items():
        out.print(f"{name}: {destination.channel} {destination.target}", highlight=False)
    out.print(f"{len(rules.rules)} rule(s), {len(rules.destinations)} destination(s): the file is good.")


def _rules_document(rules: AlertRules) -> dict[str, Any]:
    return {
        "rules": [rule.model_dump(exclude_none=True) for rule in rules.rules],
        "destinations": {name: {"channel": d.channel, "target": d.target} for name, d in rules.destinations.items()},
    }
