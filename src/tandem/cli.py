"""The ``tandem`` command: a thin layer over the Python API.

Exit codes: 0 success, 1 the request failed (bad input, validation: the message says what and where), 2 usage
error. ``--format json`` prints one JSON document on stdout; progress and diagnostics go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from tandem import __version__
from tandem.accounts import Role, TokenInfo, UserInfo
from tandem.commands.alerts import alerts_app
from tandem.commands.common import (
    AsOfOption,
    AsOption,
    ByOption,
    Format,
    FormatOption,
    FromOption,
    PasswordStdinOption,
    PeriodOption,
    ProposalArgument,
    ResultFormatOption,
    StrictOption,
    TableFormat,
    ToOption,
    VersionOption,
    WorkspaceOption,
    err,
    out,
)
from tandem.commands.common import print_json as _print_json
from tandem.commands.common import read_password as _read_password
from tandem.commands.common import sign_in as _sign_in
from tandem.commands.forecast import forecast_app
from tandem.definitions.governance import ProposalInfo
from tandem.engine import Result
from tandem.errors import ConfigError, TandemError
from tandem.exports import format_number, json_value, write_csv
from tandem.plan.goals import GoalInfo, format_amount
from tandem.plan.proposals import PlanInfo, PlanVersionInfo
from tandem.plan.waterfall import Waterfall
from tandem.settings import SETTINGS
from tandem.warehouse.mapping import list_presets
from tandem.warehouse.schema import DEFAULT_STAGES, TABLES
from tandem.workspace import Workspace, cli_actor, init_workspace, open_workspace

app = typer.Typer(
    name="tandem",
    help="Sales and marketing on one revenue goal: shared definitions, one plan, one dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console-script entry point: a `TandemError` becomes its message on stderr and exit code 1.

    Usage errors are Click's (exit code 2); anything else is a bug and keeps its traceback.
    """
    try:
        app()
    except TandemError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise SystemExit(1) from None


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"tandem {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(2)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    stages: Annotated[str, typer.Option(help="The funnel's stages, in order.")] = ",".join(DEFAULT_STAGES),
    database: Annotated[
        str | None, typer.Option(help="Application database URL (default: SQLite file in DIR).")
    ] = None,
    warehouse: Annotated[str | None, typer.Option(help="Warehouse URL (default: DuckDB file in DIR).")] = None,
) -> None:
    """Create a workspace: config file, application database, empty warehouse."""
    ws = init_workspace(directory, stages=stages.split(","), database=database, warehouse=warehouse)
    with ws:
        out.print(f"Created workspace [bold]{ws.config.name}[/] in {directory}")
        out.print(f"  stages:    {' -> '.join(ws.stages)} (definition version {ws.definition_version})")
        out.print(f"  database:  {ws.store.engine.dialect.name}")
        out.print(f"  warehouse: {ws.warehouse.display_url}")
        out.print(f"Next: [bold]tandem import leads FILE.csv --workspace {directory}[/]")


@app.command()
def upgrade(workspace: WorkspaceOption = None) -> None:
    """Bring an older workspace forward (database migrations)."""
    with open_workspace(workspace, check_schema=False) as ws:
        done = ws.upgrade()
    out.print("\n".join(done) if done else "The workspace is up to date.")


@app.command()
def status(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Counts per table, definition version, backends and the last import."""
    with open_workspace(workspace) as ws:
        info = ws.status()
    if format is Format.json:
        _print_json(info)
        return
    out.print(f"[bold]{info['name']}[/] ({info['workspace']})")
    out.print(f"definition version {info['definition_version']}: {' -> '.join(info['stages'])}")
    if info["next_definition_version"]:
        upcoming = info["next_definition_version"]
        out.print(f"version {upcoming['version']} is approved and takes effect on {upcoming['effective_from']}")
    out.print(f"database:  {info['database']['backend']}  {info['database']['url']}")
    out.print(f"warehouse: {info['warehouse']['backend']}  {info['warehouse']['url']}")
    table = RichTable("table", "rows")
    for name, count in info["tables"].items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    last = info["last_import"]
    if last:
        out.print(
            f"last import: #{last['import_id']} {last['file_name']} -> {last['table_name']} "
            f"at {last['finished_at']:%Y-%m-%d %H:%M} UTC by {last['actor']} "
            f"({last['added']:,} added, {last['updated']:,} updated, {last['rejected']:,} rejected)"
        )
    else:
        out.print("no import yet")


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help=f"Canonical table: {', '.join(TABLES)}.")],
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet files (all imported, or none).")],
    mapping: Annotated[
        str | None, typer.Option(help="Preset name (see `tandem mappings`) or TOML mapping file.")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import valid rows; write rejected ones with reasons to FILE.rejected.csv.")
    ] = False,
    create_missing: Annotated[
        bool, typer.Option(help="Create leads named by events but not imported yet (instead of rejecting).")
    ] = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Import files into a canonical table: validated, atomic, idempotent."""
    with open_workspace(workspace) as ws:
        big = sum(f.stat().st_size for f in files if f.is_file()) >= ws.settings["import_progress_min_bytes"]
        if big and err.is_terminal:
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
                task = bar.add_task("importing", total=None)
                results = ws.import_files(
                    kind,
                    files,
                    mapping=mapping,
                    skip_invalid=skip_invalid,
                    create_missing=create_missing,
                    progress=lambda phase, _done, _total: bar.update(task, description=phase),
                )
        else:
            results = ws.import_files(
                kind, files, mapping=mapping, skip_invalid=skip_invalid, create_missing=create_missing
            )
    if format is Format.json:
        _print_json(
            {
                "imports": [
                    {
                        "import_id": r.import_id,
                        "table": r.table,
                        "file": r.file,
                        "sha256": r.sha256,
                        "rows_read": r.rows_read,
                        "added": r.added,
                        "updated": r.updated,
                        "unchanged": r.unchanged,
                        "rejected": r.rejected,
                        "filtered": r.filtered,
                        "created_leads": r.created_leads,
                        "new_attributes": r.new_attributes,
                        "rejects_file": r.rejects_path,
                    }
                    for r in results
                ]
            }
        )
        return
    for r in results:
        out.print(f"import #{r.import_id}: {r.summary()}", highlight=False)
        if r.new_attributes:
            out.print(f"  new attributes kept: {', '.join(r.new_attributes)}", highlight=False)
        if r.encoding and r.encoding != "utf-8":
            out.print(f"  read as {r.encoding}", highlight=False)
        if r.rejects_path:
            err.print(f"  rejected rows and reasons: {r.rejects_path}", highlight=False)


@app.command()
def imports(
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(help="How many to list, newest first.")] = 50,
    format: FormatOption = Format.table,
) -> None:
    """List past imports: when, who, file, sha256, rows added/updated/rejected."""
    with open_workspace(workspace) as ws:
        rows = ws.imports(limit)
    if format is Format.json:
        _print_json({"imports": rows})
        return
    table = RichTable("#", "when (UTC)", "who", "table", "file", "sha256", "added", "updated", "unchanged", "rejected")
    for r in rows:
        table.add_row(
            str(r["import_id"]),
            f"{r['finished_at']:%Y-%m-%d %H:%M:%S}",
            r["actor"],
            r["table_name"],
            r["file_name"],
            r["sha256"][:12],
            f"{r['added']:,}",
            f"{r['updated']:,}",
            f"{r['unchanged']:,}",
            f"{r['rejected']:,}",
        )
    out.print(table)


@app.command()
def mappings() -> None:
    """List the mapping presets shipped with tandem (HubSpot, Salesforce exports)."""
    table = RichTable("preset", "description")
    for name, description in list_presets().items():
        table.add_row(name, description)
    out.print(table)


@app.command()
def settings(workspace: WorkspaceOption = None) -> None:
    """List workspace settings, their values and what they do (set them under \\[settings] in tandem.toml)."""
    with open_workspace(workspace, check_schema=False) as ws:
        values = ws.settings
    table = RichTable("setting", "value", "default", "help")
    for s in SETTINGS:
        table.add_row(s.name, repr(values[s.name]), repr(s.default), s.help)
    out.print(table)


#: Column -> (header, style) of the readable tables; JSON and CSV carry every column under its own name.
HEADERS: dict[str, tuple[str, str]] = {
    "period": ("period", "text"),
    "stage": ("stage", "text"),
    "reached": ("reached", "int"),
    "conversion_from_previous": ("conversion", "pct"),
    "km_conversion_from_previous": ("conversion (KM)", "pct"),
    "still_open_from_previous": ("still open", "int"),
    "period_conversion_from_previous": ("period view", "pct"),
    "median_days_from_previous": ("median days", "days"),
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
}


def _emit(result: Result, format: TableFormat, columns: Sequence[str], extra: dict[str, Any], title: str = "") -> None:
    """Print a result: a readable table of `columns`, or every column as JSON or CSV."""
    rows = result.rows()
    names = result.to_arrow().column_names
    if format is TableFormat.json:
        document = {
            "definition_version": result.definition_version,
            "backend": result.backend,
            **extra,
            "rows": [{k: json_value(v) for k, v in row.items()} for row in rows],
        }
        _print_json(document)
        return
    if format is TableFormat.csv:
        write_csv(sys.stdout, names, rows)
        return
    groups = set(result.spec.by)
    shown = [c for c in columns if c in names]
    heading = f"{title + ' · ' if title else ''}definition version {result.definition_version} · {result.backend}"
    table = RichTable(*(HEADERS.get(c, (c, ""))[0] for c in shown), title=heading)
    for row in rows:
        styles = ["group" if c in groups else HEADERS.get(c, (c, "text"))[1] for c in shown]
        table.add_row(*(_cell(row.get(c), style) for c, style in zip(shown, styles, strict=True)))
    out.print(table)


def _cell(value: Any, style: str) -> str:
    if value is None:
        return "(missing)" if style == "group" else ""
    if style in ("pct", "days", "int", "money"):
        return format_number(value, style)
    return str(json_value(value))


def _stage_rules(ws: Workspace, version: int) -> list[str]:
    """One line per stage of `version`: its rule, or that only its stage events count."""
    stages = ws.definitions.version(version).definitions.stages
    return [f"  {stage.name}: {stage.rule or '(stage events only)'}" for stage in stages]


def _explain(result: Result, lines: list[str]) -> None:
    err.print("\n".join(lines), highlight=False)
    out.print(result.sql, highlight=False)


@app.command()
def funnel(
    by: ByOption = None,
    period: PeriodOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    strict: StrictOption = False,
    window: Annotated[int | None, typer.Option("--window", help="Count a conversion only within N days.")] = None,
    horizon: Annotated[
        int | None, typer.Option("--horizon", help="Days for 'still open' and the Kaplan-Meier estimate (default 90).")
    ] = None,
    as_of: AsOfOption = None,
    definitions_version: VersionOption = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the rules applied and the SQL, not the numbers.")
    ] = False,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Volumes, conversion and velocity per stage, by breakdown and period."""
    with open_workspace(workspace) as ws:
        result = ws.funnel(
            by=by or [],
            period=period.value if period else None,
            start=from_,
            end=to,
            strict=strict,
            window_days=window,
            horizon_days=horizon,
            as_of=as_of,
            version=definitions_version,
        )
        spec = result.spec
        if explain:
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
            *spec.by,
            "period",
            "stage",
            "reached",
            "conversion_from_previous",
            "km_conversion_from_previous",
            "still_open_from_previous",
            "period_conversion_from_previous",
            "median_days_from_previous",
        ]
        _emit(
            result,
            format,
            columns,
            {
                "as_of": json_value(spec.as_of),
                "mode": "strict" if strict else "cumulative",
                "stages": list(spec.stages),
                "period": spec.period,
                "window_days": spec.window_days,
                "horizon_days": spec.horizon,
            },
        )


@app.command()
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
    with open_workspace(workspace) as ws:
        result = ws.revenue(by=by or [], period=period.value if period else None, start=from_, end=to, as_of=as_of)
        columns = [
            *result.spec.by,
            "period",
            "won_revenue",
            "won_deals",
            "lost_deals",
            "average_deal_size",
            "win_rate",
            "open_pipeline",
            "median_sales_cycle_days",
        ]
        _emit(result, format, columns, {"as_of": json_value(result.spec.as_of)})


@app.command()
def pipeline(
    by: ByOption = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Open pipeline as of now (or --as-of): deals and amount by CRM stage and age in days."""
    with open_workspace(workspace) as ws:
        result = ws.pipeline(by=by or [], as_of=as_of)
        columns = [*result.spec.by, "stage", "age_bin", "deals", "amount"]
        _emit(result, format, columns, {"as_of": json_value(result.spec.as_of)})


@app.command()
def velocity(
    from_stage: Annotated[str, typer.Argument(help="Stage the step starts at.")],
    to_stage: Annotated[str | None, typer.Argument(help="Stage it ends at (default: the next one).")] = None,
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
    with open_workspace(workspace) as ws:
        result = ws.velocity(
            from_stage,
            to_stage,
            by=by or [],
            period=period.value if period else None,
            start=from_,
            end=to,
            strict=strict,
            as_of=as_of,
            version=definitions_version,
        )
        names = result.to_arrow().column_names
        columns = [*result.spec.by, "period", "leads", "median_days", "p25_days", "p75_days", "mean_days"]
        columns += [c for c in names if c.startswith("days_")]
        stages = result.spec.stages
        target = to_stage or stages[min(stages.index(from_stage) + 1, len(stages) - 1)]
        _emit(result, format, columns, {"as_of": json_value(result.spec.as_of)}, title=f"{from_stage} -> {target}")


@app.command()
def quality(
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Data-quality report: out-of-order events, re-entries, unknown leads, negative durations, skipped stages."""
    with open_workspace(workspace) as ws:
        report = ws.quality(as_of=as_of)
    document = report.to_dict()
    if format is Format.json:
        _print_json(json.loads(json.dumps(document, default=json_value)))
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


@app.command()
def leads(
    stage: Annotated[str, typer.Option("--stage", help="The stage whose leads to list.")],
    by: Annotated[
        list[str] | None, typer.Option("--by", help="Filter COL=VALUE (repeatable; COL= for a missing value).")
    ] = None,
    from_: FromOption = None,
    to: ToOption = None,
    strict: StrictOption = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many leads, newest entry first.")] = 100,
    as_of: AsOfOption = None,
    definitions_version: VersionOption = None,
    workspace: WorkspaceOption = None,
    format: ResultFormatOption = TableFormat.table,
) -> None:
    """Drill down: the leads behind a funnel number."""
    where: dict[str, str | None] = {}
    for item in by or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise typer.BadParameter(f"{item!r} is not COL=VALUE", param_hint="--by")
        where[column] = value or None
    with open_workspace(workspace) as ws:
        result = ws.leads(
            stage, where, start=from_, end=to, strict=strict, limit=limit, as_of=as_of, version=definitions_version
        )
        columns = ["lead_id", "created_at", *where, "channel", "owner", "entered", "next_stage_entered"]
        _emit(result, format, columns, {"stage": stage, "filters": where})


@app.command()
def demo(
    workspace: WorkspaceOption = None,
    leads: Annotated[int | None, typer.Option(help="Number of leads to generate (default 20,000).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same company.")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the web app afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Generate a realistic demo company, import it, add one user per role, and open the dashboard.

    The demo users' passwords are printed (new ones on every run): a demo workspace is for trying tandem out.
    """
    from tandem.demo_workspace import build_demo, create_demo_users, propose_demo_change, set_demo_goal

    target = workspace or Path("tandem-demo")
    ws = build_demo(target, leads=leads, seed=seed, echo=lambda line: err.print(line, highlight=False))
    with ws:
        counts = ws.status()["tables"]
        credentials = create_demo_users(ws, cli_actor())
        proposed = propose_demo_change(ws, credentials)
        goal = set_demo_goal(ws, credentials)
    table = RichTable("table", "rows", title=f"demo company in {target}")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    people = RichTable("user", "role", "password", title="demo credentials; change them before sharing this workspace")
    for username, role, password in credentials:
        people.add_row(username, role, password)
    out.print(people)
    if proposed is not None:
        out.print(
            f"mark proposed a change to the MQL definition (proposal #{proposed}); see its impact on the Definitions "
            f"page, or `tandem definitions impact {proposed} -w {target}`",
            highlight=False,
        )
    if goal is not None:
        out.print(
            f"erin set the goal for {goal.period.label}: {format_amount(goal.amount)} ({escape(goal.note)}); see "
            f"the chance of reaching it with `tandem forecast -w {target}` or on the Forecast page",
            highlight=False,
        )
    if serve:
        from tandem.server import serve as run_server

        run_server(target, host=host, port=port)


@app.command()
def serve(
    workspace: WorkspaceOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app."""
    from tandem.server import serve as run_server
    from tandem.workspace import resolve_path

    run_server(resolve_path(workspace), host=host, port=port)


# --- users, API tokens, audit log ---------------------------------------------------------------------------------
# Changes made here are attributed in the audit log to `cli_actor()`: whoever can reach the workspace files.

users_app = typer.Typer(help="People who sign in to the web app: roles, leaders, passwords.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: bearer secrets for the REST API, stored hashed.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: every change, hash-chained.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")

UsernameArgument = Annotated[
    str, typer.Argument(metavar="USERNAME", help="User name (lower-case letters, digits, '.', '_', '-').")
]


def _user_status(user: UserInfo) -> str:
    if user.disabled:
        return "disabled"
    if user.locked:
        return "locked"
    return "must change password" if user.must_change_password else "active"


def _describe(user: UserInfo) -> str:
    leader = " leader" if user.is_leader else ""
    name = f" ({user.display_name})" if user.display_name else ""
    return f"{user.username}{name}: {user.role}{leader}, {_user_status(user)}"


def _show_password(password: str, note: str) -> None:
    out.print(f"\n    {password}\n", highlight=False)
    err.print(note, highlight=False)


@users_app.command("add")
def users_add(
    username: UsernameArgument,
    role: Annotated[Role, typer.Option("--role", help="admin, marketing, sales, exec or viewer.")],
    leader: Annotated[bool, typer.Option("--leader", help="Approves for their side (marketing or sales).")] = False,
    name: Annotated[str, typer.Option("--name", help="Full name shown in the app.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of generating one.")
    ] = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Add a user. Without --password-stdin a one-time password is generated, printed once, changed at first sign-in."""
    password = _read_password() if password_stdin else None
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user, secret = ws.accounts.create_user(
            cli_actor(), username, role, password=password, leader=leader, display_name=name
        )
    if format is Format.json:
        _print_json({"user": user.as_dict(), "password": None if password_stdin else secret})
        return
    out.print(f"Added user {_describe(user)}", highlight=False)
    if not password_stdin:
        out.print("One-time password (shown only now; it must be changed at first sign-in):", highlight=False)
        _show_password(secret, "Hand it over in person or through a channel you trust.")


@users_app.command("list")
def users_list(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """List users: role, leader, status (active, locked, disabled, must change password)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        users = ws.accounts.users()
    if format is Format.json:
        _print_json({"users": [u.as_dict() for u in users]})
        return
    table = RichTable("user", "name", "role", "leader", "status", "created (UTC)")
    for u in users:
        table.add_row(
            u.username,
            escape(u.display_name),
            u.role,
            "yes" if u.is_leader else "",
            _user_status(u),
            f"{u.created_at:%Y-%m-%d}",
        )
    out.print(table)


@users_app.command("disable")
def users_disable(username: UsernameArgument, workspace: WorkspaceOption = None) -> None:
    """Disable a user: they cannot sign in, their sessions end and their API tokens stop working."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user = ws.accounts.update_user(cli_actor(), username, disabled=True)
    out.print(f"Disabled {_describe(user)}; their sessions ended and their API tokens stop working.", highlight=False)


@users_app.command("enable")
def users_enable(username: UsernameArgument, workspace: WorkspaceOption = None) -> None:
    """Enable a disabled user again (their API tokens work again unless revoked)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user = ws.accounts.update_user(cli_actor(), username, disabled=False)
    out.print(f"Enabled {_describe(user)}", highlight=False)


@users_app.command("set")
def users_set(
    username: UsernameArgument,
    role: Annotated[Role | None, typer.Option("--role", help="New role (ends their sessions).")] = None,
    leader: Annotated[
        bool | None, typer.Option("--leader/--no-leader", help="Approves for their side (marketing or sales).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="New full name.")] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Change a user's role, leader flag or full name."""
    if role is None and leader is None and name is None:
        raise typer.BadParameter("give at least one of --role, --leader/--no-leader, --name")
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user = ws.accounts.update_user(cli_actor(), username, role=role, leader=leader, display_name=name)
    if format is Format.json:
        _print_json({"user": user.as_dict()})
        return
    out.print(f"Now {_describe(user)}", highlight=False)


@users_app.command("reset-password")
def users_reset_password(
    username: UsernameArgument, workspace: WorkspaceOption = None, format: FormatOption = Format.table
) -> None:
    """Give a user a new one-time password (also unlocks a locked account and ends their sessions)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        password = ws.accounts.set_password(cli_actor(), username)
        user = ws.accounts.user(username)
    if format is Format.json:
        _print_json({"user": user.as_dict(), "password": password})
        return
    out.print(f"New one-time password of {user.username} (shown only now; to be changed at sign-in):", highlight=False)
    _show_password(password, "Hand it over in person or through a channel you trust.")


TOKEN_COLUMNS = ("#", "user", "name", "role", "prefix", "created (UTC)", "last used (UTC)", "revoked (UTC)")


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


def _token_row(token: TokenInfo) -> list[str]:
    return [
        str(token.id),
        token.username,
        escape(token.name),
        token.role,
        token.prefix + "...",
        _when(token.created_at),
        _when(token.last_used_at),
        _when(token.revoked_at),
    ]


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="Whose token it is: it acts as this user.")],
    name: Annotated[str, typer.Option("--name", help="What it is for, e.g. 'BI nightly export'.")],
    role: Annotated[
        Role | None, typer.Option("--role", help="The user's own role (default) or viewer, for read-only use.")
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Create an API token. The secret is printed once and stored only as its hash."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        token, secret = ws.accounts.create_token(cli_actor(), user, name, role)
    if format is Format.json:
        _print_json({"token": token.as_dict(), "secret": secret})
        return
    out.print(f"API token #{token.id} '{token.name}' of {token.username}, role {token.role}:", highlight=False)
    _show_password(
        secret,
        "It is not shown again: store it now. Send it as `Authorization: Bearer <token>`; "
        f"revoke it with `tandem tokens revoke {token.id}`.",
    )


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """List API tokens (never their secrets): owner, name, role, when created, last used, revoked."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        tokens = ws.accounts.tokens(user)
    if format is Format.json:
        _print_json({"tokens": [t.as_dict() for t in tokens]})
        return
    table = RichTable(*TOKEN_COLUMNS)
    for token in tokens:
        table.add_row(*_token_row(token))
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's number (see `tandem tokens list`).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke an API token: it stops working at once."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        token = ws.accounts.revoke_token(cli_actor(), token_id)
    out.print(f"Revoked API token #{token.id} '{token.name}' of {token.username}.", highlight=False)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many entries, newest first.")] = 50,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """The newest audit entries: when, who, what, on what."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        entries = ws.audit_log(limit)
    if format is Format.json:
        _print_json({"entries": entries})
        return
    table = RichTable("#", "when (UTC)", "who", "action", "target", "details")
    for e in entries:
        details = json.dumps(e["details"], default=str, ensure_ascii=False) if e["details"] else ""
        cells = (e["actor"], e["action"], e["target"], details)
        table.add_row(str(e["seq"]), f"{e['at']:%Y-%m-%d %H:%M:%S}", *map(escape, cells))
    out.print(table, highlight=False)


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head", help="The head hash a previous verify printed: also catches deleted newest entries."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Check the audit log's hash chain. Exit 0 when intact, 1 listing each problem when it is not."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        result = ws.verify_audit(expect_head)
    if format is Format.json:
        _print_json(
            {
                "ok": result.ok,
                "entries": result.entries,
                "head_hash": result.head_hash,
                "problems": [{"seq": p.seq, "message": p.message} for p in result.problems],
            }
        )
    elif result.ok:
        out.print(f"The audit log is intact: {result.entries:,} entries, head hash {result.head_hash}", highlight=False)
        err.print(
            "Keep the head hash somewhere else (a ticket, a wiki page) and pass it to --expect-head next time: "
            "only that catches deleted newest entries.",
            highlight=False,
        )
    else:
        table = RichTable("#", "problem", title=f"the audit log is broken ({result.entries:,} entries)")
        for problem in result.problems:
            table.add_row(str(problem.seq), escape(problem.message))
        out.print(table, highlight=False)
    if not result.ok:
        err.print(
            f"[bold red]error:[/] the audit log's chain is broken in {len(result.problems)} place(s)", highlight=False
        )
        raise typer.Exit(1)


# --- definitions: proposals approved by one leader of each side ---------------------------------------------------
# Whoever proposes, approves or rejects signs in as themselves: a password (prompted, or --password-stdin) or an API
# token in $TANDEM_TOKEN. The audit log names that user, not `cli_actor()`.

definitions_app = typer.Typer(
    help="The funnel definitions: show, history, and changes proposed and approved by both sides.",
    no_args_is_help=True,
)
app.add_typer(definitions_app, name="definitions")


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
    version: Annotated[int | None, typer.Option("--version", help="This version (default: the current one).")] = None,
    workspace: WorkspaceOption = None,
    format: Annotated[DocumentFormat, typer.Option("--format", help="Output format.")] = DocumentFormat.yaml,
) -> None:
    """Print the definitions file of the current version (or of --version N)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        shown = ws.definitions.current() if version is None else ws.definitions.version(version)
    if format is DocumentFormat.json:
        _print_json(
            {**shown.as_dict(), "document": shown.document, "definitions": shown.definitions.model_dump(mode="json")}
        )
        return
    since = f", in effect from {shown.effective_from}" if shown.effective_from else ""
    err.print(f"# version {shown.version}{since}", highlight=False)
    sys.stdout.write(shown.document if shown.document.endswith("\n") else shown.document + "\n")


@definitions_app.command("history")
def definitions_history(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Every version, and every proposal with its status and the sides' decisions."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        history = ws.definitions.history()
    if format is Format.json:
        _print_json(
            {
                "versions": [v.as_dict() for v in history["versions"]],
                "proposals": [p.as_dict() for p in history["proposals"]],
            }
        )
        return
    versions = RichTable("version", "in effect from", "created (UTC)", "by", "proposal", "note", title="versions")
    for v in history["versions"]:
        versions.add_row(
            str(v.version),
            str(v.effective_from or ""),
            _when(v.created_at),
            escape(v.created_by),
            f"#{v.proposal_id}" if v.proposal_id else "",
            escape(v.note),
        )
    out.print(versions, highlight=False)
    proposals = RichTable("#", "on version", "author", "status", "decisions", "effective", "note", title="proposals")
    for p in history["proposals"]:
        decisions = ", ".join(f"{d.side}: {d.decision} by {d.username}" for d in p.decisions)
        status = p.status + (f" (waiting for {' and '.join(p.waiting_for)})" if p.waiting_for else "")
        proposals.add_row(
            str(p.id),
            str(p.base_version),
            p.author,
            status,
            escape(decisions),
            str(p.effective_from or ""),
            escape(p.note),
        )
    out.print(proposals, highlight=False)


@definitions_app.command("propose")
def definitions_propose(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The proposed definitions file (YAML).")],
    as_: AsOption = None,
    note: Annotated[str, typer.Option("--note", help="What changes and why (default: the file's version_note).")] = "",
    effective: Annotated[
        str | None, typer.Option("--effective", help="First day it counts (YYYY-MM-DD; default: the approval day).")
    ] = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Propose a new version of the definitions; it takes effect once a leader of each side approves it."""
    try:
        effective_from = date.fromisoformat(effective) if effective else None
    except ValueError:
        raise typer.BadParameter(f"--effective {effective!r} is not a date like 2026-12-01") from None
    with open_workspace(workspace) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        proposal = ws.definitions.propose(principal, file, note=note, effective_from=effective_from)
        verdict = ws.definitions.guard(proposal.id)
    if format is Format.json:
        _print_json({"proposal": proposal.as_dict(), "guard": verdict.as_dict()})
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
    comment: Annotated[str, typer.Option("--comment", help="A comment kept with the approval.")] = "",
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Approve a proposal for your side (you must be a marketing or sales leader, and not its author)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        proposal = ws.definitions.approve(principal, proposal_id, comment)
        line = _decision_line(proposal, principal.username, str(principal.role), ws)
    if format is Format.json:
        _print_json({"proposal": proposal.as_dict()})
        return
    out.print(line, highlight=False)


@definitions_app.command("reject")
def definitions_reject(
    proposal_id: ProposalArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why: the author and the other side will read it.")],
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Reject a proposal (a leader of either side), or withdraw your own; it is closed."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        proposal = ws.definitions.reject(principal, proposal_id, reason)
    if format is Format.json:
        _print_json({"proposal": proposal.as_dict()})
        return
    out.print(f"Proposal #{proposal.id} rejected by {principal.username}: {escape(reason.strip())}", highlight=False)


@definitions_app.command("override")
def definitions_override(
    proposal_id: ProposalArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why now: both teams will read it in the audit log.")],
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Let a proposal past the quarter-end guard (an exec, not its author); both leaders must still approve it."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        proposal = ws.definitions.override(principal, proposal_id, reason)
    if format is Format.json:
        _print_json({"proposal": proposal.as_dict()})
        return
    out.print(
        f"Proposal #{proposal.id}: {principal.username} overrode the quarter-end guard: {escape(reason.strip())}",
        highlight=False,
    )


@definitions_app.command("guard")
def definitions_guard(
    proposal_id: ProposalArgument, workspace: WorkspaceOption = None, format: FormatOption = Format.table
) -> None:
    """Whether a proposal loosens a marketing stage in the last weeks of a quarter, and so needs an exec override."""
    with open_workspace(workspace) as ws:
        verdict = ws.definitions.guard(proposal_id)
    if format is Format.json:
        _print_json(verdict.as_dict())
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


# --- definitions: what the data says (read-only) ----------------------------------------------------------------


@definitions_app.command("impact")
def definitions_impact(
    proposal_id: ProposalArgument,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """What a proposal would change: leads added and removed per stage, how the added ones converted, and the
    expected effect on the next stage, won deals and revenue this quarter. Read-only."""
    with open_workspace(workspace) as ws:
        report = ws.proposal_impact(proposal_id, as_of=as_of)
    if format is Format.json:
        _print_json(report.as_dict())
        return
    table = RichTable(
        "stage",
        "side",
        "now",
        "proposed",
        "added",
        "removed",
        "added this quarter",
        "added: to next",
        "others: to next",
        "added: to won",
        "others: to won",
        "expected won",
        "expected revenue",
        title=f"impact of proposal #{proposal_id} on version {report.base_version} · as of "
        f"{report.as_of:%Y-%m-%d %H:%M} UTC · quarter from {report.quarter_start}",
    )
    for stage in report.stages:
        table.add_row(
            stage.stage,
            stage.side,
            format_number(stage.current),
            format_number(stage.proposed),
            format_number(stage.added),
            format_number(stage.removed),
            format_number(stage.quarter_added),
            format_number(stage.added_next_rate, "pct"),
            format_number(stage.kept_next_rate, "pct"),
            format_number(stage.added_won_rate, "pct"),
            format_number(stage.kept_won_rate, "pct"),
            format_number(stage.expected_won),
            format_number(stage.expected_revenue, "money"),
        )
    out.print(table, highlight=False)
    for line in report.summary():
        out.print(escape(line), highlight=False)


@definitions_app.command("signal")
def definitions_signal(
    as_of: AsOfOption = None,
    weeks: Annotated[int, typer.Option("--weeks", min=1, help="Recent span, in complete weeks.")] = 4,
    baseline_weeks: Annotated[
        int, typer.Option("--baseline-weeks", min=1, help="Baseline span: the weeks before the recent ones.")
    ] = 12,
    window_days: Annotated[
        int | None,
        typer.Option("--window-days", min=1, help="Days an MQL has to be accepted (default: signal_window_days)."),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """The weekly loosening signal: MQL volume rising while sales accepts a smaller share (flag, ok, or not enough
    data). Compares the last --weeks complete weeks with the --baseline-weeks before them; read-only."""
    from tandem.definitions.signal import loosening_signal

    with open_workspace(workspace) as ws:
        signal = loosening_signal(
            ws, as_of=as_of, recent_weeks=weeks, baseline_weeks=baseline_weeks, window_days=window_days
        )
    if format is Format.json:
        _print_json(signal.as_dict())
        return
    document = signal.as_dict()
    mql, nxt = signal.mql_stage, signal.next_stage
    table = RichTable(
        "week",
        f"{mql} entries",
        f"reached {nxt} within {signal.params.window_days} days",
        "acceptance",
        "volume span",
        "acceptance span",
        title=f"loosening signal as of {signal.as_of:%Y-%m-%d %H:%M} UTC · definition version "
        f"{signal.definition_version} · {signal.backend}",
    )
    for week in document["weeks"]:
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
    volume, acceptance = signal.volume, signal.acceptance
    out.print(
        f"{mql} per week: {format_number(volume.recent_per_week)} recent against "
        f"{format_number(volume.baseline_per_week)} baseline (p {_p_text(volume.p_value)}, "
        f"dispersion {volume.dispersion:.2f})",
        highlight=False,
    )
    out.print(
        f"acceptance: {format_number(acceptance.recent_rate, 'pct')} of {acceptance.recent_mqls:,} recent against "
        f"{format_number(acceptance.baseline_rate, 'pct')} of {acceptance.baseline_mqls:,} baseline "
        f"(p {_p_text(acceptance.p_value)}, dispersion {acceptance.dispersion:.2f})",
        highlight=False,
    )
    history = RichTable(
        "as of", "status", f"{mql} change", "p", "acceptance change", "p", title="what the signal said each week"
    )
    for reading in signal.history:
        history.add_row(
            f"{reading.as_of:%Y-%m-%d %H:%M}",
            reading.status,
            _change_text(reading.volume_change),
            _p_text(reading.volume_p_value),
            _change_text(reading.acceptance_change),
            _p_text(reading.acceptance_p_value),
        )
    out.print(history, highlight=False)
    colour = {"flag": "bold red", "ok": "green"}.get(signal.status, "yellow")
    out.print(f"[{colour}]{signal.status}[/]: {escape(signal.sentence)}", highlight=False)


def _change_text(value: float | None) -> str:
    return "" if value is None else f"{value:+.0%}"


def _p_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


@definitions_app.command("suggest")
def definitions_suggest(
    as_of: AsOfOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many attributes to show.")] = 10,
    stage: Annotated[
        str | None, typer.Option("--stage", help="The stage the threshold curve is for (default: the MQL stage).")
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Suggestions from data: the attributes that predict won, the model's held-out AUC, and the threshold curve of
    its score for a stage. It informs the next proposal and never changes the definitions."""
    from tandem.definitions.suggestions import NOTE, suggest_definitions

    with open_workspace(workspace) as ws:
        found = suggest_definitions(ws, stage=stage, as_of=as_of, top=top)
    if format is Format.json:
        _print_json(found.as_dict())
        return
    out.print(
        f"held-out AUC {found.auc:.2f} on {found.test_rows:,} leads (trained on {found.train_rows:,}; "
        f"{found.outcome} rate {found.base_rate:.1%}); leads at least {found.min_age_days} days old as of "
        f"{found.as_of:%Y-%m-%d} · definition version {found.definition_version}",
        highlight=False,
    )
    ranking = RichTable("#", "attribute", "importance", "effect", title=f"what predicts {found.outcome}")
    for rank, attribute in enumerate(found.attributes, 1):
        ranking.add_row(str(rank), attribute.attribute, f"{attribute.importance:.2f}", escape(attribute.describe()))
    out.print(ranking, highlight=False)
    curve = RichTable(
        "score at least",
        f"would reach {found.stage}",
        "share",
        found.outcome,
        f"{found.outcome} rate",
        "rate below",
        f"share of all {found.outcome} kept",
        title=f"{found.stage} as a score threshold, on {found.candidates:,} held-out leads that reached "
        f"{found.candidates_stage}",
    )
    for row in found.curve:
        curve.add_row(
            f"{row.threshold:.3f}",
            format_number(row.volume),
            format_number(row.share, "pct"),
            format_number(row.reached),
            format_number(row.rate, "pct"),
            format_number(row.rate_below, "pct"),
            format_number(row.recall, "pct"),
        )
    out.print(curve, highlight=False)
    out.print(
        f"{found.stage} as defined today: {found.current_reached:,} of those leads, "
        f"{format_number(found.current_rate, 'pct') or '-'} of them {found.outcome}",
        highlight=False,
    )
    err.print(NOTE, highlight=False)


# --- goals: one revenue target both teams share -------------------------------------------------------------------
# Setting and deleting sign in as the person acting (an exec or an admin), like the definitions commands.

goal_app = typer.Typer(
    help="The revenue goal both teams share: per year, quarter or month, optionally per segment, region or product.",
    no_args_is_help=True,
)
app.add_typer(goal_app, name="goal")

PeriodArgument = Annotated[
    str, typer.Argument(metavar="PERIOD", help="A year (2027), a quarter (2027-Q1) or a month (2027-01).")
]
SegmentOption = Annotated[str | None, typer.Option("--segment", help="The goal of one segment (this value).")]
RegionOption = Annotated[str | None, typer.Option("--region", help="The goal of one region (this value).")]
ProductOption = Annotated[str | None, typer.Option("--product", help="The goal of one product (this value).")]


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
            help="Marketing-sourced share of the goal, 0 to 1 (default: measured on the 12 months before).",
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why this number: both teams read it.")] = "",
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Set the goal of a period (an exec or an admin); setting it again replaces it (the audit log keeps the old)."""
    dimension, value = _goal_slice(segment, region, product)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        goal = ws.goals.set(
            principal, period, amount, dimension=dimension, value=value, marketing_share=marketing_share, note=note
        )
    if format is Format.json:
        _print_json({"goal": goal.as_dict()})
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
        principal = _sign_in(ws, as_, password_stdin)
        goal = ws.goals.delete(principal, period, dimension=dimension, value=value)
    if format is Format.json:
        _print_json({"deleted": goal.as_dict()})
        return
    out.print(f"Deleted goal {escape(_goal_line(goal))}, by {principal.username}", highlight=False)


@goal_app.command("list")
def goal_list(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Every goal: per period (a year before its quarters and months), then per slice."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        goals = ws.goals.all()
    if format is Format.json:
        _print_json({"goals": [g.as_dict() for g in goals]})
        return
    if not goals:
        err.print("No goals yet; set one with `tandem goal set PERIOD AMOUNT --as USER`.", highlight=False)
        return
    table = RichTable("period", "slice", "goal", "marketing share", "note", "set by", "updated (UTC)", title="goals")
    for g in goals:
        table.add_row(
            g.period.label,
            escape(g.slice_label),
            format_amount(g.amount),
            "measured" if g.marketing_share is None else f"{g.marketing_share:g}",
            escape(g.note),
            g.updated_by,
            _when(g.updated_at),
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
    with open_workspace(workspace) as ws:
        shown = ws.goals.show(period)
    if format is Format.json:
        _print_json(shown)
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


# --- plan: the reverse waterfall ----------------------------------------------------------------------------------
plan_app = typer.Typer(
    help="The revenue plan: what each stage must deliver, and when, for the goal.", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")
app.add_typer(forecast_app, name="forecast")
app.add_typer(alerts_app, name="alerts")


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
    str | None, typer.Option("--revenue", help="Revenue for the period: 10M, 2.5M, 750k (default: its goal).")
]
DealSizeOption = Annotated[str | None, typer.Option("--deal-size", help="Mean won amount (default: from history).")]
RateOption = Annotated[
    list[str] | None,
    typer.Option("--rate", help="FROM:TO=R, a step's conversion: 0.4, 40% or counts 120/400 (repeatable)."),
]
LagOption = Annotated[
    list[str] | None, typer.Option("--lag", help="FROM:TO=DAYS from a stage to the next: 45, 2w or 3m (repeatable).")
]
ChannelOption = Annotated[
    list[str] | None,
    typer.Option("--channel", help="NAME=SHARE[@COST_PER_LEAD], the channel mix for the budget (repeatable)."),
]
PlanPeriodOption = Annotated[
    str | None, typer.Option("--period", help="2027, 2027-Q1 or 2027-01 (default: next quarter).")
]
WhereOption = Annotated[
    list[str] | None, typer.Option("--where", help="COL=VALUE: a model of these leads only (repeatable).")
]
LookbackOption = Annotated[int | None, typer.Option("--lookback", min=30, help="Days of history (365).")]
HorizonOption = Annotated[int | None, typer.Option("--horizon", min=7, help="Days a cohort has to convert (180).")]
HistoryOption = Annotated[
    bool, typer.Option("--history/--no-history", help="Fill in from the workspace's history and goal.")
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the draws behind the ranges.")]


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
    from tandem.engine.spec import to_timestamp
    from tandem.plan.calculator import Given, next_quarter, parse_channel, parse_lag, parse_rate
    from tandem.plan.goals import parse_amount, parse_period

    moment = to_timestamp(as_of)
    filters = dict(item.split("=", 1) for item in where or [] if "=" in item)
    if len(filters) != len(where or []):
        raise typer.BadParameter("is not COL=VALUE", param_hint="--where")
    return _PlanQuestion(
        given=Given(
            rates=dict(parse_rate(text) for text in rate or []),
            lags=dict(parse_lag(text) for text in lag or []),
            deal_size=float(parse_amount(deal_size)) if deal_size else None,
        ),
        period=parse_period(period) if period else next_quarter((moment or datetime.now()).date()),
        revenue=float(parse_amount(revenue)) if revenue else None,
        channels=[parse_channel(text) for text in channel or []],
        moment=moment,
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
        _print_json(document)
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
        _print_json({"period": question.period.label, "scenarios": [o.as_dict() for o in outcomes]})
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
        str | None, typer.Option("--period", help="2027, 2027-Q1 or 2027-01 (default: the current quarter).")
    ] = None,
    as_of: AsOfOption = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Plan against actual: each stage's entries so far against where the accepted plan (or, without one, the
    goal's requirement) says it should be today, with its pace and where that pace ends the period."""
    from tandem.engine.spec import to_timestamp
    from tandem.plan.goals import current_quarter, parse_period
    from tandem.plan.pacing import period_pacing

    moment = to_timestamp(as_of)
    chosen = parse_period(period) if period else current_quarter(moment.date() if moment else None)
    with open_workspace(workspace) as ws:
        paced = period_pacing(ws, chosen, as_of=moment)
    if format is Format.json:
        _print_json({"period": chosen.label, **paced.as_dict()})
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


# --- plan: the marketing plan as a proposal sales leaders accept --------------------------------------------------
# Whoever proposes, reviews or decides signs in as themselves, like the definitions commands.

PlanArgument = Annotated[int, typer.Argument(metavar="ID", help="The plan's number (see `tandem plan history`).")]
PlanVersionOption = Annotated[int, typer.Option("--version", min=1, help="The version you read (see `plan show`).")]


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
    note: Annotated[str, typer.Option("--note", help="What this version is (default: the file's note).")] = "",
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Propose the marketing plan for its period (a marketing user): checked, run forward against the goal, and
    waiting for a sales leader to accept it."""
    with open_workspace(workspace) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        proposed = ws.plans.propose(principal, file, note=note)
    if format is Format.json:
        _print_json({"version": proposed.as_dict()})
        return
    out.print(f"{_plan_version_line(proposed)} by {proposed.author}: waiting for a sales leader", highlight=False)
    for line in _sufficiency_lines(proposed.sufficiency):
        out.print(escape(line), highlight=False)


@plan_app.command("review")
def plan_review(
    plan_id: PlanArgument,
    version: PlanVersionOption,
    comment: Annotated[str, typer.Option("--comment", help="Your comment: the authors and sales leaders read it.")],
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Comment on the version waiting for a decision (marketing or sales); a replaced version is refused."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        reviewed = ws.plans.review(principal, plan_id, comment, version)
    if format is Format.json:
        _print_json({"version": reviewed.as_dict()})
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
        principal = _sign_in(ws, as_, password_stdin)
        accepted = ws.plans.accept(principal, plan_id, version)
    if format is Format.json:
        _print_json({"version": accepted.as_dict()})
        return
    out.print(
        f"{_plan_version_line(accepted)} by {principal.username}: the baseline of {accepted.period}", highlight=False
    )


@plan_app.command("send-back")
def plan_send_back(
    plan_id: PlanArgument,
    reason: Annotated[str, typer.Option("--reason", help="What to change: marketing will read it.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="The version (default: the waiting one).")
    ] = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Send the waiting version back to marketing with a reason (a sales leader, not its author)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        sent = ws.plans.send_back(principal, plan_id, reason, version)
    if format is Format.json:
        _print_json({"version": sent.as_dict()})
        return
    out.print(f"{_plan_version_line(sent)} by {principal.username}: {escape(sent.reason)}", highlight=False)


@plan_app.command("reject")
def plan_reject(
    plan_id: PlanArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why: marketing will read it.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="The version (default: the waiting one).")
    ] = None,
    as_: AsOption = None,
    password_stdin: PasswordStdinOption = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Close the waiting version for good, with a reason (a sales leader, not its author)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = _sign_in(ws, as_, password_stdin)
        rejected = ws.plans.reject(principal, plan_id, reason, version)
    if format is Format.json:
        _print_json({"version": rejected.as_dict()})
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
        int | None, typer.Option("--version", min=1, help="This version (default: the waiting one, else the latest).")
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """A plan version: its programs, its sufficiency check, the comments on it, and the period's baseline."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        plan = _plan_of(ws, ref)
        shown = plan.waiting or plan.latest if version is None else ws.plans.version(plan.id, version)
    if format is Format.json:
        _print_json(
            {
                "plan": {"id": plan.id, "period": plan.period},
                "baseline": None if plan.baseline is None else plan.baseline.version,
                "version": shown.as_dict(),
            }
        )
        return
    decided = f" by {shown.decided_by}" if shown.decided_by and shown.status != "superseded" else ""
    out.print(f"[bold]{escape(_plan_version_line(shown))}[/]{decided}", highlight=False)
    out.print(f"by {shown.author}, {_when(shown.created_at)} UTC: {escape(shown.note)}", highlight=False)
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
        out.print(f"{_when(c.at)} {c.author}: {escape(c.comment)}", highlight=False)


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
        _print_json({"plans": [p.as_dict() for p in plans]})
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
                _when(v.created_at),
                v.decided_by or "" if v.status != "superseded" else "",
                format_number(checked.get("expected_revenue"), "money"),
                format_number(checked.get("probability"), "pct"),
                escape(v.note),
            )
    out.print(table, highlight=False)


if __name__ == "__main__":  # pragma: no cover
    main()
