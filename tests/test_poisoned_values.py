"""Values no figure can use, written straight into the warehouse (past the import's checks, as an older workspace
or another tool writing PostgreSQL would): the engine leaves their rows out and says so, on DuckDB and PostgreSQL.

The company is small enough to work its figures by hand (`company`): this quarter, 4 new leads of which 2 reached
mql; 3 deals won on the quarter's first day for 1,000 + 2,000 + 3,000 = 6,000 and 1 lost, so a win rate of 3/4;
2 open deals of 500 and 700, an open pipeline of 1,200. Each poison adds rows to that company; the figures stay
exactly those, and the rows are named as left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tandem import Workspace
from tandem.cli import app as cli
from tandem.engine.usable import left_out_messages
from tandem.forecast.service import period_forecast
from tandem.periods import current_quarter
from tandem.questions.status import funnel_findings

from .backends import Backend

pytestmark = pytest.mark.notrun(
    ["pyspark"], reason="the poison is written into the warehouse with SQL; a Spark warehouse is read-only Parquet"
)

LEFT_OUT = "left out of every figure"
USABLE = "(usable: finite numbers, dates 1900-01-01 to 2200-12-31, required values present)"
FIX = "at the source and import again"


def quarter_start() -> datetime:
    return datetime.combine(current_quarter(datetime.now(UTC).date()).start, datetime.min.time())


def company_tables() -> dict[str, pa.Table]:
    """The hand-worked company (module docs), dated from the current quarter's first day Q."""
    q = quarter_start()
    old = q - timedelta(days=200)
    lead_ids = [f"L{i:02d}" for i in range(1, 49)] + ["R1", "R2", "R3", "R4"]
    created = [old + timedelta(days=i) for i in range(48)] + [q] * 4
    leads = pa.table(
        {
            "lead_id": lead_ids,
            "created_at": pa.array(created, pa.timestamp("us")),
            "channel": ["ads" if i % 2 else "events" for i in range(48)] + ["ads"] * 4,
            "score": [float(100 - i if i < 24 else i - 24) for i in range(48)] + [50.0] * 4,
        }
    )
    events: list[tuple[str, str, datetime]] = []
    for i in range(48):
        at = old + timedelta(days=i)
        events.append((lead_ids[i], "mql", at + timedelta(days=1)))
        if i < 24:  # L01..L24 won, 30 days after they came in
            events.append((lead_ids[i], "won", at + timedelta(days=30)))
    events += [("R1", "mql", q), ("R2", "mql", q)]
    stage_events = pa.table(
        {
            "lead_id": [e[0] for e in events],
            "stage": [e[1] for e in events],
            "occurred_at": pa.array([e[2] for e in events], pa.timestamp("us")),
        }
    )
    deals: list[tuple[str, str | None, datetime, str, float, date | None]] = []
    for i in range(24):
        at = old + timedelta(days=i)
        this_quarter = i < 3  # O01..O03 close on Q for 1,000, 2,000 and 3,000
        close = q.date() if this_quarter else (at + timedelta(days=30)).date()
        deals.append((f"O{i + 1:02d}", lead_ids[i], at, "won", 1000.0 * (i + 1 if this_quarter else 1), close))
    deals.append(("X1", "L30", q - timedelta(days=20), "lost", 800.0, q.date()))
    deals.append(("P1", "L40", q - timedelta(days=10), "open", 500.0, (q + timedelta(days=60)).date()))
    deals.append(("P2", "L41", q - timedelta(days=10), "open", 700.0, (q + timedelta(days=60)).date()))
    opportunities = pa.table(
        {
            "opportunity_id": [d[0] for d in deals],
            "lead_id": [d[1] for d in deals],
            "created_at": pa.array([d[2] for d in deals], pa.timestamp("us")),
            "status": [d[3] for d in deals],
            "amount": [d[4] for d in deals],
            "close_date": pa.array([d[5] for d in deals], pa.date32()),
        }
    )
    return {"leads": leads, "stage_events": stage_events, "opportunities": opportunities}


@dataclass(frozen=True)
class Poison:
    """Rows written with SQL (`rows`, formatted with Q, the quarter's first day) and what the finding names."""

    name: str
    table: str
    rows: str
    named: str

    def statement(self) -> str:
        q = quarter_start()
        return f"INSERT INTO {self.table} {self.rows}".format(
            q=q.strftime("%Y-%m-%d %H:%M:%S"), qd=q.date().isoformat(), old=(q - timedelta(days=150)).isoformat(" ")
        )


_OPP = "(opportunity_id, lead_id, created_at, status, amount, close_date) VALUES "
POISONS = (
    Poison(
        "close_date_year_1",
        "opportunities",
        _OPP + "('OB-1', NULL, TIMESTAMP '{q}', 'won', 100, DATE '0001-01-01')",
        "opportunity OB-1 close_date 0001-01-01",
    ),
    Poison(
        "close_date_9999",
        "opportunities",
        _OPP + "('OB-1', NULL, TIMESTAMP '{q}', 'won', 100, DATE '9999-12-31')",
        "opportunity OB-1 close_date 9999-12-31",
    ),
    Poison(
        "amount_infinity",
        "opportunities",
        _OPP + "('OB-1', NULL, TIMESTAMP '{q}', 'won', CAST('Infinity' AS DOUBLE PRECISION), DATE '{qd}')",
        "opportunity OB-1 amount ",
    ),
    Poison(
        "amount_minus_infinity",
        "opportunities",
        _OPP + "('OB-1', NULL, TIMESTAMP '{q}', 'open', CAST('-Infinity' AS DOUBLE PRECISION), DATE '{qd}')",
        "opportunity OB-1 amount -",
    ),
    Poison(
        "amount_nan",
        "opportunities",
        _OPP + "('OB-1', NULL, TIMESTAMP '{q}', 'won', CAST('NaN' AS DOUBLE PRECISION), DATE '{qd}')",
        "opportunity OB-1 amount ",
    ),
    Poison(
        "status_null",
        "opportunities",
        _OPP + "('OB-1', NULL, TIMESTAMP '{q}', NULL, 100, DATE '{qd}')",
        "opportunity OB-1 status empty",
    ),
    Poison(
        "score_infinity",
        "leads",
        "(lead_id, created_at, channel, score) VALUES ('LB-1', TIMESTAMP '{old}', 'ads', "
        "CAST('Infinity' AS DOUBLE PRECISION))",
        "lead LB-1 score ",
    ),
    Poison(
        "lead_created_year_1",
        "leads",
        "(lead_id, created_at, channel, score) VALUES ('LB-1', TIMESTAMP '0001-01-01 00:00:00', 'ads', 1)",
        "lead LB-1 created_at 0001-01-01",
    ),
)
BY_NAME = {p.name: p for p in POISONS}


@contextlib.contextmanager
def poisoned(ws: Workspace, poison: Poison) -> Iterator[None]:
    """The company with `poison`'s rows in the warehouse, taken out again on exit."""
    key = "opportunity_id = 'OB-1'" if poison.table == "opportunities" else "lead_id = 'LB-1'"
    with ws.warehouse.transaction() as cursor:
        cursor.execute(poison.statement())
    try:
        yield
    finally:
        with ws.warehouse.transaction() as cursor:
            cursor.execute(f"DELETE FROM {poison.table} WHERE {key}")


@pytest.fixture(scope="module")
def company(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp("poison"), company_tables()) as ws:
        yield ws


def figures(ws: Workspace) -> dict[str, object]:
    """The quarter's hand-worked figures, as the engine computes them."""
    now = datetime.now(UTC).replace(tzinfo=None)
    q = quarter_start()
    funnel = {r["stage"]: r["reached"] for r in ws.funnel(start=q, end=now, as_of=now).rows()}
    revenue = ws.revenue(start=q, end=now, as_of=now).rows()[0]
    pipeline = sum(r["amount"] or 0 for r in ws.pipeline(as_of=now).rows())
    return {
        "reached": funnel,
        "won_revenue": revenue["won_revenue"],
        "won_deals": revenue["won_deals"],
        "win_rate": revenue["win_rate"],
        "open_pipeline": pipeline,
    }


CLEAN = {
    "reached": {"lead": 4, "mql": 2, "sql": 0, "opportunity": 0, "won": 0},
    "won_revenue": 6000.0,
    "won_deals": 3,
    "win_rate": 0.75,
    "open_pipeline": 1200.0,
}


def test_the_clean_company_has_its_hand_worked_figures_and_nothing_left_out(company: Workspace) -> None:
    assert figures(company) == CLEAN
    tables = {name: company.warehouse.table(name) for name in ("leads", "stage_events", "opportunities")}
    assert left_out_messages(tables) == []


@pytest.mark.parametrize("poison", POISONS, ids=[p.name for p in POISONS])
def test_a_poisoned_row_is_left_out_of_every_figure_and_named(company: Workspace, poison: Poison) -> None:
    with poisoned(company, poison):
        assert figures(company) == CLEAN
        tables = {name: company.warehouse.table(name) for name in ("leads", "stage_events", "opportunities")}
        [message] = left_out_messages(tables)
        noun = "opportunity" if poison.table == "opportunities" else "lead"
        assert message.startswith(f"1 {noun} with an unusable value is {LEFT_OUT}: {poison.named}")
        assert message.endswith(f"{USABLE}; correct it {FIX}")


def test_the_forecast_of_a_poisoned_company_is_the_clean_one_with_a_caution(company: Workspace) -> None:
    clean = period_forecast(company, simulations=1000, seed=5).as_dict()
    with poisoned(company, BY_NAME["close_date_year_1"]):
        document = period_forecast(company, simulations=1000, seed=5).as_dict()
    [caution] = [c for c in document["cautions"] if LEFT_OUT in c]
    assert caution.startswith(f"1 opportunity with an unusable value is {LEFT_OUT}: opportunity OB-1 close_date 0001")
    document["cautions"].remove(caution)
    assert {k: v for k, v in document.items() if k != "summary"} == {k: v for k, v in clean.items() if k != "summary"}


def test_tandem_forecast_prints_the_forecast_and_what_it_left_out(company: Workspace) -> None:
    folder = Path(company.path)
    with poisoned(company, BY_NAME["amount_infinity"]):
        company.warehouse.release()  # DuckDB: the command line opens the warehouse itself
        printed = CliRunner().invoke(cli, ["forecast", "-w", str(folder), "--simulations", "1000"])
    assert printed.exit_code == 0, printed.output
    assert "Caution: 1 opportunity with an unusable value is left out of every figure: opportunity OB-1 amount" in (
        " ".join(printed.stdout.split())
    )


def test_tandem_status_names_the_rows_left_out_among_its_findings(company: Workspace) -> None:
    with poisoned(company, BY_NAME["close_date_year_1"]):
        findings = [f for f in funnel_findings(company) if f["kind"] == "unusable_values"]
    assert findings == [
        {
            "kind": "unusable_values",
            "text": f"1 opportunity with an unusable value is {LEFT_OUT}: opportunity OB-1 close_date 0001-01-01 "
            f"{USABLE}; correct it {FIX}",
        }
    ]
    assert [f for f in funnel_findings(company) if f["kind"] == "unusable_values"] == []
