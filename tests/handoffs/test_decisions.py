"""A rep's decision taken in tandem is one row of `handoffs`, imported under their name: audited, counted by the
report like an imported decision, and undone like any import. Who may decide is the decision's own rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tandem.accounts import Principal
from tandem.errors import ConfigError, ConflictError, ForbiddenError
from tandem.questions import SlaQuestion, SlaQueueQuestion, ask
from tandem.workspace import Workspace

from .company import agree, people, write

Company = tuple[Workspace, dict[str, Principal]]

# Handed over three days ago at 14:00 UTC: L1 and L2 to ana, L3 to Ben Brown (ben's display name).
HANDED = (datetime.now(UTC).replace(tzinfo=None) - timedelta(days=3)).replace(
    hour=14, minute=0, second=0, microsecond=0
)


@pytest.fixture
def company(workspace: Workspace, tmp_path: Path) -> Company:
    workspace.definitions.guarded = False
    team = people(workspace)
    agree(workspace, team)
    leads = "lead_id,created_at,owner,company\nL1,{d},ana,Acme\nL2,{d},ana,\nL3,{d},Ben Brown,Beta\n"
    workspace.import_files("leads", [write(tmp_path / "l.csv", leads.format(d=HANDED.date()))])
    rows = "".join(
        f"{lead},{HANDED:%Y-%m-%d %H:%M},assigned,{owner}\n"
        for lead, owner in (("L1", "ana"), ("L2", "ana"), ("L3", "Ben Brown"))
    )
    workspace.import_files("handoffs", [write(tmp_path / "h.csv", "lead_id,occurred_at,event,owner\n" + rows)])
    return workspace, team


def test_a_rep_accepts_and_rejects_from_their_queue_and_the_report_counts_both(company: Company) -> None:
    ws, team = company
    queue = ask(ws, SlaQueueQuestion.parse(owner="ana"))
    assert [lead["lead_id"] for lead in queue["leads"]] == ["L1", "L2"]
    assert queue["reasons"] == ["not_a_fit", "no_budget"]

    accepted = ws.decide_handoff(team["ana"], "L1", "accepted")
    rejected = ws.decide_handoff(team["ana"], "L2", "rejected", reason="no_budget", note="Budget frozen until Q3")
    assert (accepted.added, rejected.added) == (1, 1)

    assert ask(ws, SlaQueueQuestion.parse(owner="ana"))["leads"] == []
    report = {r["rep"]: r for r in ask(ws, SlaQuestion.parse(by="rep"))["rows"]}
    assert (report["ana"]["handoffs"], report["ana"]["accepted"], report["ana"]["rejected"]) == (2, 1, 1)
    document = ask(ws, SlaQuestion.parse(by="rep"))
    assert document["rejection_reasons"] == [{"reason": "no_budget", "count": 1}]
    handoffs = ws.warehouse.table("handoffs")
    note = handoffs.filter(handoffs.lead_id == "L2", handoffs.event == "rejected").select("note", "actor", "owner")
    assert note.to_pyarrow().to_pylist() == [{"note": "Budget frozen until Q3", "actor": "ana", "owner": "ana"}]
    entries = [e for e in ws.audit_log(limit=20) if e["action"] == "data.import" and e["target"] == "handoffs"]
    assert entries[0]["actor"] == "ana"


def test_a_decision_is_undone_like_any_import(company: Company) -> None:
    ws, team = company
    result = ws.decide_handoff(team["ana"], "L1", "accepted")
    ws.undo_import(result.import_id, actor="ana")
    assert [lead["lead_id"] for lead in ask(ws, SlaQueueQuestion.parse(owner="ana"))["leads"]] == ["L1", "L2"]


def test_who_may_decide(company: Company) -> None:
    ws, team = company
    with pytest.raises(ForbiddenError, match="the marketing role may not decide on handoffs"):
        ws.decide_handoff(team["maria"], "L1", "accepted")
    with pytest.raises(ForbiddenError, match="the viewer role may not decide"):
        ws.decide_handoff(team["vic"], "L1", "accepted")
    with pytest.raises(ForbiddenError, match="lead 'L1' is held by 'ana'; only they or a sales leader may decide"):
        ws.decide_handoff(team["ben"], "L1", "accepted")
    ws.decide_handoff(team["ben"], "L3", "accepted")  # held under ben's display name
    ws.decide_handoff(team["sam"], "L1", "accepted")  # a sales leader decides on any lead
    with pytest.raises(ConflictError, match="lead 'L1' has no handoff waiting for a decision"):
        ws.decide_handoff(team["ana"], "L1", "rejected", reason="no_budget")


def test_a_rejection_needs_a_reason_from_the_contract(company: Company) -> None:
    ws, team = company
    with pytest.raises(ConfigError, match="a rejection needs a reason: one of not_a_fit, no_budget") as caught:
        ws.decide_handoff(team["ana"], "L1", "rejected")
    assert caught.value.field == "reason"
    with pytest.raises(ConfigError, match="'bad_timing' is not a reason of the contract"):
        ws.decide_handoff(team["ana"], "L1", "rejected", reason="bad_timing")
    with pytest.raises(ConfigError, match="only a rejection takes a reason"):
        ws.decide_handoff(team["ana"], "L1", "accepted", reason="no_budget")
    with pytest.raises(ConfigError, match="'maybe' is not a decision"):
        ws.decide_handoff(team["ana"], "L1", "maybe")
    assert ws.warehouse.counts()["handoffs"] == 3  # nothing was written
