"""Governance of the definitions: a change is a proposal that one marketing and one sales leader approve.

Every test runs on both storage setups (SQLite + DuckDB, PostgreSQL) through the `workspace` fixture.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from tandem.accounts import Principal
from tandem.definitions.governance import GovernanceError
from tandem.definitions.model import DefinitionsError, dump_definitions
from tandem.workspace import Workspace

PASSWORD = "a long enough password"
FUTURE = date.today() + timedelta(days=30)


def person(ws: Workspace, username: str, role: str, *, leader: bool = False) -> Principal:
    """A user made for the test, signed in with their password."""
    ws.accounts.create_user("admin", username, role, password=PASSWORD, leader=leader)
    return ws.accounts.authenticate(username, PASSWORD, "test")


def loosened_mql(ws: Workspace, rule: str = "score >= 40", note: str = "MQL at 40 points") -> str:
    """The current definitions with a rule on the mql stage."""
    document = ws.definitions.current().document
    assert "name: mql" in document
    lines = []
    for line in document.splitlines():
        lines.append(line)
        if line.endswith("name: mql"):
            lines.append(f"  rule: {rule}")
    text = "\n".join(lines) + "\n"
    return text.replace("version_note: Created from the stage names given to tandem init.", f"version_note: {note}")


@pytest.fixture
def workspace(workspace: Workspace) -> Workspace:
    """The quarter-end guard off: these tests approve loosened rules on any day of the year, its window included
    (tests/test_quarter_end_guard.py tests the guard)."""
    workspace.definitions.guarded = False
    return workspace


@pytest.fixture
def team(workspace: Workspace) -> dict[str, Principal]:
    return {
        "mark": person(workspace, "mark", "marketing"),  # proposes, does not lead
        "maria": person(workspace, "maria", "marketing", leader=True),
        "mona": person(workspace, "mona", "marketing", leader=True),
        "sam": person(workspace, "sam", "sales", leader=True),
        "sara": person(workspace, "sara", "sales", leader=True),
        "sid": person(workspace, "sid", "sales"),
        "eve": person(workspace, "eve", "exec"),
        "vic": person(workspace, "vic", "viewer"),
    }


def test_version_one_keeps_the_document_tandem_init_made(workspace: Workspace) -> None:
    current = workspace.definitions.current()
    assert current.version == 1
    assert current.definitions.stage_names == ["lead", "mql", "sql", "opportunity", "won"]
    assert current.effective_from is None
    assert workspace.definitions.version(1).document == current.document


def test_a_proposal_takes_effect_once_a_leader_of_each_side_approves(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    text = loosened_mql(workspace)
    proposal = governance.propose(team["maria"], text, effective_from=FUTURE)
    assert proposal.status == "open"
    assert proposal.base_version == 1
    assert proposal.changes == ["stage 'mql': rule: (none) -> score >= 40"]
    assert proposal.note == "MQL at 40 points"

    with pytest.raises(GovernanceError, match="maria wrote proposal #1 and cannot approve it"):
        governance.approve(team["maria"], proposal.id)

    after_marketing = governance.approve(team["mona"], proposal.id, comment="fine by marketing")
    assert after_marketing.status == "open"
    assert after_marketing.waiting_for == ["sales"]
    assert workspace.definition_version == 1

    done = governance.approve(team["sam"], proposal.id)
    assert done.status == "approved"
    assert done.version == 2
    version = governance.current()
    assert version.version == 2
    assert version.definitions.stage("mql").rule == "score >= 40"
    assert version.document == text
    assert version.effective_from == FUTURE
    assert version.proposal_id == proposal.id
    assert version.created_by == "maria"
    assert workspace.stages == ["lead", "mql", "sql", "opportunity", "won"]
    # Results count under version 1 until version 2's effective date, under version 2 from then on.
    assert workspace.definition_version == 1
    assert workspace.definitions_in_force(FUTURE - timedelta(days=1)).version == 1
    assert workspace.definitions_in_force(FUTURE).version == 2

    history = governance.history()
    assert [v.version for v in history["versions"]] == [1, 2]
    assert [(p.id, p.status) for p in history["proposals"]] == [(1, "approved")]
    decisions = history["proposals"][0].decisions
    assert [(d.username, d.side) for d in decisions] == [("mona", "marketing"), ("sam", "sales")]

    log = [(e["actor"], e["action"], e["target"]) for e in reversed(workspace.audit_log())]
    assert [entry for entry in log if entry[1].startswith("definitions.")] == [
        ("maria", "definitions.propose", "proposal #1"),
        ("mona", "definitions.approve", "proposal #1"),
        ("sam", "definitions.approve", "proposal #1"),
        ("sam", "definitions.version", "version 2"),
    ]
    assert workspace.verify_audit().ok


def test_without_an_effective_date_the_version_counts_from_the_approval_day(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], loosened_mql(workspace))
    governance.approve(team["sara"], proposal.id)
    governance.approve(team["maria"], proposal.id)
    assert governance.current().effective_from is not None


def test_only_a_marketing_or_sales_leader_approves(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], loosened_mql(workspace))
    with pytest.raises(GovernanceError, match="sid is not a sales leader"):
        governance.approve(team["sid"], proposal.id)
    with pytest.raises(GovernanceError, match="eve has the exec role"):
        governance.approve(team["eve"], proposal.id)
    with pytest.raises(GovernanceError, match="vic has the viewer role"):
        governance.approve(team["vic"], proposal.id)
    with pytest.raises(GovernanceError, match="only marketing and sales users propose"):
        governance.propose(team["vic"], loosened_mql(workspace))
    assert governance.proposal(proposal.id).decisions == []


def test_a_side_approves_once(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], loosened_mql(workspace))
    governance.approve(team["sam"], proposal.id)
    with pytest.raises(GovernanceError, match="already approved for the sales side by sam"):
        governance.approve(team["sara"], proposal.id)
    assert governance.current().version == 1


def test_two_racing_approvals_from_one_side_let_exactly_one_through(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], loosened_mql(workspace))
    governance.approve(team["maria"], proposal.id)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def approve(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = governance.approve(team[name], proposal.id).status
        except GovernanceError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=approve, args=(name,)) for name in ("sam", "sara")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    approved = [name for name, outcome in outcomes.items() if outcome == "approved"]
    refused = [outcome for outcome in outcomes.values() if isinstance(outcome, GovernanceError)]
    assert len(approved) == 1
    assert len(refused) == 1
    assert f"already approved for the sales side by {approved[0]}" in str(refused[0])
    assert [v.version for v in governance.versions()] == [1, 2]


def test_a_proposal_made_before_the_definitions_changed_is_stale(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    first = governance.propose(team["mark"], loosened_mql(workspace, "score >= 40", "forty"))
    second = governance.propose(team["sid"], loosened_mql(workspace, "score >= 30", "thirty"))
    governance.approve(team["mona"], second.id)
    governance.approve(team["maria"], first.id)
    governance.approve(team["sam"], first.id)
    with pytest.raises(GovernanceError, match="stale: the definitions changed to version 2 after this proposal"):
        governance.approve(team["sara"], second.id)
    assert governance.proposal(second.id).status == "stale"
    assert governance.current().version == 2
    with pytest.raises(GovernanceError, match="is stale; it is closed"):
        governance.approve(team["sara"], second.id)


def test_a_broken_file_is_refused_at_propose_time_with_its_place(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    with pytest.raises(DefinitionsError, match=r"line 3, column 1: malformed YAML"):
        governance.propose(team["mark"], "stages:\n  - name: [lead\n")
    with pytest.raises(DefinitionsError, match=r"line \d+, column \d+: .*seniority"):
        governance.propose(team["mark"], loosened_mql(workspace, "seniority >= 3"))
    with pytest.raises(DefinitionsError, match="duplicate stage"):
        governance.propose(team["mark"], loosened_mql(workspace).replace("name: sql", "name: mql"))
    cyclic = loosened_mql(workspace).replace("- name: mql\n", "- name: mql\n  after: sql\n")
    with pytest.raises(DefinitionsError, match="cyclic stages"):
        governance.propose(team["mark"], cyclic.replace("- name: sql\n", "- name: sql\n  after: mql\n"))
    with pytest.raises(GovernanceError, match="identical to the current definitions"):
        governance.propose(team["mark"], workspace.definitions.current().document)
    assert governance.proposals() == []
    assert not [e for e in workspace.audit_log() if e["action"].startswith("definitions.")]


def test_a_file_path_is_read_and_a_past_effective_date_refused(
    workspace: Workspace, team: dict[str, Principal], tmp_path: Path
) -> None:
    path = tmp_path / "definitions.yaml"
    path.write_text(loosened_mql(workspace), encoding="utf-8")
    with pytest.raises(GovernanceError, match="is in the past"):
        workspace.definitions.propose(team["mark"], path, effective_from=date.today() - timedelta(days=1))
    assert workspace.definitions.propose(team["mark"], path, note="from a file").note == "from a file"


def test_a_rejected_proposal_is_closed(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], loosened_mql(workspace))
    governance.approve(team["maria"], proposal.id)
    with pytest.raises(GovernanceError, match="give a reason"):
        governance.reject(team["sam"], proposal.id, " ")
    with pytest.raises(GovernanceError, match="sid is not a sales leader"):
        governance.reject(team["sid"], proposal.id, "no")
    rejected = governance.reject(team["sam"], proposal.id, "40 points lets in students")
    assert rejected.status == "rejected"
    assert [(d.username, d.decision) for d in rejected.decisions] == [("maria", "approve"), ("sam", "reject")]
    with pytest.raises(GovernanceError, match="proposal #1 is rejected; it is closed"):
        governance.approve(team["sara"], proposal.id)
    assert governance.current().version == 1
    assert workspace.audit_log(1)[0]["action"] == "definitions.reject"


def test_the_author_may_withdraw_their_proposal(workspace: Workspace, team: dict[str, Principal]) -> None:
    proposal = workspace.definitions.propose(team["mark"], loosened_mql(workspace))
    assert workspace.definitions.reject(team["mark"], proposal.id, "withdrawn").status == "rejected"


def test_a_guard_refuses_inside_the_approving_transaction(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions

    def frozen(*_: object) -> None:
        raise GovernanceError("the definitions are frozen until the quarter closes")

    governance.guards.append(frozen)
    proposal = governance.propose(team["mark"], loosened_mql(workspace))
    governance.approve(team["maria"], proposal.id)
    with pytest.raises(GovernanceError, match="frozen"):
        governance.approve(team["sam"], proposal.id)
    assert governance.proposal(proposal.id).waiting_for == ["sales"]
    assert governance.current().version == 1


def test_unknown_proposals_and_versions_are_named(workspace: Workspace, team: dict[str, Principal]) -> None:
    with pytest.raises(GovernanceError, match="no proposal #7"):
        workspace.definitions.approve(team["maria"], 7)
    with pytest.raises(GovernanceError, match="no definitions version 3; the versions are 1 to 1"):
        workspace.definitions.version(3)
    assert dump_definitions(workspace.definitions.current().definitions) == workspace.definitions.current().document


def test_upgrading_an_older_workspace_gives_its_versions_their_document(tmp_path: Path) -> None:
    """Migration 0003 rebuilds each existing version's file from its stage list, as `tandem init` makes it."""
    from alembic import command

    import tandem

    tandem.init_workspace(tmp_path / "ws", stages=["visitor", "lead", "customer"]).close()
    with tandem.open_workspace(tmp_path / "ws", check_schema=False) as ws:
        command.downgrade(ws.store._alembic_config(), "0002")
        assert ws.upgrade() == ["application database: 0002 -> 0007"]
        current = ws.definitions.current()
    assert current.definitions.stage_names == ["visitor", "lead", "customer"]
    assert [stage.side for stage in current.definitions.stages] == ["marketing", "sales", "sales"]
