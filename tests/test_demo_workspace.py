"""`tandem demo`: the generated company goes through the same import path as users' files."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tandem
from tandem import WorkspaceError
from tandem.accounts import Role, SignInRefused
from tandem.demo_workspace import DEMO_USERS, IMPORT_ORDER, build_demo, create_demo_users, propose_demo_change
from tandem.workspace import Workspace

TODAY = dt.date(2026, 11, 23)
#: A row of the printed credentials table: user, role, password.
CREDENTIAL_ROW = re.compile(r"^│\s*([a-z]+)\s*│\s*([a-z]+)\s*│\s*([a-z0-9]{5}(?:-[a-z0-9]{5}){3})\s*│$", re.MULTILINE)


def test_demo_imports_every_table_and_rebuilding_it_changes_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    with build_demo(tmp_path / "demo", leads=2_000, seed=3, today=TODAY, echo=lines.append) as ws:
        first = ws.status()["tables"]
        assert all(first[table] > 0 for table in IMPORT_ORDER)
        assert first["leads"] == 2_000
    with build_demo(tmp_path / "demo", leads=2_000, seed=3, today=TODAY, echo=lines.append) as ws:
        assert ws.status()["tables"] == first
        latest = ws.imports(len(IMPORT_ORDER))
    assert {(r["added"], r["updated"]) for r in latest} == {(0, 0)}, "same seed, same day: the same company"
    assert any("leads: 2,000 added" in line for line in lines)


def test_demo_refuses_a_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="exists and is not a tandem workspace"):
        build_demo(tmp_path, leads=500)


def test_demo_command_without_serving(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tandem.cli", "demo", "-w", str(tmp_path / "d"), "--leads", "1000", "--no-serve"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "demo ready in" in done.stderr
    assert "demo credentials; change them before sharing this workspace" in done.stdout
    printed = CREDENTIAL_ROW.findall(done.stdout)
    assert [(user, role) for user, role, _ in printed] == [
        ("admin", "admin"),
        ("maria", "marketing"),
        ("mark", "marketing"),
        ("sam", "sales"),
        ("erin", "exec"),
        ("victor", "viewer"),
    ]
    with tandem.open_workspace(tmp_path / "d") as ws:
        assert ws.status()["tables"]["leads"] == 1000
        for user, role, password in printed:
            principal = ws.accounts.authenticate(user, password)
            assert principal.role == role
            assert not principal.must_change_password, "demo users look around at once"
        # One open proposal waits for both leaders: the definitions workflow, ready to try.
        (proposal,) = ws.definitions.proposals()
        assert (proposal.author, proposal.status, proposal.waiting_for) == ("mark", "open", ["marketing", "sales"])
        assert "rule: has_event('webinar_attended')" in proposal.document
        assert ws.definition_version == 1
    assert "mark proposed a change to the MQL definition (proposal #1)" in done.stdout


def test_demo_users_cover_every_role_with_a_leader_on_each_side(workspace: Workspace) -> None:
    credentials = create_demo_users(workspace, "cli:demo")
    assert {role for _, role, _ in credentials} == set(Role)
    leaders = {u.username for u in workspace.accounts.users() if u.is_leader}
    assert leaders == {"maria", "sam"}
    for username, role, password in credentials:
        principal = workspace.accounts.authenticate(username, password)
        assert (principal.username, principal.role) == (username, role)
    assert {e["actor"] for e in workspace.audit_log()} == {"cli:demo"}


def test_demo_users_get_new_passwords_when_the_demo_is_built_again(workspace: Workspace) -> None:
    first = create_demo_users(workspace)
    again = create_demo_users(workspace)
    assert [u for u, _, _ in again] == [u for u, _, _ in first]
    assert workspace.accounts.count() == len(DEMO_USERS)
    for (username, _, old), (_, _, new) in zip(first, again, strict=True):
        assert new != old
        with pytest.raises(SignInRefused):
            workspace.accounts.authenticate(username, old)
        assert workspace.accounts.authenticate(username, new).username == username


def test_the_demo_change_is_proposed_once(workspace: Workspace) -> None:
    credentials = create_demo_users(workspace, "cli:demo")
    assert propose_demo_change(workspace, credentials) == 1
    assert propose_demo_change(workspace, create_demo_users(workspace, "cli:demo")) is None  # built again
    assert len(workspace.definitions.proposals()) == 1
