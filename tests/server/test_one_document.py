"""One question, one document: the command line's ``--format json`` and the REST API answer the same question with
the same document, and refuse the same bad question naming the same field.

Every kind of question the command line and the API share is asked both ways on one demo workspace, as of one
fixed moment: the command line as a real process, then the API in-process. A bad question is refused by both: the
command line with one line on stderr naming the flag and exit code 2, the API with a 422 naming the parameter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tandem.questions import KINDS
from tandem.server import create_app

from .conftest import USERS

#: A fixed moment three days ago at noon: both front ends see the same data at the same ages.
AS_OF_DAY = datetime.now(UTC).date() - timedelta(days=3)
AS_OF = f"{AS_OF_DAY.isoformat()}T12:00:00"
QUARTER = f"{AS_OF_DAY.year}-Q{(AS_OF_DAY.month - 1) // 3 + 1}"
FIRST_MONTH = f"{AS_OF_DAY.year - 1}-01-01"

#: (kind, the command line's arguments, the API's path, its parameters): the same question each way.
SAME_QUESTION: list[tuple[str, list[str], str, dict[str, Any]]] = [
    ("status", ["status"], "/api/status", {}),
    (
        "funnel",
        ["funnel", "--by", "channel", "--period", "month", "--from", FIRST_MONTH, "--as-of", AS_OF],
        "/api/funnel",
        {"by": "channel", "period": "month", "from": FIRST_MONTH, "as_of": AS_OF},
    ),
    (
        "funnel",
        ["funnel", "--strict", "--window", "30", "--horizon", "60", "--definitions", "1", "--as-of", AS_OF],
        "/api/funnel",
        {"strict": "true", "window": 30, "horizon": 60, "definitions": 1, "as_of": AS_OF},
    ),
    (
        "revenue",
        ["revenue", "--by", "channel", "--period", "quarter", "--as-of", AS_OF],
        "/api/revenue",
        {"by": "channel", "period": "quarter", "as_of": AS_OF},
    ),
    (
        "velocity",
        ["velocity", "mql", "won", "--by", "channel", "--as-of", AS_OF],
        "/api/velocity",
        {"from_stage": "mql", "to_stage": "won", "by": "channel", "as_of": AS_OF},
    ),
    ("pipeline", ["pipeline", "--by", "channel", "--as-of", AS_OF], "/api/pipeline", {"by": "channel", "as_of": AS_OF}),
    ("quality", ["quality", "--as-of", AS_OF], "/api/quality", {"as_of": AS_OF}),
    (
        "leads",
        ["leads", "--stage", "sql", "--by", "channel=email", "--limit", "20", "--as-of", AS_OF],
        "/api/leads",
        {"stage": "sql", "where": "channel=email", "limit": 20, "as_of": AS_OF},
    ),
    (
        "forecast",
        ["forecast", "--period", QUARTER, "--as-of", AS_OF, "--simulations", "2000", "--seed", "3"],
        "/api/forecast",
        {"period": QUARTER, "as_of": AS_OF, "simulations": 2000, "seed": 3},
    ),
    (
        "backtest",
        ["forecast", "backtest", "--as-of", AS_OF, "--simulations", "300"],
        "/api/forecast/backtest",
        {"as_of": AS_OF, "simulations": 300},
    ),
    (
        "warnings",
        ["forecast", "warnings", "--period", QUARTER, "--as-of", AS_OF],
        "/api/forecast/warnings",
        {"period": QUARTER, "as_of": AS_OF},
    ),
]

#: (the command line's arguments, its flag at fault, the API's path and parameters, its parameter at fault).
SAME_REFUSAL: list[tuple[list[str], str, str, dict[str, Any], str]] = [
    (["funnel", "--from", "2026-13-01"], "--from", "/api/funnel", {"from": "2026-13-01"}, "from"),
    (["funnel", "--to", "someday"], "--to", "/api/funnel", {"to": "someday"}, "to"),
    (["funnel", "--as-of", "yesterday"], "--as-of", "/api/funnel", {"as_of": "yesterday"}, "as_of"),
    (
        ["funnel", "--from", "2026-03-01", "--to", "2026-02-01"],
        "--to",
        "/api/funnel",
        {"from": "2026-03-01", "to": "2026-02-01"},
        "to",
    ),
    (["funnel", "--window", "0"], "--window", "/api/funnel", {"window": 0}, "window"),
    (["funnel", "--by", "no_such_column"], "--by", "/api/funnel", {"by": "no_such_column"}, "by"),
    (["funnel", "--by", "channel", "--by", "channel"], "--by", "/api/funnel", {"by": ["channel", "channel"]}, "by"),
    (["revenue", "--from", "2026-02-30"], "--from", "/api/revenue", {"from": "2026-02-30"}, "from"),
    (["pipeline", "--as-of", "soon"], "--as-of", "/api/pipeline", {"as_of": "soon"}, "as_of"),
    (["velocity", "won"], "from_stage", "/api/velocity", {"from_stage": "won"}, "from_stage"),
    (["velocity", "sql", "mql"], "to_stage", "/api/velocity", {"from_stage": "sql", "to_stage": "mql"}, "to_stage"),
    (["leads", "--stage", "nope"], "--stage", "/api/leads", {"stage": "nope"}, "stage"),
    (["quality", "--as-of", "2026-1-1x"], "--as-of", "/api/quality", {"as_of": "2026-1-1x"}, "as_of"),
    (["forecast", "--period", "2026-Q9"], "--period", "/api/forecast", {"period": "2026-Q9"}, "period"),
    (["forecast", "--as-of", "later"], "--as-of", "/api/forecast", {"as_of": "later"}, "as_of"),
    (["forecast", "warnings", "--period", "Q4"], "--period", "/api/forecast/warnings", {"period": "Q4"}, "period"),
]


def tandem(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("TANDEM_WORKSPACE", "TANDEM_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", *args, "-w", str(workspace)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with a goal for the quarter, so the forecast and the warnings have something to measure."""
    import tandem as api

    target = tmp_path_factory.mktemp("one-document") / "demo"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns("demo-data"))
    with api.open_workspace(target) as ws:
        principal = ws.accounts.authenticate("eve", "a-password-for-tests", "test")
        ws.goals.set(principal, QUARTER, "1M")
    return target


@pytest.fixture(scope="module")
def printed(company: Path) -> dict[int, Any]:
    """Every case's ``--format json`` document, printed by the command line (before the app opens the workspace)."""
    import json

    documents: dict[int, Any] = {}
    for number, (_, args, _, _) in enumerate(SAME_QUESTION):
        done = tandem(company, *args, "--format", "json")
        assert done.returncode == 0, done.stderr
        documents[number] = json.loads(done.stdout)
    return documents


@pytest.fixture(scope="module")
def refused_by_the_cli(company: Path) -> dict[int, subprocess.CompletedProcess[str]]:
    return {number: tandem(company, *case[0], "--format", "json") for number, case in enumerate(SAME_REFUSAL)}


@pytest.fixture(scope="module")
def client(company: Path, printed: dict[int, Any], refused_by_the_cli: dict[int, Any]) -> Iterator[TestClient]:
    app = create_app(company)
    with TestClient(app, follow_redirects=False) as test_client:
        _, secret = app.state.tandem.workspace.accounts.create_token("test", "val", "tests")
        test_client.headers["Authorization"] = f"Bearer {secret}"
        yield test_client


def test_every_shared_kind_is_asked_both_ways() -> None:
    asked = {kind for kind, *_ in SAME_QUESTION}
    assert asked == set(KINDS), "a kind of question without a case here is not known to give one document"
    assert "val" in USERS  # the API reads as a viewer: every document here is readable by every role


@pytest.mark.parametrize(
    ("number", "kind"), [(n, case[0]) for n, case in enumerate(SAME_QUESTION)], ids=lambda v: str(v)
)
def test_the_cli_and_the_api_give_the_same_document(
    client: TestClient, printed: dict[int, Any], number: int, kind: str
) -> None:
    _, _, path, params = SAME_QUESTION[number]
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json() == printed[number]


@pytest.mark.parametrize("number", range(len(SAME_REFUSAL)))
def test_a_bad_question_is_refused_by_both_naming_the_same_field(
    client: TestClient, refused_by_the_cli: dict[int, subprocess.CompletedProcess[str]], number: int
) -> None:
    _, flag, path, params, parameter = SAME_REFUSAL[number]
    done = refused_by_the_cli[number]
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert flag in lines[0]
    answer = client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == parameter
    assert answer.json()["detail"].startswith(f"{parameter}: ")
