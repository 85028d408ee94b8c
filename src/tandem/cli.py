"""The ``tandem`` command: a thin layer over the Python API, assembled here from one module per domain.

The commands live in `tandem.commands` (workspace, imports, funnel, accounts, definitions, goals, plan, forecast,
alerts); what they share (options, output, signing in, errors) in `tandem.commands.common`. This module only
assembles them: `COMMANDS` names each one, and the root group (`TandemGroup`) imports and builds a command when it
runs or its help is shown. Importing this module loads typer, rich and `tandem.commands.common`, nothing of the
engine or the stores, so ``tandem --help`` answers at once (tests/test_cli_startup.py).

Exit codes: 0 success, 1 the request failed (bad input, validation: the message says what and where), 2 usage
error, including a value the question refuses for one of its fields (the message names the flag).
``--format json`` prints one JSON document on stdout; progress and diagnostics go to stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tandem.commands.common import TandemGroup, out, run
from tandem.version import __version__

__all__ = ["COMMANDS", "app", "main"]

#: Every command and command group, in the order of `tandem --help` (set-up and data first, then the numbers,
#: people, agreements, the forecast): the function (a command) or Typer (a group) that implements it.
COMMANDS = {
    "init": "tandem.commands.workspace:init",
    "upgrade": "tandem.commands.workspace:upgrade",
    "status": "tandem.commands.workspace:status",
    "import": "tandem.commands.imports:import_",
    "imports": "tandem.commands.imports:imports_app",
    "mappings": "tandem.commands.imports:mappings_app",
    "settings": "tandem.commands.workspace:settings",
    "funnel": "tandem.commands.funnel:funnel",
    "revenue": "tandem.commands.funnel:revenue",
    "pipeline": "tandem.commands.funnel:pipeline",
    "velocity": "tandem.commands.funnel:velocity",
    "quality": "tandem.commands.funnel:quality",
    "leads": "tandem.commands.funnel:leads",
    "demo": "tandem.commands.workspace:demo",
    "serve": "tandem.commands.workspace:serve",
    "users": "tandem.commands.accounts:users_app",
    "tokens": "tandem.commands.accounts:tokens_app",
    "audit": "tandem.commands.accounts:audit_app",
    "account": "tandem.commands.accounts:account_app",
    "definitions": "tandem.commands.definitions:definitions_app",
    "goal": "tandem.commands.goals:goal_app",
    "plan": "tandem.commands.plan:plan_app",
    "forecast": "tandem.commands.forecast:forecast_app",
    "alerts": "tandem.commands.alerts:alerts_app",
    "sla": "tandem.commands.sla:sla_app",
    "attribution": "tandem.commands.attribution:attribution",
    "roi": "tandem.commands.attribution:roi",
}


class Tandem(TandemGroup):
    """The ``tandem`` group: `COMMANDS`, each loaded when used."""

    catalogue = COMMANDS


app = typer.Typer(
    name="tandem",
    help="Sales and marketing on one revenue goal: shared definitions, one plan, one dashboard.",
    cls=Tandem,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def main() -> None:
    """Console-script entry point: a `TandemError` is its message on stderr and exit 1, or 2 when it names a field
    of the question (with the flag that sets it); anything else is a bug and keeps its traceback (`run`)."""
    run(app)


if __name__ == "__main__":  # pragma: no cover
    main()
