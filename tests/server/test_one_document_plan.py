"""One question, one document, for the plan's kinds: the goals, the reverse waterfall, scenarios, the plans and plan
against actual. The command line's ``--format json`` and the REST API answer each question with the same document
and refuse the same bad question naming the same field (the machinery: one_document.py).

The company is the server tests' demo workspace with a goal for the as-of quarter and a marketing plan for it,
proposed by mark and waiting for a sales leader; the plans are asked by the people who would act on them (sam, a
sales leader; mark, its author), signing in on the command line with their password on stdin.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem.periods import next_quarter, parse_period
from tandem.server import create_app

from . import one_document
from .one_document import AS_OF, AS_OF_DAY, PASSWORD, QUARTER, Refused, Same

#: The quarter after the as-of day's: a period with no goal (a plan for it takes a revenue given by hand).
NEXT = next_quarter(AS_OF_DAY).label
#: Stands for the scenarios file in a command's arguments (written beside the workspace when the tests run).
SCENARIOS_FILE = "@scenarios"
SCENARIOS = """\
scenarios:
  - name: better qualification
    rate_changes: [mql:sql=+20%]
  - name: bigger deals
    deal_size_change: +15%
  - name: flat budget
    channels: [webinar=0.5@120, paid_search=0.5@140]
    budget: 150k
"""
BY_HAND = ["--no-history", "--revenue", "1M", "--deal-size", "10k", "--period", "2027-Q1"]
BY_HAND_PARAMS: dict[str, Any] = {"history": "false", "revenue": "1M", "deal_size": "10k", "period": "2027-Q1"}


def signed(user: str) -> list[str]:
    return ["--as", user, "--password-stdin"]


def words(*parts: str | list[str]) -> list[str]:
    """Command-line arguments: each text split on spaces, each list as it is."""
    found: list[str] = []
    for part in parts:
        found += part.split() if isinstance(part, str) else part
    return found


SAME_QUESTION = [
    Same("goals", ["goal", "list"], "/api/goals"),
    Same("goal", ["goal", "show", QUARTER], f"/api/goals/{QUARTER}"),
    Same(
        "waterfall",
        words("plan waterfall", BY_HAND, "--rate mql:sql=0.4 --rate sql:won=25% --lag mql:sql=2w"),
        "/api/plan/waterfall",
        {**BY_HAND_PARAMS, "rate": ["mql:sql=0.4", "sql:won=25%"], "lag": ["mql:sql=2w"]},
    ),
    Same(
        "waterfall",
        words(
            "plan waterfall",
            BY_HAND,
            "--rate lead:mql=120/400 --rate mql:won=0.05 --lag lead:mql=3m --lag mql:won=45d",
            "--channel email=0.4@3 --channel paid_search=60%@12.5 --seed 7",
        ),
        "/api/plan/waterfall",
        {
            **BY_HAND_PARAMS,
            "rate": ["lead:mql=120/400", "mql:won=0.05"],
            "lag": ["lead:mql=3m", "mql:won=45d"],
            "channel": ["email=0.4@3", "paid_search=60%@12.5"],
            "seed": 7,
        },
    ),
    Same(
        "waterfall",
        words(
            f"plan waterfall --period {NEXT} --revenue 2M --rate mql:sql=40% --lag sql:opportunity=2w",
            ["--as-of", AS_OF],
        ),
        "/api/plan/waterfall",
        {"period": NEXT, "revenue": "2M", "rate": "mql:sql=40%", "lag": "sql:opportunity=2w", "as_of": AS_OF},
    ),
    Same(
        "waterfall",
        words(
            f"plan waterfall --period {QUARTER} --where channel=paid_search --lookback 400 --horizon 120",
            "--deal-size 25k --rate opportunity:won=0.3 --lag opportunity:won=30",
            ["--as-of", AS_OF],
        ),
        "/api/plan/waterfall",
        {
            "period": QUARTER,
            "as_of": AS_OF,
            "where": "channel=paid_search",
            "lookback": 400,
            "horizon": 120,
            "deal_size": "25k",
            "rate": "opportunity:won=0.3",
            "lag": "opportunity:won=30",
        },
    ),
    Same(
        "scenarios",
        words(f"plan scenarios {SCENARIOS_FILE} --period {QUARTER}", ["--as-of", AS_OF]),
        "/api/plan/scenarios",
        {"document": SCENARIOS, "period": QUARTER, "as_of": AS_OF},
    ),
    Same(
        "scenarios",
        words(
            f"plan scenarios {SCENARIOS_FILE}",
            BY_HAND,
            "--channel webinar=1@100 --rate lead:mql=0.2 --rate mql:sql=0.5",
            "--rate sql:opportunity=0.5 --rate opportunity:won=0.25",
        ),
        "/api/plan/scenarios",
        {
            **BY_HAND_PARAMS,
            "document": SCENARIOS,
            "channel": "webinar=1@100",
            "rate": ["lead:mql=0.2", "mql:sql=0.5", "sql:opportunity=0.5", "opportunity:won=0.25"],
        },
    ),
    Same("plans", words("plan history", signed("sam")), "/api/plans", user="sam"),
    Same("plans", words(f"plan history {QUARTER}", signed("mark")), "/api/plans", {"period": QUARTER}, user="mark"),
    Same("plan", words("plan show 1", signed("sam")), "/api/plans/1", user="sam"),
    Same("plan", words(f"plan show {QUARTER} --version 1", signed("mark")), "/api/plans/1", {"version": 1}, "mark"),
    Same(
        "pacing",
        words(f"plan pacing --period {QUARTER}", ["--as-of", AS_OF]),
        "/api/plan/pacing",
        {"period": QUARTER, "as_of": AS_OF},
    ),
]


def refused_both(
    args: str, flag: str, params: dict[str, Any], parameter: str, path: str = "/api/plan/waterfall"
) -> Refused:
    """A bad question of `tandem plan waterfall` (`args`, split on spaces) and of the API at `path`."""
    return Refused(words("plan", args), flag, path, params, parameter)


SAME_REFUSAL = [
    # The rate is below 1e-06 and the lag over 3,650 days: a plan that would start in 1972. The rate is named first.
    Refused(
        ["plan", "waterfall", *BY_HAND, "--rate", "mql:won=0.0000000001", "--lag", "mql:won=20000"],
        "--rate",
        "/api/plan/waterfall",
        {**BY_HAND_PARAMS, "rate": "mql:won=0.0000000001", "lag": "mql:won=20000"},
        "rate",
    ),
    Refused(
        ["plan", "waterfall", *BY_HAND, "--rate", "mql:won=0.1", "--lag", "mql:won=20000"],
        "--lag",
        "/api/plan/waterfall",
        {**BY_HAND_PARAMS, "rate": "mql:won=0.1", "lag": "mql:won=20000"},
        "lag",
    ),
    # A step given twice is refused, not the last one winning; so is a channel or a lead column given twice.
    Refused(
        ["plan", "waterfall", *BY_HAND, "--rate", "mql:won=0.1", "--rate", "mql:won=0.2"],
        "--rate",
        "/api/plan/waterfall",
        {**BY_HAND_PARAMS, "rate": ["mql:won=0.1", "mql:won=0.2"]},
        "rate",
    ),
    Refused(
        ["plan", "waterfall", *BY_HAND, "--rate", "mql:won=0.1", "--lag", "mql:won=2w", "--lag", "mql:won=3w"],
        "--lag",
        "/api/plan/waterfall",
        {**BY_HAND_PARAMS, "rate": "mql:won=0.1", "lag": ["mql:won=2w", "mql:won=3w"]},
        "lag",
    ),
    Refused(
        ["plan", "waterfall", *BY_HAND, "--rate", "mql:won=0.1", "--channel", "email=0.5", "--channel", "email=0.5"],
        "--channel",
        "/api/plan/waterfall",
        {**BY_HAND_PARAMS, "rate": "mql:won=0.1", "channel": ["email=0.5", "email=0.5"]},
        "channel",
    ),
    refused_both(
        "waterfall --revenue 1M --where channel=email --where channel=web",
        "--where",
        {"revenue": "1M", "where": ["channel=email", "channel=web"]},
        "where",
    ),
    refused_both("waterfall --rate mql", "--rate", {"rate": "mql"}, "rate"),
    refused_both(
        "waterfall --revenue 1M --rate lead:won=0.5", "--rate", {"revenue": "1M", "rate": "lead:won=0.5"}, "rate"
    ),
    refused_both(
        "waterfall --revenue 1M --where no_such_column=x",
        "--where",
        {"revenue": "1M", "where": "no_such_column=x"},
        "where",
    ),
    refused_both(f"waterfall --period {NEXT}", "--revenue", {"period": NEXT}, "revenue"),  # no goal for it
    refused_both("waterfall --revenue lots", "--revenue", {"revenue": "lots"}, "revenue"),
    refused_both(
        "waterfall --revenue 1M --deal-size 0", "--deal-size", {"revenue": "1M", "deal_size": "0"}, "deal_size"
    ),
    refused_both(
        "waterfall --no-history --revenue 1M --rate mql:won=0.1",
        "--deal-size",
        {"history": "false", "revenue": "1M", "rate": "mql:won=0.1"},
        "deal_size",
    ),
    refused_both("waterfall --period 2027-Q5", "--period", {"period": "2027-Q5"}, "period"),
    refused_both("waterfall --lookback 10", "--lookback", {"lookback": 10}, "lookback"),
    refused_both("waterfall --horizon 9999", "--horizon", {"horizon": 9999}, "horizon"),
    refused_both("waterfall --as-of 0001-01-01", "--as-of", {"as_of": "0001-01-01"}, "as_of"),
    refused_both(
        f"scenarios {SCENARIOS_FILE} --period 2027-Q9",
        "--period",
        {"document": SCENARIOS, "period": "2027-Q9"},
        "period",
        "/api/plan/scenarios",
    ),
    refused_both(
        f"scenarios {SCENARIOS_FILE} --rate mql:sql=0.4 --rate mql:sql=0.5",
        "--rate",
        {"document": SCENARIOS, "rate": ["mql:sql=0.4", "mql:sql=0.5"]},
        "rate",
        "/api/plan/scenarios",
    ),
    refused_both("pacing --period Q4", "--period", {"period": "Q4"}, "period", "/api/plan/pacing"),
    refused_both("pacing --as-of soon", "--as-of", {"as_of": "soon"}, "as_of", "/api/plan/pacing"),
    Refused(["goal", "show", "2027-Q5"], "PERIOD", "/api/goals/2027-Q5", {}, "period"),
    refused_both("history 2027-13", "PERIOD", {"period": "2027-13"}, "period", "/api/plans"),
    refused_both("show 1 --version 0", "--version", {"version": 0}, "version", "/api/plans/1"),
]


def plan_file() -> str:
    """The marketing plan mark proposes for the as-of quarter."""
    quarter = parse_period(QUARTER)
    return (
        f"period: {QUARTER}\nnote: {QUARTER} demand plan\nprograms:\n"
        f"  - name: Webinar series\n    channel: webinar\n    budget: 40k\n"
        f"    start: {quarter.start}\n    end: {quarter.end - timedelta(days=1)}\n    volume: 900\n"
    )


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with a goal for the as-of quarter, a marketing plan for it waiting for a sales leader,
    and the scenarios file beside it."""
    target = one_document.copy_demo(demo_template, tmp_path_factory.mktemp("one-document-plan"))
    with tandem.open_workspace(target) as ws:
        ws.goals.set(ws.accounts.authenticate("eve", PASSWORD, "test"), QUARTER, "1M")
        ws.plans.propose(ws.accounts.authenticate("mark", PASSWORD, "test"), plan_file())
    (target / "scenarios.yaml").write_text(SCENARIOS, encoding="utf-8")
    return target


def arguments(company: Path, args: list[str]) -> list[str]:
    return [str(company / "scenarios.yaml") if arg == SCENARIOS_FILE else arg for arg in args]


def run(company: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The command as a real process, with the password of the user it signs in as (if any) on stdin."""
    return one_document.tandem(
        company, *arguments(company, args), "--format", "json", stdin=PASSWORD + "\n" if "--as" in args else None
    )


@pytest.fixture(scope="module")
def printed(company: Path) -> list[Any]:
    documents = []
    for case in SAME_QUESTION:
        done = run(company, case.args)
        assert done.returncode == 0, (case.args, done.stderr)
        documents.append(json.loads(done.stdout))
    return documents


@pytest.fixture(scope="module")
def refused(company: Path) -> list[subprocess.CompletedProcess[str]]:
    return [run(company, case.args) for case in SAME_REFUSAL]


@pytest.fixture(scope="module")
def clients(company: Path, printed: list[Any], refused: list[Any]) -> Iterator[dict[str, TestClient]]:
    """An API client per person asking (after every command ran: DuckDB lets one process write)."""
    app = create_app(company)
    opened = {user: one_document.api_client(app, user) for user in ("val", "sam", "mark")}
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


@pytest.mark.parametrize("number", range(len(SAME_QUESTION)), ids=[c.kind for c in SAME_QUESTION])
def test_the_cli_and_the_api_give_the_same_document(
    clients: dict[str, TestClient], printed: list[Any], number: int
) -> None:
    case = SAME_QUESTION[number]
    one_document.same_document(clients[case.user], case, printed[number])


@pytest.mark.parametrize("number", range(len(SAME_REFUSAL)), ids=[" ".join(c.args) for c in SAME_REFUSAL])
def test_a_bad_question_is_refused_by_both_naming_the_same_field(
    clients: dict[str, TestClient], refused: list[subprocess.CompletedProcess[str]], number: int
) -> None:
    case = SAME_REFUSAL[number]
    one_document.same_refusal(clients[case.user], case, refused[number])


def test_the_plans_say_what_the_person_asking_may_do(printed: list[Any]) -> None:
    """The documents list `allowed_actions` for who asks: sam (a sales leader) decides on mark's version; mark,
    its author, comments on it and may propose a new version."""
    by_sam = next(d for c, d in zip(SAME_QUESTION, printed, strict=True) if c.kind == "plan" and c.user == "sam")
    by_mark = next(d for c, d in zip(SAME_QUESTION, printed, strict=True) if c.kind == "plan" and c.user == "mark")
    assert (by_sam["asked_by"], by_sam["actions"]) == ("sam", ["review", "accept", "send_back", "reject"])
    assert (by_mark["asked_by"], by_mark["actions"]) == ("mark", ["propose", "review"])
    assert by_mark["version"]["version"] == 1
    assert by_mark["version"]["author"] == "mark"
