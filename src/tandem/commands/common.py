"""What every ``tandem`` command module shares: the consoles, the output formats, the common options, JSON
output, opening the workspace, signing in, turning a user's error into one line and an exit code (`run`), and the
root group that loads each command when it is used (`TandemGroup`).

Command modules by domain (`tandem.commands.*`) import from here and `tandem.cli` assembles them. This module,
like every command module at import time, stays light (typer, rich and tandem's own small modules): the
workspace, the engine and the stores are imported inside the commands that use them, so ``tandem --help``
starts at once and ``tandem funnel`` loads only what the funnel needs.
"""

from __future__ import annotations

import dataclasses
import getpass
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from enum import StrEnum
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol, TypeVar

import typer
import typer.main
from rich.console import Console
from rich.markup import escape
from typer.core import DEFAULT_MARKUP_MODE, HAS_RICH, TyperArgument, TyperCommand, TyperGroup, TyperOption

from tandem.errors import ConfigError, InvalidError, TandemError

if TYPE_CHECKING:
    from typer._click import Command, Context, HelpFormatter, Parameter

    from tandem.accounts import Principal
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
    typer.Option(
        "--workspace",
        "-w",
        metavar="DIR",
        help="Workspace folder (default: $TANDEM_WORKSPACE, else the current folder).",
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]
ResultFormatOption = Annotated[TableFormat, typer.Option("--format", help="Output format.")]
ByOption = Annotated[
    list[str] | None, typer.Option("--by", metavar="COL", help="Break down by a lead column (repeatable).")
]
PeriodOption = Annotated[PeriodChoice | None, typer.Option("--period", help="Group by period of entry (UTC).")]
FromOption = Annotated[str | None, typer.Option("--from", metavar="DATE", help="First day included (YYYY-MM-DD, UTC).")]
ToOption = Annotated[str | None, typer.Option("--to", metavar="DATE", help="First day excluded (YYYY-MM-DD, UTC).")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Count only leads that passed each stage in order.")]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", metavar="DATE", help="Observe the data as of this moment (default now)."),
]
VersionOption = Annotated[
    int | None,
    typer.Option(
        "--definitions",
        min=1,
        metavar="VERSION",
        help="Recount everything under this version (default: each period under the version in force then).",
    ),
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", metavar="USER", help="Who you are (signs in with their password; optional with $TANDEM_TOKEN)."
    ),
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]
ProposalArgument = Annotated[int, typer.Argument(metavar="N", help="The proposal's number (see `history`).")]


# --- output -------------------------------------------------------------------------------------------------------
def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value))


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=json_default, indent=2) + "\n")


def when(value: datetime | str | None) -> str:
    """A stored moment in tables (a datetime, or ISO 8601 text as documents carry it): minutes are enough, and a
    missing one is blank."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


def show_secret(secret: str, note: str) -> None:
    """A password or token shown once: alone on its line on stdout (easy to copy), the advice on stderr."""
    out.print(f"\n    {secret}\n", highlight=False)
    err.print(note, highlight=False)


def print_error(message: str) -> None:
    """An error for people, on stderr, in the one form every command uses."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


# --- the workspace and who is acting ------------------------------------------------------------------------------
def open_workspace(
    path: str | os.PathLike[str] | None = None, *, check_schema: bool = True, needs_warehouse: bool = True
) -> Workspace:
    """`tandem.workspace.open_workspace`, imported when a command runs rather than when the CLI starts; amounts
    are shown in the workspace's currency from then on (`tandem.money.use_currency`)."""
    from tandem.money import use_currency
    from tandem.warehouse.lease import announce_waiting
    from tandem.workspace import open_workspace as open_

    announce_waiting(lambda text: err.print(text, style="dim", highlight=False))
    ws = open_(path, check_schema=check_schema, needs_warehouse=needs_warehouse)
    use_currency(ws.settings["currency"])  # every table and sentence the command prints shows amounts in it
    return ws


def cli_actor() -> str:
    """The audit log's name for someone at the command line (`tandem.workspace.cli_actor`)."""
    from tandem.workspace import cli_actor as actor

    return actor()


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
    if not ws.accounts.count():
        raise TandemError(NO_USERS)
    if not username:
        raise typer.BadParameter("say who you are with --as USER (or set $TANDEM_TOKEN to your API token)")
    password = read_password() if password_stdin else ask_password(f"password of {username}: ")
    principal = ws.accounts.authenticate(username, password, "cli")
    if principal.must_change_password:
        raise TandemError(
            f"{principal.username} still has a one-time password: choose your own first with "
            f"`tandem account password --as {principal.username}`"
        )
    return dataclasses.replace(principal, via="cli")


#: Why `--as` cannot work on a workspace without users, and what to do (`sign_in`, `tandem account password`).
NO_USERS = (
    "this workspace has no users yet: add the first with `tandem users add NAME --role exec` "
    "(or --role admin, marketing, sales; it prints a one-time password, which "
    "`tandem account password --as NAME` changes), then say who you are with --as NAME"
)


#: How a script gives `sign_in` the password, said when there is no terminal to ask it at.
NO_TERMINAL_ADVICE = (
    'add --password-stdin and pipe it in (echo "$PASSWORD" | tandem ... --password-stdin), '
    "or set $TANDEM_TOKEN to an API token"
)


def ask_password(prompt: str, pipe: str = NO_TERMINAL_ADVICE) -> str:
    """A password typed at the terminal, without echo; without a terminal, a one-line error saying `pipe`.

    Why: getpass without a terminal falls back to reading stdin with a warning, and ends in a bare "Aborted." when
    stdin is empty (a cron job, a script); a script should say so with ``--password-stdin``.
    """
    if not sys.stdin.isatty():
        raise TandemError(f"no terminal to ask the password at: {pipe}")
    try:
        return getpass.getpass(prompt)
    except EOFError:  # Ctrl+D at the prompt
        raise TandemError("no password given") from None


class Decided(Protocol):
    """What an approval workflow's decision returns: a record that reads as JSON."""

    def as_dict(self) -> dict[str, Any]: ...


D = TypeVar("D", bound=Decided)


def decide(
    workspace: Path | None,
    username: str | None,
    password_stdin: bool,
    format: Format,
    key: str,
    act: Callable[[Workspace, Principal], D],
    line: Callable[[D, Principal, Workspace], str],
) -> None:
    """Sign in, take one decision of an approval workflow, and print it: ``{key: record}`` as JSON, or `line`.

    The line is written while the workspace is open (it may read it), and only for the table format."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        principal = sign_in(ws, username, password_stdin)
        decided = act(ws, principal)
        text = line(decided, principal, ws) if format is not Format.json else ""
    if format is Format.json:
        print_json({key: decided.as_dict()})
        return
    out.print(text, highlight=False)


def read_password() -> str:
    """A password from stdin: typed without echo at a terminal, else the first line of what is piped in."""
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def moment(value: str | None) -> datetime | None:
    """A date flag's value as a naive UTC datetime (`tandem.engine.spec.to_timestamp`, imported when used)."""
    from tandem.engine.spec import to_timestamp

    return to_timestamp(value)


# --- errors -------------------------------------------------------------------------------------------------------
def run(app: typer.Typer, args: Sequence[str] | None = None) -> None:
    """Run `app` as the ``tandem`` command does: an error the user caused is one line on stderr and an exit code
    (`user_error`), never a traceback; anything else is a bug and keeps its traceback.

    Only the command itself does this (`tandem.cli.main`): run in-process (a test's CliRunner, a notebook), the
    app lets the exception through to its caller.
    """
    argv = list(sys.argv[1:] if args is None else args)
    try:
        app(args=argv)
    except Exception as exc:
        found = user_error(exc, lambda: invoked(app, argv))
        if found is None:
            raise
        message, code = found
        print_error(message)
        raise SystemExit(code) from None


def invoked(app: typer.Typer, args: Sequence[str]) -> Command | None:
    """The command `args` name (the deepest group or command they reach), whose flags name a field at fault."""
    command: Command = typer.main.get_command(app)
    for token in args:
        children = getattr(command, "commands", None)
        if children is None:
            break
        if token.startswith("-"):
            continue
        if token not in children:
            break
        command = children[token]
    return command


#: A question's field -> the flag that sets it, where the flag is not ``--`` and the field with ``-`` for ``_``.
FLAGS = {
    "start": "--from",
    "end": "--to",
    "version": "--definitions",
    "window_days": "--window",
    "horizon_days": "--horizon",
    "as_of": "--as-of",
    "period_kind": "--kind",
}


def flag_for(field: str, command: Command | None = None) -> str:
    """How the command line names a question's field: the running command's own option or argument of that name
    (``--stage``, ``from_stage``), else `FLAGS`, else ``--field-name``."""
    for param in getattr(command, "params", ()):
        if param.name == field:
            if isinstance(param, TyperOption):
                return max(param.opts, key=len)
            return param.metavar or field
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def user_error(exc: BaseException, command: Callable[[], Command | None] = lambda: None) -> tuple[str, int] | None:
    """The message and exit code of an error the user caused, None for a bug (which keeps its traceback).

    A field of the question at fault is a usage error (exit 2) and the message names its flag (`flag_for`, in
    `command`, asked only then); any other `TandemError` is a request that failed (exit 1). A pydantic
    ValidationError from a question's model is read as the `InvalidError` it wraps (or its own message), naming
    the field it was raised for.
    """
    error = _invalid_from_validation(exc) or exc
    if isinstance(error, InvalidError) and error.field:
        return f"{flag_for(error.field, command())}: {error.message}", 2
    if isinstance(error, TandemError):
        return str(error), 1
    return None


def _invalid_from_validation(exc: BaseException) -> TandemError | None:
    pydantic_core = sys.modules.get("pydantic_core")  # already imported if one was raised; never import it here
    if pydantic_core is None or not isinstance(exc, pydantic_core.ValidationError):
        return None
    problems = exc.errors(include_url=False)
    first = problems[0]
    cause = first.get("ctx", {}).get("error")
    location = first.get("loc", ())
    if isinstance(cause, TandemError) and not isinstance(cause, InvalidError):
        return cause  # not about a value (a missing workspace, say): a failed request, as raised
    if isinstance(cause, TandemError):
        message = str(cause)
    else:
        text = str(cause) if isinstance(cause, Exception) else str(first["msg"])
        message = f"{text[:1].lower()}{text[1:]} (got {first.get('input')!r})" if location else text
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    field = getattr(cause, "field", None) or (str(location[0]) if location else None)
    return InvalidError(message, field=field, value=first.get("input"))


class TandemGroup(TyperGroup):
    """The root ``tandem`` group: its commands loaded when used, and their help tidied.

    `catalogue` (set by `tandem.cli`) names each command as ``module:attribute``, a function or a Typer; a
    command is imported and built the first time it runs or its own help is shown, so ``tandem funnel`` imports
    one command module and builds one command, where Typer alone would read all fifty signatures on every start.
    ``tandem --help`` lists them from their docstrings alone.
    """

    catalogue: ClassVar[dict[str, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = self.lazy = LazyCommands(self.catalogue, dict(self.commands))
        tidy_help(self)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        with self.lazy.listing():
            super().format_help(ctx, formatter)


class LazyCommands(MutableMapping[str, "Command"]):
    """A group's commands by name, in the catalogue's order, each imported and built on first look-up.

    While a listing is printed (`listing`), a command not built yet is only summarised: its name and help, read
    from its function's docstring or its Typer's help, with nothing imported beyond its module.
    """

    def __init__(self, catalogue: Mapping[str, str], built: dict[str, Command]) -> None:
        self._catalogue = dict(catalogue)
        self._built = built
        self._listing = False

    def __getitem__(self, name: str) -> Command:
        if name in self._built:
            return self._built[name]
        target = self._target(name)
        if self._listing:
            return _summary(name, target)
        command = self._built[name] = _build(name, target)
        tidy_help(command)
        return command

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._built and name not in self._catalogue:
            raise KeyError(name)
        self._built.pop(name, None)
        self._catalogue.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._catalogue
        yield from (name for name in self._built if name not in self._catalogue)

    def __len__(self) -> int:
        return len({*self._catalogue, *self._built})

    def __contains__(self, name: object) -> bool:  # without building it
        return name in self._built or name in self._catalogue

    @contextmanager
    def listing(self) -> Iterator[None]:
        """Summaries instead of built commands, for a group's help."""
        before, self._listing = self._listing, True
        try:
            yield
        finally:
            self._listing = before

    def _target(self, name: str) -> Any:
        module, _, attribute = self._catalogue[name].partition(":")
        return getattr(import_module(module), attribute)


def _build(name: str, target: Any) -> Command:
    """`target` (a command function or a Typer) built by Typer as `app.command(name)` or `app.add_typer(name=)`
    would, through a holder group with a callback (so that Typer always makes it a group)."""
    holder = typer.Typer()
    holder.callback()(_nothing)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


def _nothing() -> None:
    """The holder group's callback (never run)."""


def _summary(name: str, target: Any) -> Command:
    """What a group's listing shows of a command: its name and the help it will have once built."""
    if isinstance(target, typer.Typer):  # its own help, else its callback's docstring, as Typer reads them
        callback = target.registered_callback.callback if target.registered_callback else None
        text = getattr(target.info.help, "value", target.info.help) or (callback and inspect.getdoc(callback))
    else:
        text = inspect.getdoc(target)
    markup = HAS_RICH and DEFAULT_MARKUP_MODE == "rich"
    return TyperCommand(name=name, help=_plain(text, markup))


# --- help ---------------------------------------------------------------------------------------------------------
# Typer 0.29 (with its own copy of Click, typer._click) draws a type column for every parameter in its rich help:
# flags read `--strict <bool>`, text `--from <str>`. In rich markup mode it keeps a docstring's single line breaks
# in the command lists and later paragraphs, so sentences break where the source line ended, and it reads help as
# rich markup, so `[settings]` or `[@COST]` vanish. `tidy_help` fixes each command once it is built.

_TYPE_METAVARS = {"str": "TEXT", "int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER"}


def tidy_help(root: Command) -> None:
    """Reflow every help text of `root` and the commands built under it into whole paragraphs, show it as plain
    text, and give each option a metavar that says what it takes: none for a flag, the choices, DIR, DATE, or the
    type in capitals. Commands not built yet (`LazyCommands`) are tidied when they are."""
    markup = HAS_RICH and getattr(root, "rich_markup_mode", None) == "rich"
    for command in _walk(root):
        command.help = _plain(command.help, markup)
        if not isinstance(command, TyperGroup):
            refuse_repeats(command)
        context = typer.Context(command)
        help_option = command.get_help_option(context)
        for param in [*command.params, *([help_option] if help_option is not None else [])]:
            if getattr(param, "help", None):
                param.help = _plain(param.help, markup)  # type: ignore[attr-defined]
            if isinstance(param, TyperOption) and param.metavar is None:
                param.metavar = _metavar(param, context)
            if isinstance(param, TyperArgument) and param.metavar is not None:
                param.display_type_rich = _no_type  # type: ignore[method-assign]  # its metavar says what it takes


def refuse_repeats(command: Command) -> None:
    """Make `command` refuse a single-valued option given twice, before it parses anything.

    Why: Click keeps the last of ``--period month --period week`` without a word, so someone who pasted two values
    gets an answer for one of them and does not know which. Repeatable options (``--by``, ``--rate``) are left to
    the question, which refuses a column or a step given twice by name.
    """
    parse = command.parse_args

    def checked(ctx: Context, args: list[str]) -> list[str]:
        repeated = given_twice(command, args)
        if repeated is not None:
            name, message = repeated
            raise ConfigError(message, field=name)  # a usage error naming the flag (exit 2)
        return parse(ctx, args)

    command.parse_args = checked  # type: ignore[method-assign]


def given_twice(command: Command, args: Sequence[str]) -> tuple[str, str] | None:
    """The first of the command's single-valued options that `args` give more than once: its name, and the two
    values and how to fix it in words; None when none is. Reads the arguments as Click does: an option that takes
    a value takes the next argument (or what follows ``=``), and ``--`` ends the options."""
    options = [p for p in command.params if isinstance(p, TyperOption) and not p.multiple and not p.is_eager]
    by_flag = {flag: option for option in options for flag in (*option.opts, *option.secondary_opts)}
    seen: dict[str, str] = {}
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            break
        flag, equals, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = by_flag.get(flag)
        if option is None and len(arg) > 2 and arg[:2] in by_flag and not arg.startswith("--"):
            flag, attached, equals, option = arg[:2], arg[2:], "=", by_flag[arg[:2]]  # -wPATH
        if option is None or option.name is None:
            continue
        value = flag if option.is_flag else attached if equals else next(rest, "")
        if option.name in seen:
            first = seen[option.name]
            if option.is_flag:
                return option.name, f"{first} and {value} are both given; give one of them, once"
            return option.name, f"given twice ({first!r} and {value!r}); give it once, with the value you mean"
        seen[option.name] = value
    return None


def _no_type(ctx: Context) -> None:
    """No type column beside an argument whose metavar names it (``FROM_STAGE``, not ``FROM_STAGE <str>``)."""
    return None


def _walk(command: Command) -> Iterator[Command]:
    yield command
    children = getattr(command, "commands", {})
    for child in [] if isinstance(children, LazyCommands) else children.values():
        yield from _walk(child)


def _plain(text: str | None, markup: bool) -> str | None:
    """Paragraphs joined into single lines (the terminal wraps them), escaped when help is read as markup."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    joined = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
    return escape(joined) if markup else joined


def _metavar(param: Parameter, context: Context) -> str | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    display = getattr(param, "display_type", None)
    if display is None:  # another Typer: its own metavars
        return None
    label = str(display(context)).strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    if "|" in label:
        return f"[{label}]"
    return _TYPE_METAVARS.get(label, label.upper())


def counted_under(document: Mapping[str, Any]) -> str:
    """Which definitions counted the document, in words: one version, or each version and the days it counted."""
    stretches = document.get("counted_under") or []
    if len(stretches) < 2:
        return f"definition version {document['definition_version']}"
    parts = [
        f"version {s['version']}"
        + (f" from {str(s['from'])[:10]}" if s["from"] else "")
        + (f" until {str(s['until'])[:10]}" if s["until"] else "")
        for s in stretches
    ]
    return "counted under " + ", ".join(parts) + " (each period under the definitions in force then)"
