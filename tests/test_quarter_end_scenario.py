"""The quarter-end scenario, end to end on the command line, on a demo company.

In the last week of a quarter, a marketer proposes to make every lead that downloaded content an MQL. Everyone
sees what that does before deciding (`tandem definitions impact`): hundreds of extra MQLs that historically
converted worse than the others. The marketing leader approves; the sales leader's approval is refused until an
exec overrides the guard, with a reason that goes to the audit log.

The same change on day 67 of a quarter, far from its last two weeks, is held back too: it would add far more than
10 % to the MQLs of the last 90 days.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

import tandem
from tandem.definitions.guard import quarter_bounds
from tandem.demo_workspace import build_demo

from .test_cli import run
from .test_cli_accounts import as_json, failed, ok
from .test_cli_definitions import as_user, definitions, password

TEAM = {
    "mark": ("marketing", False),
    "maria": ("marketing", True),
    "sam": ("sales", True),
    "eve": ("exec", False),
}


def last_week_of_a_quarter(today: date) -> date:
    """A day in the last week of this quarter, or of the next one when this one's last week has begun."""
    day = quarter_bounds(today)[1] - timedelta(days=3)
    if day < today:
        day = quarter_bounds(quarter_bounds(today)[1] + timedelta(days=1))[1] - timedelta(days=3)
    return day


def day_67_of_next_quarter(today: date) -> date:
    """The 67th day of the next quarter: outside its last two weeks."""
    return quarter_bounds(quarter_bounds(today)[1] + timedelta(days=1))[0] + timedelta(days=66)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_company(tmp_path_factory, "quarter-end")


def demo_company(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    folder = tmp_path_factory.mktemp(name) / "demo"
    with build_demo(folder, leads=1000, seed=5, echo=lambda _line: None) as ws:
        for username, (role, leader) in TEAM.items():
            ws.accounts.create_user("test", username, role, password=password(username), leader=leader)
    return folder


@pytest.fixture(scope="module")
def proposal(company: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = ok(definitions(company, "show"))
    loosened = document.replace("- name: mql\n", "- name: mql\n  rule: has_event('content_download')\n")
    assert loosened != document
    path = tmp_path_factory.mktemp("proposal") / "definitions.yaml"
    path.write_text(loosened, encoding="utf-8")
    return path


def test_a_loosened_mql_rule_at_quarter_end_is_refused_without_an_exec_override(company: Path, proposal: Path) -> None:
    effective = last_week_of_a_quarter(date.today())
    proposed = ok(
        as_user(
            company,
            "mark",
            "propose",
            proposal,
            "--note",
            "Content downloads are MQLs",
            "--effective",
            effective.isoformat(),
        )
    )
    assert "Proposal #1" in proposed

    # The impact, before anyone decides: extra MQLs, and how leads like them converted.
    impact = as_json(definitions(company, "impact", "1", "--format", "json"))
    mql = next(stage for stage in impact["stages"] if stage["stage"] == "mql")
    assert mql["added"] > 0
    assert mql["removed"] == 0
    assert mql["proposed"] == mql["current"] + mql["added"]
    assert mql["history_added"] > 0
    assert mql["added_won_rate"] is not None
    assert mql["kept_won_rate"] is not None
    assert impact["summary"][0].startswith(f"mql: {mql['added']:,} leads added")
    table = ok(definitions(company, "impact", "1"))
    assert "impact of proposal #1 on version 1" in table

    # The guard judges on the data: the change adds MQLs in the quarter's last weeks.
    guard = as_json(definitions(company, "guard", "1", "--format", "json"))
    assert guard["loosened"] == ["mql"]
    assert guard["needs_override"] is True
    assert guard["added"]["mql"] == mql["added"]

    ok(as_user(company, "maria", "approve", "1"))
    refused = failed(as_user(company, "sam", "approve", "1"))
    assert "override" in refused
    with tandem.open_workspace(company) as ws:
        assert ws.definitions.current().version == 1  # nothing changed

    ok(as_user(company, "eve", "override", "1", "--reason", "Board-approved campaign; reviewed the impact"))
    assert "version 2" in ok(as_user(company, "sam", "approve", "1"))
    with tandem.open_workspace(company) as ws:
        assert ws.definitions.current().version == 2
        actions = [entry["action"] for entry in reversed(ws.audit_log()) if entry["action"].startswith("definitions")]
        override = next(e for e in ws.audit_log() if e["action"] == "definitions.override")
    assert actions[-2:] == ["definitions.approve", "definitions.version"]
    assert "definitions.override" in actions
    assert override["actor"] == "eve"
    assert "Board-approved" in str(override["details"])

    # Version 2 takes effect in the quarter's last week: until then results count under version 1, and any period
    # can be counted under either version.
    in_force = as_json(run("funnel", "--format", "json", "-w", str(company)))
    recounted = as_json(run("funnel", "--definitions", "2", "--format", "json", "-w", str(company)))
    assert (in_force["definition_version"], recounted["definition_version"]) == (1, 2)
    reached = {
        doc["definition_version"]: {r["stage"]: r["reached"] for r in doc["rows"]} for doc in (in_force, recounted)
    }
    assert reached[2]["mql"] - reached[1]["mql"] == mql["added"]
    assert reached[2]["won"] == reached[1]["won"]
    explained = run("funnel", "--definitions", "2", "--explain", "-w", str(company))
    assert "mql: has_event('content_download')" in explained.stderr
    assert "sql: (stage events only)" in explained.stderr
    status = ok(run("status", "-w", str(company)))
    assert f"version 2 is approved and takes effect on {effective}" in status


def test_the_same_change_on_day_67_of_a_quarter_is_held_back_for_its_size(
    tmp_path_factory: pytest.TempPathFactory, proposal: Path
) -> None:
    company = demo_company(tmp_path_factory, "day-67")
    effective = day_67_of_next_quarter(date.today())
    ok(as_user(company, "mark", "propose", proposal, "--note", "Content downloads", "--effective", str(effective)))
    guard = as_json(definitions(company, "guard", "1", "--format", "json"))
    assert (guard["loosened"], guard["in_window"], guard["too_large"]) == (["mql"], False, ["mql"])
    current, proposed = guard["recent"]["mql"]
    assert proposed > current * 1.1
    assert guard["needs_override"] is True

    ok(as_user(company, "maria", "approve", "1"))
    refused = failed(as_user(company, "sam", "approve", "1"))
    assert f"by {round((proposed - current) / current * 100)} % ({proposed:,} against {current:,})" in refused
    assert "more than the 10 % the guard allows at any time" in refused
    with tandem.open_workspace(company) as ws:
        assert ws.definitions.current().version == 1
