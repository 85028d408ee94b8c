"""`tandem forecast` and `tandem forecast backtest` on the demo company, as real processes: the JSON document's
shape and invariants, won so far against the opportunities table counted independently, seeded reproducibility,
the tables for people, and a bad period refused naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tandem
from tandem.demo_workspace import DEMO_GOAL_GROWTH, build_demo, create_demo_users, set_demo_goal
from tandem.forecast.service import period_forecast
from tandem.periods import current_quarter

from .test_cli import TANDEM
from .test_cli_accounts import as_json, failed, ok

#: Observed at noon three days ago: a fixed moment, so two runs see the same data at the same ages.
AS_OF_DAY = datetime.now(UTC).date() - timedelta(days=3)
AS_OF = f"{AS_OF_DAY.isoformat()}T12:00:00"
PERIOD = current_quarter(AS_OF_DAY)


def forecast(company: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tandem forecast ARGS -w COMPANY``."""
    environment = {k: v for k, v in os.environ.items() if k != "TANDEM_WORKSPACE"}
    return subprocess.run(
        [*TANDEM, "forecast", *args, "-w", str(company)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("forecast") / "demo"
    with build_demo(folder, leads=2000, seed=5, echo=lambda _line: None):
        pass
    return folder


@pytest.fixture(scope="module")
def document(company: Path) -> dict[str, Any]:
    found: dict[str, Any] = as_json(
        forecast(company, "--as-of", AS_OF, "--simulations", "2000", "--seed", "7", "--format", "json")
    )
    return found


def won_so_far(company: Path, start: date, as_of: datetime) -> float:
    """Revenue won from `start` to `as_of`'s day, straight from the warehouse's opportunities table."""
    with duckdb.connect(str(company / "warehouse.duckdb"), read_only=True) as db:
        row = db.execute(
            "select coalesce(sum(amount), 0) from opportunities where status = 'won' and created_at <= ? "
            "and close_date >= ? and close_date <= ?",
            [as_of, start, as_of.date()],
        ).fetchone()
    assert row is not None
    return float(row[0])


def test_the_forecast_document_has_its_shape_and_holds_together(company: Path, document: dict[str, Any]) -> None:
    assert document["period"]["label"] == PERIOD.label
    assert document["as_of"] == AS_OF_DAY.isoformat()
    assert (document["start"], document["end"]) == (PERIOD.start.isoformat(), PERIOD.end.isoformat())
    for key in (
        "days_left", "won_to_date", "expected", "p10", "p50", "p90", "goal", "chance_of_goal", "sources",
        "baselines", "simulations", "seed", "histogram", "goal_source", "goal_explanation", "arrivals_basis",
        "summary", "previous", "changes",
    ):  # fmt: skip
        assert key in document, key
    assert (document["simulations"], document["seed"]) == (2000, 7)
    assert document["won_to_date"] <= document["p10"] <= document["p50"] <= document["p90"]
    assert document["won_to_date"] == pytest.approx(won_so_far(company, PERIOD.start, datetime.fromisoformat(AS_OF)))
    assert document["goal"] is None  # build_demo sets no goal
    assert document["chance_of_goal"] is None
    assert document["goal_source"] == "none"
    assert sum(bar["count"] for bar in document["histogram"]) == 2000
    sources = {(row["source"], row["stage"]): row for row in document["sources"]}
    assert sources[("won", "won")]["expected_revenue"] == pytest.approx(document["won_to_date"])
    assert sources[("won", "won")]["expected_deals"] == sources[("won", "won")]["count"]  # not 0.0 for won deals
    assert document["weighted_pipeline"]["value"] == document["baselines"]["weighted_pipeline"]
    # The demo was imported today, after the as-of day: no open deal's stage, amount or close date was known then.
    assert document["unknown_deals"] == sources[("open deals", "opportunity")]["count"]
    # The sources are exact expectations; `expected` is the mean of the simulated outcomes.
    assert sum(row["expected_revenue"] for row in document["sources"]) == pytest.approx(document["expected"], rel=0.05)
    assert set(document["baselines"]) == {"weighted_pipeline", "run_rate"}
    previous = document["previous"]
    assert previous["as_of"] == (AS_OF_DAY - timedelta(days=7)).isoformat()
    assert previous["p10"] <= previous["p50"] <= previous["p90"]
    for change in document["changes"]:
        assert change["delta"] == pytest.approx(change["after"] - change["before"])
        if (change["source"], change["stage"]) in sources:
            assert change["after"] == pytest.approx(sources[(change["source"], change["stage"])]["expected_revenue"])
    assert document["summary"].startswith(f"{PERIOD.label}: ")


def test_the_same_seed_gives_the_same_forecast_and_another_seed_another(
    company: Path, document: dict[str, Any]
) -> None:
    args = ["--as-of", AS_OF, "--simulations", "2000", "--format", "json"]
    again = as_json(forecast(company, *args, "--seed", "7"))
    assert again == document
    other = as_json(forecast(company, *args, "--seed", "8"))
    assert other["won_to_date"] == document["won_to_date"]
    assert (other["p10"], other["p50"], other["p90"]) != (document["p10"], document["p50"], document["p90"])


def test_the_table_says_the_range_the_sources_the_baselines_and_what_changed(
    company: Path, document: dict[str, Any]
) -> None:
    shown = ok(forecast(company, "--as-of", AS_OF, "--simulations", "2000", "--seed", "7"))
    assert document["summary"] in shown
    assert f"No goal for {PERIOD.label}" in shown
    for heading in ("where", "weighted pipeline", "run rate", "what changed since the forecast of"):
        assert heading in shown
    assert f"{document['won_to_date']:,.0f}" in shown
    assert f"P50 ${document['previous']['p50']:,.0f} -> ${document['p50']:,.0f}" in shown


def test_with_a_goal_the_chance_of_reaching_it(company: Path, tmp_path: Path) -> None:
    copy = tmp_path / "with-goal"
    shutil.copytree(company, copy, ignore=shutil.ignore_patterns("demo-data"))
    with tandem.open_workspace(copy) as ws:
        ws.accounts.create_user("test", "eve", "exec", password="eve's long password")
        ws.goals.set(ws.accounts.authenticate("eve", "eve's long password"), PERIOD, "400k")
    found = as_json(forecast(copy, "--as-of", AS_OF, "--simulations", "2000", "--seed", "7", "--format", "json"))
    assert found["goal"] == 400_000
    assert found["goal_source"] == "goal"
    # The command shows the engine's chance, not one of its own: the same data, moment, seed and simulations give
    # the same simulated totals, so the same share of them at or above the goal (now and a week before).
    with tandem.open_workspace(copy) as ws:
        expected = period_forecast(ws, PERIOD, as_of=datetime.fromisoformat(AS_OF), simulations=2000, seed=7)
    assert expected.previous is not None
    assert found["chance_of_goal"] == expected.forecast.chance_of_goal
    assert found["previous"]["chance_of_goal"] == expected.previous.chance_of_goal
    assert "chance of reaching the goal of $400,000" in found["summary"]
    shown = ok(forecast(copy, "--as-of", AS_OF, "--simulations", "2000", "--seed", "7"))
    assert "Goal $400,000" in shown
    assert f"chance of reaching it: {found['chance_of_goal']:.1%}" in shown

    warned = as_json(forecast(copy, "warnings", "--as-of", AS_OF, "--format", "json"))
    assert warned["period"] == PERIOD.label
    assert [s["stage"] for s in warned["stages"]] == ["lead", "mql", "sql", "opportunity", "won"]
    assert "nothing to measure" in failed(forecast(company, "warnings", "--as-of", AS_OF))  # no goal, no plan


def test_a_period_already_over_has_one_outcome_and_its_goal_a_chance_of_1_or_0(company: Path, tmp_path: Path) -> None:
    """Once the period is over nothing is left to simulate: every total is the revenue won in it (counted here
    straight from the opportunities table), so a goal of exactly that is reached (1.0) and a goal one unit above
    it is not (0.0)."""
    copy = tmp_path / "over"
    shutil.copytree(company, copy, ignore=shutil.ignore_patterns("demo-data"))
    previous = current_quarter(PERIOD.start - timedelta(days=1))
    last_moment = datetime.combine(previous.end - timedelta(days=1), time(23, 59, 59))
    won = won_so_far(copy, previous.start, last_moment)
    assert won > 0
    with tandem.open_workspace(copy) as ws:
        ws.accounts.create_user("test", "eve", "exec", password="eve's long password")
        eve = ws.accounts.authenticate("eve", "eve's long password")
    for goal, chance in ((won, 1.0), (won + 1, 0.0)):
        with tandem.open_workspace(copy) as ws:
            ws.goals.set(eve, previous, f"{goal:.2f}")
        args = ["--period", previous.label, "--as-of", AS_OF, "--simulations", "2000", "--seed", "7"]
        found = as_json(forecast(copy, *args, "--format", "json"))
        assert (found["won_to_date"], found["p10"], found["p90"]) == (won, won, won)
        assert (found["goal"], found["chance_of_goal"]) == (goal, chance)


def test_the_demo_sets_a_goal_for_the_current_quarter_once(company: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(company, copy, ignore=shutil.ignore_patterns("demo-data"))
    today = datetime.now(UTC).date()
    quarter = current_quarter(today)
    previous = current_quarter(quarter.start - timedelta(days=1))
    with duckdb.connect(str(copy / "warehouse.duckdb"), read_only=True) as db:
        row = db.execute(
            "select coalesce(sum(amount), 0) from opportunities where status = 'won' and close_date >= ? "
            "and close_date < ?",
            [previous.start, previous.end],
        ).fetchone()
    assert row is not None
    with tandem.open_workspace(copy) as ws:
        credentials = create_demo_users(ws, "cli:demo")
        goal = set_demo_goal(ws, credentials, today)
        assert goal is not None
        assert goal.period == quarter
        assert goal.updated_by == "erin"
        assert float(goal.amount) == max(round(float(row[0]) * DEMO_GOAL_GROWTH, -4), 10_000)
        assert set_demo_goal(ws, create_demo_users(ws, "cli:demo"), today) is None  # built again: kept as it was
        assert [g.period for g in ws.goals.all()] == [quarter]


def test_a_bad_period_is_refused_naming_it(company: Path) -> None:
    message = failed(forecast(company, "--period", "2026-Q7"), code=2)
    assert "--period: '2026-Q7' is not a period" in message
    assert "--as-of: 'soon' is not a date" in failed(forecast(company, "--as-of", "soon"), code=2)
    assert "--seed" in failed(forecast(company, "--seed", "-1"), code=2)


def test_the_backtest_scores_three_methods(company: Path) -> None:
    args = ["backtest", "--as-of", AS_OF, "--simulations", "300"]
    backtest = as_json(forecast(company, *args, "--format", "json"))
    assert backtest["kind"] == "quarter"
    assert [s["method"] for s in backtest["scores"]] == ["tandem", "weighted_pipeline", "run_rate"]
    assert set(backtest["scores_by_stretch"]) == {"start", "weeks 1-6", "weeks 7+"}
    assert backtest["periods"], "the demo has past quarters to test"
    tandem = backtest["scores"][0]
    scored = [p for p in backtest["points"] if p["actual"] > 0]
    assert tandem["forecasts"] == len(scored)
    assert tandem["coverage"] == pytest.approx(sum(p["p10"] <= p["actual"] <= p["p90"] for p in scored) / len(scored))
    assert tandem["mape"] == pytest.approx(sum(abs(p["p50"] - p["actual"]) / p["actual"] for p in scored) / len(scored))
    for point in backtest["points"]:
        assert point["p10"] <= point["p50"] <= point["p90"]
        assert point["period"] in backtest["periods"]
    # Each forecast is calibrated on the forecasts of the periods that had ended by its day, and on nothing later.
    first = min(backtest["points"], key=lambda p: p["as_of"])
    assert first["calibrated_on"] == 0
    assert backtest["entry_rule"] == (
        "a quarter is tested once it has ended, began at least 90 days after the first deal, and at least 30 deals "
        "had closed by its first day"
    )
    met = backtest["targets"]["every forecast"]
    assert met["met"] == (met["tandem"] <= met["best_baseline"])

    shown = ok(forecast(company, *args))
    for text in ("tandem (P50)", "weighted pipeline", "run rate", "MAPE %", "per period", backtest["periods"][0]):
        assert text in shown
    assert f"Tested: {backtest['entry_rule']}" in shown
    assert "180 days" not in shown
    assert failed(forecast(company, "backtest", "--kind", "year"), code=2)
