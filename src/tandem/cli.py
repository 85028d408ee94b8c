"""The ``tandem`` command: a thin layer over the Python API.

Exit codes: 0 success, 1 the request failed (bad input, validation: the message says what and where), 2 usage
error. ``--format json`` prints one JSON document on stdout; progress and diagnostics go to stderr.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from tandem import __version__
from tandem.errors import TandemError
from tandem.settings import SETTINGS
from tandem.warehouse.mapping import list_presets
from tandem.warehouse.schema import DEFAULT_STAGES, TABLES
from tandem.workspace import init_workspace, open_workspace

app = typer.Typer(
    name="tandem",
    help="Sales and marketing on one revenue goal: shared definitions, one plan, one dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output is not cut to 80 columns: tables stay whole in files and logs.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"


WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $TANDEM_WORKSPACE, else the current folder)."),
]
FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value))


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=_json_default, indent=2) + "\n")


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


@app.command()
def demo(
    workspace: WorkspaceOption = None,
    leads: Annotated[int | None, typer.Option(help="Number of leads to generate (default 20,000).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same company.")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the web app afterwards.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Generate a realistic demo company, import it, and open the dashboard."""
    from tandem.demo_workspace import build_demo

    target = workspace or Path("tandem-demo")
    ws = build_demo(target, leads=leads, seed=seed, echo=lambda line: err.print(line, highlight=False))
    with ws:
        counts = ws.status()["tables"]
    table = RichTable("table", "rows", title=f"demo company in {target}")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
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


if __name__ == "__main__":  # pragma: no cover
    main()
