"""`tandem plan propose|review|accept|send-back|reject|show|history` as the two teams run them; real processes on a
small demo company. Users and the goal are made through the Python API; each command signs in with a password on
stdin, like the definitions commands.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tandem
from tandem.demo_workspace import build_demo
from tandem.plan.proposals import load_plan

from .test_cli import TANDEM
from .test_cli_accounts import as_json, failed, ok

TEAM = {
    "mark": ("marketing", False),
    "sam": ("sales", True),
    "sara": ("sales", True),
    "sid": ("sales", False),
    "eve": ("exec", False),
}
PLAN = """\
period: 2027-Q1
note: Q1 demand plan
programs:
  - name: Webinar series
    channel: webinar
    budget: 40k
    start: 2026-12-01
    end: 2027-02-28
    volume: 900
  - name: Paid search
    channel: paid_search
    budget: 60k
    start: 2027-01-01
    end: 2027-03-31
"""


def password(username: str) -> str:
    return f"{username}'s long password"


def plan(ws: Path, *args: str | Path, as_user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``tandem plan ARGS -w WS``, signed in as `as_user` when given."""
    signed = ["--as", as_user, "--password-stdin"] if as_user else []
    return subprocess.run(
        [*TANDEM, "plan", *map(str, args), *signed, "-w", str(ws)],
        capture_output=True,
        text=True,
        input=password(as_user) + "\n" if as_user else "",
        env={**os.environ, "TANDEM_USER": "ops"},
        timeout=300,
        check=False,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    with build_demo(folder, leads=2000, seed=11, echo=lambda _: None) as workspace:
        for username, (role, leader) in TEAM.items():
            workspace.accounts.create_user("cli:ops", username, role, password=password(username), leader=leader)
        eve = workspace.accounts.authenticate("eve", password("eve"), "test")
        workspace.goals.set(eve, "2027-Q1", "3M")
    return folder


def test_marketing_proposes_sales_reviews_and_a_leader_accepts(ws: Path, tmp_path: Path) -> None:
    first = tmp_path / "q1.yaml"
    first.write_text(PLAN, encoding="utf-8")
    proposed = ok(plan(ws, "propose", first, as_user="mark"))
    assert "Plan #1 (2027-Q1) version 1, proposed by mark: waiting for a sales leader" in proposed
    assert "Expected revenue within the period " in proposed
    assert "against a goal of $3,000,000, and " in proposed
    assert "after it, for a budget of $100,000. The chance of reaching the goal is the forecast's" in proposed

    ok(plan(ws, "review", 1, "--version", 1, "--comment", "Paid search starts late", as_user="sid"))
    second = tmp_path / "q1-v2.yaml"
    second.write_text(PLAN.replace("start: 2027-01-01", "start: 2026-12-01"), encoding="utf-8")
    revised = as_json(
        plan(ws, "propose", second, "--note", "paid search from December", "--format", "json", as_user="mark")
    )
    assert (revised["version"]["version"], revised["version"]["note"]) == (2, "paid search from December")
    checked = revised["version"]["sufficiency"]
    assert checked["goal"] == pytest.approx(3_000_000)
    # The figures printed are the workspace's sufficiency check of that plan (seeded: the same to the last digit).
    with tandem.open_workspace(ws) as workspace:
        expected = workspace.plan_sufficiency(load_plan(second.read_text(encoding="utf-8")))
    assert (checked["expected_revenue"], checked["low"]) == (expected["expected_revenue"], expected["low"])
    assert f"Expected revenue within the period ${expected['expected_revenue']:,.0f}" in ok(
        plan(ws, "show", "1", "--version", "2")
    )

    stale = failed(plan(ws, "accept", 1, "--version", 1, as_user="sam"))
    assert "version 1 of the 2027-Q1 plan was replaced by version 2; read it and accept again" in stale
    stale = failed(plan(ws, "review", 1, "--version", 1, "--comment", "fine", as_user="sara"))
    assert "was replaced by version 2; read it and review again" in stale
    assert "only a sales leader accepts" in failed(plan(ws, "accept", 1, "--version", 2, as_user="sid"))
    assert "only a sales leader accepts" in failed(plan(ws, "accept", 1, "--version", 2, as_user="mark"))

    accepted = ok(plan(ws, "accept", 1, "--version", 2, as_user="sam"))
    assert "Plan #1 (2027-Q1) version 2, accepted by sam: the baseline of 2027-Q1" in accepted
    again = failed(plan(ws, "accept", 1, "--version", 2, as_user="sara"))
    assert "was accepted by sam on " in again
    assert "propose a new version to change it" in again

    shown = ok(plan(ws, "show", "2027-Q1"))
    assert "Plan #1 (2027-Q1) version 2, accepted by sam" in shown
    assert "baseline of 2027-Q1: version 2, accepted by sam" in shown
    assert "Webinar series" in shown
    assert "Shortfall by stage" in shown or "Expected revenue" in shown
    old = as_json(plan(ws, "show", "1", "--version", "1", "--format", "json"))
    assert old["baseline"] == 2
    assert old["version"]["status"] == "superseded"
    assert [c["comment"] for c in old["version"]["comments"]] == ["Paid search starts late"]
    assert old["version"]["plan"]["programs"][1]["start"] == "2027-01-01"

    history = as_json(plan(ws, "history", "2027-Q1", "--format", "json"))
    (only,) = history["plans"]
    assert [(v["version"], v["status"]) for v in only["versions"]] == [(1, "superseded"), (2, "accepted")]
    table = ok(plan(ws, "history"))
    assert "superseded" in table
    assert "accepted" in table


def test_send_back_reject_and_the_errors_people_meet(ws: Path, tmp_path: Path) -> None:
    assert "no plans yet" in failed(plan(ws, "show"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(PLAN.replace("budget: 60k", "budget: sixty"), encoding="utf-8")
    problem = failed(plan(ws, "propose", broken, as_user="mark"))
    assert f"{broken}, line 12, column 13: 'budget' in program 'Paid search' is not an amount ('sixty')" in problem
    assert "nothing was stored" in problem
    good = tmp_path / "q1.yaml"
    good.write_text(PLAN, encoding="utf-8")
    assert "only marketing users propose" in failed(plan(ws, "propose", good, as_user="sam"))
    assert "no plans yet" in failed(plan(ws, "show"))

    ok(plan(ws, "propose", good, as_user="mark"))
    assert "give a reason" in failed(plan(ws, "send-back", 1, "--reason", " ", as_user="sam"))
    sent = ok(plan(ws, "send-back", 1, "--reason", "Start paid search in December", as_user="sam"))
    assert "Plan #1 (2027-Q1) version 1, sent back by sam: Start paid search in December" in sent
    revised = tmp_path / "q1-v2.yaml"
    revised.write_text(PLAN.replace("budget: 40k", "budget: 45k"), encoding="utf-8")
    ok(plan(ws, "propose", revised, as_user="mark"))
    rejected = ok(plan(ws, "reject", 1, "--reason", "Webinars do not reach banks", as_user="sara"))
    assert "Plan #1 (2027-Q1) version 2, rejected by sara: Webinars do not reach banks" in rejected
    closed = failed(plan(ws, "accept", 1, "--version", 2, as_user="sam"))
    assert "was rejected by sara" in closed
    assert "no plan for 2027-Q3" in failed(plan(ws, "show", "2027-Q3"))
    assert failed(plan(ws, "accept", 1), code=2)  # --version is required
    history = as_json(plan(ws, "history", "--format", "json"))
    assert [(v["version"], v["status"]) for v in history["plans"][0]["versions"]] == [
        (1, "sent_back"),
        (2, "rejected"),
    ]
