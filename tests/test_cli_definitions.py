"""`tandem definitions` as the two teams run it: show, history, propose, approve, reject; real processes.

Proposing, approving and rejecting sign in as the person acting: their password on stdin (`--password-stdin`)
or their API token in $TANDEM_TOKEN. Users are made beforehand through the Python API.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tandem

from .test_cli import TANDEM
from .test_cli_accounts import as_json, failed, ok

LEADERS = {"mark": ("marketing", False), "maria": ("marketing", True), "sam": ("sales", True), "sid": ("sales", False)}


def password(username: str) -> str:
    return f"{username}'s long password"


def definitions(
    ws: Path, *args: str | Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tandem definitions ARGS -w WS``."""
    return subprocess.run(
        [*TANDEM, "definitions", *map(str, args), "-w", str(ws)],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "TANDEM_USER": "ops", **(env or {})},
        timeout=120,
        check=False,
    )


def as_user(ws: Path, username: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a definitions command as `username`, signing in with their password on stdin."""
    return definitions(ws, *args, "--as", username, "--password-stdin", stdin=password(username) + "\n")


def make_team(folder: Path, **init: str) -> Path:
    with tandem.init_workspace(folder, **init) as workspace:
        for username, (role, leader) in LEADERS.items():
            workspace.accounts.create_user("cli:ops", username, role, password=password(username), leader=leader)
    return folder


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_team(tmp_path / "ws")


@pytest.fixture
def proposal_file(ws: Path, tmp_path: Path) -> Path:
    """The current definitions with `score >= 40` as the mql stage's rule."""
    document = ok(definitions(ws, "show"))
    text = document.replace("- name: mql\n", "- name: mql\n  rule: score >= 40\n")
    assert text != document
    path = tmp_path / "definitions.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_show_prints_the_current_definitions_file(ws: Path) -> None:
    shown = definitions(ws, "show")
    assert shown.returncode == 0, shown.stderr
    assert "- name: mql" in shown.stdout
    assert "# version 1" in shown.stderr
    document = as_json(definitions(ws, "show", "--format", "json"))
    assert document["version"] == 1
    assert document["stages"] == ["lead", "mql", "sql", "opportunity", "won"]
    assert "no definitions version 9" in failed(definitions(ws, "show", "--version", "9"))


def test_a_proposal_approved_by_both_sides_becomes_the_next_version(ws: Path, proposal_file: Path) -> None:
    proposed = ok(as_user(ws, "mark", "propose", proposal_file, "--note", "MQL at 40", "--effective", "2099-12-01"))
    assert "Proposal #1 on version 1 by mark" in proposed
    assert "stage 'mql': rule: (none) -> score >= 40" in proposed

    assert "approved for marketing by maria; waiting for a sales leader" in ok(as_user(ws, "maria", "approve", "1"))
    assert "is already approved for the marketing side by maria" in failed(as_user(ws, "maria", "approve", "1"))
    assert "sid is not a sales leader" in failed(as_user(ws, "sid", "approve", "1"))
    assert "version 2 is in effect from 2099-12-01" in ok(as_user(ws, "sam", "approve", "1", "--comment", "agreed"))

    assert "rule: score >= 40" in ok(definitions(ws, "show"))
    assert "rule:" not in ok(definitions(ws, "show", "--version", "1"))
    history = as_json(definitions(ws, "history", "--format", "json"))
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert history["versions"][1]["effective_from"] == "2099-12-01"
    assert history["proposals"][0]["status"] == "approved"
    assert [d["username"] for d in history["proposals"][0]["decisions"]] == ["maria", "sam"]
    table = ok(definitions(ws, "history"))
    assert "MQL at 40" in table
    assert "approved" in table

    with tandem.open_workspace(ws) as workspace:
        actions = [(e["actor"], e["action"]) for e in reversed(workspace.audit_log()) if e["action"] != "user.create"]
    assert actions == [
        ("mark", "definitions.propose"),
        ("maria", "definitions.approve"),
        ("sam", "definitions.approve"),
        ("sam", "definitions.version"),
    ]


def test_a_wrong_password_exits_1_and_changes_nothing(ws: Path, proposal_file: Path) -> None:
    ok(as_user(ws, "mark", "propose", proposal_file))
    refused = definitions(ws, "approve", "1", "--as", "maria", "--password-stdin", stdin="not her password\n")
    assert "wrong user name or password" in failed(refused)
    history = as_json(definitions(ws, "history", "--format", "json"))
    assert history["proposals"][0]["decisions"] == []


def test_an_api_token_in_tandem_token_signs_in(ws: Path, proposal_file: Path) -> None:
    with tandem.open_workspace(ws) as workspace:
        _, secret = workspace.accounts.create_token("cli:ops", "maria", "laptop")
    ok(as_user(ws, "mark", "propose", proposal_file))
    approved = definitions(ws, "approve", "1", env={"TANDEM_TOKEN": secret})
    assert "approved for marketing by maria" in ok(approved)
    mismatch = definitions(ws, "reject", "1", "--as", "sam", "--reason", "no", env={"TANDEM_TOKEN": secret})
    assert "does not match the owner of $TANDEM_TOKEN (maria)" in failed(mismatch)
    assert "does not work" in failed(definitions(ws, "approve", "1", env={"TANDEM_TOKEN": "tdm_nonsense"}))


def test_rejecting_closes_the_proposal(ws: Path, proposal_file: Path) -> None:
    ok(as_user(ws, "mark", "propose", proposal_file))
    assert "rejected by sam: too loose" in ok(as_user(ws, "sam", "reject", "1", "--reason", "too loose"))
    assert "proposal #1 is rejected; it is closed" in failed(as_user(ws, "maria", "approve", "1"))
    assert "rejected" in ok(definitions(ws, "history"))


def test_bad_input_is_refused_with_its_place(ws: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages:\n  - name: lead\n    rule: seniority >= 3\n    side: marketing\n", encoding="utf-8")
    message = failed(as_user(ws, "mark", "propose", broken))
    assert f"{broken}, line 3" in message
    assert "seniority" in message
    assert failed(definitions(ws, "approve", "1"), code=2)  # who is acting? (usage error)
    assert "not a date" in failed(as_user(ws, "mark", "propose", broken, "--effective", "soon"), code=2)
    assert as_json(definitions(ws, "history", "--format", "json"))["proposals"] == []


@pytest.mark.postgres
def test_the_same_on_postgresql(tmp_path: Path, postgres_database: str) -> None:
    ws = make_team(tmp_path / "pg", database=postgres_database, warehouse=postgres_database)
    text = ok(definitions(ws, "show")).replace("- name: mql\n", "- name: mql\n  rule: score >= 40\n")
    (tmp_path / "d.yaml").write_text(text, encoding="utf-8")
    ok(as_user(ws, "mark", "propose", tmp_path / "d.yaml"))
    ok(as_user(ws, "maria", "approve", "1"))
    assert "version 2 is in effect from" in ok(as_user(ws, "sam", "approve", "1"))
    assert "rule: score >= 40" in ok(definitions(ws, "show"))
