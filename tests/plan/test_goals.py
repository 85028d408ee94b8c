"""Goals: one revenue target both teams share, what it implies for the periods in it, and each team's quota.

The derivations are worked by hand: a period without a goal gets its parent's target split by days, in cents that
add up. Storage tests run on SQLite and PostgreSQL (the `workspace` fixture); the measured marketing share and the
attainment run on a small hand-made warehouse on every backend the engine runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from tandem.accounts import AccessDenied, Principal
from tandem.money import format_amount
from tandem.periods import CalendarPeriod as Period
from tandem.periods import current_quarter
from tandem.plan.goals import (
    GoalError,
    GoalInfo,
    parse_amount,
    parse_period,
    plan_targets,
    split_by_days,
)
from tandem.workspace import Workspace

from ..backends import Backend

PASSWORD = "a long enough password"


def person(ws: Workspace, username: str, role: str) -> Principal:
    ws.accounts.create_user("admin", username, role, password=PASSWORD)
    return ws.accounts.authenticate(username, PASSWORD, "test")


def goal(period: str, amount: str, *, share: float | None = None, dimension: str | None = None) -> GoalInfo:
    """A goal as stored, for the pure functions."""
    at = datetime(2026, 1, 5)
    return GoalInfo(
        period=parse_period(period),
        dimension=dimension,
        value="Enterprise" if dimension else None,
        amount=Decimal(amount),
        marketing_share=share,
        note="",
        created_by="eve",
        created_at=at,
        updated_by="eve",
        updated_at=at,
    )


# --- periods ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "start", "end", "days"),
    [
        ("2027", "year", date(2027, 1, 1), date(2028, 1, 1), 365),
        ("2028", "year", date(2028, 1, 1), date(2029, 1, 1), 366),
        ("2027-Q1", "quarter", date(2027, 1, 1), date(2027, 4, 1), 90),
        ("2027-Q4", "quarter", date(2027, 10, 1), date(2028, 1, 1), 92),
        ("2027-02", "month", date(2027, 2, 1), date(2027, 3, 1), 28),
        ("2028-02", "month", date(2028, 2, 1), date(2028, 3, 1), 29),
        ("2027-12", "month", date(2027, 12, 1), date(2028, 1, 1), 31),
    ],
)
def test_a_period_is_a_year_a_quarter_or_a_month(text: str, kind: str, start: date, end: date, days: int) -> None:
    period = parse_period(text)
    assert (period.kind, period.start, period.end, period.days, period.label) == (kind, start, end, days, text)


@pytest.mark.parametrize("text", ["27", "2027-1", "2027-Q5", "2027-q1", "2027-13", "2027-00", "2027/01", "Q1 2027", ""])
def test_anything_else_is_refused_naming_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(GoalError, match=r"2027-Q1|months are 01 to 12") as refused:
        parse_period(text)
    assert repr(text) in str(refused.value)


def test_periods_nest_year_quarter_month() -> None:
    assert [p.label for p in parse_period("2027").children] == ["2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4"]
    assert [p.label for p in parse_period("2027-Q3").children] == ["2027-07", "2027-08", "2027-09"]
    assert [p.label for p in parse_period("2027-08").lineage] == ["2027-08", "2027-Q3", "2027"]
    assert current_quarter(date(2026, 11, 26)) == Period("quarter", 2026, 4)


# --- amounts ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("10000000", "10000000"),
        ("10M", "10000000"),
        ("2.5M", "2500000"),
        ("750k", "750000"),
        ("750K", "750000"),
        ("$1,200,000", "1200000"),
        ("1234.56", "1234.56"),
        ("$2.25m", "2250000"),
    ],
)
def test_amounts_are_written_as_people_write_them(text: str, amount: str) -> None:
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ten million", "is not an amount"),
        ("10MM", "is not an amount"),
        ("1,2000", "is not an amount"),
        ("-5M", "is not an amount"),
        ("10B", "is not an amount"),
        ("0", "more than zero"),
        ("1.005", "whole cents"),
        ("2000000000M", "at most 1,000,000,000,000,000"),
    ],
)
def test_other_amounts_are_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(GoalError, match=why):
        parse_amount(text)


def test_amounts_show_cents_only_when_there_are_some() -> None:
    assert format_amount(Decimal("10000000")) == "$10,000,000"
    assert format_amount(Decimal("2465753.42")) == "$2,465,753"  # stored to the cent, shown in whole dollars


# --- derivation by days, worked by hand ---------------------------------------------------------------------------
def test_a_year_splits_into_its_quarters_by_days_in_cents_that_add_up() -> None:
    # 10,000,000 over 365 days: Q1 has 90 of them, 10,000,000 x 90 / 365 = 2,465,753.424...; Q2 91 days
    # 2,493,150.684..., Q3 and Q4 92 days 2,520,547.945... each. The floors leave 2 cents; the largest remainders
    # (Q3's and Q4's .945) get them.
    quarters = split_by_days(1_000_000_000, parse_period("2027").children)
    assert quarters == [246_575_342, 249_315_068, 252_054_795, 252_054_795]
    assert sum(quarters) == 1_000_000_000


def test_a_quarter_without_a_goal_takes_its_share_of_the_year() -> None:
    target = plan_targets([goal("2027", "10000000")])
    q1 = target(parse_period("2027-Q1"))
    assert (q1.amount, q1.source) == (Decimal("2465753.42"), "derived")
    assert q1.explanation == "derived from 2027's $10,000,000, by days: 90 of 365"
    # A month without a goal takes its share of its quarter: January is 31 of Q1's 90 days.
    january = target(parse_period("2027-01"))
    assert january.amount == Decimal("849315.07")  # 2,465,753.42 x 31 / 90 = 849,315.066...
    assert january.explanation == "derived from 2027-Q1's $2,465,753, by days: 31 of 90"
    assert january.origin is not None
    assert january.origin.period.label == "2027"


def test_february_of_a_leap_year_has_29_days_of_it() -> None:
    # 2028 has 366 days: 3,660,000 is 10,000 a day, so Q1 (91 days) is 910,000 and February 2028 290,000.
    target = plan_targets([goal("2028", "3660000")])
    assert target(parse_period("2028-Q1")).amount == Decimal("910000.00")
    assert target(parse_period("2028-02")).amount == Decimal("290000.00")


def test_quarters_with_goals_leave_the_rest_of_the_year_to_the_others() -> None:
    # 10,000,000 less Q2's 3,000,000 leaves 7,000,000 for Q1, Q3 and Q4 (90 + 92 + 92 = 274 days):
    # Q1 2,299,270.07..., Q3 and Q4 2,350,364.963... each; the one cent left goes to Q3 (a tie: the earlier first).
    target = plan_targets([goal("2027", "10000000"), goal("2027-Q2", "3000000")])
    amounts = {q: target(parse_period(f"2027-{q}")).amount for q in ("Q1", "Q2", "Q3", "Q4")}
    assert amounts == {
        "Q1": Decimal("2299270.07"),
        "Q2": Decimal("3000000"),
        "Q3": Decimal("2350364.97"),
        "Q4": Decimal("2350364.96"),
    }
    assert sum(amounts.values()) == Decimal("10000000")
    assert target(parse_period("2027-Q2")).source == "goal"
    assert (
        "less the $3,000,000 set on other quarters, by days: 90 of 274" in target(parse_period("2027-Q1")).explanation
    )


def test_without_a_goal_above_there_is_no_target() -> None:
    target = plan_targets([goal("2027-Q2", "3000000")])
    assert target(parse_period("2027")).amount is None
    q1 = target(parse_period("2027-Q1"))
    assert (q1.amount, q1.source, q1.explanation) == (None, "none", "no goal for 2027-Q1 or 2027")
    assert target(parse_period("2027-05")).amount == Decimal("1021978.02")  # 3,000,000 x 31 / 91


def test_quarters_over_the_year_leave_the_others_nothing() -> None:
    target = plan_targets([goal("2027", "1000000"), goal("2027-Q1", "600000"), goal("2027-Q2", "600000")])
    assert target(parse_period("2027-Q3")).amount == Decimal("0.00")


# --- the service: storage, permissions, audit ---------------------------------------------------------------------
@pytest.fixture
def people(workspace: Workspace) -> dict[str, Principal]:
    return {
        "eve": person(workspace, "eve", "exec"),
        "ada": person(workspace, "ada", "admin"),
        "mia": person(workspace, "mia", "marketing"),
        "sam": person(workspace, "sam", "sales"),
        "val": person(workspace, "val", "viewer"),
    }


def test_an_exec_sets_a_goal_and_setting_it_again_replaces_it(
    workspace: Workspace, people: dict[str, Principal]
) -> None:
    goals = workspace.goals
    first = goals.set(people["eve"], "2027", "10M", note="board plan")
    assert (first.amount, first.note, first.created_by, first.replaced) == (
        Decimal("10000000.00"),
        "board plan",
        "eve",
        None,
    )
    second = goals.set(people["ada"], "2027", Decimal("12000000"), marketing_share=0.6)
    assert second.amount == Decimal("12000000.00")
    assert (second.created_by, second.updated_by, second.marketing_share) == ("eve", "ada", 0.6)
    assert second.replaced is not None
    assert second.replaced.amount == Decimal("10000000.00")
    assert [g.key for g in goals.all()] == ["2027"]
    assert goals.get("2027") == goals.all()[0]

    log = [(e["actor"], e["action"], e["target"]) for e in reversed(workspace.audit_log())]
    assert [entry for entry in log if entry[1].startswith("goal.")] == [
        ("eve", "goal.set", "goal 2027"),
        ("ada", "goal.set", "goal 2027"),
    ]
    history = goals.history("2027")
    assert [(h["actor"], h["amount"]) for h in history] == [("eve", 10_000_000.0), ("ada", 12_000_000.0)]
    assert history[1]["replaced"]["amount"] == 10_000_000.0
    assert history[1]["replaced"]["note"] == "board plan"
    assert workspace.verify_audit().ok


def test_slices_are_goals_of_their_own_one_per_value(workspace: Workspace, people: dict[str, Principal]) -> None:
    goals = workspace.goals
    goals.set(people["eve"], "2027", "10M")
    goals.set(people["eve"], "2027", "6M", dimension="segment", value="Enterprise")
    goals.set(people["eve"], "2027", "3M", dimension="segment", value="Mid-market")
    goals.set(people["eve"], "2027", "3.5M", dimension="segment", value="Mid-market")
    goals.set(people["eve"], "2027-Q1", "1M", dimension="region", value="EMEA")
    assert [g.key for g in goals.all()] == [
        "2027",
        "2027 segment=Enterprise",
        "2027 segment=Mid-market",
        "2027-Q1 region=EMEA",
    ]
    mid = goals.get("2027", "segment", "Mid-market")
    assert mid is not None
    assert mid.amount == Decimal("3500000.00")
    with pytest.raises(GoalError, match="'channel' is not a goal dimension; use one of segment, region, product"):
        goals.set(people["eve"], "2027", "1M", dimension="channel", value="webinar")
    with pytest.raises(GoalError, match="a segment goal needs the segment's value"):
        goals.set(people["eve"], "2027", "1M", dimension="segment", value=" ")


def test_only_execs_and_admins_set_or_delete_goals(workspace: Workspace, people: dict[str, Principal]) -> None:
    goals = workspace.goals
    for name in ("mia", "sam", "val"):
        with pytest.raises(AccessDenied, match="needs goals permission"):
            goals.set(people[name], "2027", "10M")
    goals.set(people["eve"], "2027", "10M")
    with pytest.raises(AccessDenied):
        goals.delete(people["mia"], "2027")
    assert [g.key for g in goals.all()] == ["2027"]
    assert not [e for e in workspace.audit_log() if e["actor"] in ("mia", "sam", "val")]


def test_deleting_a_goal_is_audited_with_what_it_was(workspace: Workspace, people: dict[str, Principal]) -> None:
    goals = workspace.goals
    goals.set(people["eve"], "2027-Q1", "2.5M", dimension="product", value="Pro", note="launch")
    with pytest.raises(GoalError, match=r"there is no goal for 2027-Q1; `tandem goal list` shows the goals there are"):
        goals.delete(people["eve"], "2027-Q1")
    deleted = goals.delete(people["ada"], "2027-Q1", dimension="product", value="Pro")
    assert deleted.amount == Decimal("2500000.00")
    assert goals.all() == []
    entry = workspace.audit_log(limit=1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("ada", "goal.delete", "goal 2027-Q1 product=Pro")
    assert entry["details"]["amount"] == "2500000.00"
    assert entry["details"]["note"] == "launch"
    assert [h["action"] for h in goals.history("2027")] == ["goal.set", "goal.delete"]


def test_bad_input_is_refused_and_nothing_is_written(workspace: Workspace, people: dict[str, Principal]) -> None:
    goals = workspace.goals
    with pytest.raises(GoalError, match="'2027-5' is not a period"):
        goals.set(people["eve"], "2027-5", "1M")
    with pytest.raises(GoalError, match="more than zero"):
        goals.set(people["eve"], "2027", 0)
    with pytest.raises(GoalError, match="a fraction from 0 to 1"):
        goals.set(people["eve"], "2027", "1M", marketing_share=1.5)
    assert goals.all() == []
    assert not [e for e in workspace.audit_log() if e["action"].startswith("goal.")]


# --- show: consistency, quotas ------------------------------------------------------------------------------------
def test_show_lists_the_year_its_quarters_and_months_with_derived_targets(
    workspace: Workspace, people: dict[str, Principal]
) -> None:
    goals = workspace.goals
    goals.set(people["eve"], "2027", "10M", marketing_share=0.6)
    goals.set(people["eve"], "2027-Q2", "3M")
    shown = goals.show("2027")
    rows = {row["period"]: row for row in shown["periods"]}
    assert len(rows) == 1 + 4 + 12
    assert (rows["2027"]["amount"], rows["2027"]["source"]) == (10_000_000.0, "goal")
    assert (rows["2027-Q1"]["amount"], rows["2027-Q1"]["source"]) == (2_299_270.07, "derived")
    assert rows["2027-04"]["amount"] == 989_010.99  # 3,000,000 x 30 / 91
    year = next(a for a in shown["allocations"] if a["period"] == "2027")
    assert (year["set"], year["unallocated"], year["excess"]) == (3_000_000.0, 0.0, 0.0)
    assert year["message"] == (
        "1 of 4 quarters have goals ($3,000,000); the others share the remaining $7,000,000 of 2027's $10,000,000 "
        "by days"
    )
    # A quarter is shown with its months and the year it is in.
    q1 = goals.show("2027-Q1")
    assert [row["period"] for row in q1["periods"]] == ["2027-Q1", "2027-01", "2027-02", "2027-03"]
    assert [p["period"] for p in q1["parents"]] == ["2027"]
    assert q1["goal"] is None
    assert (
        q1["target"]["from"]
        == "derived from 2027's $10,000,000 less the $3,000,000 set on other quarters, by days: 90 of 274"
    )


def test_children_and_slices_that_do_not_add_up_are_shown_not_refused(
    workspace: Workspace, people: dict[str, Principal]
) -> None:
    goals = workspace.goals
    goals.set(people["eve"], "2027", "10M")
    for quarter, amount in (("Q1", "2M"), ("Q2", "2M"), ("Q3", "2M"), ("Q4", "3M")):
        goals.set(people["eve"], f"2027-{quarter}", amount)
    goals.set(people["eve"], "2027", "7M", dimension="segment", value="Enterprise")
    goals.set(people["eve"], "2027", "4M", dimension="segment", value="Mid-market")
    goals.set(people["eve"], "2027", "2M", dimension="region", value="EMEA")
    shown = goals.show("2027")
    year = next(a for a in shown["allocations"] if a["period"] == "2027")
    assert (year["set"], year["unallocated"], year["excess"]) == (9_000_000.0, 1_000_000.0, 0.0)
    assert (
        year["message"] == "the quarters with goals add up to $9,000,000: $1,000,000 of 2027's $10,000,000 unallocated"
    )
    slices = {s["dimension"]: s for s in shown["slices"]}
    assert (slices["segment"]["sum"], slices["segment"]["excess"]) == (11_000_000.0, 1_000_000.0)
    assert slices["segment"]["message"] == "the segment goals add up to $11,000,000: $1,000,000 over 2027's $10,000,000"
    assert (slices["region"]["unallocated"], slices["region"]["excess"]) == (8_000_000.0, 0.0)

    goals.set(people["eve"], "2027-Q4", "5M")
    year = next(a for a in goals.show("2027")["allocations"] if a["period"] == "2027")
    assert (year["unallocated"], year["excess"]) == (0.0, 1_000_000.0)
    assert year["message"] == "the quarters with goals add up to $11,000,000: $1,000,000 over 2027's $10,000,000"


def test_quotas_with_a_given_marketing_share_say_where_they_come_from(
    workspace: Workspace, people: dict[str, Principal]
) -> None:
    goals = workspace.goals
    goals.set(people["eve"], "2027", "10M", marketing_share=0.6)
    sales, marketing = goals.show("2027")["quotas"]
    assert sales == {"team": "sales", "quota": "sales bookings", "amount": 10_000_000.0, "from": "goal 2027"}
    assert marketing["amount"] == 6_000_000.0
    assert marketing["share_source"] == "given"
    assert marketing["from"] == "goal 2027 x 0.6 (given on goal 2027)"
    # A derived target takes the share given on the goal it comes from: Q1 2,465,753.42 x 0.6 = 1,479,452.052.
    sales_q1, marketing_q1 = goals.show("2027-Q1")["quotas"]
    assert sales_q1["amount"] == 2_465_753.42
    assert sales_q1["from"] == "target 2027-Q1 (derived from 2027's $10,000,000, by days: 90 of 365)"
    assert marketing_q1["amount"] == 1_479_452.05
    assert marketing_q1["from"].endswith("x 0.6 (given on goal 2027)")


def test_a_period_without_a_target_has_no_quotas(workspace: Workspace) -> None:
    shown = workspace.goals.show("2027-Q3")
    assert shown["goal"] is None
    assert shown["target"]["amount"] is None
    assert shown["quotas"] == []
    assert shown["periods"][0]["from"] == "no goal for 2027-Q3 or 2027"


# --- measured from the warehouse: the marketing share and attainment, on every engine backend ---------------------
def _leads_and_deals() -> dict[str, pa.Table]:
    """Won revenue in 2024: 1,250,000, of which 800,000 from marketing-sourced leads (webinar, paid_search).

    Outbound (300,000) is sourced by sales; so are a lead without a channel (100,000) and a deal without a lead
    (50,000). 2025 (the goal's year) has 400,000 won so far and a lost deal; a deal won in 2023 is outside both.
    """
    leads = pa.table(
        {
            "lead_id": ["L1", "L2", "L3", "L4", "L5"],
            "created_at": [datetime(2023, 11, 1)] * 5,
            "channel": ["webinar", "outbound", "paid_search", None, "webinar"],
        }
    )
    deals = [
        # id, lead, status, amount, created, closed
        ("O1", "L1", "won", 600_000.0, datetime(2024, 1, 10), date(2024, 3, 1)),
        ("O2", "L2", "won", 300_000.0, datetime(2024, 2, 10), date(2024, 6, 1)),
        ("O3", "L3", "won", 200_000.0, datetime(2024, 3, 10), date(2024, 12, 31)),
        ("O4", "L4", "won", 100_000.0, datetime(2024, 4, 10), date(2024, 9, 1)),
        ("O5", None, "won", 50_000.0, datetime(2024, 5, 10), date(2024, 10, 1)),
        ("O6", "L5", "won", 999_000.0, datetime(2023, 1, 10), date(2023, 12, 31)),
        ("O7", "L1", "won", 250_000.0, datetime(2024, 11, 10), date(2025, 2, 1)),
        ("O8", "L2", "won", 150_000.0, datetime(2025, 1, 10), date(2025, 5, 1)),
        ("O9", "L3", "lost", 500_000.0, datetime(2025, 1, 10), date(2025, 4, 1)),
    ]
    columns = list(zip(*deals, strict=True))
    opportunities = pa.table(
        {
            "opportunity_id": list(columns[0]),
            "lead_id": pa.array(columns[1], pa.string()),
            "status": list(columns[2]),
            "amount": list(columns[3]),
            "created_at": list(columns[4]),
            "close_date": list(columns[5]),
        }
    )
    return {"leads": leads, "opportunities": opportunities}


@pytest.fixture
def measured(backend: Backend, tmp_path: Path) -> Iterator[tuple[Workspace, Principal]]:
    with backend.workspace_holding(tmp_path, _leads_and_deals()) as ws:
        ws.goals.sales_sourced_channels = ("outbound",)  # the setting has no default: as tandem.toml would set it
        yield ws, person(ws, "eve", "exec")


def test_marketings_share_is_measured_on_the_year_before_the_period(measured: tuple[Workspace, Principal]) -> None:
    ws, eve = measured
    ws.goals.set(eve, "2025", "10M")
    sales, marketing = ws.goals.show("2025")["quotas"]
    assert sales["amount"] == 10_000_000.0
    # 800,000 of 1,250,000 = 0.64 -> 6,400,000.
    assert marketing["share"] == 0.64
    assert marketing["share_source"] == "measured"
    assert marketing["amount"] == 6_400_000.0
    assert marketing["from"] == (
        "goal 2025 x 0.64 (measured: won revenue 2024-01-01..2024-12-31 from marketing-sourced leads (the lead's "
        "channel: no attribution model is approved), $800,000 of $1,250,000)"
    )
    assert marketing["measurement"]["sales_sourced_channels"] == ["outbound"]


def test_unset_sales_sourced_channels_leave_marketings_quota_unmeasured_and_suggest_values(
    measured: tuple[Workspace, Principal],
) -> None:
    """Without the setting every won deal would be marketing's (100 % of the goal): the quota says it is not set,
    how to set it, and the channels of the measured window that look sales-sourced (here outbound, of webinar,
    outbound, paid_search and no channel)."""
    ws, eve = measured
    ws.goals.set(eve, "2025", "10M")
    ws.goals.sales_sourced_channels = ()
    marketing = ws.goals.show("2025")["quotas"][1]
    assert (marketing["amount"], marketing["share"], marketing["share_source"]) == (None, None, None)
    assert marketing["sales_sourced_channels_set"] is False
    assert marketing["suggested_sales_sourced_channels"] == ["outbound"]
    assert marketing["from"] == (
        "goal 2025: not measured: the sales-sourced channels are not set; set sales_sourced_channels under "
        '[settings] in tandem.toml (see `tandem settings`), e.g. sales_sourced_channels = ["outbound"] (the '
        "imported channels that look sales-sourced), or give the goal a marketing share"
    )


def test_the_sales_sourced_channels_decide_what_counts_as_marketings(measured: tuple[Workspace, Principal]) -> None:
    ws, eve = measured
    ws.goals.set(eve, "2025", "10M")
    ws.goals.sales_sourced_channels = ("outbound", "paid_search")
    marketing = ws.goals.show("2025")["quotas"][1]
    assert marketing["share"] == 0.48  # 600,000 of 1,250,000
    # A quarter's window is the 12 months before it starts: 2025-Q2 looks at 2024-04-01..2025-03-31, where O2, O3,
    # O4, O5 and O7 were won (900,000); only O7's lead (webinar, 250,000) is marketing's now.
    measure = ws.goals.measure_share(parse_period("2025-Q2"))
    assert measure is not None
    assert measure.window == "2024-04-01..2025-03-31"
    assert (measure.marketing, measure.total) == (250_000.0, 900_000.0)


def test_attainment_is_the_won_revenue_of_the_period_against_its_target(measured: tuple[Workspace, Principal]) -> None:
    ws, eve = measured
    ws.goals.set(eve, "2025", "2M")
    attainment = ws.goals.show("2025")["attainment"]
    assert attainment["won_revenue"] == 400_000.0  # O7 and O8; the lost O9 does not count
    assert attainment["target"] == 2_000_000.0
    assert attainment["share"] == pytest.approx(0.2)
    assert attainment["elapsed"] == 1.0  # 2025 is over
    assert attainment["through"] == date(2025, 12, 31)
    q1 = ws.goals.show("2025-Q1")["attainment"]
    assert q1["won_revenue"] == 250_000.0


def test_the_sales_sourced_channels_are_a_workspace_setting(tmp_path: Path) -> None:
    import tandem
    from tandem.errors import ConfigError

    tandem.init_workspace(tmp_path / "ws").close()
    config = tmp_path / "ws" / "tandem.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + 'sales_sourced_channels = ["outbound", "partner"]\n', encoding="utf-8")
    with tandem.open_workspace(tmp_path / "ws") as ws:
        assert ws.goals.sales_sourced_channels == ("outbound", "partner")
    config.write_text(text + 'sales_sourced_channels = "outbound"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="setting sales_sourced_channels must be list"):
        tandem.open_workspace(tmp_path / "ws")
    config.write_text(text + "sales_sourced_channels = [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a list of strings"):
        tandem.open_workspace(tmp_path / "ws")


def test_an_approved_attribution_model_measures_marketing_s_share_and_is_named(workspace: Workspace) -> None:
    from tandem.plan.goals import CreditMeasure

    eve = person(workspace, "eve", "exec")
    workspace.goals.sales_sourced_channels = ("outbound",)
    workspace.goals.marketing_credit = lambda start, end: CreditMeasure(
        {"webinar": 600_000.0, "outbound": 300_000.0, "(no touch)": 100_000.0},
        ("definitions version 3: W-shaped",),
        True,
    )
    workspace.goals.set(eve, "2025", "10M")
    _, marketing = workspace.goals.show("2025")["quotas"]
    # 600,000 of 1,000,000: outbound is sales', and revenue with no touch counts as sales-sourced.
    assert marketing["share"] == 0.6
    assert marketing["attribution_models"] == ["definitions version 3: W-shaped"]
    assert marketing["from"] == (
        "goal 2025 x 0.6 (measured: won revenue 2024-01-01..2024-12-31 credited to marketing's channels by the "
        "approved attribution model (definitions version 3: W-shaped), $600,000 of $1,000,000)"
    )
