"""A new, empty workspace: every page answers, its charts have a size, and the forecast says there is nothing yet.

A workspace with no deals and no leads used to answer 500 on the Overview and the Forecast page (the weighted
pipeline's stage probabilities could not be measured on an empty array), and its Funnel page drew the stage volumes
with no data at all, which Vega laid out 1.8e308 px tall and the browser hung on. A first look must never break.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem.server import create_app

from .conftest import PASSWORD, sign_in


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[TestClient]:
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.accounts.create_user("test", "ada", "admin", password=PASSWORD)
    with TestClient(create_app(tmp_path / "ws"), follow_redirects=False) as client:
        assert sign_in(client, "ada").status_code == 303  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize("path", ["/", "/forecast", "/funnel", "/plan", "/definitions"])
def test_every_page_of_an_empty_workspace_answers(empty: TestClient, path: str) -> None:
    assert empty.get(path).status_code == 200


def test_the_forecast_of_an_empty_workspace_is_nothing_with_a_caution(empty: TestClient) -> None:
    document = empty.get("/api/forecast").json()
    assert (document["won_to_date"], document["p10"], document["p50"], document["p90"]) == (0, 0, 0, 0)
    assert document["cautions"] == [
        "thin data: 0 deals closed in the last year (fewer than 30); the win rate and the curves rest on too little, "
        "so the range is drawn wider"
    ]
    assert re.search(r"chance of reaching the goal", empty.get("/").text)


def test_the_empty_funnel_chart_has_a_bar_per_stage_and_a_size(empty: TestClient) -> None:
    svg = empty.get("/charts/funnel/stage-volumes.svg")
    assert svg.status_code == 200
    height = float(re.search(r'<svg[^>]* height="([0-9.e+]+)"', svg.text).group(1))  # type: ignore[union-attr]
    assert height < 1000
    page = empty.get("/funnel").text
    assert '"values": [{"stage": "lead", "series": "all leads", "reached": 0}' in page.replace("\n", "")
