"""One question, one document, for marketing's share of revenue and its return: the command line's
``--format json`` and the REST API answer the same attribution and ROI questions with the same document and refuse
the same bad question naming the same field (the machinery: one_document.py). The company is the server tests'
demo workspace."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tandem.server import create_app

from . import one_document
from .one_document import AS_OF, Refused, Same

SAME_QUESTION = [
    Same("attribution", ["attribution", "--as-of", AS_OF], "/api/attribution", {"as_of": AS_OF}),
    Same(
        "attribution",
        ["attribution", "--model", "linear", "--by", "campaign", "--period", "quarter", "--as-of", AS_OF],
        "/api/attribution",
        {"model": "linear", "by": "campaign", "period": "quarter", "as_of": AS_OF},
    ),
    Same(
        "attribution",
        ["attribution", "--outcome", "pipeline", "--level", "account", "--from", "2026-01-01", "--as-of", AS_OF],
        "/api/attribution",
        {"outcome": "pipeline", "level": "account", "from": "2026-01-01", "as_of": AS_OF},
    ),
    Same("roi", ["roi", "--as-of", AS_OF], "/api/roi", {"as_of": AS_OF}),
    Same(
        "attribution-summary",
        ["attribution", "--summary", "--as-of", AS_OF],
        "/api/attribution/summary",
        {"as_of": AS_OF},
    ),
    Same(
        "attribution-deals",
        ["attribution", "--deals", "referral", "--limit", "5", "--as-of", AS_OF],
        "/api/attribution/deals",
        {"item": "referral", "limit": 5, "as_of": AS_OF},
    ),
    Same(
        "roi",
        ["roi", "--by", "campaign", "--period", "quarter", "--from", "2026-01-01", "--as-of", AS_OF],
        "/api/roi",
        {"by": "campaign", "period": "quarter", "from": "2026-01-01", "as_of": AS_OF},
    ),
]
SAME_REFUSAL = [
    Refused(["attribution", "--from", "2026-02-30"], "--from", "/api/attribution", {"from": "2026-02-30"}, "from"),
    Refused(
        ["attribution", "--outcome", "leads", "--level", "account"],
        "--level",
        "/api/attribution",
        {"outcome": "leads", "level": "account"},
        "level",
    ),
    Refused(["roi", "--to", "someday"], "--to", "/api/roi", {"to": "someday"}, "to"),
    Refused(
        ["attribution", "--deals", "referral", "--limit", "0"],
        "--limit",
        "/api/attribution/deals",
        {"item": "referral", "limit": 0},
        "limit",
    ),
]


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_document.copy_demo(demo_template, tmp_path_factory.mktemp("one-document-attribution"))


@pytest.fixture(scope="module")
def printed(company: Path) -> list[Any]:
    return one_document.printed(company, SAME_QUESTION)


@pytest.fixture(scope="module")
def refused(company: Path) -> list[subprocess.CompletedProcess[str]]:
    return one_document.refused(company, SAME_REFUSAL)


@pytest.fixture(scope="module")
def client(company: Path, printed: list[Any], refused: list[Any]) -> Iterator[TestClient]:
    client = one_document.api_client(create_app(company), "val")
    yield client
    client.__exit__(None, None, None)


@pytest.mark.parametrize(
    "number", range(len(SAME_QUESTION)), ids=[f"{c.kind}-{i}" for i, c in enumerate(SAME_QUESTION)]
)
def test_the_cli_and_the_api_give_the_same_document(client: TestClient, printed: list[Any], number: int) -> None:
    one_document.same_document(client, SAME_QUESTION[number], printed[number])


@pytest.mark.parametrize("number", range(len(SAME_REFUSAL)), ids=[r.flag for r in SAME_REFUSAL])
def test_the_cli_and_the_api_refuse_the_same_question(
    client: TestClient, refused: list[subprocess.CompletedProcess[str]], number: int
) -> None:
    one_document.same_refusal(client, SAME_REFUSAL[number], refused[number])


def test_the_demo_s_credit_adds_up_to_its_revenue_under_every_model(printed: list[Any]) -> None:
    document = printed[0]
    total = document["totals"]["value"]
    assert total > 0
    assert sum(row["value"] for row in document["rows"]) == pytest.approx(total, abs=0.05)
    for name in document["comparison"]["models"]:
        assert sum(row[name] for row in document["comparison"]["rows"]) == pytest.approx(total, abs=0.05)
    assert sum(row["sourced_value"] for row in document["sourced"]) == pytest.approx(total, abs=0.05)
    assert document["models_in_force"][0]["approved"] is False
    assert document["models_in_force"][0]["model"] == "w_shaped"


def test_the_demo_s_return_adds_up_and_values_leads_in_flight(printed: list[Any]) -> None:
    document = printed[3]
    rows, totals = document["rows"], document["totals"]
    assert sum(row["spend"] for row in rows) == pytest.approx(totals["spend"], abs=0.05)
    assert sum(row["realised"]["revenue"] for row in rows) == pytest.approx(totals["realised"]["revenue"], abs=0.05)
    assert totals["expected"]["in_flight"] > 0
    assert totals["expected"]["low"] < totals["expected"]["revenue"] < totals["expected"]["high"]
    assert document["model"]["basis"].startswith("history as of")


def test_the_deals_behind_a_credit_add_up_to_it(printed: list[Any]) -> None:
    credited = {row["item"]: row["value"] for row in printed[0]["rows"]}
    found = printed[5]
    assert found["outcomes"] >= found["shown"] == 5
    for deal in found["deals"]:
        mine = sum(t["share"] for t in deal["touches"] if t["channel"] == "referral")
        assert deal["share"] == pytest.approx(mine, abs=1e-6)
        assert deal["credit"] == pytest.approx(deal["share"] * deal["value"], rel=1e-5)  # the share to 6 digits
        assert sum(t["share"] for t in deal["touches"]) == pytest.approx(1.0, abs=1e-6)
    assert found["deals"][0]["credit"] <= credited["referral"]
