"""The goals' REST endpoints: everyone reads the goal, only execs and admins set or delete it, every change audited.

On the demo company (tests/server/conftest.py): its won revenue gives the measured marketing share and attainment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from .conftest import Browser

API = Callable[[str], TestClient]


def test_an_exec_sets_a_goal_and_a_viewer_reads_it(api: API) -> None:
    eve, val = api("eve"), api("val")
    put = eve.put("/api/goals/2027", json={"amount": 10_000_000, "marketing_share": 0.6, "note": "board plan"})
    assert put.status_code == 200, put.text
    goal = put.json()["goal"]
    assert (goal["period"], goal["amount"], goal["updated_by"], goal["replaced"]) == ("2027", 1e7, "eve", None)

    listed = val.get("/api/goals").json()["goals"]
    assert [(g["period"], g["amount"], g["note"]) for g in listed] == [("2027", 1e7, "board plan")]
    shown = val.get("/api/goals/2027-Q1")
    assert shown.status_code == 200, shown.text
    document = shown.json()
    assert document["target"]["amount"] == 2_465_753.42
    assert document["target"]["source"] == "derived"
    assert [q["amount"] for q in document["quotas"]] == [2_465_753.42, 1_479_452.05]
    assert [row["period"] for row in document["periods"]] == ["2027-Q1", "2027-01", "2027-02", "2027-03"]


def test_marketing_and_sales_cannot_set_goals(api: API) -> None:
    for name in ("mia", "sam", "val"):
        refused = api(name).put("/api/goals/2027", json={"amount": 1_000_000})
        assert refused.status_code == 403, refused.text
        assert "goals permission" in refused.json()["detail"]
    assert api("val").get("/api/goals").json() == {"goals": [], "currency": "USD"}


def test_a_bad_period_or_amount_is_a_422_saying_why(api: API) -> None:
    ada = api("ada")
    bad_period = ada.put("/api/goals/2027-Q5", json={"amount": 1_000_000})
    assert bad_period.status_code == 422
    assert bad_period.json()["detail"] == (
        "'2027-Q5' is not a period; use a year (2027), a quarter (2027-Q1) or a month (2027-01)"
    )
    assert api("val").get("/api/goals/next-year").status_code == 422
    assert ada.put("/api/goals/2027", json={"amount": 0}).status_code == 422
    cents = ada.put("/api/goals/2027", json={"amount": 1000.005})
    assert (cents.status_code, cents.json()["detail"]) == (422, "a goal is in whole cents at most (got 1,000.005)")
    half_slice = ada.put("/api/goals/2027", json={"amount": 1000, "dimension": "segment"})
    assert half_slice.status_code == 422
    assert "needs the segment's value" in half_slice.json()["detail"]
    assert ada.get("/api/goals").json() == {"goals": [], "currency": "USD"}


def test_slices_are_set_and_deleted_by_dimension_and_value(api: API) -> None:
    eve = api("eve")
    assert eve.put("/api/goals/2027", json={"amount": 10_000_000}).status_code == 200
    enterprise = {"amount": 12_000_000, "dimension": "segment", "value": "Enterprise"}
    assert eve.put("/api/goals/2027", json=enterprise).status_code == 200
    slices = eve.get("/api/goals/2027").json()["slices"]
    assert slices[0]["message"] == "the segment goals add up to $12,000,000: $2,000,000 over 2027's $10,000,000"

    missing = eve.delete("/api/goals/2027", params={"dimension": "segment", "value": "SMB"})
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("there is no goal for 2027 segment=SMB")
    assert (
        api("mia").delete("/api/goals/2027", params={"dimension": "segment", "value": "Enterprise"}).status_code == 403
    )
    deleted = eve.delete("/api/goals/2027", params={"dimension": "segment", "value": "Enterprise"})
    assert deleted.status_code == 200
    assert deleted.json()["deleted"]["amount"] == 12_000_000.0
    assert [(g["period"], g["dimension"]) for g in eve.get("/api/goals").json()["goals"]] == [("2027", None)]

    audit = [(e["actor"], e["action"], e["target"]) for e in eve.get("/api/audit").json()["entries"]]
    goal_entries = [e for e in reversed(audit) if e[1].startswith("goal.")]
    assert goal_entries == [
        ("eve", "goal.set", "goal 2027"),
        ("eve", "goal.set", "goal 2027 segment=Enterprise"),
        ("eve", "goal.delete", "goal 2027 segment=Enterprise"),
    ]


def test_the_demo_companys_won_revenue_measures_the_share_and_the_attainment(api: API) -> None:
    """No share given: marketing's is measured on the 12 months before the period, and won revenue so far counts."""
    eve = api("eve")
    this_year = datetime.now(UTC).year
    assert eve.put(f"/api/goals/{this_year}", json={"amount": 5_000_000}).status_code == 200
    document = eve.get(f"/api/goals/{this_year}").json()
    marketing = document["quotas"][1]
    measurement = marketing["measurement"]
    assert measurement["start"] == f"{this_year - 1}-01-01"
    assert measurement["sales_sourced_channels"] == ["outbound"]
    # The demo's two years of history end today: last year is all in them.
    assert marketing["share_source"] == "measured"
    assert 0 < measurement["marketing_sourced"] < measurement["won_revenue"]
    assert marketing["share"] == round(measurement["marketing_sourced"] / measurement["won_revenue"], 4)
    assert marketing["amount"] == round(5_000_000 * marketing["share"], 2)
    attainment = document["attainment"]
    assert attainment["won_revenue"] >= 0
    assert attainment["share"] == attainment["won_revenue"] / 5_000_000


def test_a_browser_session_needs_the_csrf_token_to_set_a_goal(signed_in: Callable[[str], Browser]) -> None:
    eve = signed_in("eve")
    refused = eve.put("/api/goals/2027", json={"amount": 1_000_000})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    done = eve.put("/api/goals/2027", json={"amount": 1_000_000}, headers={"X-CSRF-Token": eve.csrf})
    assert done.status_code == 200, done.text
