"""The workspace itself: ``tandem init``, ``upgrade``, ``status``, ``settings``, ``demo`` and ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    Format,
    FormatOption,
    WorkspaceOption,
    cli_actor,
    err,
    open_workspace,
    out,
    print_json,
    when,
)
from tandem.warehouse.schema import DEFAULT_STAGES

__all__ = ["demo", "init", "serve", "settings", "status", "upgrade"]


def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to create the workspace in.")],
    stages: Annotated[str, typer.Option(metavar="STAGES", help="The funnel's stages, in order.")] = ",".join(
        DEFAULT_STAGES
    ),
    database: Annotated[
        str | None, typer.Option(metavar="URL", help="Application database URL (default: SQLite file in DIR).")
    ] = None,
    warehouse: Annotated[
        str | None, typer.Option(metavar="URL", help="Warehouse URL (default: DuckDB file in DIR).")
    ] = None,
) -> None:
    """Create a workspace: config file, application database, empty warehouse."""
    from tandem.workspace import init_workspace

    ws = init_workspace(directory, stages=stages.split(","), database=database, warehouse=warehouse)
    with ws:
        out.print(f"Created workspace [bold]{ws.config.name}[/] in {directory}")
        out.print(f"  stages:    {' -> '.join(ws.stages)} (definition version {ws.definition_version})")
        out.print(f"  database:  {ws.store.engine.dialect.name}")
        out.print(f"  warehouse: {ws.warehouse.display_url}")
        out.print(f"Next: [bold]tandem import leads FILE.csv --workspace {directory}[/]")


def upgrade(workspace: WorkspaceOption = None) -> None:
    """Bring an older workspace forward (database migrations)."""
    with open_workspace(workspace, check_schema=False) as ws:
        done = ws.upgrade()
    out.print("\n".join(done) if done else "The workspace is up to date.")


def status(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """Counts per table, definition version, backends and the last import."""
    from tandem.questions import StatusQuestion, ask

    with open_workspace(workspace) as ws:
        info = ask(ws, StatusQuestion())
    if format is Format.json:
        print_json(info)
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
            f"at {when(last['finished_at'])} UTC by {last['actor']} "
            f"({last['added']:,} added, {last['updated']:,} updated, {last['rejected']:,} rejected)"
        )
    else:
        out.print("no import yet")
    if info.get("findings"):
        out.print("[bold]what the funnel cannot show yet[/]")
        for finding in info["findings"]:
            out.print(f"  - {escape(finding['text'])}", highlight=False)
    show_sales_sourced(info.get("sales_sourced_channels"))
    show_next_steps(info["next_steps"])


def show_sales_sourced(found: dict[str, Any] | None) -> None:
    """When ``sales_sourced_channels`` is unset: that marketing's quota is not measured, and what to set it to."""
    if found and found["advice"]:
        out.print(
            escape(
                f"marketing's revenue quota is not measured: the sales-sourced channels are not set; {found['advice']}"
            ),
            highlight=False,
        )


def show_next_steps(document: dict[str, Any]) -> None:
    """The next set-up step (`tandem.questions.status.next_steps`): what is missing, what to do and the command,
    then the titles of the steps after it."""
    waiting = [step for step in document["steps"] if not step["done"]]
    if not waiting:
        out.print("set-up done: users, leads, stage events, deals, a goal and an accepted plan", highlight=False)
        return
    first = waiting[0]
    out.print(f"next: {escape(first['missing'])} {escape(first['action'])}", highlight=False)
    out.print(f"    {escape(first['command'])}", highlight=False)
    if len(waiting) > 1:
        out.print("then: " + ", ".join(step["title"].lower() for step in waiting[1:]), highlight=False)


def settings(workspace: WorkspaceOption = None) -> None:
    """List workspace settings, their values and what they do (set them under [settings] in tandem.toml)."""
    from tandem.questions.sales_sourced import sales_sourced_status
    from tandem.settings import SETTINGS

    with open_workspace(workspace, check_schema=False) as ws:
        values = ws.settings
        sales_sourced = sales_sourced_status(ws)
    table = RichTable("setting", "value", "default", "help")
    for s in SETTINGS:
        table.add_row(s.name, repr(values[s.name]), repr(s.default), s.help)
    out.print(table)
    show_sales_sourced(sales_sourced)


def demo(
    workspace: WorkspaceOption = None,
    leads: Annotated[
        int | None, typer.Option(metavar="N", help="Number of leads to generate (default 20,000).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(metavar="S", help="Random seed; the same seed gives the same company.")
    ] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the web app afterwards.")] = True,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to serve on.")] = 8000,
) -> None:
    """Generate a realistic demo company, import it, add one user per role, and open the dashboard.

    The demo users' passwords are printed (new ones on every run): a demo workspace is for trying tandem out.
    """
    from tandem.demo_workspace import build_demo, create_demo_users, propose_demo_change, set_demo_goal
    from tandem.plan.goals import format_amount

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
        run_server(target, host=host, port=port)


def serve(
    workspace: WorkspaceOption = None,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app."""
    from tandem.workspace import resolve_path

    run_server(resolve_path(workspace), host=host, port=port)


#: uvicorn's factory of the web app, by name: the command line starts the server without importing it.
SERVER_FACTORY = "tandem.server:served_app"


def run_server(workspace: Path, *, host: str, port: int) -> None:
    """Run the web app with uvicorn until interrupted. On a workspace without users, create the first admin."""
    import os

    import uvicorn

    from tandem.workspace import cli_actor
    from tandem.workspace import open_workspace as open_folder

    with open_folder(workspace) as ws:
        password = ws.accounts.ensure_first_admin(cli_actor())
        # Forwarded headers (client address, scheme) are believed only from the proxies the workspace names.
        proxies: list[str] = list(ws.settings["trusted_proxies"])
    if password:
        print(
            "No users yet: created user 'admin' with the one-time password\n\n"
            f"    {password}\n\n"
            "It is shown only now; you will be asked to choose your own at first sign-in.",
            flush=True,
        )
    print(f"tandem is serving {workspace} on http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    print(
        f"Meanwhile, from another shell: `tandem funnel -w {workspace}`, `tandem import ... -w {workspace}` "
        "and cron's `tandem alerts run` work on this workspace too.",
        flush=True,
    )
    os.environ["TANDEM_SERVED_WORKSPACE"] = str(workspace.resolve())
    uvicorn.run(
        SERVER_FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )
