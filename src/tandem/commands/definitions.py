"""``tandem definitions``: the funnel definitions, their history, and changes proposed and approved by both sides;
then what the data says about them (impact, the loosening signal, suggestions), read-only.

Each read is a question of `tandem.questions.definitions`: ``--format json`` prints its document, the one the
REST API answers (``/api/definitions/...``), and the table renders it. Who may do what with a proposal is
`tandem.definitions.governance.allowed_actions` (`tandem definitions proposals --as USER` shows it).

Whoever proposes, approves or rejects signs in as themselves: a password (prompted, or --password-stdin) or an
API token in $TANDEM_TOKEN. The audit log names that user, not `cli_actor()`.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from enum import StrEnum
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
    ProposalArgument,
    WorkspaceOption,
    decide,
    err,
    open_workspace,
    out,
    print_json,
    sign_in,
    when,
)
from tandem.exports import format_number

if TYPE_CHECKING:
    from tandem.definitions.governance import ProposalInfo
    from tandem.workspace import Workspace

__all__ = ["definitions_app"]

definitions_app = typer.Typer(
    help="The funnel definitions: show, history, and changes proposed and approved by both sides.",
    no_args_is_help=True,
)


class DocumentFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def _decision_line(proposal: ProposalInfo, username: str, side: str, ws: Workspace) -> str:
    if proposal.status == "approved" and proposal.version is not None:
        version = ws.definitions.version(proposal.version)
        return (
            f"Proposal #{proposal.id} approved for {side} by {username}; "
            f"version {version.version} is in effect from {version.effective_from}"
        )
    waiting = " and ".join("an exec override" if s == "exec" else f"a {s} leader" for s in proposal.waiting_for)
    return f"Proposal #{proposal.id} approved for {side} by {username}; waiting for {waiting}"


@definitions_app.command("show")
def definitions_show(
    version: Annotated[
        int | None, typer.Option("--version", metavar="N", help="This version (default: the current one).")
    ] = None,
    workspace: WorkspaceOption = None,
    format: Annotated[DocumentFormat, typer.Option("--format", help="Output format.")] = DocumentFormat.yaml,
) -> None:
    """Print the definitions file of the current version (or of --version N); --format json prints the version's
    document, as ``GET /api/definitions/N`` gives it."""
    from tandem.questions import DefinitionsQuestion, ask

    with open_workspace(workspace, needs_warehouse=False) as ws:
        number = version if version is not None else ws.definitions.current().version
        shown = ask(ws, DefinitionsQuestion.parse(version=number))
    if format is DocumentFormat.json:
        print_json(shown)
        return
    since = f", in effect from {shown['effective_from']}" if shown["effective_from"] else ""
    err.print(f"# version {shown['version']}{since}", highlight=False)
    text: str = shown["document"]
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@definitions_app.command("history")
def definitions_history(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Every version, and every proposal with its status and the sides' decisions (``GET /api/definitions``)."""
    from tandem.questions import DefinitionsQuestion, ask

    with open_workspace(workspace, needs_warehouse=False) as ws:
        history = ask(ws, DefinitionsQuestion())
    if format is Format.json:
        print_json(history)
        return
    versions = RichTable("version", "in effect from", "created (UTC)", "by", "proposal", "note", title="versions")
    for v in history["versions"]:
        in_force = " (in force)" if v["version"] == history["in_force"] else ""
        versions.add_row(
            f"{v['version']}{in_force}",
            v["effective_from"] or "",
            when(v["created_at"]),
            escape(v["created_by"]),
            f"#{v['proposal_id']}" if v["proposal_id"] else "",
            escape(v["note"]),
        )
    out.print(versions, highlight=False)
    proposals = RichTable("#", "on version", "author", "status", "decisions", "effective", "note", title="proposals")
    for p in history["proposals"]:
        proposals.add_row(
            str(p["id"]),
            str(p["base_version"]),
            escape(p["author"]),
            _status(p),
            escape(_decisions(p)),
            p["effective_from"] or "",
            escape(p["note"]),
        )
    out.print(proposals, highlight=False)


def _status(proposal: dict[str, Any]) -> str:
    waiting = proposal["waiting_for"]
    made = f": version {proposal['version']}" if proposal["version"] else ""
    return f"{proposal['status']}{made}" + (f" (waiting for {' and '.join(waiting)})" if waiting else "")


def _decisions(proposal: dict[str, Any]) -> str:
    return ", ".join(f"{d['side']}: {d['decision']} by {d['username']}" for d in proposal["decisions"])


@definitions_app.command("proposals")
def definitions_proposals(
    proposal_id: Annotated[
        int | None, typer.Argument(metavar="[N]", help="This proposal (default: every one).", show_default=False)
    ] = None,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="USER",
            help="Who you are, to be told what you may do with each (signs in; optional with $TANDEM_TOKEN).",
        ),
    ] = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Every proposal in full (or proposal N): what it changes, the decisions, whom it waits for and who may decide,
    the quarter-end guard when it counts, and what you may do with it when you say who you are
    (``GET /api/definitions/proposals``). Read-only."""
    from tandem.questions import ProposalsQuestion, ask

    with open_workspace(workspace) as ws:
        principal = sign_in(ws, as_, password_stdin) if as_ or os.environ.get("TANDEM_TOKEN", "").strip() else None
        document = ask(ws, ProposalsQuestion.parse(proposal_id=proposal_id, principal=principal))
    if format is Format.json:
        print_json(document)
        return
    shown = [document] if proposal_id is not None else document["proposals"]
    if not shown:
        out.print("No proposals yet.", highlight=False)
    for proposal in shown:
        _show_proposal(proposal, signed_in=principal is not None)


def _show_proposal(proposal: dict[str, Any], *, signed_in: bool) -> None:
    """One proposal for people: its facts, changes, decisions, whom it waits for and what the reader may do."""
    title = f"Proposal #{proposal['id']}" + (f": {proposal['note']}" if proposal["note"] else "")
    out.print(f"[bold]{escape(title)}[/]", highlight=False)
    waiting = [
        ("an exec's override" if side == "exec" else f"a {side} leader")
        + (f" ({', '.join(proposal['leaders'][side])})" if proposal["leaders"].get(side) else " (nobody may)")
        for side in proposal["waiting_for"]
    ]
    facts = [
        ("status", _status(proposal)),
        (
            "proposed by",
            f"{proposal['author']}, {when(proposal['created_at'])} UTC, on version {proposal['base_version']}",
        ),
        ("effective from", proposal["effective_from"] or "the day it is approved"),
        ("waits for", " and ".join(waiting) or "nobody: it is closed"),
    ]
    for change in proposal["changes"] or ["no stage or scoring change"]:
        facts.append(("changes", change))
    for decision in proposal["decisions"]:
        comment = f": {decision['comment']}" if decision["comment"] else ""
        facts.append(("decision", f"{decision['side']}: {decision['decision']} by {decision['username']}{comment}"))
    if proposal["guard_message"]:
        facts.append(("quarter-end guard", proposal["guard_message"]))
    if signed_in:
        facts.append(("you may", ", ".join(proposal["actions"]) or "nothing"))
    for label, value in facts:
        out.print(f"  {label + ':':20}{escape(value)}", highlight=False)


@definitions_app.command("propose")
def definitions_propose(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The proposed definitions file (YAML).")],
    as_: AsOption = None,
    note: Annotated[
        str, typer.Option("--note", metavar="TEXT", help="What changes and why (default: the file's version_note).")
    ] = "",
    effective_from: Annotated[
        str | None,
        typer.Option(
            "--effective", metavar="DATE", help="First day it counts (YYYY-MM-DD; default: the approval day)."
        ),
    ] = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Propose a new version of the definitions; it takes effect once a leader of each side approves it."""
    try:
        day = date.fromisoformat(effective_from) if effective_from else None
    except ValueError:
        raise typer.BadParameter(f"--effective {effective_from!r} is not a date like 2026-12-01") from None
    with open_workspace(workspace) as ws:
        principal = sign_in(ws, as_, password_stdin)
        proposal = ws.definitions.propose(principal, file, note=note, effective_from=day)
        verdict = ws.definitions.guard(proposal.id)
    if format is Format.json:
        print_json({"proposal": proposal.as_dict(), "guard": verdict.as_dict()})
        return
    out.print(f"Proposal #{proposal.id} on version {proposal.base_version} by {proposal.author}:", highlight=False)
    for change in proposal.changes:
        out.print(f"  {escape(change)}", highlight=False)
    waiting = " and an exec override" if verdict.needs_override else ""
    out.print(f"Waiting for a marketing leader and a sales leader to approve it{waiting}.", highlight=False)
    if verdict.needs_override:
        out.print(escape(verdict.message), highlight=False)


@definitions_app.command("approve")
def definitions_approve(
    proposal_id: ProposalArgument,
    as_: AsOption = None,
    comment: Annotated[str, typer.Option("--comment", metavar="TEXT", help="A comment kept with the approval.")] = "",
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Approve a proposal for your side (you must be a marketing or sales leader, and not its author)."""
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "proposal",
        lambda ws, principal: ws.definitions.approve(principal, proposal_id, comment),
        lambda proposal, principal, ws: _decision_line(proposal, principal.username, str(principal.role), ws),
    )


@definitions_app.command("reject")
def definitions_reject(
    proposal_id: ProposalArgument,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why: the author and the other side will read it.")
    ],
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Reject a proposal (a leader of either side), or withdraw your own; it is closed."""
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "proposal",
        lambda ws, principal: ws.definitions.reject(principal, proposal_id, reason),
        lambda proposal, principal, _: (
            f"Proposal #{proposal.id} rejected by {principal.username}: {escape(reason.strip())}"
        ),
    )


@definitions_app.command("override")
def definitions_override(
    proposal_id: ProposalArgument,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why now: both teams will read it in the audit log.")
    ],
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Let a proposal past the quarter-end guard (an exec, not its author); both leaders must still approve it."""
    decide(
        workspace,
        as_,
        password_stdin,
        format,
        "proposal",
        lambda ws, principal: ws.definitions.override(principal, proposal_id, reason),
        lambda proposal, principal, _: (
            f"Proposal #{proposal.id}: {principal.username} overrode the guard: {escape(reason.strip())}"
        ),
    )


@definitions_app.command("guard")
def definitions_guard(
    proposal_id: ProposalArgument, workspace: WorkspaceOption = None, format: FormatOption = Format.table
) -> None:
    """Whether a proposal loosens a marketing stage in the last weeks of a quarter, and so needs an exec override."""
    with open_workspace(workspace) as ws:
        verdict = ws.definitions.guard(proposal_id)
    if format is Format.json:
        print_json(verdict.as_dict())
        return
    if verdict.overridden_by is not None:
        override = f"given by {verdict.overridden_by}: {verdict.reason}"
    else:
        override = "needed, not given" if verdict.needs_override else "not needed"
    window = f"{verdict.window[0]} to {verdict.window[1]}" if verdict.window is not None else "none (guard off)"
    lines = [
        ("loosens (marketing stages)", ", ".join(verdict.loosened) or "none"),
        ("judged", "on data" if verdict.added is not None else "by the text of the change"),
        ("takes effect", str(verdict.effective)),
        ("freeze window", window),
        ("exec override", override),
    ]
    for label, value in lines:
        out.print(f"{label + ':':28}{escape(value)}", highlight=False)
    out.print(escape(verdict.message), highlight=False)


# --- what the data says (read-only) -------------------------------------------------------------------------------


@definitions_app.command("impact")
def definitions_impact(
    proposal_id: ProposalArgument,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """What a proposal would change: leads added and removed per stage, how the added ones converted, and the
    expected effect on the next stage, won deals and revenue this quarter. Read-only."""
    from tandem.questions import ImpactQuestion, ask

    question = ImpactQuestion.parse(proposal_id=proposal_id, as_of=as_of)
    with open_workspace(workspace) as ws:
        report = ask(ws, question)
    if format is Format.json:
        print_json(report)
        return
    table = RichTable(
        "stage",
        "side",
        "now",
        "proposed",
        "added",
        "removed",
        "added this quarter",
        "sooner this quarter",
        "sooner: to next",
        "current: to next",
        "sooner: to won",
        "current: to won",
        "expected won",
        "expected revenue",
        title=f"impact of proposal #{proposal_id} on version {report['base_version']} · as of "
        f"{when(report['as_of'])} UTC · quarter from {report['quarter_start']}",
    )
    for stage in report["stages"]:
        table.add_row(
            stage["stage"],
            stage["side"],
            format_number(stage["current"]),
            format_number(stage["proposed"]),
            format_number(stage["added"]),
            format_number(stage["removed"]),
            format_number(stage["quarter_added"]),
            format_number(stage["quarter_earlier"]),
            format_number(stage["added_next_rate"], "pct"),
            format_number(stage["kept_next_rate"], "pct"),
            format_number(stage["added_won_rate"], "pct"),
            format_number(stage["kept_won_rate"], "pct"),
            format_number(stage["expected_won"], "expected"),
            format_number(stage["expected_revenue"], "money"),
        )
    out.print(table, highlight=False)
    for line in report["summary"]:
        out.print(escape(line), highlight=False)


@definitions_app.command("signal")
def definitions_signal(
    as_of: AsOfOption = None,
    weeks: Annotated[int, typer.Option("--weeks", metavar="N", help="Recent span, in complete weeks (1-52).")] = 4,
    baseline_weeks: Annotated[
        int,
        typer.Option("--baseline-weeks", metavar="N", help="Baseline span: the weeks before the recent ones (1-104)."),
    ] = 12,
    signal_window_days: Annotated[
        int | None,
        typer.Option(
            "--window-days",
            metavar="DAYS",
            help="Days an MQL has to be accepted, 1-365 (default: signal_window_days).",
        ),
    ] = None,
    history_weeks: Annotated[
        int,
        typer.Option("--history-weeks", metavar="N", help="Readings in the history: the Mondays before, then now."),
    ] = 12,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """The weekly loosening signal: MQL volume rising while sales accepts a smaller share (flag, ok, or not enough
    data). Compares the last --weeks complete weeks with the --baseline-weeks before them; read-only."""
    from tandem.questions import SignalQuestion, ask

    question = SignalQuestion.parse(
        as_of=as_of,
        weeks=weeks,
        baseline_weeks=baseline_weeks,
        signal_window_days=signal_window_days,
        history_weeks=history_weeks,
    )
    with open_workspace(workspace) as ws:
        signal = ask(ws, question)
    if format is Format.json:
        print_json(signal)
        return
    mql, nxt = signal["mql_stage"], signal["next_stage"]
    table = RichTable(
        "week",
        f"{mql} entries",
        f"reached {nxt} within {signal['params']['window_days']} days",
        "acceptance",
        "volume span",
        "acceptance span",
        title=f"loosening signal as of {when(signal['as_of'])} UTC · definition version "
        f"{signal['definition_version']} · {signal['backend']}",
    )
    for week in signal["weeks"]:
        rate = format_number(week["acceptance_rate"], "pct") if week["mature"] else "(window open)"
        table.add_row(
            week["week"],
            format_number(week["mqls"]),
            format_number(week["accepted"]),
            rate,
            week["volume_span"] or "",
            week["acceptance_span"] or "",
        )
    out.print(table, highlight=False)
    volume, acceptance = signal["volume"], signal["acceptance"]
    out.print(
        f"{mql} per week: {format_number(volume['recent_per_week'])} recent against "
        f"{format_number(volume['baseline_per_week'])} baseline (p {_p_text(volume['p_value'])}, "
        f"dispersion {volume['dispersion']:.2f})",
        highlight=False,
    )
    out.print(
        f"acceptance: {format_number(acceptance['recent_rate'], 'pct')} of {acceptance['recent_mqls']:,} recent "
        f"against {format_number(acceptance['baseline_rate'], 'pct')} of {acceptance['baseline_mqls']:,} baseline "
        f"(p {_p_text(acceptance['p_value'])}, dispersion {acceptance['dispersion']:.2f})",
        highlight=False,
    )
    history = RichTable(
        "as of", "status", f"{mql} change", "p", "acceptance change", "p", title="what the signal said each week"
    )
    for reading in signal["history"]:
        history.add_row(
            when(reading["as_of"]),
            reading["status"],
            _change_text(reading["volume_change"]),
            _p_text(reading["volume_p_value"]),
            _change_text(reading["acceptance_change"]),
            _p_text(reading["acceptance_p_value"]),
        )
    out.print(history, highlight=False)
    colour = {"flag": "bold red", "ok": "green"}.get(signal["status"], "yellow")
    out.print(f"[{colour}]{signal['status']}[/]: {escape(signal['sentence'])}", highlight=False)


def _change_text(value: float | None) -> str:
    return "" if value is None else f"{value:+.0%}"


def _p_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


@definitions_app.command("suggest")
def definitions_suggest(
    as_of: AsOfOption = None,
    top: Annotated[int, typer.Option("--top", metavar="N", help="How many attributes to show (1-100).")] = 10,
    stage: Annotated[
        str | None,
        typer.Option("--stage", metavar="STAGE", help="The stage the threshold curve is for (default: the MQL stage)."),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Suggestions from data: the attributes that predict won, the model's held-out AUC, and the threshold curve of
    its score for a stage. It informs the next proposal and never changes the definitions."""
    from tandem.questions import SuggestionsQuestion, ask

    question = SuggestionsQuestion.parse(as_of=as_of, top=top, stage=stage)
    with open_workspace(workspace) as ws:
        found = ask(ws, question)
    if format is Format.json:
        print_json(found)
        return
    model, outcome, current = found["model"], found["outcome"], found["current"]
    out.print(
        f"held-out AUC {model['auc']:.2f} on {model['test_rows']:,} leads (trained on {model['train_rows']:,}; "
        f"{outcome} rate {model['base_rate']:.1%}); leads at least {found['min_age_days']} days old as of "
        f"{found['as_of'][:10]} · definition version {found['definition_version']}",
        highlight=False,
    )
    ranking = RichTable("#", "attribute", "importance", "effect", title=f"what predicts {outcome}")
    for rank, attribute in enumerate(found["attributes"], 1):
        ranking.add_row(
            str(rank), escape(attribute["attribute"]), f"{attribute['importance']:.2f}", escape(attribute["effect"])
        )
    out.print(ranking, highlight=False)
    curve = RichTable(
        "score at least",
        f"would reach {found['stage']}",
        "share",
        outcome,
        f"{outcome} rate",
        "rate below",
        f"share of all {outcome} kept",
        title=f"{found['stage']} as a score threshold, on {current['candidates']:,} held-out leads that reached "
        f"{found['candidates_stage']}",
    )
    for row in found["curve"]:
        curve.add_row(
            f"{row['threshold']:.3f}",
            format_number(row["volume"]),
            format_number(row["share"], "pct"),
            format_number(row["reached"]),
            format_number(row["rate"], "pct"),
            format_number(row["rate_below"], "pct"),
            format_number(row["recall"], "pct"),
        )
    out.print(curve, highlight=False)
    out.print(
        f"{found['stage']} as defined today: {current['reached']:,} of those leads, "
        f"{format_number(current['rate'], 'pct') or '-'} of them {outcome}",
        highlight=False,
    )
    err.print(found["note"], highlight=False)
