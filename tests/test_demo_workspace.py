"""`tandem demo`: the generated company goes through the same import path as users' files."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import tandem
from tandem import WorkspaceError
from tandem.accounts import Role, SignInRefused
from tandem.definitions.model import load_definitions
from tandem.demo import REJECTION_REASONS, REPS
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


def test_the_demo_starts_with_a_service_level_contract_that_fits_its_data(tmp_path: Path) -> None:
    with build_demo(tmp_path / "demo", leads=500, seed=7, today=TODAY, echo=lambda _: None) as ws:
        current = ws.definitions.current()
        leads_columns = ws.warehouse.columns("leads")
    assert (current.version, current.note) == (
        1,
        "initial stages from tandem init, with the demo company's service levels",
    )
    # The whole document loads against the leads' columns: `score >= 80` is a rule on the demo's lead score.
    contract = load_definitions(current.document, columns=leads_columns).service_levels
    assert contract is not None
    assert contract.stage == "mql"
    assert [(p.name, p.when, p.accept.text if p.accept else None) for p in contract.priorities] == [
        ("hot", "score >= 80", "5m"),
        ("standard", None, "24 business hours"),
    ]
    assert {team.name: team.members for team in contract.teams} == {
        "SMB": ("Ava Thompson", "Noah Garcia", "Mia Patel", "Liam Brennan"),
        "Mid-Market": ("Sofia Rossi", "Ethan Kim", "Chloe Martin"),
        "Enterprise": ("Lucas Weber", "Grace Okafor", "Daniel Novak"),
    }
    assert {(r.name, r.team) for r in REPS} == {(m, t.name) for t in contract.teams for m in t.members}
    assert contract.reasons == REJECTION_REASONS
    assert (contract.pause_statuses, contract.rejection_ceiling_percent) == (("waiting_on_customer",), 25)
    # The package names lead columns the demo fills, not always: campaign_id is missing where the channel is.
    leads = pq.read_table(tmp_path / "demo" / "demo-data" / "leads.parquet", columns=list(contract.package))
    assert [leads[name].null_count for name in contract.package] == [0, 0, leads["campaign_id"].null_count]
    assert leads["campaign_id"].null_count > 0
    # Every handoff names an owner of the contract's teams, with that team.
    handoffs = pq.read_table(tmp_path / "demo" / "demo-data" / "handoffs.parquet").to_pylist()
    assert {(row["owner"], row["team"]) for row in handoffs} <= {(m, t.name) for t in contract.teams for m in t.members}
    # Built again, the workspace keeps its definitions: version 1 is written once, when the workspace is made.
    with build_demo(tmp_path / "demo", leads=500, seed=7, today=TODAY, echo=lambda _: None) as ws:
        assert [v.document for v in ws.definitions.versions()] == [current.document]


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
        ("ava", "sales"),
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
