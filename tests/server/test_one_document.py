"""One question, one document: the command line's ``--format json`` and the REST API answer the same question with
the same document, and refuse the same bad question naming the same field.

This module holds the funnel engine's kinds, the status and the forecast's, and checks that the cases here and in
the other test_one_document_*.py modules cover every kind of question (`tandem.questions.KINDS`). The machinery
is in one_document.py: each question is asked through the command line as a real process, then through the API.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem.questions import KINDS
from tandem.server import create_app

from . import one_document
from .one_document import AS_OF, AS_OF_DAY, PASSWORD, QUARTER, Refused, Same

FIRST_MONTH = f"{AS_OF_DAY.year - 1}-01-01"

SAME_QUESTION = [
    Same("status", ["status"], "/api/status"),
    Same(
        "funnel",
        ["funnel", "--by", "channel", "--period", "month", "--from", FIRST_MONTH, "--as-of", AS_OF],
        "/api/funnel",
        {"by": "channel", "period": "month", "from": FIRST_MONTH, "as_of": AS_OF},
    ),
    Same(
        "funnel",
        ["funnel", "--strict", "--window", "30", "--horizon", "60", "--definitions", "1", "--as-of", AS_OF],
        "/api/funnel",
        {"strict": "true", "window": 30, "horizon": 60, "definitions": 1, "as_of": AS_OF},
    ),
    Same(
        "revenue",
        ["revenue", "--by", "channel", "--period", "quarter", "--as-of", AS_OF],
        "/api/revenue",
        {"by": "channel", "period": "quarter", "as_of": AS_OF},
    ),
    Same(
        "velocity",
        ["velocity", "mql", "won", "--by", "channel", "--as-of", AS_OF],
        "/api/velocity",
        {"from_stage": "mql", "to_stage": "won", "by": "channel", "as_of": AS_OF},
    ),
    Same(
        "pipeline",
        ["pipeline", "--by", "channel", "--as-of", AS_OF],
        "/api/pipeline",
        {"by": "channel", "as_of": AS_OF},
    ),
    Same("quality", ["quality", "--as-of", AS_OF], "/api/quality", {"as_of": AS_OF}),
    Same(
        "leads",
        ["leads", "--stage", "sql", "--by", "channel=email", "--limit", "20", "--as-of", AS_OF],
        "/api/leads",
        {"stage": "sql", "where": "channel=email", "limit": 20, "as_of": AS_OF},
    ),
    Same(
        "forecast",
        ["forecast", "--period", QUARTER, "--as-of", AS_OF, "--simulations", "2000", "--seed", "3"],
        "/api/forecast",
        {"period": QUARTER, "as_of": AS_OF, "simulations": 2000, "seed": 3},
    ),
    Same(
        "backtest",
        ["forecast", "backtest", "--as-of", AS_OF, "--simulations", "300"],
        "/api/forecast/backtest",
        {"as_of": AS_OF, "simulations": 300},
    ),
    Same(
        "warnings",
        ["forecast", "warnings", "--period", QUARTER, "--as-of", AS_OF],
        "/api/forecast/warnings",
        {"period": QUARTER, "as_of": AS_OF},
    ),
]

SAME_REFUSAL = [
    Refused(["funnel", "--from", "2026-13-01"], "--from", "/api/funnel", {"from": "2026-13-01"}, "from"),
    Refused(["funnel", "--to", "someday"], "--to", "/api/funnel", {"to": "someday"}, "to"),
    Refused(["funnel", "--as-of", "yesterday"], "--as-of", "/api/funnel", {"as_of": "yesterday"}, "as_of"),
    Refused(
        ["funnel", "--from", "2026-03-01", "--to", "2026-02-01"],
        "--to",
        "/api/funnel",
        {"from": "2026-03-01", "to": "2026-02-01"},
        "to",
    ),
    Refused(["funnel", "--window", "0"], "--window", "/api/funnel", {"window": 0}, "window"),
    Refused(["funnel", "--by", "no_such_column"], "--by", "/api/funnel", {"by": "no_such_column"}, "by"),
    Refused(
        ["funnel", "--by", "channel", "--by", "channel"], "--by", "/api/funnel", {"by": ["channel", "channel"]}, "by"
    ),
    Refused(["revenue", "--from", "2026-02-30"], "--from", "/api/revenue", {"from": "2026-02-30"}, "from"),
    Refused(["pipeline", "--as-of", "soon"], "--as-of", "/api/pipeline", {"as_of": "soon"}, "as_of"),
    Refused(["velocity", "won"], "FROM_STAGE", "/api/velocity", {"from_stage": "won"}, "from_stage"),
    Refused(
        ["velocity", "sql", "mql"], "TO_STAGE", "/api/velocity", {"from_stage": "sql", "to_stage": "mql"}, "to_stage"
    ),
    Refused(["leads", "--stage", "nope"], "--stage", "/api/leads", {"stage": "nope"}, "stage"),
    Refused(["quality", "--as-of", "2026-1-1x"], "--as-of", "/api/quality", {"as_of": "2026-1-1x"}, "as_of"),
    Refused(["forecast", "--period", "2026-Q9"], "--period", "/api/forecast", {"period": "2026-Q9"}, "period"),
    Refused(["forecast", "--as-of", "later"], "--as-of", "/api/forecast", {"as_of": "later"}, "as_of"),
    Refused(
        ["forecast", "warnings", "--period", "Q4"], "--period", "/api/forecast/warnings", {"period": "Q4"}, "period"
    ),
]


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with a goal for the quarter, so the forecast and the warnings have something to measure."""
    target = one_document.copy_demo(demo_template, tmp_path_factory.mktemp("one-document"))
    with tandem.open_workspace(target) as ws:
        ws.goals.set(ws.accounts.authenticate("eve", PASSWORD, "test"), QUARTER, "1M")
    return target


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


def test_every_kind_of_question_is_asked_both_ways() -> None:
    asked: set[str] = set()
    package = importlib.import_module(__package__ or "tests.server")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_one_document"):
            found = importlib.import_module(f"{package.__name__}.{module.name}")
            asked |= {case.kind for case in found.SAME_QUESTION}
    assert sorted(set(KINDS) - asked) == []


@pytest.mark.parametrize("number", range(len(SAME_QUESTION)), ids=[c.kind for c in SAME_QUESTION])
def test_the_cli_and_the_api_give_the_same_document(client: TestClient, printed: list[Any], number: int) -> None:
    one_document.same_document(client, SAME_QUESTION[number], printed[number])


@pytest.mark.parametrize("number", range(len(SAME_REFUSAL)), ids=[" ".join(c.args) for c in SAME_REFUSAL])
def test_a_bad_question_is_refused_by_both_naming_the_same_field(
    client: TestClient, refused: list[subprocess.CompletedProcess[str]], number: int
) -> None:
    one_document.same_refusal(client, SAME_REFUSAL[number], refused[number])
