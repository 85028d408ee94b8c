"""The attribution document credits each outcome under the model of the definitions version in force when it
happened, and names those versions: approving a new model never restates the deals closed before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.questions import AttributionQuestion, ask

from ..backends import Backend
from ..handoffs.company import people
from .test_rules import EXPECTED, LEADS, tables

TODAY = date.today()
MIDNIGHT = datetime.combine(TODAY, datetime.min.time())


def with_a_deal_closing_after_today() -> dict[str, pa.Table]:
    """test_rules' company, and O9: L9's touches seo then email, won for 400 ten days from today."""
    base = tables()
    day = timedelta(days=1)
    leads = pa.table(
        {
            "lead_id": ["L9"],
            "created_at": pa.array([MIDNIGHT - 5 * day], pa.timestamp("us")),
            "account_id": ["A9"],
        }
    )
    deal = pa.table(
        {
            "opportunity_id": ["O9"],
            "lead_id": ["L9"],
            "created_at": pa.array([MIDNIGHT - 2 * day], pa.timestamp("us")),
            "status": ["won"],
            "close_date": pa.array([TODAY + 10 * day], pa.date32()),
            "amount": [400.0],
        }
    )
    touches = pa.table(
        {
            "touch_id": ["T90", "T91"],
            "occurred_at": pa.array([MIDNIGHT - 10 * day, MIDNIGHT - 3 * day], pa.timestamp("us")),
            "channel": ["seo", "email"],
            "lead_id": ["L9", "L9"],
            "campaign_id": [None, None],
        }
    )
    return {
        "leads": pa.concat_tables([base["leads"], leads]),
        "opportunities": pa.concat_tables([base["opportunities"], deal]),
        "touches": pa.concat_tables([base["touches"], touches.cast(base["touches"].schema)]),
    }


@pytest.fixture(scope="module")
def company(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder: Path = tmp_path_factory.mktemp("question")
    with backend.workspace_holding(folder, with_a_deal_closing_after_today()) as ws:
        ws.definitions.guarded = False
        team = people(ws)
        document = ws.definitions.current().document + "attribution:\n  model: first_touch\n"
        proposal = ws.definitions.propose(team["maria"], document, note="attribution: first touch")
        ws.definitions.approve(team["mona"], proposal.id)
        ws.definitions.approve(team["sam"], proposal.id)
        yield ws


def credit(document: dict[str, object]) -> dict[str, float]:
    rows = document["rows"]
    assert isinstance(rows, list)
    return {row["item"]: row["value"] for row in rows if row["value"]}


def test_deals_closed_before_the_new_model_keep_the_credit_they_had(company: Workspace) -> None:
    later = ask(company, AttributionQuestion.parse(as_of=MIDNIGHT + timedelta(days=20)))
    assert [(m["version"], m["model"], m["approved"]) for m in later["models_in_force"]] == [
        (1, "w_shaped", False),
        (2, "first_touch", True),
    ]
    assert later["models_in_force"][1]["from"] == TODAY.isoformat()
    # O1-O5 closed before today: W-shaped, as worked in test_rules. O9 closes after: all to its first touch, seo.
    expected = {k: float(v) for k, v in EXPECTED["w_shaped"].items()}
    expected["seo"] += 400.0  # W-shaped gave seo 100 of O3
    assert credit(later) == pytest.approx(expected, abs=0.01)
    assert later["totals"] == {"outcomes": 6, "value": 2500.0}


def test_before_the_model_was_approved_the_document_says_none_was(company: Workspace) -> None:
    before = ask(company, AttributionQuestion.parse(as_of=MIDNIGHT - timedelta(days=1)))
    assert [(m["version"], m["label"], m["approved"]) for m in before["models_in_force"]] == [(1, "W-shaped", False)]
    assert before["approved"] is False
    assert credit(before) == pytest.approx({k: float(v) for k, v in EXPECTED["w_shaped"].items()}, abs=0.01)


def test_another_model_is_shown_with_the_settings_in_force(company: Workspace) -> None:
    linear = ask(company, AttributionQuestion.parse(model="linear", as_of=MIDNIGHT - timedelta(days=1)))
    assert credit(linear) == pytest.approx({k: float(v) for k, v in EXPECTED["linear"].items()}, abs=0.01)
    comparison = {row["item"]: row for row in linear["comparison"]["rows"]}
    assert comparison["ads"]["first_touch"] == 1200.0
    assert comparison["ads"]["last_touch"] == 0.0
    assert comparison["ads"]["low"] == 0.0
    assert comparison["ads"]["high"] == 1200.0
    assert comparison["ads"]["model_dependent"] is True


def test_sourced_and_influenced(company: Workspace) -> None:
    document = ask(company, AttributionQuestion.parse(as_of=MIDNIGHT - timedelta(days=1)))
    found = {
        r["item"]: (r["sourced"], r["sourced_value"], r["influenced"], r["influenced_value"])
        for r in document["sourced"]
    }
    # Sourced: the first touch (test_rules' first_touch). Influenced: every deal with a touch on the channel, once.
    assert found == {
        "ads": (2, 1200.0, 2, 1200.0),
        "paid_social": (1, 500.0, 1, 500.0),
        "seo": (1, 300.0, 1, 300.0),
        "email": (0, 0.0, 2, 1200.0),
        "webinar": (0, 0.0, 1, 1000.0),
        "events": (0, 0.0, 1, 1000.0),
        "direct": (0, 0.0, 1, 300.0),
        "(no touch)": (1, 100.0, 0, 0.0),
    }


def test_the_marketing_quota_is_measured_under_the_model_approved_for_its_period(company: Workspace) -> None:
    # A window ending after the approval: the approved model (version 2, first touch) credits the whole year.
    measure = company._marketing_credit(date(2026, 1, 1), TODAY + timedelta(days=1))
    assert measure.approved is True
    assert measure.models == ("definitions version 2: first touch",)
    credited = {channel: value for channel, value in measure.by_channel.items() if value}
    assert credited == {"ads": 1200.0, "paid_social": 500.0, "seo": 300.0, "(no touch)": 100.0}
    # A window ending before it: version 1, which approved none (the quota then counts the lead's channel).
    before = company._marketing_credit(date(2026, 1, 1), TODAY - timedelta(days=1))
    assert before.approved is False
    assert before.models == ("definitions version 1: W-shaped",)


def test_the_plan_s_channel_mix_counts_a_lead_under_its_first_touch_once_approved(company: Workspace) -> None:
    from tandem.plan.history import channel_costs

    as_of = MIDNIGHT + timedelta(days=1)
    costs = channel_costs(company, as_of=as_of)
    # Each lead's first touch within the 365 days before its creation (L6's only touch is 400 days older: it
    # keeps its own channel, which it has none of). The test's leads carry no channel of their own.
    first = {"L1": "ads", "L2": "paid_social", "L3": "seo", "L4": "ads", "L6": "(none)", "L9": "seo"}
    created = {lead: datetime.fromisoformat(when) for lead, when, _ in LEADS} | {"L9": MIDNIGHT - timedelta(days=5)}
    window = [lead for lead, when in created.items() if as_of - timedelta(days=365) <= when < as_of]
    expected: dict[str, float] = {}
    for lead in window:
        expected[first[lead]] = expected.get(first[lead], 0) + 1 / len(window)
    assert {c.channel: c.share for c in costs} == pytest.approx(expected)
    assert {c.basis for c in costs} == {"the first touch (the approved attribution model, definitions version 2)"}


def test_a_question_asked_again_as_of_another_day_reuses_its_sql_and_answers_as_a_fresh_compile(
    company: Workspace,
) -> None:
    from tandem.attribution.credit import credit_table
    from tandem.attribution.journeys import JourneySpec
    from tandem.attribution.model import AttributionModel

    for day in (datetime(2026, 3, 1), datetime(2026, 2, 15), datetime(2026, 6, 1)):  # one shape: version 1 alone
        document = ask(company, AttributionQuestion.parse(as_of=day))
        fresh = credit_table(company.warehouse, JourneySpec(), AttributionModel(), day).to_pyarrow().to_pylist()
        assert credit(document) == pytest.approx({r["item"]: r["value"] for r in fresh if r["value"]}, abs=0.01)
    # On 2026-02-15 only O3 and O4 had closed (test_rules): the reused SQL saw that day, not the first one's.
    assert ask(company, AttributionQuestion.parse(as_of=datetime(2026, 2, 15)))["totals"] == {
        "outcomes": 2,
        "value": 500.0,
    }
