"""One question, one document, for the definitions: the versions, the proposals, a proposal's impact, the weekly
loosening signal and suggestions from data. ``tandem definitions ... --format json`` (a real process) and the
REST API answer each with the same document, and refuse the same bad question naming the same field.

The demo workspace of the server tests has no proposal: the module's fixture makes one, by mark (marketing), that
gives the mql stage a rule. A proposal's document says what the person asking may do with it (``actions``): the
command line says who is asking with ``--as USER`` (the password on stdin), the API with a token of theirs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import tandem
from tandem.server import create_app

from . import one_document
from .one_document import AS_OF, PASSWORD, Refused, Same

SIGNAL = {"as_of": AS_OF, "weeks": 3, "baseline_weeks": 9, "window_days": 10, "history_weeks": 6}
SIGNAL_ARGS = ["--as-of", AS_OF, "--weeks", "3", "--baseline-weeks", "9", "--window-days", "10", "--history-weeks", "6"]
SIGNED_IN = ["--as", "mia", "--password-stdin"]

SAME_QUESTION = [
    Same("definitions", ["definitions", "history"], "/api/definitions"),
    Same("definitions", ["definitions", "show", "--version", "1"], "/api/definitions/1"),
    Same("definitions", ["definitions", "show"], "/api/definitions/1"),  # the current version
    Same("proposals", ["definitions", "proposals"], "/api/definitions/proposals"),  # val: a viewer may do nothing
    Same("proposals", ["definitions", "proposals", "1", *SIGNED_IN], "/api/definitions/proposals/1", user="mia"),
    Same("proposals", ["definitions", "proposals", *SIGNED_IN], "/api/definitions/proposals", user="mia"),
    Same(
        "impact",
        ["definitions", "impact", "1", "--as-of", AS_OF],
        "/api/definitions/proposals/1/impact",
        {"as_of": AS_OF},
    ),
    Same("signal", ["definitions", "signal", *SIGNAL_ARGS], "/api/definitions/signal", SIGNAL),
    Same(
        "suggestions",
        ["definitions", "suggest", "--as-of", AS_OF, "--top", "3", "--stage", "sql"],
        "/api/definitions/suggestions",
        {"as_of": AS_OF, "top": 3, "stage": "sql"},
    ),
]

SUGGESTIONS = "/api/definitions/suggestions"
SIGNAL_PATH = "/api/definitions/signal"
SAME_REFUSAL = [
    # The API names its path parameter as its OpenAPI document does.
    Refused(["definitions", "show", "--version", "0"], "--version", "/api/definitions/0", {}, "definition_version"),
    Refused(["definitions", "impact", "0"], "N", "/api/definitions/proposals/0/impact", {}, "proposal_id"),
    Refused(
        ["definitions", "impact", "1", "--as-of", "yesterday"],
        "--as-of",
        "/api/definitions/proposals/1/impact",
        {"as_of": "yesterday"},
        "as_of",
    ),
    Refused(["definitions", "signal", "--weeks", "0"], "--weeks", SIGNAL_PATH, {"weeks": 0}, "weeks"),
    Refused(["definitions", "signal", "--weeks", "53"], "--weeks", SIGNAL_PATH, {"weeks": 53}, "weeks"),
    Refused(
        ["definitions", "signal", "--baseline-weeks", "105"],
        "--baseline-weeks",
        SIGNAL_PATH,
        {"baseline_weeks": 105},
        "baseline_weeks",
    ),
    Refused(
        ["definitions", "signal", "--window-days", "0"], "--window-days", SIGNAL_PATH, {"window_days": 0}, "window_days"
    ),
    Refused(
        ["definitions", "signal", "--window-days", "366"],
        "--window-days",
        SIGNAL_PATH,
        {"window_days": 366},
        "window_days",
    ),
    Refused(
        ["definitions", "signal", "--history-weeks", "0"],
        "--history-weeks",
        SIGNAL_PATH,
        {"history_weeks": 0},
        "history_weeks",
    ),
    Refused(["definitions", "signal", "--as-of", "soon"], "--as-of", SIGNAL_PATH, {"as_of": "soon"}, "as_of"),
    Refused(["definitions", "suggest", "--stage", "won"], "--stage", SUGGESTIONS, {"stage": "won"}, "stage"),
    Refused(["definitions", "suggest", "--stage", "nope"], "--stage", SUGGESTIONS, {"stage": "nope"}, "stage"),
    Refused(["definitions", "suggest", "--top", "0"], "--top", SUGGESTIONS, {"top": 0}, "top"),
    Refused(["definitions", "suggest", "--top", "101"], "--top", SUGGESTIONS, {"top": 101}, "top"),
    Refused(
        ["definitions", "suggest", "--as-of", "1850-01-01"], "--as-of", SUGGESTIONS, {"as_of": "1850-01-01"}, "as_of"
    ),
]


def with_mql_rule(document: str, rule: str) -> str:
    changed = document.replace("- name: mql\n", f"- name: mql\n  rule: {rule}\n", 1)
    assert changed != document
    return changed


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace with proposal #1, by mark: every lead that attended a webinar is an MQL."""
    target = one_document.copy_demo(demo_template, tmp_path_factory.mktemp("one-document-definitions"))
    with tandem.open_workspace(target) as ws:
        mark = ws.accounts.authenticate("mark", PASSWORD, "test")
        document = with_mql_rule(ws.definitions.current().document, "has_event('webinar_attended')")
        assert ws.definitions.propose(mark, document, note="Webinar attendees are MQLs").id == 1
    return target


def run(company: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``tandem ARGS --format json``, the password of the user signing in (if any) on stdin."""
    stdin = PASSWORD + "\n" if "--password-stdin" in args else None
    return one_document.tandem(company, *args, "--format", "json", stdin=stdin)


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
    """An API client per user the cases ask as (the app opened after the command line has run)."""
    app = create_app(company)
    users = {case.user for case in [*SAME_QUESTION, *SAME_REFUSAL]}
    opened = {user: one_document.api_client(app, user) for user in sorted(users)}
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


@pytest.mark.parametrize(
    "number", range(len(SAME_QUESTION)), ids=[" ".join(c.args[1:3]) + f" ({c.user})" for c in SAME_QUESTION]
)
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


def test_what_the_documents_hold(printed: list[Any]) -> None:
    """The shapes the cases above compare, in brief (docs: tandem.questions.definitions)."""
    history, one, current, listed, for_mia, listed_for_mia, impact, signal, suggestions = printed
    assert set(history) == {"current", "in_force", "versions", "proposals"}
    assert history["current"] == one == current
    assert one["version"] == history["in_force"] == 1
    assert [p["id"] for p in history["proposals"]] == [1]
    assert history["proposals"][0]["waiting_for"][:2] == ["marketing", "sales"]
    assert [p["id"] for p in listed["proposals"]] == [1]
    assert listed["proposals"][0]["actions"] == []  # not signed in on the command line; a viewer through the API
    assert for_mia["actions"] == ["approve", "reject"] == listed_for_mia["proposals"][0]["actions"]
    assert for_mia["leaders"]["marketing"] == ["mia"]  # mark wrote it: mia leads marketing
    assert {"diff", "guard", "guard_message", "document", "changes", "decisions"} <= set(for_mia)
    assert impact["proposal_id"] == 1
    assert next(s for s in impact["stages"] if s["stage"] == "mql")["added"] >= 0
    assert signal["params"]["window_days"] == 10
    assert len(signal["history"]) == 6
    assert (suggestions["stage"], len(suggestions["attributes"])) == ("sql", 3)


# --- a proposal document is never served stale -------------------------------------------------------------------
def test_a_decision_made_elsewhere_shows_at_once(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    """A decision made beside the server (the command line, another process) changes no definition version in
    force: the documents that read the proposals are keyed by them all the same."""
    ws = app.state.tandem.workspace
    ws.definitions.guarded = False
    mark = ws.accounts.authenticate("mark", PASSWORD, "test")
    later = datetime.now(UTC).date() + timedelta(days=30)
    proposal = ws.definitions.propose(
        mark, with_mql_rule(ws.definitions.current().document, "employees >= 20"), effective_from=later
    )
    mia, sam = api("mia"), api("sam")
    assert mia.get(f"/api/definitions/proposals/{proposal.id}").json()["actions"] == ["approve", "reject"]
    assert mia.get("/api/definitions").json()["proposals"][0]["waiting_for"] == ["marketing", "sales"]

    ws.definitions.approve(ws.accounts.authenticate("mia", PASSWORD, "test"), proposal.id)  # not through the app
    after = mia.get(f"/api/definitions/proposals/{proposal.id}").json()
    assert (after["actions"], after["waiting_for"]) == (["reject"], ["sales"])
    assert sam.get("/api/definitions/proposals").json()["proposals"][0]["actions"] == ["approve", "reject"]

    ws.definitions.approve(ws.accounts.authenticate("sam", PASSWORD, "test"), proposal.id)
    listing = mia.get("/api/definitions").json()
    assert [v["version"] for v in listing["versions"]] == [1, 2]  # version 2 counts from next month:
    assert (listing["current"]["version"], listing["in_force"]) == (2, 1)  # the version in force is still 1
    assert mia.get(f"/api/definitions/proposals/{proposal.id}").json()["actions"] == []

    # Who may decide is part of it too: mona made a marketing leader shows among the leaders at once.
    current = ws.definitions.current().document
    second = ws.definitions.propose(mark, current.replace("employees >= 20", "employees >= 30"))
    assert mia.get(f"/api/definitions/proposals/{second.id}").json()["leaders"]["marketing"] == ["mia"]
    ws.accounts.create_user("test", "mona", "marketing", password=PASSWORD, leader=True)
    assert mia.get(f"/api/definitions/proposals/{second.id}").json()["leaders"]["marketing"] == ["mia", "mona"]
