"""The SLA page, the rep's queue and their REST endpoints, on a small company worked out by hand.

One team, ``inside``, works 09:00-17:00 UTC on weekdays (no holidays); a standard lead must be accepted within 8
business hours and touched within 16. Its contract is a `service_levels:` section proposed by mark and approved by
a leader of each side (maria, sam): definitions version 2. The handoffs, all in the week of Monday 2 March 2026:

- A1, ana's: handed over Monday 09:00, accepted 09:30 (30 min);
- A2, ana's: handed over Monday 10:00, rejected 11:00 as not_a_fit (1 h);
- A3 and A4, ana's, and B1, ben's: handed over Tuesday, still waiting for a decision.

ana and ben are sales reps whose user names are the lead owners; sam leads sales.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

import tandem
from tandem.questions import SlaQuestion, SlaQueueQuestion, ask
from tandem.server import create_app

from .conftest import PASSWORD, sign_in

CONTRACT = """\
service_levels:
  stage: mql
  teams:
    - team: inside
      members: [ana, ben]
      time_zone: UTC
      hours: {mon-fri: "09:00-17:00"}
  priorities:
    - {name: standard, accept: 8h, first_touch: 16h}
  rejection: {reasons: [not_a_fit, no_budget], ceiling_percent: 30}
"""
LEADS = """\
lead_id,created_at,owner,company,channel
A1,2026-03-01 10:00:00,ana,Acme,webinar
A2,2026-03-01 10:00:00,ana,Acme,webinar
A3,2026-03-01 10:00:00,ana,Acme,email
A4,2026-03-01 10:00:00,ana,Acme,email
B1,2026-03-01 10:00:00,ben,Acme,email
"""
HANDOFFS = """\
lead_id,occurred_at,event,owner,reason
A1,2026-03-02 09:00:00,assigned,ana,
A1,2026-03-02 09:30:00,accepted,,
A2,2026-03-02 10:00:00,assigned,ana,
A2,2026-03-02 11:00:00,rejected,,not_a_fit
A3,2026-03-03 09:00:00,assigned,ana,
A4,2026-03-03 10:00:00,assigned,ana,
B1,2026-03-03 09:00:00,assigned,ben,
"""
#: (user name, role, leader)
PEOPLE = [
    ("ana", "sales", False),
    ("ben", "sales", False),
    ("sam", "sales", True),
    ("maria", "marketing", True),
    ("mark", "marketing", False),
    ("val", "viewer", False),
]


def _company(folder: Path, *, contract: bool = True, data: bool = True) -> Path:
    """The small company above, in `folder`; without the contract approved, or without any data, when asked."""
    with tandem.init_workspace(folder) as ws:
        for username, role, leader in PEOPLE:
            ws.accounts.create_user("test", username, role, password=PASSWORD, leader=leader)
        if contract:
            ws.definitions.guarded = False
            signed = {name: ws.accounts.authenticate(name, PASSWORD, "test") for name in ("mark", "maria", "sam")}
            document = ws.definitions.current().document + CONTRACT
            proposal = ws.definitions.propose(signed["mark"], document, note="service levels at the handoff")
            ws.definitions.approve(signed["maria"], proposal.id)
            ws.definitions.approve(signed["sam"], proposal.id)
            assert ws.definition_version == 2
        if data:
            for table, text in (("leads", LEADS), ("handoffs", HANDOFFS)):
                path = folder / f"{table}.csv"
                path.write_text(text, encoding="utf-8")
                ws.import_files(table, [path])
    return folder


@pytest.fixture(scope="module")
def company_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _company(tmp_path_factory.mktemp("sla") / "company")


@pytest.fixture
def company(company_template: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The app on a private copy of the company (decisions change it), not signed in."""
    target = tmp_path / "company"
    shutil.copytree(company_template, target)
    with TestClient(create_app(target), follow_redirects=False) as client:
        yield client


@pytest.fixture
def as_user(company: TestClient) -> Iterator[Callable[[str], TestClient]]:
    """A client of the company's app sending an API token of the user (``Authorization: Bearer``)."""
    opened: list[TestClient] = []

    def make(username: str) -> TestClient:
        _, secret = company.app.state.tandem.workspace.accounts.create_token("test", username, "tests")  # type: ignore[attr-defined]
        client = TestClient(company.app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"})
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _now() -> str:
    """A moment after the contract was approved (it is in force from its approval on, back over every handoff)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _asked(client: TestClient, question: Any) -> dict[str, Any]:
    """The question's document, asked of the workspace the app serves, as JSON would carry it."""
    with client.app.state.tandem.using_warehouse() as workspace:  # type: ignore[attr-defined]
        document: dict[str, Any] = jsonable_encoder(ask(workspace, question))
    return document


def _decide(client: TestClient, lead: str, **body: Any) -> Any:
    return client.post(f"/api/sla/leads/{lead}/decision", json=body)


# --- the documents ------------------------------------------------------------------------------------------------
def test_the_report_api_answers_the_question_document(
    company: TestClient, as_user: Callable[[str], TestClient]
) -> None:
    as_of = _now()
    answered = as_user("val").get("/api/sla", params={"by": "rep", "as_of": as_of})
    assert answered.status_code == 200
    assert answered.json() == _asked(company, SlaQuestion.parse(by="rep", as_of=as_of))
    rows = {row["rep"]: row for row in answered.json()["rows"]}
    # ana: 4 handoffs, A1 accepted after 30 min and A2 rejected after 1 h, A3 and A4 waiting; ben: B1 waiting.
    assert {rep: (r["handoffs"], r["accepted"], r["rejected"], r["undecided"]) for rep, r in rows.items()} == {
        "ana": (4, 1, 1, 2),
        "ben": (1, 0, 0, 1),
    }
    assert answered.json()["rejection_reasons"] == [{"reason": "not_a_fit", "count": 1}]


def test_the_queue_api_answers_the_question_document(company: TestClient, as_user: Callable[[str], TestClient]) -> None:
    as_of = _now()
    answered = as_user("val").get("/api/sla/queue", params={"owner": "ana", "as_of": as_of})
    assert answered.status_code == 200
    assert answered.json() == _asked(company, SlaQueueQuestion.parse(owner="ana", as_of=as_of))
    # Both are past their targets: the one that ran out most recently comes first (it can still be saved).
    assert [lead["lead_id"] for lead in answered.json()["leads"]] == ["A4", "A3"]
    assert answered.json()["reasons"] == ["not_a_fit", "no_budget"]


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ({"by": "desk"}, {"detail": "by: 'desk': input should be 'rep' or 'team'", "field": "by"}),
        (
            {"period": "day"},
            {"detail": "period: 'day': input should be 'week', 'month' or 'quarter'", "field": "period"},
        ),
        (
            {"from": "2026-03-05", "to": "2026-03-01"},
            {"detail": "to: the end must come after the start", "field": "to"},
        ),
    ],
)
def test_a_bad_question_is_refused_naming_its_parameter(
    as_user: Callable[[str], TestClient], query: dict[str, str], refusal: dict[str, str]
) -> None:
    answered = as_user("val").get("/api/sla", params=query)
    assert (answered.status_code, answered.json()) == (422, refusal)


# --- the decision -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "detail"),
    [
        ("val", "the viewer role may not do this (it needs the handoff permission)"),
        ("mark", "the marketing role may not do this (it needs the handoff permission)"),
        ("ben", "lead 'A3' is held by 'ana'; only they or a sales leader may decide on it"),
    ],
)
def test_only_the_rep_holding_a_lead_or_a_sales_leader_decides(
    as_user: Callable[[str], TestClient], username: str, detail: str
) -> None:
    refused = _decide(as_user(username), "A3", decision="accepted")
    assert (refused.status_code, refused.json()) == (403, {"detail": detail})


def test_a_sales_leader_decides_on_any_lead_and_the_report_counts_it(as_user: Callable[[str], TestClient]) -> None:
    decided = _decide(as_user("sam"), "A3", decision="accepted", note="called, interested")
    # Imports 1 and 2 brought the leads and the handoffs: the decision is import 3.
    assert (decided.status_code, decided.json()) == (
        200,
        {"lead_id": "A3", "decision": "accepted", "reason": None, "note": "called, interested", "import_id": 3},
    )
    rows = {row["rep"]: row for row in as_user("val").get("/api/sla").json()["rows"]}
    assert (rows["ana"]["accepted"], rows["ana"]["undecided"]) == (2, 1)


def test_the_rep_rejects_their_lead_with_a_reason(as_user: Callable[[str], TestClient]) -> None:
    ana = as_user("ana")
    decided = _decide(ana, "A4", decision="rejected", reason="no_budget", note="budget frozen until Q3")
    assert decided.status_code == 200
    assert decided.json()["import_id"] == 3
    reasons = ana.get("/api/sla").json()["rejection_reasons"]
    assert reasons == [{"reason": "no_budget", "count": 1}, {"reason": "not_a_fit", "count": 1}]


def test_a_rejection_without_a_reason_is_refused_naming_reason(as_user: Callable[[str], TestClient]) -> None:
    refused = _decide(as_user("ana"), "A4", decision="rejected")
    assert (refused.status_code, refused.json()) == (
        422,
        {"detail": "reason: a rejection needs a reason: one of not_a_fit, no_budget", "field": "reason"},
    )


def test_a_lead_with_nothing_waiting_is_a_conflict(as_user: Callable[[str], TestClient]) -> None:
    refused = _decide(as_user("ana"), "A1", decision="accepted")
    assert (refused.status_code, refused.json()) == (409, {"detail": "lead 'A1' has no handoff waiting for a decision"})


# --- the pages ----------------------------------------------------------------------------------------------------
def _signed_in(client: TestClient, username: str) -> TestClient:
    assert sign_in(client, username).status_code == 303  # type: ignore[attr-defined]
    return client


def test_the_page_shows_each_rep_with_business_times(company: TestClient) -> None:
    page = _signed_in(company, "val").get("/sla")
    assert page.status_code == 200
    assert "contract of definitions version 2" in page.text
    assert "handoff stage <strong>mql</strong>" in page.text
    # ana's row: 4 handoffs, 1 accepted, 1 rejected, 2 waiting; accepted after 30 min and 1 h: median 45 min.
    assert "<td>ana</td>" in page.text
    assert "<td>ben</td>" in page.text
    assert "45 min · " in page.text
    assert '<td>not_a_fit</td><td class="n">1</td>' in page.text


def test_the_queue_page_offers_the_reps_leads_with_the_contract_reasons(company: TestClient) -> None:
    page = _signed_in(company, "ana").get("/sla/queue")
    assert page.status_code == 200
    assert "<h1>Rep's queue: ana</h1>" in page.text
    assert page.text.count('class="queue-lead"') == 2
    assert '<option value="not_a_fit">not a fit</option>' in page.text
    assert 'id="queue-owner"' not in page.text  # a rep sees their own queue


def test_a_viewer_sees_a_queue_without_buttons(company: TestClient) -> None:
    page = _signed_in(company, "val").get("/sla/queue", params={"owner": "ana"})
    assert page.status_code == 200
    assert page.text.count('class="queue-lead"') == 2
    assert "Accept</button>" not in page.text
    assert '<option value="ana" selected>ana</option>' in page.text  # the reps with leads waiting: ana, ben


def test_the_queue_page_decides_and_comes_back_with_a_message(company: TestClient) -> None:
    ana = _signed_in(company, "ana")
    csrf = ana.get("/sla/queue").text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    posted = ana.post(
        "/sla/queue/decision",
        data={"csrf_token": csrf, "lead": "A3", "decision": "accepted", "owner": "ana"},
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == "/sla/queue?owner=ana&done=accepted&lead=A3&import=3"
    back = ana.get(posted.headers["location"])
    assert "Lead A3 accepted (import 3)." in back.text
    assert back.text.count('class="queue-lead"') == 1
    refused = ana.post("/sla/queue/decision", data={"csrf_token": csrf, "lead": "B1", "decision": "accepted"})
    assert refused.status_code == 403
    assert "lead &#39;B1&#39; is held by &#39;ben&#39;; only they or a sales leader may decide on it" in refused.text


def test_an_empty_workspace_says_there_is_no_contract_yet(tmp_path: Path) -> None:
    folder = _company(tmp_path / "empty", contract=False, data=False)
    with TestClient(create_app(folder), follow_redirects=False) as client:
        _signed_in(client, "val")
        for path in ("/sla", "/sla/queue"):
            page = client.get(path)
            assert page.status_code == 200
            assert (
                "No service levels yet: definitions version 1 has no service levels; propose a `service_levels:` "
                "section (docs/sla.md, &#39;The contract&#39;) and have both leaders approve it on the "
                '<a href="/definitions">Definitions page</a>.'
            ) in page.text


def test_a_contract_without_handoffs_says_to_import_them(tmp_path: Path) -> None:
    folder = _company(tmp_path / "no-data", contract=True, data=False)
    with TestClient(create_app(folder), follow_redirects=False) as client:
        page = _signed_in(client, "val").get("/sla")
        assert page.status_code == 200
        assert "No handoffs yet: import the handoffs table on the" in page.text
