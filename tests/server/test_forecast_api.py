"""The forecast in the web app: ``/api/forecast``, ``/api/forecast/backtest``, ``/api/forecast/warnings``,
``/api/alerts``, the Forecast page and the forecast card on the Overview, on the served demo company."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.forecast.service import period_forecast, workspace_backtest
from tandem.forecast.warnings import early_warnings
from tandem.periods import current_quarter

from .conftest import Browser
from .test_plan_pages import set_goal

FORECAST_KEYS = {
    "period", "as_of", "definition_version", "start", "end", "days_left", "won_to_date", "expected", "p10", "p50",
    "p90", "goal", "chance_of_goal", "sources", "baselines", "simulations", "seed", "histogram", "goal_source",
    "goal_explanation", "arrivals_basis", "summary", "previous", "changes", "weighted_pipeline", "simulated",
    "calibration", "cautions", "unknown_deals", "currency",
}  # fmt: skip


def test_the_forecast_is_the_python_api_s_for_the_same_question(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    quarter = current_quarter()
    document = api("val").get("/api/forecast", params={"simulations": 2000, "seed": 3}).json()
    assert set(document) == FORECAST_KEYS
    assert document["period"]["label"] == quarter.label
    assert (document["simulations"], document["seed"]) == (2000, 3)
    assert document["won_to_date"] <= document["p10"] <= document["p50"] <= document["p90"]
    assert document["goal"] is None
    assert document["chance_of_goal"] is None
    assert sum(bar["count"] for bar in document["histogram"]) == 2000
    assert [c["delta"] for c in document["changes"]] == [
        pytest.approx(c["after"] - c["before"]) for c in document["changes"]
    ]

    expected = period_forecast(app.state.tandem.workspace, quarter, simulations=2000, seed=3)
    assert document["won_to_date"] == pytest.approx(expected.forecast.won_to_date)
    assert [(s["source"], s["stage"], s["count"]) for s in document["sources"]] == [
        (s.source, s.stage, s.count) for s in expected.forecast.sources
    ]
    # Asked a few seconds apart: the ages of open deals and leads move by that much, the figures hardly at all.
    for key in ("expected", "p10", "p50", "p90"):
        assert document[key] == pytest.approx(getattr(expected.forecast, key), rel=0.02), key
    assert document["baselines"]["weighted_pipeline"] == pytest.approx(expected.forecast.weighted_pipeline, rel=0.02)


def test_a_goal_gives_the_chance_of_reaching_it_and_a_new_answer(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    client = api("sam")
    quarter = current_quarter()
    before = client.get("/api/forecast", params={"period": quarter.label}).json()
    assert before["chance_of_goal"] is None
    set_goal(app, quarter.label, "1M")
    after = client.get("/api/forecast", params={"period": quarter.label}).json()
    assert after["goal"] == 1_000_000
    assert after["goal_source"] == "goal"
    # The endpoint answers the engine's chance: at a fixed moment and seed, the share of the very same simulated
    # totals at or above the goal, to the last digit.
    moment = f"{quarter.start.isoformat()}T00:00:00"
    fixed = client.get("/api/forecast", params={"period": quarter.label, "as_of": moment, "seed": 3}).json()
    expected = period_forecast(
        app.state.tandem.workspace, quarter, as_of=datetime.fromisoformat(moment), simulations=fixed["simulations"],
        seed=3,
    )  # fmt: skip
    assert fixed["chance_of_goal"] == expected.forecast.chance_of_goal
    assert "chance of reaching the goal of $1,000,000" in after["summary"]
    # A month of the quarter has its share of the quarter's goal, by days.
    last = quarter.children[-1]
    month = client.get("/api/forecast", params={"period": last.label}).json()
    assert month["goal_source"] == "derived"
    share = last.days / quarter.days
    assert month["goal"] == pytest.approx(1_000_000 * share, abs=0.01)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"period": "2026-Q9"}, "'2026-Q9' is not a period"),
        ({"period": "next quarter"}, "'next quarter' is not a period"),
        ({"simulations": 10}, "simulations"),
        ({"simulations": 10_000_000}, "simulations"),
        ({"seed": -1}, "seed"),
    ],
)
def test_a_bad_question_is_a_422_naming_it(
    api: Callable[[str], TestClient], params: dict[str, Any], named: str
) -> None:
    answer = api("val").get("/api/forecast", params=params)
    assert answer.status_code == 422, answer.text
    assert named in str(answer.json()["detail"])


def test_the_backtest_scores_three_methods_as_the_python_api_does(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    client = api("eve")
    document = client.get("/api/forecast/backtest").json()
    assert set(document) == {
        "kind", "periods", "simulations", "skipped_empty", "scores", "scores_by_stretch", "points", "entry_rule",
        "targets", "currency",
    }  # fmt: skip
    assert [s["method"] for s in document["scores"]] == ["tandem", "weighted_pipeline", "run_rate"]
    assert set(document["scores_by_stretch"]) == {"start", "weeks 1-6", "weeks 7+"}
    expected = workspace_backtest(app.state.tandem.workspace).as_dict()
    assert document["periods"] == expected["periods"]
    for got, want in zip(document["scores"], expected["scores"], strict=True):
        assert got["forecasts"] == want["forecasts"]
        assert got["mape"] == pytest.approx(want["mape"], rel=0.05)
    assert client.get("/api/forecast/backtest", params={"kind": "year"}).status_code == 422
    assert client.get("/api/forecast/backtest", params={"kind": "month"}).json()["kind"] == "month"


def test_the_warnings_need_a_goal_or_plan_then_match_the_python_api(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    client = api("mark")
    quarter = current_quarter()
    refused = client.get("/api/forecast/warnings")
    assert refused.status_code == 400
    assert f"nothing to measure {quarter.label} against" in refused.json()["detail"]
    assert client.get("/api/forecast/warnings", params={"period": "2026-13"}).status_code == 422

    set_goal(app, quarter.label, "1M")
    document = client.get("/api/forecast/warnings").json()
    assert document["period"] == quarter.label
    expected = early_warnings(app.state.tandem.workspace, quarter)
    assert [s["stage"] for s in document["stages"]] == [s.stage for s in expected.stages]
    assert [s["actual_to_date"] for s in document["stages"]] == [s.actual for s in expected.stages]
    assert document["last_date"]["last_day"] == expected.last_date.last_day.isoformat()


def test_the_alert_history_starts_empty_and_is_bounded(api: Callable[[str], TestClient]) -> None:
    client = api("val")
    assert client.get("/api/alerts").json() == {"alerts": [], "limit": 50}
    assert client.get("/api/alerts", params={"limit": 5, "period": "2026-Q4"}).json()["limit"] == 5
    assert client.get("/api/alerts", params={"limit": 0}).status_code == 422
    assert client.get("/api/alerts", params={"period": "Q4"}).status_code == 422


@pytest.mark.parametrize("path", ["/api/forecast", "/api/forecast/backtest", "/api/forecast/warnings", "/api/alerts"])
def test_signed_out_the_api_answers_401(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401


def test_signed_out_the_page_leads_to_the_sign_in(client: TestClient) -> None:
    answer = client.get("/forecast", params={"period": "2026-Q4"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/forecast")


def section(page: str, name: str) -> str:
    return page.split(f'id="{name}"')[1].split("</section>")[0]


def test_the_page_shows_the_forecast_the_backtest_and_the_warnings(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    quarter = current_quarter()
    browser = signed_in("val")
    page = browser.get("/forecast").text
    assert '<a href="/forecast" aria-current="page">Forecast</a>' in page
    forecast = section(page, "forecast")
    assert "no goal set" in forecast
    assert 'data-chart="forecast-range"' in forecast
    assert re.findall(r'<tr data-method="([^"]+)"', forecast) == ["tandem", "weighted_pipeline", "run_rate"]
    backtest = section(page, "backtest")
    assert set(re.findall(r'data-method="([^"]+)"', backtest)) == {"tandem", "weighted_pipeline", "run_rate"}
    assert 'data-chart="backtest"' in backtest
    assert f"nothing to measure {quarter.label} against" in section(page, "warnings")
    assert "No alerts yet" in section(page, "alerts")

    set_goal(app, quarter.label, "1M")
    page = browser.get("/forecast", params={"period": quarter.label}).text
    document = browser.get("/api/forecast", params={"period": quarter.label}).json()
    chance = section(page, "chance")
    assert f"{document['chance_of_goal']:.1%}" in chance
    assert "goal $1,000,000" in chance
    assert 'id="warnings-stages"' in section(page, "warnings")

    refused = browser.get("/forecast", params={"period": "2026-Q5"})
    assert refused.status_code == 422
    assert "&#39;2026-Q5&#39; is not a period" in refused.text


def test_the_overview_shows_the_forecast_card_with_or_without_a_goal(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    quarter = current_quarter()
    card = section(signed_in("val").get("/").text, "forecast-card")
    assert f"Forecast · {quarter.label}" in card
    assert "no goal set" in card
    assert 'data-chart="forecast-range"' in card
    assert 'href="/forecast"' in card

    set_goal(app, quarter.label, "1M")
    card = section(signed_in("val").get("/").text, "forecast-card")
    assert "no goal set" not in card
    assert re.search(r'id="overview-chance">\s*<div class="label">chance of reaching the goal</div>\s*'
                     r'<div class="value">\d+\.\d%</div>', card)  # fmt: skip
    assert "goal $1,000,000" in card
