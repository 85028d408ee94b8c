"""People and trust: ``tandem users``, ``tandem tokens`` (API tokens), ``tandem audit`` (the hash-chained log) and
``tandem account`` (a user's own password).

Changes made here are attributed in the audit log to `cli_actor()`: whoever can reach the workspace files. The
lists are questions (`tandem.questions.admin`): ``--format json`` prints the document ``GET /api/users``,
``/api/tokens``, ``/api/audit`` and ``/api/audit/verify`` answer, and the tables render it.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    NO_USERS,
    Format,
    FormatOption,
    WorkspaceOption,
    ask_password,
    cli_actor,
    err,
    open_workspace,
    out,
    print_error,
    print_json,
    read_password,
    show_secret,
    when,
)
from tandem.errors import InvalidError, TandemError
from tandem.roles import Role

if TYPE_CHECKING:
    from tandem.accounts import UserInfo

__all__ = ["account_app", "audit_app", "tokens_app", "users_app"]

users_app = typer.Typer(help="People who sign in to the web app: roles, leaders, passwords.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: bearer secrets for the REST API, stored hashed.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: every change, hash-chained.", no_args_is_help=True)
account_app = typer.Typer(help="Your own account: change your password.", no_args_is_help=True)


UsernameArgument = Annotated[
    str, typer.Argument(metavar="USERNAME", help="User name (lower-case letters, digits, '.', '_', '-').")
]
HANDOVER = "Hand it over in person or through a channel you trust."


def _user_status(user: UserInfo | dict[str, Any]) -> str:
    """active, locked, disabled or must change password: of a user, or of a row of the users document."""
    row = user if isinstance(user, dict) else user.as_dict()
    if row["disabled"]:
        return "disabled"
    if row["locked"]:
        return "locked"
    return "must change password" if row["must_change_password"] else "active"


def _describe(user: UserInfo) -> str:
    leader = " leader" if user.is_leader else ""
    name = f" ({user.display_name})" if user.display_name else ""
    return f"{user.username}{name}: {user.role}{leader}, {_user_status(user)}"


@users_app.command("add")
def users_add(
    username: UsernameArgument,
    role: Annotated[Role, typer.Option("--role", metavar="ROLE", help="admin, marketing, sales, exec or viewer.")],
    leader: Annotated[bool, typer.Option("--leader", help="Approves for their side (marketing or sales).")] = False,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Full name shown in the app.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of generating one.")
    ] = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Add a user. Without --password-stdin a one-time password is generated, printed once, changed at first sign-in."""
    password = read_password() if password_stdin else None
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user, secret = ws.accounts.create_user(
            cli_actor(), username, role.value, password=password, leader=leader, display_name=name
        )
    if format is Format.json:
        print_json({"user": user.as_dict(), "password": None if password_stdin else secret})
        return
    out.print(f"Added user {_describe(user)}", highlight=False)
    if not password_stdin:
        out.print("One-time password (shown only now; it must be changed at first sign-in):", highlight=False)
        show_secret(secret, HANDOVER)


@users_app.command("list")
def users_list(workspace: WorkspaceOption = None, format: FormatOption = Format.table) -> None:
    """List users: role, leader, status (active, locked, disabled, must change password)."""
    from tandem.questions import UsersQuestion, ask

    with open_workspace(workspace, needs_warehouse=False) as ws:
        document = ask(ws, UsersQuestion())
    if format is Format.json:
        print_json(document)
        return
    table = RichTable("user", "name", "role", "leader", "status", "created (UTC)")
    for u in document["users"]:
        table.add_row(
            u["username"],
            escape(u["display_name"]),
            u["role"],
            "yes" if u["is_leader"] else "",
            _user_status(u),
            u["created_at"][:10],
        )
    out.print(table)


@users_app.command("disable")
def users_disable(username: UsernameArgument, workspace: WorkspaceOption = None) -> None:
    """Disable a user: they cannot sign in, their sessions end and their API tokens are revoked."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user = ws.accounts.update_user(cli_actor(), username, disabled=True)
    out.print(f"Disabled {_describe(user)}; their sessions ended and their API tokens are revoked.", highlight=False)


@users_app.command("enable")
def users_enable(username: UsernameArgument, workspace: WorkspaceOption = None) -> None:
    """Enable a disabled user again (their old API tokens stay revoked: make new ones)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user = ws.accounts.update_user(cli_actor(), username, disabled=False)
    out.print(f"Enabled {_describe(user)}", highlight=False)


@users_app.command("set")
def users_set(
    username: UsernameArgument,
    role: Annotated[
        Role | None,
        typer.Option(
            "--role", metavar="ROLE", help="New role: admin, marketing, sales, exec or viewer (ends their sessions)."
        ),
    ] = None,
    leader: Annotated[
        bool | None, typer.Option("--leader/--no-leader", help="Approves for their side (marketing or sales).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", metavar="NAME", help="New full name.")] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Change a user's role, leader flag or full name."""
    if role is None and leader is None and name is None:
        raise typer.BadParameter("give at least one of --role, --leader/--no-leader, --name")
    with open_workspace(workspace, needs_warehouse=False) as ws:
        user = ws.accounts.update_user(
            cli_actor(), username, role=role.value if role else None, leader=leader, display_name=name
        )
    if format is Format.json:
        print_json({"user": user.as_dict()})
        return
    out.print(f"Now {_describe(user)}", highlight=False)


@users_app.command("unlock")
def users_unlock(username: UsernameArgument, workspace: WorkspaceOption = None) -> None:
    """Lift the sign-in blocks on a user's account (after repeated failed sign-ins), from every address at once."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        cleared = ws.accounts.unlock(cli_actor(), username)
        user = ws.accounts.user(username)
    out.print(f"Unlocked {_describe(user)} ({cleared} sign-in counter(s) cleared).", highlight=False)


@users_app.command("reset-password")
def users_reset_password(
    username: UsernameArgument, workspace: WorkspaceOption = None, format: FormatOption = Format.table
) -> None:
    """Give a user a new one-time password (also unlocks a locked account and ends their sessions)."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        password = ws.accounts.set_password(cli_actor(), username)
        user = ws.accounts.user(username)
    if format is Format.json:
        print_json({"user": user.as_dict(), "password": password})
        return
    out.print(f"New one-time password of {user.username} (shown only now; to be changed at sign-in):", highlight=False)
    show_secret(password, HANDOVER)


TOKEN_COLUMNS = ("#", "user", "name", "role", "prefix", "created (UTC)", "last used (UTC)", "revoked (UTC)")


def _token_row(token: dict[str, Any]) -> list[str]:
    """A row of the tokens document as a table row."""
    return [
        str(token["id"]),
        token["username"],
        escape(token["name"]),
        token["role"],
        token["prefix"] + "...",
        when(token["created_at"]),
        when(token["last_used_at"]),
        when(token["revoked_at"]),
    ]


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", metavar="USER", help="Whose token it is: it acts as this user.")],
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="What it is for, e.g. 'BI nightly export'.")],
    role: Annotated[
        Role | None,
        typer.Option("--role", metavar="ROLE", help="The user's own role (default) or viewer, for read-only use."),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Create an API token. The secret is printed once and stored only as its hash."""
    with open_workspace(workspace, needs_warehouse=False) as ws:
        token, secret = ws.accounts.create_token(cli_actor(), user, name, role.value if role else None)
    if format is Format.json:
        print_json({"token": token.as_dict(), "secret": secret})
        return
    out.print(f"API token #{token.id} '{token.name}' of {token.username}, role {token.role}:", highlight=False)
    show_secret(
        secret,
        "It is not shown again: store it now. Send it as `Authorization: Bearer <token>`; "
        f"revoke it with `tandem tokens revoke {token.id}`.",
    )


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", metavar="USER", help="Only this user's tokens.")] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """List API tokens (never their secrets): owner, name, role, when created, last used, revoked."""
    from tandem.questions import TokensQuestion, ask

    question = TokensQuestion.parse(user=user)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    table = RichTable(*TOKEN_COLUMNS)
    for token in document["tokens"]:
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
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="How many entries, newest first (1-1000).")] = 50,
    before: Annotated[
        int | None,
        typer.Option("--before", metavar="SEQ", help="Only entries before this one: the last # of a listing, to page."),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """The newest audit entries: when, who, what, on what."""
    from tandem.questions import AuditQuestion, ask

    question = AuditQuestion.parse(limit=limit, before=before)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    table = RichTable("#", "when (UTC)", "who", "action", "target", "details")
    for e in document["entries"]:
        details = json.dumps(e["details"], default=str, ensure_ascii=False) if e["details"] else ""
        cells = (e["actor"], e["action"], e["target"], details)
        table.add_row(str(e["seq"]), e["at"][:19].replace("T", " "), *map(escape, cells))
    out.print(table, highlight=False)


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            metavar="HASH",
            help="The head hash a previous verify printed: also catches deleted newest entries.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Check the audit log's hash chain. Exit 0 when intact, 1 listing each problem when it is not."""
    from tandem.questions import AuditVerifyQuestion, ask

    question = AuditVerifyQuestion.parse(expect_head=expect_head)
    with open_workspace(workspace, needs_warehouse=False) as ws:
        result = ask(ws, question)
    if format is Format.json:
        print_json(result)
    elif result["ok"]:
        out.print(
            f"The audit log is intact: {result['entries']:,} entries, head hash {result['head_hash']}",
            highlight=False,
        )
        err.print(
            "Keep the head hash somewhere else (a ticket, a wiki page) and pass it to --expect-head next time: "
            "only that catches deleted newest entries.",
            highlight=False,
        )
    else:
        table = RichTable("#", "problem", title=f"the audit log is broken ({result['entries']:,} entries)")
        for problem in result["problems"]:
            table.add_row(str(problem["seq"] or "import log"), escape(problem["message"]))
        out.print(table, highlight=False)
    if not result["ok"]:
        print_error(f"the audit log has {len(result['problems'])} problem(s); see the table above")
        raise typer.Exit(1)


@account_app.command("password")
def account_password(
    as_: Annotated[str, typer.Option("--as", metavar="USER", help="Whose password: yours (your user name).")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the current password, then the new one, from stdin (one per line) instead of asking.",
        ),
    ] = False,
    revoke_tokens: Annotated[
        bool, typer.Option("--revoke-tokens", help="Also revoke every API token of yours.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Change your own password: the current one, then the new one (twice at a terminal).

    This is how a one-time password from `tandem users add` or `users reset-password` is replaced without the web
    app. The change is audited as the Account page's is; your web sessions are signed out.
    """
    with open_workspace(workspace, needs_warehouse=False) as ws:
        if not ws.accounts.count():
            raise TandemError(NO_USERS)
        current, new = _passwords_from_stdin(as_) if password_stdin else _passwords_typed(as_)
        # Signing in first counts a wrong current password as a failed sign-in (and locks the account after too
        # many), as the sign-in form does.
        principal = ws.accounts.authenticate(as_, current, "cli")
        done = ws.accounts.change_own_password(principal, current, new, revoke_tokens=revoke_tokens)
    ended = [f"{done.sessions_ended} web session(s) signed out"] if done.sessions_ended else []
    ended += [f"{done.tokens_revoked} API token(s) revoked"] if done.tokens_revoked else []
    summary = (": " + ", ".join(ended)) if ended else ""
    out.print(f"Changed the password of {principal.username}{summary}.", highlight=False)


def _pipe(username: str) -> str:
    """How a script gives the two passwords."""
    return (
        "add --password-stdin and pipe in the current password, then the new one, one per line "
        f'(printf \'%s\\n%s\\n\' "$OLD" "$NEW" | tandem account password --as {username} --password-stdin)'
    )


def _passwords_from_stdin(username: str) -> tuple[str, str]:
    """The current and the new password, one per line on stdin."""
    lines = [sys.stdin.readline().rstrip("\r\n") for _ in range(2)]
    if not lines[0] or not lines[1]:
        raise InvalidError("--password-stdin: two lines expected on stdin; " + _pipe(username))
    return lines[0], lines[1]


def _passwords_typed(username: str) -> tuple[str, str]:
    """The current password and the new one twice, typed at the terminal without echo."""
    current = ask_password(f"current password of {username}: ", _pipe(username))
    new = ask_password("new password: ", _pipe(username))
    if ask_password("new password again: ", _pipe(username)) != new:
        raise InvalidError("the two new passwords differ; nothing changed")
    return current, new
