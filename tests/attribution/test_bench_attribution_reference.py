"""The attribution benchmark's hand-written queries (benchmarks/bench_attribution.py, `reference_sql`) agree with
tandem's `credit_table`.

The benchmark times tandem's credit per channel x month under every rule-based model against one such query per
model on the 1M-lead demo; the comparison means something only while both compute the same figures. Here both run
on a hand-made warehouse whose journeys are worked out by hand (repeats, the lookback, the close day, a touch on
the account naming no lead, a direct touch, missing milestones, a deal without a touch), and on a 5,000-lead demo
company, and must agree on every row, as the benchmark checks before it times anything.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from tandem.demo_workspace import build_demo

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_attribution.py"
MAY, JUNE = date(2026, 5, 1), date(2026, 6, 1)


def load_script() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_attribution", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = load_script()

#: Deal D1 (lead L1 created 2026-03-10 12:00, opportunity 2026-03-28 12:00, won 2026-05-15, 1,000) has these
#: touches once its repeat (t2), the touch a year before its start (t0), the one after its close day (t9) and a
#: touch of another lead of its account (t10) are left out: position, channel, day (all at 00:00).
D1_JOURNEY = (
    (0, "paid_search", date(2026, 2, 1)),  # first touch
    (1, "email", date(2026, 3, 1)),
    (2, "webinar", date(2026, 3, 10)),  # the lead's touch: the last at or before the lead was created
    (3, "content", date(2026, 3, 20)),
    (4, "events", date(2026, 3, 28)),  # the opportunity's touch
    (5, "outbound", date(2026, 4, 10)),  # on the account, naming no lead
    (6, "direct", date(2026, 5, 15)),  # last touch, on the close day
)
#: Deal D3 (lead L3 and its opportunity created 2026-06-01, won 2026-06-20, 200): both touches came later, so it
#: has neither the lead's nor the opportunity's touch.
D3_JOURNEY = ((0, "email", date(2026, 6, 5)), (1, "paid_social", date(2026, 6, 10)))


def hand_made_warehouse(path: Path) -> None:
    """Leads, deals and touches of `D1_JOURNEY` and `D3_JOURNEY`, plus deals that are no outcome: D2 (won, no
    touch), D4 (lost), D5 (open) and D6 (won after the as-of day)."""
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE import_log (import_id BIGINT, finished_at TIMESTAMP)")
    con.execute("CREATE TABLE leads (lead_id VARCHAR, created_at TIMESTAMP, account_id VARCHAR, channel VARCHAR)")
    con.execute(
        "INSERT INTO leads VALUES ('L1', '2026-03-10 12:00', 'A1', 'webinar'), ('L2', '2026-04-01', 'A2', 'email'),"
        " ('L3', '2026-06-01', 'A3', 'email'), ('L9', '2026-04-01', 'A1', 'events')"
    )
    con.execute(
        "CREATE TABLE opportunities (opportunity_id VARCHAR, created_at TIMESTAMP, status VARCHAR, lead_id VARCHAR,"
        " account_id VARCHAR, amount DOUBLE, close_date DATE)"
    )
    con.execute(
        "INSERT INTO opportunities VALUES"
        " ('D1', '2026-03-28 12:00', 'won', 'L1', 'A1', 1000, '2026-05-15'),"
        " ('D2', '2026-04-02', 'won', 'L2', 'A2', 500, '2026-06-30'),"
        " ('D3', '2026-06-01 12:00', 'won', 'L3', 'A3', 200, '2026-06-20'),"
        " ('D4', '2026-06-02', 'lost', 'L3', 'A3', 300, '2026-07-01'),"
        " ('D5', '2026-06-03', 'open', 'L3', 'A3', 400, NULL),"
        " ('D6', '2026-06-04', 'won', 'L9', 'A1', 600, '2026-12-01')"
    )
    con.execute(
        "CREATE TABLE touches (touch_id VARCHAR, occurred_at TIMESTAMP, channel VARCHAR, lead_id VARCHAR,"
        " account_id VARCHAR, campaign_id VARCHAR)"
    )
    con.execute(
        "INSERT INTO touches VALUES"
        " ('t0', '2025-03-01', 'referral', 'L1', 'A1', 'c0'),"  # over a year before L1 was created
        " ('t1', '2026-02-01', 'paid_search', 'L1', 'A1', 'c1'),"
        " ('t2', '2026-02-05', 'paid_search', 'L1', 'A1', 'c1'),"  # repeats t1: the same channel and campaign
        " ('t3', '2026-03-01', 'email', 'L1', 'A1', 'c2'),"
        " ('t4', '2026-03-10', 'webinar', 'L1', 'A1', 'c3'),"
        " ('t5', '2026-03-20', 'content', 'L1', 'A1', 'c4'),"
        " ('t6', '2026-03-28', 'events', 'L1', 'A1', 'c5'),"
        " ('t7', '2026-04-10', 'outbound', NULL, 'A1', 'c6'),"
        " ('t8', '2026-05-15', 'direct', 'L1', 'A1', NULL),"
        " ('t9', '2026-05-16', 'email', 'L1', 'A1', 'c2'),"  # after the close day
        " ('t10', '2026-04-12', 'events', 'L9', 'A1', 'c5'),"  # another lead of the account
        " ('t11', '2026-06-05', 'email', 'L3', 'A3', 'c2'),"
        " ('t12', '2026-06-10', 'paid_social', 'L3', 'A3', 'c7')"
    )
    con.close()


def decay(journey: tuple[tuple[int, str, date], ...], end: date) -> dict[str, float]:
    """Time decay's shares by hand: halving every 7 days between the touch and the end of the close day."""
    weights = {channel: 0.5 ** ((end - day).days / 7) for _, channel, day in journey}
    return {channel: weight / sum(weights.values()) for channel, weight in weights.items()}


#: Each model's shares of D1 and of D3 (docs/attribution.md, "Models"), worked out by hand.
SHARES: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "first_touch": ({"paid_search": 1.0}, {"email": 1.0}),
    "last_touch": ({"direct": 1.0}, {"paid_social": 1.0}),
    "last_non_direct": ({"outbound": 1.0}, {"paid_social": 1.0}),
    "linear": ({channel: 1 / 7 for _, channel, _ in D1_JOURNEY}, {"email": 0.5, "paid_social": 0.5}),
    # D3 has no lead's touch: its 40 % goes back to the others, so the first touch takes everything.
    "u_shaped": ({"paid_search": 0.4, "email": 0.2, "webinar": 0.4}, {"email": 1.0}),
    "w_shaped": (
        {"paid_search": 0.3, "email": 0.05, "webinar": 0.3, "content": 0.05, "events": 0.3},
        {"email": 1.0},
    ),
    "full_path": (
        {
            "paid_search": 0.225,
            "email": 0.1 / 3,
            "webinar": 0.225,
            "content": 0.1 / 3,
            "events": 0.225,
            "outbound": 0.1 / 3,
            "direct": 0.225,
        },
        {"email": 0.5, "paid_social": 0.5},
    ),
    "time_decay": (decay(D1_JOURNEY, date(2026, 5, 16)), decay(D3_JOURNEY, date(2026, 6, 21))),
    # Custom weighs only the lead's and the opportunity's touch (and between): D3 has neither, so it is linear.
    "custom": ({"email": 0.05, "webinar": 0.5, "content": 0.05, "events": 0.4}, {"email": 0.5, "paid_social": 0.5}),
}


def expected_credit(model: str) -> dict[tuple[str, date], tuple[float, float]]:
    """(channel, month) -> (conversions, value): D1 in May, D3 in June, and D2 to "(no touch)" in June."""
    d1, d3 = SHARES[model]
    credit = {(channel, MAY): (share, share * 1000) for channel, share in d1.items()}
    for channel, share in d3.items():
        credit[(channel, JUNE)] = (share, share * 200)
    credit[("(no touch)", JUNE)] = (1.0, 500.0)
    return credit


def credited(table: pa.Table) -> dict[tuple[str, date], tuple[float, float]]:
    """A credit table's rows that carry credit, keyed by (item, period)."""
    return {
        (row["item"], row["period"]): (row["conversions"], row["value"])
        for row in table.to_pylist()
        if row["conversions"] or row["value"]
    }


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    path = tmp_path_factory.mktemp("attribution-bench") / "warehouse.duckdb"
    hand_made_warehouse(path)
    raw, con = BENCH.open_warehouse(path)
    yield raw, con
    raw.close()


@pytest.mark.parametrize("model", BENCH.RULE_MODELS)
def test_the_reference_query_credits_the_hand_worked_shares(hand_made: tuple[Any, Any], model: str) -> None:
    raw, con = hand_made
    reference = BENCH.run_reference(raw, model)
    expected = expected_credit(model)
    assert credited(reference) == {key: pytest.approx(value, rel=1e-12) for key, value in expected.items()}
    assert BENCH.disagreements(BENCH.run_tandem(con, model), reference) == []


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    folder = tmp_path_factory.mktemp("attribution-bench-demo") / "demo"
    build_demo(folder, leads=5_000, seed=7, today=date(2026, 11, 23), echo=lambda _line: None).close()
    raw, con = BENCH.open_warehouse(folder / "warehouse.duckdb")
    yield raw, con
    raw.close()


@pytest.mark.parametrize("model", BENCH.RULE_MODELS)
def test_the_reference_query_agrees_with_tandem_on_the_demo(demo: tuple[Any, Any], model: str) -> None:
    """Every won deal is credited once in all, whatever the model."""
    raw, con = demo
    reference = BENCH.run_reference(raw, model)
    assert BENCH.disagreements(BENCH.run_tandem(con, model), reference) == []
    (won,) = raw.sql(
        "SELECT count(*) FROM opportunities WHERE status = 'won' AND close_date <= DATE '2026-11-23'"
    ).fetchone()
    assert round(sum(reference.column("conversions").to_pylist()), 9) == won


def test_a_difference_is_named_by_row_and_column(hand_made: tuple[Any, Any]) -> None:
    raw, _con = hand_made
    reference = BENCH.run_reference(raw, "first_touch").sort_by([("item", "ascending")])
    values = reference.column("value").to_pylist()
    changed = reference.set_column(
        reference.column_names.index("value"), "value", pa.array([values[0] + 1, *values[1:]], pa.float64())
    )
    (problem,) = BENCH.disagreements(changed, reference)
    assert problem == "row ('(no touch)', datetime.date(2026, 6, 1)), column value: tandem 501.0, reference 500.0"


def test_a_row_of_zeros_equals_a_missing_row(hand_made: tuple[Any, Any]) -> None:
    """tandem keeps a channel and month credited nothing (a touch that is not the first, under first touch)."""
    raw, _con = hand_made
    reference = BENCH.run_reference(raw, "first_touch")
    zero = pa.table({"item": ["email"], "period": [MAY], "conversions": [0.0], "value": [0.0]}, schema=reference.schema)
    assert BENCH.disagreements(pa.concat_tables([reference, zero]), reference) == []
    one = pa.table({"item": ["email"], "period": [MAY], "conversions": [1.0], "value": [0.0]}, schema=reference.schema)
    assert BENCH.disagreements(pa.concat_tables([reference, one]), reference) == [
        "row ('email', datetime.date(2026, 5, 1)), column conversions: tandem 1.0, reference 0.0"
    ]


def test_the_as_of_moment_is_inlined_as_a_literal() -> None:
    sql = BENCH.reference_sql("linear", datetime(2026, 9, 30, 12, 0))
    assert "$as_of" not in sql
    assert sql.count("TIMESTAMP '2026-09-30 12:00:00'") == 4
