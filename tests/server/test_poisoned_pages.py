"""The pages stay up when the warehouse holds a value no figure can use (issue 16): each poison of
tests/test_poisoned_values.py, written into the warehouse with SQL on DuckDB and PostgreSQL, leaves every page and
API answering 200 with the clean company's figures, and the Overview and Forecast pages naming the rows left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tandem import Workspace
from tandem.periods import current_quarter
from tandem.server import create_app

from ..backends import Backend
from ..test_poisoned_values import LEFT_OUT, POISONS, Poison, company_tables, poisoned
from .conftest import PASSWORD

pytestmark = pytest.mark.notrun(
    ["pyspark"], reason="the poison is written into the warehouse with SQL; a Spark warehouse is read-only Parquet"
)

#: The documents compared with the clean company's: each figure in them must be exactly the same.
DOCUMENTS = (
    "/api/overview",
    "/api/forecast?simulations=1000",
    "/api/forecast/backtest?simulations=100",
    "/api/plan/pacing",
    "/api/funnel",
    "/api/revenue",
    "/api/pipeline",
    "/api/definitions/suggestions",
)
#: The pages, and whether each names the rows left out.
PAGES = {"/": True, "/forecast": True, "/funnel": False, "/plan": False, "/definitions": False}
GOAL = 20_000


@pytest.fixture(scope="module")
def company(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    """The hand-worked company with a goal for the quarter and a viewer's API token."""
    with backend.workspace_holding(tmp_path_factory.mktemp("pages"), company_tables()) as ws:
        ws.accounts.create_user("test", "eve", "exec", password=PASSWORD)
        ws.accounts.create_user("test", "val", "viewer", password=PASSWORD)
        eve = ws.accounts.authenticate("eve", PASSWORD, "test")
        ws.goals.set(eve, current_quarter().label, str(GOAL))
        _, secret = ws.accounts.create_token("test", "val", "tests")
        yield ws, secret


def answers(ws: Workspace, secret: str) -> dict[str, Any]:
    """Every document and page of a fresh app on `ws` (nothing cached from before): status and body."""
    ws.warehouse.release()  # DuckDB: the app opens the warehouse itself
    found: dict[str, Any] = {}
    with TestClient(create_app(ws.path), headers={"Authorization": f"Bearer {secret}"}) as client:
        for route in (*DOCUMENTS, *PAGES):
            response = client.get(route)
            assert response.status_code == 200, (route, response.text[:2000])
            found[route] = response.json() if route.startswith("/api/") else unescape(response.text)
    return found


#: A moment read from the clock ("now", to the microsecond): differs between two computations by design.
NOW = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+$")


def _clockless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clockless(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clockless(v) for v in value]
    return "<now>" if isinstance(value, str) and NOW.match(value) else value


def without_findings(route: str, document: dict[str, Any]) -> dict[str, Any]:
    """`document` less what differs by design: the moments read from the clock, and the finding of the rows left
    out."""
    document = _clockless(document)
    if "cautions" in document:
        document["cautions"] = [c for c in document["cautions"] if LEFT_OUT not in c]
    if route == "/api/overview":
        document["data_quality"] = [c for c in document["data_quality"] if not c["check"].startswith("unusable")]
    return document


@pytest.fixture(scope="module")
def clean(company: tuple[Workspace, str]) -> dict[str, Any]:
    return answers(*company)


def test_the_clean_company_shows_its_hand_worked_figures(clean: dict[str, Any]) -> None:
    overview = clean["/api/overview"]
    assert {row["stage"]: row["reached"] for row in overview["stage_volumes"]} == {
        "lead": 4, "mql": 2, "sql": 0, "opportunity": 0, "won": 0,
    }  # fmt: skip
    assert (overview["revenue"]["won_revenue"], overview["revenue"]["win_rate"]) == (6000.0, 0.75)
    assert overview["revenue"]["open_pipeline"] == 1200.0
    assert clean["/api/forecast?simulations=1000"]["won_to_date"] == 6000.0
    assert clean["/api/forecast?simulations=1000"]["goal"] == GOAL
    assert [c for c in overview["data_quality"] if c["check"].startswith("unusable")] == []
    assert LEFT_OUT not in clean["/"]
    assert LEFT_OUT not in clean["/forecast"]


@pytest.mark.parametrize("poison", POISONS, ids=[p.name for p in POISONS])
def test_every_page_stays_up_with_the_clean_figures_and_names_what_it_left_out(
    company: tuple[Workspace, str], clean: dict[str, Any], poison: Poison
) -> None:
    ws, secret = company
    with poisoned(ws, poison):
        found = answers(ws, secret)
    for route in DOCUMENTS:
        assert without_findings(route, found[route]) == without_findings(route, clean[route]), route
    noun = "opportunity" if poison.table == "opportunities" else "lead"
    finding = f"1 {noun} with an unusable value is {LEFT_OUT}: {poison.named}"
    [quality] = [c for c in found["/api/overview"]["data_quality"] if c["check"].startswith("unusable")]
    assert (quality["check"], quality["count"]) == (f"unusable_values ({poison.table})", 1)
    assert quality["meaning"].startswith(finding)
    [caution] = [c for c in found["/api/forecast?simulations=1000"]["cautions"] if LEFT_OUT in c]
    assert caution.startswith(finding)
    for page, names in PAGES.items():
        assert (finding in found[page]) is names, page
