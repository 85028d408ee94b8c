"""The approved attribution model is part of the definitions file: read with every problem at its place, written
back, diffed for review, and changed only when a leader of each side approves it."""

from __future__ import annotations

import textwrap

import pytest

from tandem.attribution.model import AttributionModel, PositionWeights
from tandem.definitions.governance import GovernanceError
from tandem.definitions.model import DefinitionsError, diff_definitions, dump_definitions, load_definitions
from tandem.workspace import Workspace

from ..handoffs.company import people

STAGES = """\
stages:
  - {name: lead, side: marketing, description: a}
  - {name: mql, side: marketing, description: b}
  - {name: opportunity, side: sales, description: c}
  - {name: won, side: sales, description: d}
"""

SECTION = """\
attribution:
  model: w_shaped
  level: account
  lookback: 180 days
  repeats: keep
  sourced_by: lead_channel
"""


def read(section: str) -> AttributionModel | None:
    return load_definitions(STAGES + textwrap.dedent(section)).attribution


def problems(section: str) -> list[str]:
    with pytest.raises(DefinitionsError) as caught:
        read(section)
    return [f"line {i.line}, column {i.column}: {i.problem}" for i in caught.value.issues]


def test_the_section_gives_the_model_and_everything_it_leaves_out_takes_its_default() -> None:
    assert read(SECTION) == AttributionModel(
        model="w_shaped", level="account", lookback_days=180, collapse_repeats=False, sourced_by="lead_channel"
    )
    assert read("attribution:\n  model: linear\n") == AttributionModel(
        model="linear", level="opportunity", lookback_days=365, collapse_repeats=True, sourced_by="first_touch"
    )
    custom = read(
        "attribution:\n  model: custom\n  weights: {first: 50, lead: 25, between: 25}\n  lookback: 13 weeks\n"
    )
    assert custom == AttributionModel(
        model="custom", lookback_days=91, weights=PositionWeights(first=50, lead=25, between=25)
    )
    assert custom.label == "custom (first 50 %, lead 25 %, between 25 %)"
    decay = read("attribution:\n  model: time_decay\n  half_life: 2 weeks\n")
    assert decay is not None
    assert decay.label == "time decay (half-life 14 days)"
    assert load_definitions(STAGES).attribution is None


def test_a_model_is_written_back_to_equal_definitions_and_its_changes_read_as_lines() -> None:
    first = load_definitions(STAGES + SECTION)
    assert load_definitions(dump_definitions(first)) == first
    second = load_definitions(STAGES + SECTION.replace("w_shaped", "u_shaped"))
    assert [str(c) for c in diff_definitions(first, second)] == [
        "funnel: attribution: model: w_shaped -> (none)",
        "funnel: attribution: (none) -> model: u_shaped",
    ]
    assert next(str(c) for c in diff_definitions(load_definitions(STAGES), first)) == (
        "funnel: attribution: (none) -> model: w_shaped"
    )


def test_every_problem_is_reported_at_its_place() -> None:
    assert problems(
        """\
        attribution:
          model: markov
          level: household
          lookback: 12h
          repeats: sometimes
          weights: {first: 60, between: 30}
          half_life: 3 days
        """
    ) == [
        "line 7, column 10: a data-driven model (markov) cannot be the approved one: its credit for past deals moves "
        "as new journeys arrive",
        "line 8, column 10: 'level' of attribution is 'household'",
        "line 9, column 13: 'lookback' of attribution is '12h': give it in days or weeks",
        "line 10, column 12: 'repeats' of attribution is 'sometimes'",
        "line 11, column 12: the attribution weights add up to 90 %",
        "line 11, column 12: weights are for the custom model, not markov",
        "line 12, column 14: a half-life is for the time_decay model, not markov",
    ]
    assert problems("attribution:\n  model: custom\n") == [
        "line 7, column 3: a custom attribution model has no 'weights'"
    ]
    assert problems("attribution:\n  model: pie_shaped\n  lookback: 0 days\n") == [
        "line 7, column 10: attribution model 'pie_shaped' is not known",
        "line 8, column 13: 'lookback' of attribution is not a duration",
    ]


def test_the_model_changes_only_when_a_leader_of_each_side_approves(workspace: Workspace) -> None:
    workspace.definitions.guarded = False
    team = people(workspace)
    document = workspace.definitions.current().document + SECTION
    proposal = workspace.definitions.propose(team["maria"], document, note="attribution: W-shaped")
    with pytest.raises(GovernanceError, match="maria wrote proposal #1 and cannot approve it"):
        workspace.definitions.approve(team["maria"], proposal.id)
    workspace.definitions.approve(team["mona"], proposal.id)
    assert workspace.definitions.current().definitions.attribution is None
    done = workspace.definitions.approve(team["sam"], proposal.id)
    assert done.version == 2
    approved = workspace.definitions.current().definitions.attribution
    assert approved is not None
    assert approved.model == "w_shaped"
