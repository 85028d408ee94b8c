"""The definitions' questions: the versions, the proposals (with what the asker may do with each), a proposal's
impact on the data, the weekly loosening signal and suggestions from data.

Each document is what ``tandem definitions <command> --format json`` prints and ``GET /api/definitions/...``
answers (docs/definitions.md says what each figure means):

- ``definitions`` (`DefinitionsQuestion`): without a version, the definitions as they stand: ``current`` (the
  newest version, with its file and its parsed stages), ``in_force`` (the version results computed now count
  under), ``versions`` (every version, oldest first) and ``proposals`` (every proposal, oldest first, as
  `proposal_summary`); with ``version`` N, that one version as ``current`` shows it.
  (`tandem definitions history`, ``GET /api/definitions``; `tandem definitions show`, ``GET /api/definitions/N``.)
- ``proposals`` (`ProposalsQuestion`): every proposal in full, oldest first, or proposal N: its summary, whom it
  waits for and who may decide for each side (``leaders``), the file as a diff against its version, the
  quarter-end guard's verdict when it counts (``guard``, ``guard_message``) and ``actions``: what the person
  asking may do with it now, in `tandem.definitions.governance.ACTIONS` order, from
  `tandem.definitions.governance.allowed_actions` (nothing for someone not signed in).
  (`tandem definitions proposals [N]`, ``GET /api/definitions/proposals[/N]``.)
- ``impact`` (`ImpactQuestion`): what proposal N would change on the data (`tandem.definitions.impact`).
- ``signal`` (`SignalQuestion`): the weekly loosening signal (`tandem.definitions.signal`).
- ``suggestions`` (`SuggestionsQuestion`): suggestions from data (`tandem.definitions.suggestions`).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator

from tandem.accounts import Principal
from tandem.questions.base import Moment, Question

if TYPE_CHECKING:
    from tandem.definitions.governance import ProposalInfo, VersionInfo
    from tandem.workspace import Workspace

__all__ = [
    "MAX_TOP",
    "DefinitionsQuestion",
    "ImpactQuestion",
    "ProposalsQuestion",
    "SignalQuestion",
    "SuggestionsQuestion",
    "proposal_document",
    "proposal_summary",
    "version_document",
]

#: The largest id or version number a question takes (a 32-bit integer column).
MAX_ID = 2**31 - 1
#: Most attributes the suggestions list.
MAX_TOP = 100
#: What the analyses of the data read: the leads and every way a lead reaches a stage (events, touches, activities).
DATA_READS = ("leads", "stage_events", "touches", "activities", "definitions")

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def version_document(version: VersionInfo) -> dict[str, Any]:
    """One version: its number, stages, who made it and when, why, the day it counts from, the proposal it came
    from, the file (``document``) and its parsed stages and scoring (``definitions``)."""
    return {
        **version.as_dict(),
        "document": version.document,
        "definitions": version.definitions.model_dump(mode="json"),
    }


def proposal_summary(proposal: ProposalInfo) -> dict[str, Any]:
    """A proposal as the definitions list it: status, author, note, effective date, changes, decisions, whom it
    waits for (an exec's override only once its guard's verdict is known) and the proposed file."""
    return {**proposal.as_dict(), "waiting_for": proposal.waiting_for, "document": proposal.document}


def proposal_document(ws: Workspace, proposal: ProposalInfo, principal: Principal | None) -> dict[str, Any]:
    """A proposal in full for `principal` (see the module's documentation); `proposal` carries its guard's verdict
    when it counts (`Governance.proposal(..., guard=True)`)."""
    from tandem.definitions.governance import ACTIONS, allowed_actions, deciders

    allowed = allowed_actions(principal, proposal)
    base = ws.definitions.version(proposal.base_version).document
    diff = difflib.unified_diff(
        base.splitlines(),
        proposal.document.splitlines(),
        f"version {proposal.base_version}",
        f"proposal #{proposal.id}",
        lineterm="",
    )
    return {
        **proposal_summary(proposal),
        "leaders": deciders(proposal, ws.accounts.users()),
        "diff": list(diff),
        "guard_message": proposal.guard.message if proposal.guard is not None else None,
        "actions": [action for action in ACTIONS if action in allowed],
    }


class DefinitionsQuestion(Question):
    """The definitions as they stand (every version, the proposals), or one version of them."""

    kind = "definitions"
    reads = ("definitions", "proposals")

    #: One version (default: every version, the current one in full, and the proposals).
    version: Id | None = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        governance = ws.definitions
        if self.version is not None:
            return version_document(governance.version(self.version))
        versions = governance.versions()
        return {
            "current": version_document(versions[-1]),
            "in_force": ws.definitions_in_force().version,
            "versions": [version.as_dict() for version in versions],
            "proposals": [proposal_summary(proposal) for proposal in governance.proposals()],
        }


class ProposalsQuestion(Question):
    """Every proposal in full, or one, with what the person asking may do with it (``actions``)."""

    kind = "proposals"
    reads = (*DATA_READS, "proposals")  # the guard's verdict is measured on the data in a freeze window

    proposal_id: Id | None = None
    #: Who asks: ``actions`` is what they may do (nothing for None, someone not signed in).
    principal: Principal | None = None

    def check(self, ws: Workspace) -> None:
        if self.proposal_id is not None:
            ws.definitions.proposal(self.proposal_id)  # none: not found, before any measuring

    def answer(self, ws: Workspace) -> dict[str, Any]:
        governance = ws.definitions
        if self.proposal_id is not None:
            return proposal_document(ws, governance.proposal(self.proposal_id, guard=True), self.principal)
        return {"proposals": [proposal_document(ws, p, self.principal) for p in governance.proposals(guard=True)]}


class ImpactQuestion(Question):
    """What proposal `proposal_id` would change on the data, as of a moment (default now)."""

    kind = "impact"
    reads = (*DATA_READS, "opportunities")  # a proposal's file and base version never change

    proposal_id: Id
    as_of: Moment = None

    def check(self, ws: Workspace) -> None:
        ws.definitions.proposal(self.proposal_id)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return ws.proposal_impact(self.proposal_id, as_of=self.as_of).as_dict()


class SignalQuestion(Question):
    """The weekly loosening signal: the last `weeks` complete weeks against the `baseline_weeks` before them."""

    kind = "signal"
    reads = DATA_READS

    as_of: Moment = None
    weeks: Annotated[int, Field(ge=1, le=52)] = 4
    baseline_weeks: Annotated[int, Field(ge=1, le=104)] = 12
    #: Days an MQL has to reach the next stage (default: the workspace's setting of that name).
    signal_window_days: Annotated[int | None, Field(ge=1, le=365)] = None
    #: Readings in ``history``: the Mondays before `as_of`, then `as_of` itself.
    history_weeks: Annotated[int, Field(ge=1, le=104)] = 12

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.definitions.signal import loosening_signal

        signal = loosening_signal(
            ws,
            as_of=self.as_of,
            recent_weeks=self.weeks,
            baseline_weeks=self.baseline_weeks,
            window_days=self.signal_window_days,
            history_weeks=self.history_weeks,
        )
        return signal.as_dict()


class SuggestionsQuestion(Question):
    """Which attributes predict won, the model's held-out AUC, and the threshold curve of its score for `stage`
    (default: the MQL stage). It never changes the definitions."""

    kind = "suggestions"
    reads = DATA_READS

    as_of: Moment = None
    top: Annotated[int, Field(ge=1, le=MAX_TOP)] = 10
    stage: Annotated[str | None, Field(max_length=100)] = None

    @field_validator("stage", mode="before")
    @classmethod
    def _none_when_empty(cls, value: Any) -> Any:
        return None if value == "" else value

    def check(self, ws: Workspace) -> None:
        from tandem.definitions.suggestions import curve_stage

        curve_stage(ws.definitions_in_force(self.as_of).definitions, self.stage)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.definitions.suggestions import suggest_definitions

        return suggest_definitions(ws, stage=self.stage, as_of=self.as_of, top=self.top).as_dict()
