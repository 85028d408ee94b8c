"""One question, one document, for the handoff's service levels: the report, a rep's queue and the quarter's
summary. The command line's ``--format json`` and the REST API answer each question with the same document and
refuse the same bad question naming the same field (the machinery: one_document.py). The company is the server
tests' demo workspace, whose first definitions carry the demo's contract and whose handoffs the demo generated."""

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
    Same("sla", ["sla", "report", "--as-of", AS_OF], "/api/sla", {"as_of": AS_OF}),
    Same(
        "sla",
        ["sla", "report", "--by", "team", "--period", "month", "--as-of", AS_OF],
        "/api/sla",
        {"by": "team", "period": "month", "as_of": AS_OF},
    ),
    Same(
        "sla-queue",
        ["sla", "queue", "Daniel Novak", "--as-of", AS_OF],
        "/api/sla/queue",
        {"owner": "Daniel Novak", "as_of": AS_OF},
    ),
    Same("sla-summary", ["sla", "summary", "--as-of", AS_OF], "/api/sla/summary", {"as_of": AS_OF}),
]
SAME_REFUSAL = [
    Refused(["sla", "report", "--from", "2026-02-30"], "--from", "/api/sla", {"from": "2026-02-30"}, "from"),
    Refused(["sla", "summary", "--as-of", "soon"], "--as-of", "/api/sla/summary", {"as_of": "soon"}, "as_of"),
]


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_document.copy_demo(demo_template, tmp_path_factory.mktemp("one-document-sla"))


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


def test_the_demo_s_report_has_real_numbers(printed: list[Any]) -> None:
    report = printed[0]
    assert report["contract_version"] == 1
    assert report["totals"]["handoffs"] > 0
    assert {r["rep"] for r in report["rows"]} >= {"Ava Thompson", "Daniel Novak"}
