"""tandem's rule-based attribution must give the credit of the independent pandas reference (reference.py), on the
demo company, on every backend.

The company: the demo (3,000 leads, seed 11, history up to 2026-11-23), observed at 2026-11-23 00:00 with its imports
logged then, so every deal and touch is known. The demo's touches all name their lead and its account, and none is
on direct traffic; so that every rule is exercised, `add_touches` writes a few more, per opportunity (in id order,
the k-th, counting from 0):

- k % 2 == 0: a direct visit (channel ``direct``, no campaign) on its lead an hour before the opportunity's creation,
  the last touch before it: last non-direct looks past it;
- k % 4 == 0: a second direct visit half an hour later: a repeat of the first, collapsed unless repeats are kept;
- k % 3 == 0: an event on its account that names no lead, two days before the opportunity's creation: in the
  opportunity's and the account's journeys, never the lead's;
- k % 5 == 0: two touches at the very moment the lead was created (``content``, then ``referral`` by touch id):
  both at or before the creation, so the second is the lead's touch;
- k % 3 == 1, for a closed deal: an email at 18:00 on the close day (in the revenue journey, not the pipeline one)
  and paid search at 09:00 the day after (in neither), when before the as-of moment;
- k % 7 == 0: paid social 400 days before the lead's creation: outside a 365-day lookback, inside a 500-day one.

Credit is compared per item (and per month): conversions to 1e-9, values to a relative 1e-6, and the same items on
both sides (an item whose touches all take a share of 0 is a row of 0 on both). Spark runs one case per model, by
campaign and by month (about four seconds a query there); DuckDB and PostgreSQL run every (model, outcome, level) too.
The reference itself is first checked against test_rules.py's hand-worked deals, so a disagreement here is tandem's
or the document's, not a misreading in the reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tandem import Workspace
from tandem.attribution.credit import credit_table
from tandem.attribution.journeys import JourneySpec
from tandem.attribution.model import LEVELS, RULE_MODELS, AttributionModel, PositionWeights
from tandem.demo import generate_company
from tests.engine.conftest import log_imports_at

from ..backends import Backend
from . import reference as ref
from .test_rules import AS_OF as RULES_AS_OF
from .test_rules import EXPECTED as RULES_EXPECTED
from .test_rules import tables as rules_tables

LEADS = 3_000
SEED = 11
TODAY = date(2026, 11, 23)
AS_OF = datetime(2026, 11, 23)
#: The custom model compared: a first touch that weighs most, the opportunity's touch, and the touches between.
CUSTOM_WEIGHTS = {"first": 50.0, "opportunity": 30.0, "between": 20.0}
OUTCOMES = ("revenue", "pipeline")


# --- the company ----------------------------------------------------------------------------------------------------


def add_touches(data: Path) -> pd.DataFrame:
    """Append the module's extra touches (see the docstring) to ``data/touches.parquet``; return them."""
    touches_file = data / "touches.parquet"
    demo_touches = pq.read_table(touches_file)
    leads = pd.read_parquet(data / "leads.parquet").set_index("lead_id")
    deals = pd.read_parquet(data / "opportunities.parquet").sort_values("opportunity_id", ignore_index=True)
    extra: list[dict[str, Any]] = []

    def touch(
        k: int, n: int, when: datetime, channel: str, lead: str | None, account: str, campaign: str | None
    ) -> None:
        """The n-th extra touch of the k-th opportunity, if it is before the as-of moment."""
        if when < AS_OF:
            extra.append(
                {
                    "touch_id": f"T-9{k:05d}{n}",  # after every demo touch id ("T-" and six digits), in every collation
                    "occurred_at": when,
                    "channel": channel,
                    "lead_id": lead,
                    "account_id": account,
                    "campaign_id": campaign,
                    "kind": f"extra_{channel}",
                }
            )

    for k, deal in enumerate(deals.itertuples(index=False)):
        created = deal.created_at.to_pydatetime()
        lead_created = leads.at[deal.lead_id, "created_at"].to_pydatetime()
        if k % 2 == 0:
            touch(k, 1, created - timedelta(hours=1), "direct", deal.lead_id, deal.account_id, None)
        if k % 4 == 0:
            touch(k, 2, created - timedelta(minutes=30), "direct", deal.lead_id, deal.account_id, None)
        if k % 3 == 0:
            touch(k, 3, created - timedelta(days=2), "events", None, deal.account_id, "CMP-ACCOUNT-DAY")
        if k % 5 == 0:
            touch(k, 4, lead_created, "content", deal.lead_id, deal.account_id, "CMP-AT-CREATION-1")
            touch(k, 5, lead_created, "referral", deal.lead_id, deal.account_id, "CMP-AT-CREATION-2")
        if k % 3 == 1 and deal.status in ("won", "lost"):
            close = datetime.combine(deal.close_date, datetime.min.time())
            touch(k, 6, close + timedelta(hours=18), "email", deal.lead_id, deal.account_id, "CMP-CLOSE-DAY")
            touch(k, 7, close + timedelta(days=1, hours=9), "paid_search", deal.lead_id, deal.account_id, "CMP-AFTER")
        if k % 7 == 0:
            touch(k, 8, lead_created - timedelta(days=400), "paid_social", deal.lead_id, deal.account_id, "CMP-OLD")
    added = pa.Table.from_pylist(extra, schema=demo_touches.schema)
    pq.write_table(pa.concat_tables([demo_touches, added]), touches_file)
    return added.to_pandas()


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's canonical Parquet files with the extra touches: written once, read by every backend."""
    data = tmp_path_factory.mktemp("attribution-demo") / "data"
    generate_company(data, leads=LEADS, seed=SEED, today=TODAY)
    add_touches(data)
    return data


@pytest.fixture(scope="module")
def company(demo_data: Path) -> ref.Company:
    return ref.read_company(demo_data)


@pytest.fixture(scope="module")
def warehouse(backend: Backend, demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The demo on each backend: imported into DuckDB or PostgreSQL (logged as imported at the as-of moment), read
    in place by Spark."""
    folder = tmp_path_factory.mktemp(f"attribution-{backend.name}")
    with backend.workspace(folder / "ws", demo_data) as ws:
        if backend.imports:
            log_imports_at(ws, AS_OF)
        yield ws


# --- the cases ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One credit to compare: a model, the outcome it credits, whose touches, repeats and lookback."""

    model: str
    outcome: str = "revenue"
    level: str = "opportunity"
    collapse_repeats: bool = True
    lookback_days: int = 365

    def __str__(self) -> str:
        repeats = "collapsed" if self.collapse_repeats else "kept"
        return f"{self.model}-{self.outcome}-{self.level}-{repeats}-{self.lookback_days}d"

    def spec(self) -> JourneySpec:
        return JourneySpec(
            outcome=self.outcome,
            level=self.level,
            lookback_days=self.lookback_days,
            collapse_repeats=self.collapse_repeats,
        )

    def tandem_model(self) -> AttributionModel:
        weights = PositionWeights(**CUSTOM_WEIGHTS) if self.model == "custom" else None
        return AttributionModel(model=self.model, weights=weights, half_life_days=7.0)

    def rule(self) -> ref.Rule:
        return ref.Rule(self.model, weights=CUSTOM_WEIGHTS if self.model == "custom" else None, half_life_days=7.0)


#: Every model once, on every backend; together every outcome, level and repeats rule, and a lookback of 0 days (only
#: touches from the lead's creation on: some deals have none, and go to "(no touch)").
EACH_MODEL = (
    Case("first_touch", "revenue", "opportunity"),
    Case("last_touch", "pipeline", "lead"),
    Case("last_non_direct", "revenue", "opportunity", collapse_repeats=False),
    Case("linear", "pipeline", "account"),
    Case("u_shaped", "revenue", "lead", collapse_repeats=False),
    Case("w_shaped", "revenue", "opportunity"),
    Case("full_path", "pipeline", "opportunity", collapse_repeats=False),
    Case("time_decay", "revenue", "account"),
    Case("custom", "pipeline", "opportunity", lookback_days=0),
)
#: The rest of the matrix, on DuckDB and PostgreSQL: every (model, outcome, level) with repeats collapsed, every
#: model on the longest journeys (revenue, account) with repeats kept, and the lookback cut in and widened.
EVERY_OTHER = tuple(
    case
    for case in (
        *(Case(model, outcome, level) for model in RULE_MODELS for outcome in OUTCOMES for level in LEVELS),
        *(Case(model, "revenue", "account", collapse_repeats=False) for model in RULE_MODELS),
        *(Case("u_shaped", "revenue", "opportunity", lookback_days=days) for days in (0, 30, 500)),
        Case("full_path", "pipeline", "lead", lookback_days=500),
    )
    if case not in EACH_MODEL
)


# --- comparing ------------------------------------------------------------------------------------------------------


def _key(row: Any, keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(pd.Timestamp(getattr(row, k)).date().isoformat() if k == "period" else getattr(row, k) for k in keys)


def columns(frame: pd.DataFrame, keys: tuple[str, ...]) -> tuple[dict[tuple[str, ...], float], ...]:
    """The table's conversions and values, each by its key (item, or item and period)."""
    rows = list(frame.itertuples(index=False))
    return (
        {_key(row, keys): float(row.conversions) for row in rows},
        {_key(row, keys): float(row.value) for row in rows},
    )


def assert_same_credit(found: pd.DataFrame, expected: pd.DataFrame, keys: tuple[str, ...] = ("item",)) -> None:
    found_conversions, found_values = columns(found, keys)
    expected_conversions, expected_values = columns(expected, keys)
    assert found_conversions == pytest.approx(expected_conversions, rel=0, abs=1e-9)
    assert found_values == pytest.approx(expected_values, rel=1e-6, abs=1e-6)


def tandem_credit(ws: Workspace, case: Case, **kwargs: Any) -> pd.DataFrame:
    return credit_table(ws.warehouse, case.spec(), case.tandem_model(), AS_OF, **kwargs).to_pandas()


def reference_credit(company: ref.Company, case: Case, **kwargs: Any) -> pd.DataFrame:
    return ref.credit(
        company,
        case.rule(),
        as_of=AS_OF,
        outcome=case.outcome,
        level=case.level,
        lookback_days=case.lookback_days,
        collapse_repeats=case.collapse_repeats,
        **kwargs,
    )


Expected = Callable[..., pd.DataFrame]


@pytest.fixture(scope="module")
def expected(company: ref.Company) -> Expected:
    """The reference's credit for a case (by channel or campaign, maybe by month), computed once for every backend."""

    @functools.cache
    def compute(case: Case, by: str = "channel", period: str | None = None) -> pd.DataFrame:
        return reference_credit(company, case, by=by, period=period)

    return compute


# --- tandem against the reference -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", EACH_MODEL, ids=str)
def test_each_model_credits_each_channel_as_the_reference_does(
    warehouse: Workspace, expected: Expected, case: Case
) -> None:
    assert_same_credit(tandem_credit(warehouse, case), expected(case))


@pytest.mark.notrun(["pyspark"], reason="time: about four seconds a query on Spark; it runs one case per model")
@pytest.mark.parametrize("case", EVERY_OTHER, ids=str)
def test_every_model_outcome_and_level_credits_as_the_reference_does(
    warehouse: Workspace, expected: Expected, case: Case
) -> None:
    assert_same_credit(tandem_credit(warehouse, case), expected(case))


def test_credit_by_campaign_puts_a_touch_without_one_on_unknown(warehouse: Workspace, expected: Expected) -> None:
    case = Case("last_non_direct", "pipeline", "opportunity", collapse_repeats=False)
    assert_same_credit(tandem_credit(warehouse, case, by="campaign"), expected(case, by="campaign"))


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_credit_by_month_is_placed_where_the_outcome_is(warehouse: Workspace, expected: Expected, outcome: str) -> None:
    case = Case("w_shaped", outcome, "opportunity")
    found = tandem_credit(warehouse, case, period="month")
    assert_same_credit(found, expected(case, period="month"), keys=("item", "period"))


# --- the reference itself -------------------------------------------------------------------------------------------


def rules_company() -> ref.Company:
    """test_rules.py's hand-worked company, for the reference."""
    tables = rules_tables()
    return ref.Company(
        leads=tables["leads"].to_pandas(),
        opportunities=tables["opportunities"].to_pandas(),
        touches=tables["touches"].to_pandas(),
    )


@pytest.mark.parametrize("model", list(RULES_EXPECTED))
def test_the_reference_splits_test_rules_hand_worked_deals_as_worked_by_hand(model: str) -> None:
    found = ref.credit(rules_company(), ref.Rule(model), as_of=RULES_AS_OF)
    by_channel = {row.item: round(row.value, 6) for row in found.itertuples() if round(row.value, 6)}
    by_hand = cast(dict[str, float], RULES_EXPECTED[model])
    assert by_channel == pytest.approx({channel: float(value) for channel, value in by_hand.items()}, abs=1e-6)


def test_the_reference_weighs_time_decay_and_custom_weights_as_worked_by_hand() -> None:
    company = rules_company()
    index = ref.touch_index(company, RULES_AS_OF)
    o1 = next(one for one in ref.outcomes(company, "revenue", RULES_AS_OF) if one.conversion_id == "O1")
    touches = ref.journey(index, o1, level="opportunity", lookback_days=365, collapse_repeats=True)
    assert [t.touch_id for t in touches] == ["T1", "T2", "T3", "T4", "T5"]
    # O1 ends 05-16 00:00; T5 (04-02 08:00) is 13 days younger than T4: 1 / (1 + 2^(-13/7) + ...), test_rules.py.
    decay = ref.shares(touches, o1, ref.Rule("time_decay", half_life_days=7))
    assert decay[-1] == pytest.approx(0.673478, abs=1e-6)
    # 60 % first, 40 % the opportunity's touch (T4, the last before 04-01): T1 0.6, T4 0.4.
    custom = ref.shares(touches, o1, ref.Rule("custom", weights={"first": 60, "opportunity": 40}))
    assert custom == pytest.approx([0.6, 0.0, 0.0, 0.4, 0.0], abs=1e-12)
    # Weighing only the lead's touch, for a lead created before any of these touches (so there is none), is
    # linear: a credit is never lost.
    lacking = ref.Outcome(
        conversion_id="X",
        lead_id=None,
        account_id=None,
        value=100.0,
        placed_at=datetime(2026, 6, 1),
        ends_at=datetime(2026, 6, 2),
        ends_inclusive=False,
        lead_created=datetime(2026, 1, 1),
        opportunity_created=datetime(2026, 5, 1),
        start=datetime(2026, 1, 1),
    )
    assert ref.shares(touches, lacking, ref.Rule("custom", weights={"lead": 100})) == pytest.approx([0.2] * 5)


def test_the_extra_touches_reach_the_journeys_they_were_written_for(company: ref.Company) -> None:
    """The comparison is not vacuous: each extra touch moves some credit where the docstring says."""
    last = Case("last_touch", "pipeline", "lead")
    # 144 opportunities: the 72 with an even k end their pipeline journey on the direct visit an hour before.
    assert reference_credit(company, last).set_index("item").at["direct", "conversions"] == 72.0
    past_direct = Case("last_non_direct", "pipeline", "lead")
    assert reference_credit(company, past_direct).set_index("item").at["direct", "conversions"] == 0.0
    # From the lead's creation on only, 12 deals (291,100 of pipeline) have no touch before they were created.
    untouched = reference_credit(company, Case("first_touch", "pipeline", "lead", lookback_days=0))
    assert untouched.set_index("item").loc["(no touch)"].to_dict() == {"conversions": 12.0, "value": 291_100.0}
    by_campaign = {
        (case.outcome, case.level, case.lookback_days): reference_credit(company, case, by="campaign").set_index("item")
        for case in (
            Case("linear", "pipeline", "lead"),
            Case("linear", "pipeline", "opportunity"),
            Case("linear", "revenue", "lead"),
            Case("linear", "revenue", "lead", lookback_days=500),
        )
    }
    assert "CMP-ACCOUNT-DAY" not in by_campaign["pipeline", "lead", 365].index
    assert "CMP-ACCOUNT-DAY" in by_campaign["pipeline", "opportunity", 365].index
    assert "CMP-CLOSE-DAY" not in by_campaign["pipeline", "lead", 365].index
    assert "CMP-CLOSE-DAY" in by_campaign["revenue", "lead", 365].index
    assert "CMP-AFTER" not in by_campaign["revenue", "lead", 365].index
    assert "CMP-OLD" not in by_campaign["revenue", "lead", 365].index
    assert "CMP-OLD" in by_campaign["revenue", "lead", 500].index
