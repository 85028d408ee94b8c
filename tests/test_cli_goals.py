"""`tandem goal` as an exec runs it: set, list, show and delete the revenue goal both teams share; real processes.

Setting and deleting sign in as the person acting (their password on stdin, or their API token in $TANDEM_TOKEN);
only execs and admins may. Reading needs no sign-in.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tandem

from .test_cli import TANDEM
from .test_cli_accounts import as_json, failed, ok

PEOPLE = {"eve": "exec", "ada": "admin", "mia": "marketing"}


def password(username: str) -> str:
    return f"{username}'s long password"


def goal(ws: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``tandem goal ARGS -w WS``."""
    return subprocess.run(
        [*TANDEM, "goal", *args, "-w", str(ws)],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "TANDEM_USER": "ops", **(env or {})},
        timeout=120,
        check=False,
    )


def as_user(ws: Path, username: str, *args: str) -> subprocess.CompletedProcess[str]:
    return goal(ws, *args, "--as", username, "--password-stdin", stdin=password(username) + "\n")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    with tandem.init_workspace(folder) as workspace:
        for username, role in PEOPLE.items():
            workspace.accounts.create_user("cli:ops", username, role, password=password(username))
    return folder


def test_an_exec_sets_the_years_goal_and_everyone_sees_the_quarters_share(ws: Path) -> None:
    done = ok(as_user(ws, "eve", "set", "2027", "10M", "--marketing-share", "0.6", "--note", "board plan"))
    assert done.strip() == "Goal 2027: $10,000,000, marketing share 0.6 (board plan), set by eve"

    shown = as_json(goal(ws, "show", "2027-Q1", "--format", "json"))
    assert shown["period"]["label"] == "2027-Q1"
    assert shown["target"]["amount"] == 2_465_753.42
    assert shown["target"]["from"] == "derived from 2027's $10,000,000, by days: 90 of 365"
    quotas = {q["team"]: q for q in shown["quotas"]}
    assert quotas["sales"]["amount"] == 2_465_753.42
    assert quotas["marketing"]["amount"] == 1_479_452.05
    assert quotas["marketing"]["from"].endswith("x 0.6 (given on goal 2027)")
    assert shown["attainment"]["won_revenue"] == 0.0

    table = ok(goal(ws, "show", "2027"))
    assert "2027: $10,000,000 (goal 2027)" in table
    assert "$2,465,753" in table  # 2,465,753.42 stored; whole dollars shown
    assert "marketing-sourced revenue" in table


def test_setting_it_again_replaces_it_and_says_what_it_was(ws: Path) -> None:
    ok(as_user(ws, "eve", "set", "2027", "10M"))
    replaced = as_json(as_user(ws, "ada", "set", "2027", "$12,000,000", "--format", "json"))
    assert replaced["goal"]["amount"] == 12_000_000.0
    assert replaced["goal"]["updated_by"] == "ada"
    assert replaced["goal"]["replaced"]["amount"] == 10_000_000.0
    assert "(was $12,000,000)" in ok(as_user(ws, "eve", "set", "2027", "11M"))
    history = as_json(goal(ws, "show", "2027", "--format", "json"))["history"]
    assert [(h["actor"], h["amount"]) for h in history] == [("eve", 10e6), ("ada", 12e6), ("eve", 11e6)]


def test_slices_are_listed_and_deleted_by_their_option(ws: Path) -> None:
    ok(as_user(ws, "eve", "set", "2027", "10M"))
    ok(as_user(ws, "eve", "set", "2027", "750k", "--segment", "SMB"))
    ok(as_user(ws, "eve", "set", "2027-Q1", "2.5M", "--product", "Pro"))
    listed = as_json(goal(ws, "list", "--format", "json"))["goals"]
    assert [(g["period"], g["dimension"], g["value"], g["amount"]) for g in listed] == [
        ("2027", None, None, 10_000_000.0),
        ("2027", "segment", "SMB", 750_000.0),
        ("2027-Q1", "product", "Pro", 2_500_000.0),
    ]
    assert "segment=SMB" in ok(goal(ws, "list"))
    segments = as_json(goal(ws, "show", "2027", "--format", "json"))["slices"][0]
    assert segments["message"] == ("the segment goals add up to $750,000: $9,250,000 of 2027's $10,000,000 unallocated")

    deleted = ok(as_user(ws, "ada", "delete", "2027", "--segment", "SMB"))
    assert deleted.strip() == "Deleted goal 2027 segment=SMB: $750,000, by ada"
    assert len(as_json(goal(ws, "list", "--format", "json"))["goals"]) == 2
    assert "there is no goal for 2027 segment=SMB" in failed(as_user(ws, "ada", "delete", "2027", "--segment", "SMB"))


def test_only_execs_and_admins_may_set_goals(ws: Path) -> None:
    assert "the marketing role may not do this (needs goals permission)" in failed(
        as_user(ws, "mia", "set", "2027", "10M")
    )
    assert as_json(goal(ws, "list", "--format", "json")) == {"goals": [], "currency": "USD"}
    with tandem.open_workspace(ws) as workspace:
        _, secret = workspace.accounts.create_token("cli:ops", "eve", "laptop")
    done = goal(ws, "set", "2027-03", "1M", env={"TANDEM_TOKEN": secret})
    assert ok(done).strip() == "Goal 2027-03: $1,000,000, set by eve"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "2027-Q5", "10M"], "'2027-Q5' is not a period; use a year (2027), a quarter (2027-Q1) or a month"),
        (["set", "2027", "ten million"], "'ten million' is not an amount; use a number like 10000000, 2.5M, 750k"),
        (["set", "2027", "1.005"], "a goal is in whole cents at most"),
        (["delete", "2027"], "there is no goal for 2027; `tandem goal list` shows the goals there are"),
    ],
)
def test_bad_input_fails_with_a_message_that_says_what_to_do(ws: Path, args: list[str], message: str) -> None:
    assert message in failed(as_user(ws, "eve", *args))


def test_usage_errors_exit_2(ws: Path) -> None:
    two_slices = as_user(ws, "eve", "set", "2027", "1M", "--segment", "SMB", "--region", "EMEA")
    assert two_slices.returncode == 2
    assert "a goal is for one slice at most" in " ".join(two_slices.stderr.split())
    assert as_user(ws, "eve", "set", "2027", "1M", "--marketing-share", "1.5").returncode == 2


def test_show_without_a_period_shows_this_quarter(ws: Path) -> None:
    shown = as_json(goal(ws, "show", "--format", "json"))
    assert shown["period"]["kind"] == "quarter"
    assert shown["target"]["source"] == "none"
    assert shown["quotas"] == []
