"""The service-level contract is part of the definitions file: read with every problem at its place, written back,
diffed for review, and changed only through the definitions' workflow (both leaders approve)."""

from __future__ import annotations

import textwrap

import pytest

from tandem.definitions.governance import GovernanceError
from tandem.definitions.model import DefinitionsError, diff_definitions, dump_definitions, load_definitions
from tandem.sla.contract import Attempts
from tandem.workspace import Workspace

from .company import CONTRACT, agree, people

STAGES = """\
stages:
  - {name: lead, side: marketing, description: a}
  - {name: mql, side: marketing, description: b, sla: 24 business hours}
  - {name: sql, side: sales, description: c}
  - {name: won, side: sales, description: d}
"""


def definitions(contract: str, columns: dict[str, str] | None = None) -> object:
    return load_definitions(STAGES + textwrap.dedent(contract), columns=columns)


def problems(contract: str, columns: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(DefinitionsError) as caught:
        definitions(contract, columns)
    return [f"line {i.line}, column {i.column}: {i.problem}" for i in caught.value.issues]


def test_the_handoff_stage_and_the_accept_target_default_from_the_stages() -> None:
    found = load_definitions(STAGES + textwrap.dedent(CONTRACT).replace("      accept: 8h\n", ""))
    levels = found.service_levels
    assert levels is not None
    assert levels.stage == "mql"  # the last marketing stage before a sales one
    (standard,) = levels.priorities
    assert standard.accept is not None
    assert standard.accept.text == "24 business hours"  # the mql stage's sla
    assert standard.first_touch is not None
    assert standard.first_touch.seconds == 16 * 3600
    assert levels.team_of("ben").name == "amer"
    assert levels.team_of("someone else").name == "amer"  # the first team takes owners no team lists
    assert levels.warn_at_percent == 75


def test_a_contract_is_written_back_to_equal_definitions_and_its_changes_read_as_lines() -> None:
    first = load_definitions(STAGES + textwrap.dedent(CONTRACT))
    assert load_definitions(dump_definitions(first)) == first
    stricter = load_definitions(STAGES + textwrap.dedent(CONTRACT).replace("accept: 8h", "accept: 4h"))
    changes = [str(c) for c in diff_definitions(first, stricter)]
    assert changes == [
        "funnel: service levels: priorities: {accept: 8h, first_touch: 16h, name: standard} -> (none)",
        "funnel: service levels: (none) -> priorities: {accept: 4h, first_touch: 16h, name: standard}",
    ]


def test_every_problem_is_reported_at_its_place() -> None:
    found = problems(
        """
        service_levels:
          stage: won
          teams:
            - team: amer
              members: [ana]
              time_zone: Mars/Olympus
              hours: {mon-fri: "09:00-17:00"}
            - team: emea
              members: [ana]
              time_zone: Europe/Berlin
              hours: {mon-fri: ["09:00-12:30", "12:00-18:00"]}
          priorities:
            - {name: hot, accept: 2d}
            - {name: rest, when: score > 1}
          rejection: {reasons: [Not A Fit], ceiling_percent: 140}
        """
    )
    assert found == [
        "line 8, column 10: 'won' is the last stage: no one acts after it",
        "line 12, column 18: calendar 'amer': time_zone 'Mars/Olympus' is not an IANA time zone; use a name such as "
        "Europe/Berlin or America/New_York",
        "line 15, column 16: 'ana' is a member of teams 'amer' and 'emea'",
        "line 17, column 14: calendar 'emea': hours.mon-fri: windows 09:00-12:30 and 12:00-18:00 overlap; make each "
        "window end before the next starts",
        "line 19, column 7: priority 'hot' has no 'when'",
        "line 19, column 27: 'accept' of priority 'hot' is '2d': a business day has no fixed length",
        "line 20, column 26: the last priority (priority 'rest') has a 'when'",
        "line 21, column 24: rejection reason 'Not A Fit' is not a code",
        "line 21, column 54: 'ceiling_percent' of rejection is 140",
    ]


def test_the_package_names_columns_leads_have() -> None:
    columns = {"lead_id": "string", "company": "string", "score": "float"}
    assert definitions(CONTRACT, columns) is not None
    assert problems(CONTRACT.replace("package: [company]", "package: [company, notes]"), columns) == [
        "line 18, column 22: the package field 'notes' is not a column of leads"
    ]


def test_the_contract_changes_only_when_a_leader_of_each_side_approves(workspace: Workspace) -> None:
    workspace.definitions.guarded = False
    team = people(workspace)
    document = workspace.definitions.current().document + textwrap.dedent(CONTRACT)
    proposal = workspace.definitions.propose(team["maria"], document, note="service levels")
    with pytest.raises(GovernanceError, match="maria wrote proposal #1 and cannot approve it"):
        workspace.definitions.approve(team["maria"], proposal.id)
    with pytest.raises(GovernanceError):
        workspace.definitions.approve(team["ana"], proposal.id)  # a rep, not a leader
    after_marketing = workspace.definitions.approve(team["mona"], proposal.id)
    assert after_marketing.waiting_for == ["sales"]
    assert workspace.definitions.current().definitions.service_levels is None
    done = workspace.definitions.approve(team["sam"], proposal.id)
    assert done.version == 2
    levels = workspace.definitions.current().definitions.service_levels
    assert levels is not None
    assert levels.reasons == ("not_a_fit", "no_budget")
    actions = [entry["action"] for entry in workspace.audit_log(limit=10)]
    assert "definitions.version" in actions


def test_agreeing_a_contract_in_a_test_company(workspace: Workspace) -> None:
    workspace.definitions.guarded = False
    assert agree(workspace, people(workspace)) == 2


PER_PRIORITY = """
service_levels:
  teams:
    - team: amer
      time_zone: America/New_York
      hours: {mon-fri: "09:00-17:00"}
  priorities:
    - name: hot
      when: score >= 80
      accept: 5m
      attempts: {count: 5, within: 2 business days}
    - name: standard
      accept: 8h
  attempts: {count: 3, within: 5 business days}
"""


def test_a_priority_sets_its_own_attempts_and_the_rest_take_the_contracts() -> None:
    found = load_definitions(STAGES + textwrap.dedent(PER_PRIORITY))
    levels = found.service_levels
    assert levels is not None
    hot, standard = levels.priorities
    assert levels.attempts_of(hot) == Attempts(count=5, within_days=2)
    assert levels.attempts_of(standard) == Attempts(count=3, within_days=5)
    assert levels.as_dict()["priorities"] == [
        {"name": "hot", "when": "score >= 80", "accept": "5m", "attempts": {"count": 5, "within": "2 business days"}},
        {"name": "standard", "accept": "8h"},
    ]
    assert load_definitions(dump_definitions(found)) == found


def test_a_change_to_a_prioritys_attempts_is_a_new_version_read_as_lines() -> None:
    first = load_definitions(STAGES + textwrap.dedent(PER_PRIORITY))
    fewer = load_definitions(STAGES + textwrap.dedent(PER_PRIORITY).replace("count: 5", "count: 4"))
    assert [str(c) for c in diff_definitions(first, fewer)] == [
        "funnel: service levels: priorities: {accept: 5m, attempts: {count: 5, within: 2 business days}, name: hot, "
        "when: score >= 80} -> (none)",
        "funnel: service levels: (none) -> priorities: {accept: 5m, attempts: {count: 4, within: 2 business days}, "
        "name: hot, when: score >= 80}",
    ]


def test_a_prioritys_attempts_are_checked_at_their_place() -> None:
    found = problems(
        PER_PRIORITY.replace("{count: 5, within: 2 business days}", "{count: 0, within: 2 days, tries: 3}")
    )
    assert found == [
        "line 16, column 25: 'count' of the attempts of priority 'hot' is 0",
        "line 16, column 36: 'within' of the attempts of priority 'hot' is '2 days'",
        "line 16, column 44: unknown key 'tries' in the attempts of priority 'hot'",
    ]
