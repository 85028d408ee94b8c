"""`tandem plan waterfall` as a planner runs it: from hand-given numbers before any data, then on a workspace's
history and goal; real processes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tandem.demo_workspace import build_demo

from .test_cli import TANDEM
from .test_cli_accounts import as_json, failed, ok

DESIGN_EXAMPLE = [
    "--revenue", "10M", "--deal-size", "100k",
    "--rate", "inquiry:mql=10%", "--rate", "mql:sal=0.8", "--rate", "sal:sqo=0.4", "--rate", "sqo:won=0.1",
    "--lag", "mql:sal=2m", "--lag", "sal:sqo=1m", "--lag", "sqo:won=3m",
]  # fmt: skip


def plan(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``tandem plan waterfall ARGS`` in `cwd`, with no workspace from the environment."""
    environment = {k: v for k, v in os.environ.items() if k != "TANDEM_WORKSPACE"}
    return subprocess.run(
        [*TANDEM, "plan", "waterfall", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
        check=False,
    )


def by_stage(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["stage"]: row for row in document["stages"]}


def test_the_calculator_answers_before_any_data_is_imported(tmp_path: Path) -> None:
    document = as_json(plan(*DESIGN_EXAMPLE, "--period", "2027-06", "--format", "json", cwd=tmp_path))
    assert document["period"] == {"label": "2027-06", "start": "2027-06-01", "end": "2027-06-30"}
    assert document["deals"] == pytest.approx(100)
    required = {stage: row["required"] for stage, row in by_stage(document).items()}
    assert required == pytest.approx({"inquiry": 31_250, "mql": 3_125, "sal": 2_500, "sqo": 1_000, "won": 100})
    inquiries = [row for row in document["rows"] if row["stage"] == "inquiry"]
    assert inquiries == [
        {"stage": "inquiry", "month": "2026-12-01", "required": pytest.approx(31_250), "low": pytest.approx(31_250),
         "high": pytest.approx(31_250)}
    ]  # fmt: skip
    assert by_stage(document)["inquiry"]["last_entry"] == "2026-12-29"
    assert document["budget"] == []

    table = ok(plan(*DESIGN_EXAMPLE, "--period", "2027-06", cwd=tmp_path))
    assert "2027-06: $10,000,000 in revenue at $100,000 a deal: ≈ 100 deals" in table
    assert "31,250" in table


def test_a_channel_mix_gives_the_budget(tmp_path: Path) -> None:
    args = ["--revenue", "900k", "--deal-size", "10k", "--rate", "lead:won=1%", "--period", "2027-Q1"]
    document = as_json(plan(*args, "--channel", "paid_search=100%@10", "--format", "json", cwd=tmp_path))
    (budget,) = document["budget"]
    assert budget["leads"] == pytest.approx(9_000)  # 3,000 leads a month for the quarter
    assert budget["budget"] == pytest.approx(90_000)  # $30,000 a month at $10 a lead


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--revenue", "1M", "--deal-size", "10k", "--rate", "a:b=0.5", "--rate", "c:d=0.5"], "do not form one funnel"),
        (["--revenue", "1M", "--rate", "a:b=0.5"], "--deal-size: give the deal size"),
        (["--revenue", "1M", "--deal-size", "10k", "--rate", "a:b=half"], "is not a share (0.4)"),
        (
            ["--revenue", "1M", "--deal-size", "10k", "--rate", "a:b=0.5", "--lag", "a:b=soon"],
            "is not a number of days",
        ),
        (["--revenue", "lots", "--deal-size", "10k", "--rate", "a:b=0.5"], "lots"),
        (["--deal-size", "10k", "--rate", "a:b=0.5"], "--revenue: give the period's revenue"),
        (["--revenue", "1M", "--deal-size", "10k", "--rate", "a:b=0.5", "--period", "2027-Q5"], "2027-Q5"),
    ],
)
def test_bad_numbers_are_refused_saying_what_to_write(tmp_path: Path, args: list[str], message: str) -> None:
    assert message in failed(plan(*args, cwd=tmp_path), code=2)  # a usage error naming the option at fault


BY_HAND = ["--revenue", "1M", "--deal-size", "10k", "--rate", "a:b=0.5", "--period", "2027-Q1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # a step, a channel or a lead column given twice: refused, not the last one winning
        (["--rate", "a:b=0.4"], "--rate: a:b is given twice ('a:b=0.5' and 'a:b=0.4'); give each step's rate once"),
        (["--rate", "A:B=40%"], "--rate: a:b is given twice ('a:b=0.5' and 'A:B=40%'); give each step's rate once"),
        (
            ["--lag", "a:b=10", "--lag", "a:b=2w"],
            "--lag: a:b is given twice ('a:b=10' and 'a:b=2w'); give each step's lag once",
        ),
        (
            ["--channel", "email=1@2", "--channel", "email=1@3"],
            "--channel: the channel 'email' is given twice ('email=1@2' and 'email=1@3'); give each channel once",
        ),
        (
            ["--where", "segment=smb", "--where", "segment=enterprise"],
            "--where: the column 'segment' is filtered twice ('segment=smb' and 'segment=enterprise'); give each",
        ),
        # a single-valued option given twice: Click would keep the last without a word
        (["--period", "2027-Q2"], "--period: given twice ('2027-Q1' and '2027-Q2'); give it once"),
        (["--revenue=2M"], "--revenue: given twice ('1M' and '2M'); give it once"),
        (["--deal-size", "20k"], "--deal-size: given twice ('10k' and '20k'); give it once"),
        (["--seed", "1", "--seed", "2"], "--seed: given twice ('1' and '2'); give it once"),
        (["--as-of", "2027-01-01", "--as-of", "2027-02-01"], "--as-of: given twice ('2027-01-01' and '2027-02-01')"),
        (["--no-history", "--history"], "--history: --no-history and --history are both given; give one of them"),
        (["--format", "json", "--format", "table"], "--format: given twice ('json' and 'table'); give it once"),
    ],
)
def test_an_option_given_twice_is_refused_naming_it_and_both_values(
    tmp_path: Path, args: list[str], message: str
) -> None:
    assert message in failed(plan(*BY_HAND, *args, cwd=tmp_path), code=2)


def test_a_value_after_the_end_of_the_options_is_not_an_option_given_twice(tmp_path: Path) -> None:
    """``--`` ends the options: what follows is an argument (here an unexpected one), not a second --period."""
    done = plan(*BY_HAND, "--", "--period", cwd=tmp_path)
    assert done.returncode == 2
    assert "given twice" not in done.stderr


def test_a_plan_for_months_already_past_says_so(tmp_path: Path) -> None:
    """June 2027's deals need their inquiries and MQLs in December 2026 (lags of 2, 1 and 3 months after the MQL):
    planned on 15 February 2027, December is past. The JSON carries the warning, the table prints it."""
    late = [*DESIGN_EXAMPLE, "--period", "2027-06", "--as-of", "2027-02-15"]
    document = as_json(plan(*late, "--format", "json", cwd=tmp_path))
    assert document["as_of"] == "2027-02-15"
    assert {row["stage"]: row["past"] for row in document["stages"]} == pytest.approx(
        {"inquiry": 31_250, "mql": 3_125, "sal": 0, "sqo": 0, "won": 0}
    )
    (warning,) = document["warnings"]
    assert warning.startswith("2026-12 is already past on 2027-02-15 but holds 100% of the inquiry requirement")
    assert warning.endswith("2027-Q3 is the first quarter whose inquiry volume is mostly still ahead")
    shown = plan(*late, cwd=tmp_path)
    assert f"warning: {warning}" in " ".join(shown.stderr.split())

    in_time = as_json(plan(*DESIGN_EXAMPLE, "--period", "2027-06", "--as-of", "2026-11-30", "--format", "json",
                           cwd=tmp_path))  # fmt: skip
    assert in_time["warnings"] == []
    assert "warning:" not in plan(*DESIGN_EXAMPLE, "--period", "2027-06", "--as-of", "2026-11-30", cwd=tmp_path).stderr


def test_by_default_the_next_quarter_is_planned_and_its_past_months_named(tmp_path: Path) -> None:
    """Without --period the plan is the quarter after the as-of day (the quarter whose goal sales and marketing
    agree on next); when its inquiries were due in months already past, the warning names them and the first
    quarter still open at the top of the funnel."""
    document = as_json(plan(*DESIGN_EXAMPLE, "--as-of", "2027-02-15", "--format", "json", cwd=tmp_path))
    assert document["period"]["label"] == "2027-Q2"
    (warning,) = document["warnings"]
    assert warning.startswith("2026-10 to 2027-01 are already past on 2027-02-15 but hold 100% of the inquiry")
    assert warning.endswith("2027-Q3 is the first quarter whose inquiry volume is mostly still ahead")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plan") / "demo"
    with build_demo(folder, leads=3000, seed=3, echo=lambda _line: None):
        pass
    return folder


def test_in_a_workspace_what_is_not_given_comes_from_history(company: Path) -> None:
    document = as_json(plan("--revenue", "2M", "--period", "2027-Q1", "--format", "json", "-w", company, cwd=company))
    model = document["model"]
    assert model["stages"] == ["lead", "mql", "sql", "opportunity", "won"]
    assert model["basis"].startswith("history as of")
    assert all(step["rate"]["cohort"] > 0 for step in model["steps"])
    stages = by_stage(document)
    assert stages["lead"]["low"] < stages["lead"]["required"] < stages["lead"]["high"]  # rates from data: a range
    assert document["revenue"] == pytest.approx(2_000_000)
    assert {row["channel"] for row in document["budget"]} >= {"email", "paid_search"}
    assert sum(row["share"] for row in document["budget"]) == pytest.approx(1)

    # A number given by hand wins over history; the rest still comes from it.
    mixed = as_json(
        plan("--revenue", "2M", "--period", "2027-Q1", "--rate", "lead:mql=0.5", "--format", "json", cwd=company)
    )
    assert mixed["model"]["steps"][0]["rate"]["value"] == 0.5
    assert "by hand: lead:mql" in mixed["model"]["basis"]
    assert by_stage(mixed)["lead"]["required"] < stages["lead"]["required"]
    assert "--rate: lead:won is not a step of this workspace's funnel" in failed(
        plan("--revenue", "2M", "--rate", "lead:won=0.5", cwd=company), code=2
    )


def test_the_revenue_defaults_to_the_goal(company: Path) -> None:
    assert "--revenue: no goal for 2027-Q1" in failed(plan("--period", "2027-Q1", cwd=company), code=2)
    import tandem

    with tandem.open_workspace(company) as ws:
        ws.accounts.create_user("test", "ceo", "exec", password="a long enough password")
        ceo = ws.accounts.authenticate("ceo", "a long enough password", "test")
        ws.goals.set(ceo, "2027", 12_000_000)
    document = as_json(plan("--period", "2027-Q1", "--format", "json", cwd=company))
    assert document["revenue"] == pytest.approx(12_000_000 * 90 / 365, abs=0.01)  # Q1's days of the year's goal


def test_scenarios_side_by_side_from_a_file(tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(
        "scenarios:\n  - name: better qualification\n    rate_changes: [sal:sqo=+25%]\n"
        "  - name: flat budget\n    channels: [webinar=1@10]\n    budget: 250k\n",
        encoding="utf-8",
    )
    command = [*TANDEM, "plan", "scenarios", str(scenarios), *DESIGN_EXAMPLE, "--period", "2027-06"]
    done = subprocess.run([*command, "--format", "json"], capture_output=True, text=True, cwd=tmp_path, check=False)
    document = as_json(done)
    base, better, budget = document["scenarios"]
    assert by_stage(base)["inquiry"]["required"] == pytest.approx(31_250)
    assert by_stage(better)["inquiry"]["required"] == pytest.approx(25_000)
    assert budget["revenue_from_budget"] == pytest.approx(8_000_000)
    assert budget["goal_share"] == pytest.approx(0.8)
    table = ok(subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False))
    assert "better qualification" in table
    assert "80.0%" in table
    scenarios.write_text("scenarios:\n  - name: a\n    rate: [x]\n", encoding="utf-8")
    assert "unknown key(s) rate" in failed(subprocess.run(command, capture_output=True, text=True, cwd=tmp_path))


def test_pacing_measures_the_stages_against_the_goal_without_a_plan(company: Path) -> None:
    import tandem

    with tandem.open_workspace(company) as ws:
        ws.accounts.create_user("test", "cfo", "exec", password="a long enough password")
        cfo = ws.accounts.authenticate("cfo", "a long enough password", "test")
        ws.goals.set(cfo, "2026-Q3", 900_000)
    command = [*TANDEM, "plan", "pacing", "--period", "2026-Q3", "--as-of", "2026-08-16", "-w", str(company)]
    document = as_json(subprocess.run([*command, "--format", "json"], capture_output=True, text=True, check=False))
    assert document["period"] == "2026-Q3"
    assert document["basis"] == "what the goal needs (no plan accepted for 2026-Q3)"
    assert document["elapsed"] == pytest.approx(47 / 92)
    with tandem.open_workspace(company) as ws:
        funnel = ws.funnel(period="month", start="2026-07-01", end="2026-08-17", as_of="2026-08-16").rows()
    for stage in document["stages"]:
        actual = sum(row["reached"] for row in funnel if row["stage"] == stage["stage"])
        assert stage["actual_to_date"] == actual
        assert stage["gap"] == pytest.approx(stage["actual_to_date"] - stage["expected_to_date"])
    assert "2026-Q3 as of 2026-08-16" in ok(subprocess.run(command, capture_output=True, text=True, check=False))
    refused = failed(subprocess.run([*TANDEM, "plan", "pacing", "--period", "2025-Q1", "-w", str(company)],
                                    capture_output=True, text=True, check=False))  # fmt: skip
    assert "nothing to measure 2025-Q1 against" in refused
