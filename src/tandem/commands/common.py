"""What every ``tandem`` command module shares: the consoles, the output formats, the common options, JSON
output and signing in. Command modules by domain (`tandem.commands.*`) and `tandem.cli` import from here."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tandem.accounts import Principal
from tandem.errors import TandemError
from tandem.workspace import Workspace

# Piped output is not cut to 80 columns: tables stay whole in files and logs.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"


class TableFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class PeriodChoice(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"


WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $TANDEM_WORKSPACE, else the current folder)."),
]
FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
ResultFormatOption = Annotated[TableFormat, typer.Option("--format", help="Output format.")]
ByOption = Annotated[list[str] | None, typer.Option("--by", help="Break down by a lead column (repeatable).")]
PeriodOption = Annotated[PeriodChoice | None, typer.Option("--period", help="Group by period of entry (UTC).")]
FromOption = Annotated[str | None, typer.Option("--from", help="First day included (YYYY-MM-DD, UTC).")]
ToOption = Annotated[str | None, typer.Option("--to", help="First day excluded (YYYY-MM-DD, UTC).")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Count only leads that passed each stage in order.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Observe the data as of this moment (default now).")]
VersionOption = Annotated[
    int | None,
    typer.Option(
        "--definitions",
        min=1,
        metavar="VERSION",
        help="Count under this definitions version (default: the version in force at --as-of).",
    ),
]


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value))


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=json_default, indent=2) + "\n")


AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Who you are (signs in with their password; optional with $TANDEM_TOKEN)."),
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]
ProposalArgument = Annotated[int, typer.Argument(metavar="N", help="The proposal's number (see `history`).")]


def sign_in(ws: Workspace, username: str | None, password_stdin: bool) -> Principal:
    """The user acting: from the API token in $TANDEM_TOKEN, else `--as` and their password."""
    token = os.environ.get("TANDEM_TOKEN", "").strip()
    if token:
        principal = ws.accounts.token_principal(token)
        if principal is None:
            raise TandemError("the API token in $TANDEM_TOKEN does not work (unknown, revoked, or its user disabled)")
        if username is not None and username.strip().lower() != principal.username:
            raise TandemError(f"--as {username} does not match the owner of $TANDEM_TOKEN ({principal.username})")
        return dataclasses.replace(principal, via="cli-token")
    if not username:
        raise typer.BadParameter("say who you are with --as USER (or set $TANDEM_TOKEN to your API token)")
    password = read_password() if password_stdin else getpass.getpass(f"password of {username}: ")
    return dataclasses.replace(ws.accounts.authenticate(username, password, "cli"), via="cli")


def read_password() -> str:
    """A password from stdin: typed without echo at a terminal, else the first line of what is piped in."""
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")
