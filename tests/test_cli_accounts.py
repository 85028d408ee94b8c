"""`tandem users`, `tandem tokens` and `tandem audit` as an operator runs them: real processes and exit codes.

Every run acts as ``TANDEM_USER=ops``, so the audit log names ``cli:ops``. Workspaces and the users a test needs
beforehand are made through the Python API (starting a process is slow); what the commands did is checked through
it too (signing in with a printed password, using a printed token).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

import tandem
from tandem.store.models import AuditEntry

from .test_cli import TANDEM, run

PASSWORD_SHAPE = re.compile(r"\b[a-z0-9]{5}(?:-[a-z0-9]{5}){3}\b")
TOKEN_SHAPE = re.compile(r"\btdm_[A-Za-z0-9_-]{43}\b")


def tandem_cli(ws: Path, *args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``tandem ARGS -w WS`` as the operator ``ops``, optionally feeding stdin."""
    return subprocess.run(
        [*TANDEM, *map(str, args), "-w", str(ws)],
        capture_output=True,
        text=True,
        input=stdin if stdin is not None else "",
        env={**os.environ, "TANDEM_USER": "ops"},
        timeout=120,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done))


def failed(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one-line error of a failed run (stdout stays empty)."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    return " ".join(done.stderr.split())


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    tandem.init_workspace(folder).close()
    return folder


def add_user(ws: Path, username: str, role: str) -> None:
    """A user made beforehand, with the password ``<name>'s long password``."""
    with tandem.open_workspace(ws) as workspace:
        workspace.accounts.create_user("cli:ops", username, role, password=f"{username}'s long password")


@pytest.fixture
def with_admin(ws: Path) -> Path:
    """A workspace with an admin `ada` (so others can be disabled or demoted)."""
    add_user(ws, "ada", "admin")
    return ws


def sign_in(ws: Path, username: str, password: str) -> Any:
    with tandem.open_workspace(ws) as workspace:
        return workspace.accounts.authenticate(username, password)


def tamper(ws: Path, statement: Any) -> None:
    with tandem.open_workspace(ws) as workspace:
        workspace.store.write(lambda s: s.execute(statement))


# --- users ------------------------------------------------------------------------------------------------------


def test_users_add_prints_a_one_time_password_that_signs_in_once(ws: Path) -> None:
    done = tandem_cli(ws, "users", "add", "Maria", "--role", "marketing", "--leader", "--name", "Maria K")
    out = ok(done)
    assert "Added user maria (Maria K): marketing leader, must change password" in out
    (password,) = PASSWORD_SHAPE.findall(out)
    principal = sign_in(ws, "maria", password)
    assert principal.must_change_password, "a generated password is changed at first sign-in"
    assert principal.is_leader


def test_users_add_reads_the_password_from_stdin_and_never_prints_it(ws: Path) -> None:
    out = ok(
        tandem_cli(ws, "users", "add", "sam", "--role", "sales", "--password-stdin", stdin="sam's long password\n")
    )
    assert "sam's long password" not in out
    assert not PASSWORD_SHAPE.search(out)
    principal = sign_in(ws, "sam", "sam's long password")
    assert not principal.must_change_password


def test_users_list_as_json_describes_every_user(with_admin: Path) -> None:
    ok(tandem_cli(with_admin, "users", "add", "sam", "--role", "sales", "--leader"))
    document = as_json(tandem_cli(with_admin, "users", "list", "--format", "json"))
    users = {u["username"]: u for u in document["users"]}
    assert sorted(users) == ["ada", "sam"]
    assert users["sam"]["role"] == "sales"
    assert users["sam"]["is_leader"] is True
    assert users["sam"]["must_change_password"] is True
    assert users["ada"]["must_change_password"] is False
    assert {"disabled", "locked", "display_name", "created_at"} <= set(users["ada"])
    table = ok(tandem_cli(with_admin, "users", "list"))
    assert "must change password" in table


def test_users_disable_and_enable(with_admin: Path) -> None:
    add_user(with_admin, "sam", "sales")
    assert "their sessions ended" in ok(tandem_cli(with_admin, "users", "disable", "sam"))
    with pytest.raises(tandem.TandemError, match="wrong user name or password"):
        sign_in(with_admin, "sam", "sam's long password")
    assert "Enabled sam: sales, active" in ok(tandem_cli(with_admin, "users", "enable", "sam"))
    assert sign_in(with_admin, "sam", "sam's long password").username == "sam"


def test_users_set_changes_role_leader_and_name(with_admin: Path) -> None:
    add_user(with_admin, "mia", "viewer")
    document = as_json(
        tandem_cli(
            with_admin, "users", "set", "mia", "--role", "marketing", "--leader", "--name", "Mia", "--format", "json"
        )
    )
    assert document["user"] | {"created_at": None} == {
        "username": "mia",
        "display_name": "Mia",
        "role": "marketing",
        "is_leader": True,
        "disabled": False,
        "locked": False,
        "must_change_password": False,
        "created_at": None,
    }
    assert "Now mia (Mia): marketing, active" in ok(tandem_cli(with_admin, "users", "set", "mia", "--no-leader"))


def test_users_set_without_a_change_is_a_usage_error(with_admin: Path) -> None:
    done = tandem_cli(with_admin, "users", "set", "ada")
    assert done.returncode == 2
    assert "give at least one of --role, --leader/--no-leader, --name" in done.stderr


def test_users_reset_password_prints_a_new_one_time_password(with_admin: Path) -> None:
    out = ok(tandem_cli(with_admin, "users", "reset-password", "ada"))
    (password,) = PASSWORD_SHAPE.findall(out)
    with pytest.raises(tandem.TandemError):
        sign_in(with_admin, "ada", "ada's long password")
    assert sign_in(with_admin, "ada", password).must_change_password


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "add", "ada", "--role", "viewer"), "a user named 'ada' exists already"),
        (("users", "add", "erin", "--role", "exec", "--leader"), "only marketing and sales users can be leaders"),
        (("users", "add", "e", "--role", "exec"), "user name 'e' must be 2-64 characters"),
        (("users", "disable", "ada"), "this would leave the workspace without an active admin"),
        (("users", "set", "ada", "--role", "exec"), "this would leave the workspace without an active admin"),
        (("users", "enable", "nobody"), "no user named 'nobody'; `tandem users list` shows who exists"),
        (("users", "reset-password", "nobody"), "no user named 'nobody'"),
    ],
    ids=["duplicate", "exec-leader", "bad-name", "last-admin-disabled", "last-admin-demoted", "unknown", "reset"],
)
def test_refused_user_changes_exit_1_with_the_reason(with_admin: Path, args: tuple[str, ...], message: str) -> None:
    assert message in failed(tandem_cli(with_admin, *args))


def test_a_password_from_stdin_must_be_long_enough(ws: Path) -> None:
    done = tandem_cli(ws, "users", "add", "sam", "--role", "sales", "--password-stdin", stdin="short\n")
    assert "a password needs at least 10 characters" in failed(done)


def test_an_unknown_role_is_a_usage_error(ws: Path) -> None:
    done = tandem_cli(ws, "users", "add", "sam", "--role", "boss")
    assert done.returncode == 2
    assert "boss" in done.stderr


# --- API tokens -------------------------------------------------------------------------------------------------


def test_tokens_create_prints_the_secret_once_and_it_works(with_admin: Path) -> None:
    done = tandem_cli(with_admin, "tokens", "create", "--user", "ada", "--name", "BI export", "--role", "viewer")
    (secret,) = TOKEN_SHAPE.findall(ok(done))
    assert "It is not shown again" in done.stderr
    with tandem.open_workspace(with_admin) as workspace:
        principal = workspace.accounts.token_principal(secret)
    assert principal is not None
    assert (principal.username, principal.role) == ("ada", "viewer")
    listed = ok(tandem_cli(with_admin, "tokens", "list")) + ok(
        tandem_cli(with_admin, "tokens", "list", "--format", "json")
    )
    assert secret not in listed
    assert secret[:12] in listed, "listed by its prefix"


def test_tokens_list_revoke_and_json(with_admin: Path) -> None:
    add_user(with_admin, "sam", "sales")
    created = as_json(
        tandem_cli(with_admin, "tokens", "create", "--user", "sam", "--name", "crm sync", "--format", "json")
    )
    with tandem.open_workspace(with_admin) as workspace:
        workspace.accounts.create_token("cli:ops", "ada", "ops")
    assert created["token"]["role"] == "sales"
    assert TOKEN_SHAPE.fullmatch(created["secret"])
    token_id = created["token"]["id"]
    assert f"Revoked API token #{token_id} 'crm sync' of sam" in ok(
        tandem_cli(with_admin, "tokens", "revoke", str(token_id))
    )
    sams = as_json(tandem_cli(with_admin, "tokens", "list", "--user", "sam", "--format", "json"))["tokens"]
    assert [(t["id"], t["name"], t["revoked_at"] is not None) for t in sams] == [(token_id, "crm sync", True)]
    assert len(as_json(tandem_cli(with_admin, "tokens", "list", "--format", "json"))["tokens"]) == 2
    with tandem.open_workspace(with_admin) as workspace:
        assert workspace.accounts.token_principal(created["secret"]) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tokens", "create", "--user", "ada", "--name", "x", "--role", "exec"), "may carry the admin or viewer role"),
        (("tokens", "create", "--user", "nobody", "--name", "x"), "no user named 'nobody'"),
        (("tokens", "revoke", "99"), "no token #99"),
    ],
    ids=["higher-role", "unknown-user", "unknown-token"],
)
def test_refused_token_requests_exit_1_with_the_reason(with_admin: Path, args: tuple[str, ...], message: str) -> None:
    assert message in failed(tandem_cli(with_admin, *args))


# --- the audit log ----------------------------------------------------------------------------------------------


def test_changes_from_the_command_line_are_attributed_to_the_cli_user(with_admin: Path) -> None:
    # A token needs a user past their one-time password (issue 16): sam is given his own.
    ok(tandem_cli(with_admin, "users", "add", "sam", "--role", "sales", "--password-stdin", stdin="sam's long pw\n"))
    ok(tandem_cli(with_admin, "tokens", "create", "--user", "sam", "--name", "crm"))
    entries = as_json(tandem_cli(with_admin, "audit", "list", "--format", "json"))["entries"]
    assert [(e["seq"], e["actor"], e["action"], e["target"]) for e in entries] == [
        (3, "cli:ops", "token.create", "sam"),
        (2, "cli:ops", "user.create", "sam"),
        (1, "cli:ops", "user.create", "ada"),
    ]
    assert entries[0]["details"] == {"name": "crm", "role": "sales", "token_id": 1}


def test_audit_list_shows_the_newest_first_up_to_the_limit(with_admin: Path) -> None:
    ok(tandem_cli(with_admin, "users", "add", "sam", "--role", "sales", "--leader"))
    entries = as_json(tandem_cli(with_admin, "audit", "list", "--limit", "1", "--format", "json"))["entries"]
    assert [e["seq"] for e in entries] == [2]
    table = ok(tandem_cli(with_admin, "audit", "list"))
    assert "user.create" in table
    assert '{"leader": true, "role": "sales"}' in table, "details shown as they are, not read as markup"


def test_audit_verify_exits_0_with_the_head_hash_to_keep(with_admin: Path) -> None:
    done = tandem_cli(with_admin, "audit", "verify")
    head = as_json(tandem_cli(with_admin, "audit", "verify", "--format", "json"))
    assert head == {"ok": True, "entries": 1, "head_hash": head["head_hash"], "problems": []}
    assert f"The audit log is intact: 1 entries, head hash {head['head_hash']}" in ok(done)
    assert "--expect-head" in done.stderr
    ok(tandem_cli(with_admin, "audit", "verify", "--expect-head", head["head_hash"]))


def test_audit_verify_exits_1_naming_each_problem_after_tampering(with_admin: Path) -> None:
    for name in ("sam", "sid", "erin"):
        add_user(with_admin, name, "viewer")
    tamper(with_admin, update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone-else"))
    done = tandem_cli(with_admin, "audit", "verify")
    assert done.returncode == 1
    assert "its content does not match its hash (edited?)" in done.stdout
    assert "the audit log has 1 problem(s); see the table above" in done.stderr
    document = json.loads(tandem_cli(with_admin, "audit", "verify", "--format", "json").stdout)
    assert document["ok"] is False
    assert document["problems"] == [{"seq": 2, "message": "its content does not match its hash (edited?)"}]
    tamper(with_admin, delete(AuditEntry).where(AuditEntry.seq == 3))
    problems = json.loads(tandem_cli(with_admin, "audit", "verify", "--format", "json").stdout)["problems"]
    assert [p["seq"] for p in problems] == [2, 4, 4]


def test_audit_verify_exits_1_when_the_newest_entries_were_deleted(with_admin: Path) -> None:
    add_user(with_admin, "sam", "viewer")
    head = as_json(tandem_cli(with_admin, "audit", "verify", "--format", "json"))["head_hash"]
    tamper(with_admin, delete(AuditEntry).where(AuditEntry.seq == 2))
    ok(tandem_cli(with_admin, "audit", "verify"))
    done = tandem_cli(with_admin, "audit", "verify", "--expect-head", head)
    assert done.returncode == 1
    assert "not at the expected head" in done.stdout


# --- on PostgreSQL ----------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_same_commands_on_a_postgresql_workspace(postgres_database: str, tmp_path: Path) -> None:
    ws = tmp_path / "pg"
    ok(run("init", ws, "--database", postgres_database, "--warehouse", postgres_database))
    ok(tandem_cli(ws, "users", "add", "ada", "--role", "admin", "--password-stdin", stdin="ada's long password\n"))
    assert sign_in(ws, "ada", "ada's long password").username == "ada"
    assert "this would leave the workspace without an active admin" in failed(tandem_cli(ws, "users", "disable", "ada"))
    created = as_json(tandem_cli(ws, "tokens", "create", "--user", "ada", "--name", "ops", "--format", "json"))
    ok(tandem_cli(ws, "tokens", "revoke", str(created["token"]["id"])))
    verified = as_json(tandem_cli(ws, "audit", "verify", "--format", "json"))
    assert (verified["ok"], verified["entries"]) == (True, 3)
    tamper(ws, update(AuditEntry).where(AuditEntry.seq == 1).values(details={"role": "viewer"}))
    assert tandem_cli(ws, "audit", "verify").returncode == 1


def test_users_and_tokens_are_managed_while_the_server_holds_the_duckdb_warehouse(ws: Path) -> None:
    with tandem.open_workspace(ws) as serving:
        serving.warehouse.counts()  # the warehouse is open in this process, as under `tandem serve`
        ok(tandem_cli(ws, "status"))  # side by side with the server (issue 15): no "in use" refusal any more
        ok(tandem_cli(ws, "users", "add", "nora", "--role", "viewer", "--password-stdin", stdin="nora's long pw\n"))
        assert TOKEN_SHAPE.search(ok(tandem_cli(ws, "tokens", "create", "--user", "nora", "--name", "report")))
        assert "nora" in ok(tandem_cli(ws, "users", "list"))
        ok(tandem_cli(ws, "audit", "verify"))


# --- signing in, and a user's own password -------------------------------------------------------------------------
NO_USERS = (
    "error: this workspace has no users yet: add the first with `tandem users add NAME --role exec` (or --role admin, "
    "marketing, sales; it prints a one-time password, which `tandem account password --as NAME` changes), then say "
    "who you are with --as NAME"
)


def one_time_user(ws: Path, username: str, role: str) -> str:
    """A user made as `tandem users add` makes one without --password-stdin; returns their one-time password."""
    with tandem.open_workspace(ws) as workspace:
        return workspace.accounts.create_user("cli:ops", username, role)[1]


def test_account_password_from_stdin_replaces_the_one_time_password_and_is_audited(ws: Path) -> None:
    one_time = one_time_user(ws, "eve", "exec")
    done = tandem_cli(ws, "account", "password", "--as", "eve", "--password-stdin", stdin=f"{one_time}\neve's own pw\n")
    assert ok(done) == "Changed the password of eve.\n"
    principal = sign_in(ws, "eve", "eve's own pw")
    assert principal.must_change_password is False
    entries = as_json(tandem_cli(ws, "audit", "list", "--format", "json"))["entries"]
    assert [(e["seq"], e["actor"], e["action"], e["target"], e["details"]) for e in entries] == [
        (2, "eve", "user.password", "eve", {"own": True}),
        (1, "cli:ops", "user.create", "eve", {"leader": False, "role": "exec"}),
    ]
    # Signed in with the new password, eve acts at the command line.
    goal = tandem_cli(ws, "goal", "set", "2027-Q1", "1M", "--as", "eve", "--password-stdin", stdin="eve's own pw\n")
    assert ok(goal).startswith("Goal 2027-Q1: ")
    assert ok(goal).endswith(", set by eve\n")


def test_account_password_refuses_a_wrong_current_password_and_changes_nothing(ws: Path) -> None:
    one_time = one_time_user(ws, "eve", "exec")
    done = tandem_cli(ws, "account", "password", "--as", "eve", "--password-stdin", stdin="not it\neve's own pw\n")
    assert failed(done) == "error: wrong user name or password"
    assert "Traceback" not in done.stderr
    assert sign_in(ws, "eve", one_time).must_change_password is True


def test_account_password_needs_two_lines_on_stdin(ws: Path) -> None:
    one_time_user(ws, "eve", "exec")
    done = tandem_cli(ws, "account", "password", "--as", "eve", "--password-stdin", stdin="only one line\n")
    assert failed(done) == (
        "error: --password-stdin: two lines expected on stdin; add --password-stdin and pipe in the current "
        'password, then the new one, one per line (printf \'%s\\n%s\\n\' "$OLD" "$NEW" | tandem account password '
        "--as eve --password-stdin)"
    )


def test_account_password_without_a_terminal_says_to_pipe_both_passwords(ws: Path) -> None:
    one_time_user(ws, "eve", "exec")
    assert failed(tandem_cli(ws, "account", "password", "--as", "eve")) == (
        "error: no terminal to ask the password at: add --password-stdin and pipe in the current password, then "
        'the new one, one per line (printf \'%s\\n%s\\n\' "$OLD" "$NEW" | tandem account password --as eve '
        "--password-stdin)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("goal", "set", "2027-Q1", "1M"),
        ("goal", "set", "2027-Q1", "1M", "--as", "eve"),
        ("account", "password", "--as", "eve"),
    ],
    ids=["without --as", "with --as", "account password"],
)
def test_signing_in_on_a_workspace_without_users_says_how_to_add_the_first(ws: Path, args: tuple[str, ...]) -> None:
    assert failed(tandem_cli(ws, *args)) == NO_USERS


def test_a_password_asked_without_a_terminal_is_one_line_naming_password_stdin(with_admin: Path) -> None:
    add_user(with_admin, "eve", "exec")
    done = tandem_cli(with_admin, "goal", "set", "2027-Q1", "1M", "--as", "eve")
    assert failed(done) == (
        'error: no terminal to ask the password at: add --password-stdin and pipe it in (echo "$PASSWORD" | '
        "tandem ... --password-stdin), or set $TANDEM_TOKEN to an API token"
    )
    assert "Aborted" not in done.stderr


@pytest.mark.parametrize(
    ("username", "stdin", "message"),
    [
        ("nobody", "whatever\n", "error: wrong user name or password"),
        ("eve", "not eve's password\n", "error: wrong user name or password"),
        (
            "sam",
            None,
            "error: sam still has a one-time password: choose your own first with `tandem account password --as sam`",
        ),
    ],
    ids=["unknown user", "wrong password", "one-time password"],
)
def test_a_refused_sign_in_is_one_line_saying_what_to_do(
    with_admin: Path, username: str, stdin: str | None, message: str
) -> None:
    add_user(with_admin, "eve", "exec")
    one_time = one_time_user(with_admin, "sam", "exec")
    piped = f"{one_time}\n" if stdin is None else stdin
    done = tandem_cli(with_admin, "goal", "set", "2027-Q1", "1M", "--as", username, "--password-stdin", stdin=piped)
    assert failed(done) == message
    assert "Traceback" not in done.stderr
