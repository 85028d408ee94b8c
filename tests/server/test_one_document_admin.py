"""One question, one document, for the administration kinds: the import log, the users, the API tokens, the audit
log and its check, and the alerts sent. The command line's ``--format json`` and the REST API answer each with
the same document, and refuse the same bad question naming the same field.

Who may ask stays each front end's: the users and the tokens are an admin's (``ada``) on the API, the audit log an
admin's or an exec's (``eve``), the import log and the alerts anyone's (``val``); the command line reads them with
access to the workspace's files. The API's tokens are made before the command line runs, so that the audit log
and the token list both front ends read are the same; the machinery is in one_document.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem.server import create_app
from tandem.store.models import AlertDelivery

from . import one_document
from .one_document import QUARTER, Refused, Same

#: A webhook's address whose path is its secret: no document may show it.
SECRET_HOOK = "https://hooks.example.com/services/T000/B000/very-secret"

SAME_QUESTION = [
    Same("imports", ["imports"], "/api/imports"),
    Same("imports", ["imports", "--limit", "2"], "/api/imports", {"limit": 2}),
    Same("users", ["users", "list"], "/api/users", user="ada"),
    Same("tokens", ["tokens", "list", "--user", "mia"], "/api/tokens", {"user": "mia"}, user="ada"),
    Same("audit", ["audit", "list"], "/api/audit", user="eve"),
    Same("audit", ["audit", "list", "--limit", "3", "--before", "5"], "/api/audit", {"limit": 3, "before": 5}, "ada"),
    Same("audit_verify", ["audit", "verify"], "/api/audit/verify", user="eve"),
    Same("alerts", ["alerts", "list"], "/api/alerts"),
    Same(
        "alerts",
        ["alerts", "list", "--status", "failed", "--rule", "goal-at-risk", "--period", QUARTER, "--limit", "5"],
        "/api/alerts",
        {"status": "failed", "rule": "goal-at-risk", "period": QUARTER, "limit": 5},
    ),
]

SAME_REFUSAL = [
    Refused(["imports", "--limit", "0"], "--limit", "/api/imports", {"limit": 0}, "limit"),
    Refused(["imports", "--limit", "1001"], "--limit", "/api/imports", {"limit": 1001}, "limit"),
    Refused(["tokens", "list", "--user", "no body"], "--user", "/api/tokens", {"user": "no body"}, "user", "ada"),
    Refused(["audit", "list", "--limit", "0"], "--limit", "/api/audit", {"limit": 0}, "limit", "eve"),
    Refused(["audit", "list", "--limit", "1001"], "--limit", "/api/audit", {"limit": 1001}, "limit", "eve"),
    Refused(["audit", "list", "--before", "0"], "--before", "/api/audit", {"before": 0}, "before", "eve"),
    Refused(
        ["audit", "verify", "--expect-head", "not-a-hash"],
        "--expect-head",
        "/api/audit/verify",
        {"expect_head": "not-a-hash"},
        "expect_head",
        "eve",
    ),
    Refused(["alerts", "list", "--limit", "0"], "--limit", "/api/alerts", {"limit": 0}, "limit"),
    Refused(["alerts", "list", "--limit", "501"], "--limit", "/api/alerts", {"limit": 501}, "limit"),
    Refused(["alerts", "list", "--status", "lost"], "--status", "/api/alerts", {"status": "lost"}, "status"),
    Refused(["alerts", "list", "--period", "Q4"], "--period", "/api/alerts", {"period": "Q4"}, "period"),
    Refused(["alerts", "list", "--period", "2026-13"], "--period", "/api/alerts", {"period": "2026-13"}, "period"),
]

#: Who asks through the API: a token of each, made before the command line runs.
ASKING = sorted({case.user for case in SAME_QUESTION} | {case.user for case in SAME_REFUSAL})


def _alert(status: str, period: str, fired_at: datetime, attempts: int, error: str = "") -> AlertDelivery:
    """A row of the alert history, as a run leaves it, for a webhook whose address is a secret."""
    text = f"[tandem] goal-at-risk · {period}: the chance of reaching the goal is 38%"
    return AlertDelivery(
        rule="goal-at-risk",
        signal_key=f"goal_chance::{period}",
        destination="revops",
        kind="goal_chance",
        subject="",
        period=period,
        channel="webhook",
        target=SECRET_HOOK,
        status=status,
        attempts=attempts,
        last_error=error,
        payload={"text": text, "period": period, "destination": "revops"},
        fired_at=fired_at,
        claimed_at=fired_at,
        last_attempt_at=fired_at + timedelta(seconds=2),
        sent_at=fired_at + timedelta(seconds=2) if status == "sent" else None,
    )


@pytest.fixture(scope="module")
def company(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo workspace with API tokens (one revoked), alerts sent and failed, and the API's own tokens made
    before the command line reads anything: the folder, and a token secret of each user the API asks as."""
    target = one_document.copy_demo(demo_template, tmp_path_factory.mktemp("one-document-admin"))
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with tandem.open_workspace(target, needs_warehouse=False) as ws:
        accounts = ws.accounts
        accounts.create_token("test", "mia", "campaign sync")
        old, _ = accounts.create_token("test", "mia", "old export", "viewer")
        accounts.revoke_token("test", old.id)
        accounts.create_token("test", "sam", "crm sync")
        secrets = {name: accounts.create_token("test", name, "one-document tests")[1] for name in ASKING}
        rows = [
            _alert("sent", "2026-Q3", now - timedelta(days=40), 1),
            _alert("failed", QUARTER, now - timedelta(days=1), 3, "HTTP 503 Service Unavailable"),
        ]
        ws.store.write(lambda s: s.add_all(rows))
    return target, secrets


@pytest.fixture(scope="module")
def printed(company: tuple[Path, dict[str, str]]) -> list[Any]:
    return one_document.printed(company[0], SAME_QUESTION)


@pytest.fixture(scope="module")
def refused(company: tuple[Path, dict[str, str]]) -> list[subprocess.CompletedProcess[str]]:
    return one_document.refused(company[0], SAME_REFUSAL)


@pytest.fixture(scope="module")
def client(company: tuple[Path, dict[str, str]], printed: list[Any], refused: list[Any]) -> Iterator[TestClient]:
    """One API client on the workspace, opened once the command line is done; `as_` says who asks."""
    with TestClient(create_app(company[0]), follow_redirects=False) as test_client:
        yield test_client


def as_(client: TestClient, company: tuple[Path, dict[str, str]], user: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {company[1][user]}"
    return client


@pytest.mark.parametrize("number", range(len(SAME_QUESTION)), ids=[" ".join(c.args) for c in SAME_QUESTION])
def test_the_cli_and_the_api_give_the_same_document(
    client: TestClient, company: tuple[Path, dict[str, str]], printed: list[Any], number: int
) -> None:
    case = SAME_QUESTION[number]
    one_document.same_document(as_(client, company, case.user), case, printed[number])


@pytest.mark.parametrize("number", range(len(SAME_REFUSAL)), ids=[" ".join(c.args) for c in SAME_REFUSAL])
def test_a_bad_question_is_refused_by_both_naming_the_same_field(
    client: TestClient,
    company: tuple[Path, dict[str, str]],
    refused: list[subprocess.CompletedProcess[str]],
    number: int,
) -> None:
    case = SAME_REFUSAL[number]
    one_document.same_refusal(as_(client, company, case.user), case, refused[number])


def test_the_documents_say_what_they_hold(printed: list[Any]) -> None:
    """A look inside the documents the two front ends agreed on: nothing secret, moments said to be UTC."""
    documents = {" ".join(case.args): document for case, document in zip(SAME_QUESTION, printed, strict=True)}
    assert len(documents["imports --limit 2"]["imports"]) == 2
    assert {u["username"] for u in documents["users list"]["users"]} >= {"ada", "mia", "val"}
    assert all(u["created_at"].endswith("Z") for u in documents["users list"]["users"])
    mias = documents["tokens list --user mia"]["tokens"]
    assert [(t["name"], t["revoked_at"] is not None) for t in mias] == [("campaign sync", False), ("old export", True)]
    assert not {"token_hash", "secret"} & set(mias[0])
    entries = documents["audit list"]["entries"]
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    assert entries[0]["at"].endswith("Z")
    assert [e["seq"] for e in documents["audit list --limit 3 --before 5"]["entries"]] == [4, 3, 2]
    assert documents["audit verify"]["ok"] is True
    every = documents["alerts list"]
    assert (every["limit"], [a["status"] for a in every["alerts"]]) == (50, ["failed", "sent"])
    assert SECRET_HOOK not in str(every), "a webhook's address can be its secret"
    assert all("target" not in a and a["fired_at"].endswith("Z") for a in every["alerts"])
    failed = documents[" ".join(SAME_QUESTION[-1].args)]
    assert [(a["period"], a["text"]) for a in failed["alerts"]] == [(QUARTER, every["alerts"][0]["text"])]


def test_the_lists_stay_with_the_roles_that_read_them(client: TestClient, company: tuple[Path, dict[str, str]]) -> None:
    """Admin-only lists stay admin-only, the audit log an admin's or an exec's, as before they were questions."""
    viewer = as_(client, company, "val")
    assert [viewer.get(path).status_code for path in ("/api/users", "/api/tokens", "/api/audit")] == [403] * 3
    assert viewer.get("/api/alerts").status_code == viewer.get("/api/imports").status_code == 200
    executive = as_(client, company, "eve")
    assert executive.get("/api/users").status_code == executive.get("/api/tokens").status_code == 403
