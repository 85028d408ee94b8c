"""The trust tour on the demo company, on the day the tests run: a looser MQL rule approved today.

The demo's marketer has proposed that every webinar attendee is an MQL (proposal #1). A new user's tour found that
approving it rewrote the quarter, hid it from the weekly signal, passed the guard outside the last two weeks, and
that the impact report could not tell a good loosening from a bad one. Here, on a fresh demo:

- the impact report follows the leads the rule would hand over sooner, and finds they went on far less often;
- the guard holds the approval back on any day of the quarter, because the rule adds far more than 10 % to the MQL
  volume of the last 90 days; an exec's override lets it through;
- every day before today keeps the numbers it had (no silent restatement), and the recount under version 2 is
  there on demand, marked;
- the weekly signal flags the change the day it is approved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tandem
from tandem.definitions.governance import GovernanceConflict
from tandem.demo_workspace import build_demo, create_demo_users, propose_demo_change
from tandem.questions import FunnelQuestion, ask

PASSWORD = "a long enough password 1"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trust") / "demo"
    with build_demo(folder, leads=10_000, seed=3, echo=lambda _line: None) as ws:
        assert propose_demo_change(ws, create_demo_users(ws, "test")) == 1
        for username, role, leader in (("lena", "marketing", True), ("sid", "sales", True), ("ezra", "exec", False)):
            ws.accounts.create_user("test", username, role, password=PASSWORD, leader=leader)
    return folder


def midnight(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day)


def reached(document: dict, stage: str) -> int:
    return next(int(row["reached"]) for row in document["rows"] if row["stage"] == stage)


def test_a_looser_mql_rule_approved_today_is_judged_held_back_kept_out_of_the_past_and_flagged(company: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    today = midnight(now)
    month = FunnelQuestion.parse(start=today - timedelta(days=30), end=today, as_of=now)
    with tandem.open_workspace(company) as ws:
        before = ask(ws, month)
        assert before["counted_under"] == [{"version": 1, "from": None, "until": None}]

        # The impact report judges the rule by the leads it would hand over sooner: they went on far less often.
        impact = ws.proposal_impact(1)
        mql = impact.stage("mql")
        assert mql.history_added > 1000
        assert mql.added_next_rate is not None
        assert mql.kept_next_rate is not None
        assert 0 < mql.added_next_rate < mql.kept_next_rate / 3

        # The guard holds it back whatever the day: it adds far more than 10 % to the last 90 days' MQLs.
        verdict = ws.definitions.guard(1)
        assert verdict.too_large == ["mql"]
        share = verdict.added_share("mql")
        assert share is not None
        assert share > 0.5
        lena, sid, ezra = (ws.accounts.authenticate(name, PASSWORD, "test") for name in ("lena", "sid", "ezra"))
        ws.definitions.approve(lena, 1)
        with pytest.raises(GovernanceConflict, match=r"more than the 10 % the guard allows at any time"):
            ws.definitions.approve(sid, 1)
        ws.definitions.override(ezra, 1, "Webinars changed: the board wants them followed up")
        assert ws.definitions.approve(sid, 1).version == 2
        assert ws.definitions.version(2).effective_from == today.date()

    with tandem.open_workspace(company) as ws:
        # No silent restatement: the last 30 days keep every figure they had, counted under version 1.
        after = ask(ws, month)
        assert after["rows"] == before["rows"]
        assert after["counted_under"] == [{"version": 1, "from": None, "until": today.date().isoformat()}]
        # The restated figure, on demand, is larger for MQLs and the same for the sales stages.
        restated = ask(ws, month.model_copy(update={"version": 2}))
        assert restated["counting"] == "version 2 throughout"
        assert reached(restated, "mql") > reached(before, "mql") * 1.5
        assert reached(restated, "sql") == reached(before, "sql")
        marked = ask(ws, month.model_copy(update={"restated": True}))
        assert [row["reached_restated"] for row in marked["rows"]] == [row["reached"] for row in restated["rows"]]

        # From today on, version 2 counts: the quarter so far is split at today, and says so.
        split = ask(ws, FunnelQuestion.parse(start=today - timedelta(days=30), period="day", as_of=now))
        assert [s["version"] for s in split["counted_under"]] == [1, 2]
        assert split["rows"]
        for row in split["rows"]:
            assert row["versions"] == ([1] if row["period"] < today.isoformat() else [2])

        # The weekly signal sees the loosening the day it is approved.
        from tandem.definitions.signal import loosening_signal

        signal = loosening_signal(ws)
        assert signal.status == "flag"
        change = signal.version_change
        assert change is not None
        assert (change.version, change.before, change.flagged) == (2, 1, True)
        assert change.mqls_under_new > change.mqls_then * 1.5
        assert signal.sentence.startswith(f"Version 2 of the definitions (in force from {today.date()}) counts")
