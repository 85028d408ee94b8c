"""The funnel engine must match the independent pandas reference (tests/engine/reference.py) number for number.

On the demo company (5,000 leads, seed 11, history up to 2026-11-23, observed at 2026-11-23 00:00): counts equal
exactly, rates and days to a relative 1e-9, rows matched on their keys (group columns, period, stage), nulls in
group columns equal to each other, NaN equal to NaN. The reference reads the generated Parquet files; the engine
reads its warehouse after the ordinary import.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tandem
from tandem.demo import generate_company
from tests.backends import Backend
from tests.engine import reference as ref
from tests.engine.conftest import log_imports_at

pytest.importorskip("tandem.engine")

LEADS = 5_000
SEED = 11
TODAY = date(2026, 11, 23)
AS_OF = datetime(2026, 11, 23)


@dataclass
class Demo:
    ws: tandem.Workspace
    stages: list[str]
    leads: pd.DataFrame
    events: pd.DataFrame
    opportunities: pd.DataFrame


@pytest.fixture(scope="module")
def demo(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo company on each backend: imported into DuckDB or PostgreSQL, read from its Parquet by Spark."""
    folder: Path = tmp_path_factory.mktemp(f"engine-vs-reference-{backend.name}")
    files = generate_company(folder / "data", leads=LEADS, seed=SEED, today=TODAY)
    with backend.workspace(folder / "ws", folder / "data") as ws:
        if backend.imports:  # as if imported when the demo's history ends (Spark has no imports log)
            log_imports_at(ws, AS_OF)
        yield Demo(
            ws=ws,
            stages=list(ws.stages),
            leads=pd.read_parquet(files["leads"]),
            events=pd.read_parquet(files["stage_events"]),
            opportunities=pd.read_parquet(files["opportunities"]),
        )


# --- comparing two tables -----------------------------------------------------------------------------------------


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _key(value: Any) -> Any:
    """A key value both sides spell the same way: None for null, naive UTC timestamps, plain Python scalars."""
    if _is_null(value):
        return None
    if isinstance(value, pd.Timestamp | datetime | np.datetime64 | date):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return ts.as_unit("ns")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _count(value: Any) -> int | None:
    if _is_null(value):
        return None
    assert float(value) == int(value), f"a count must be whole, got {value!r}"
    return int(value)


def _number(value: Any) -> float | None:
    return None if _is_null(value) else float(value)


def assert_same_table(
    engine: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    keys: Sequence[str],
    counts: Sequence[str],
    floats: Sequence[str],
) -> None:
    """Same columns, same set of keys, and per key: counts equal, numbers to rel 1e-9 (null equals null)."""
    assert list(engine.columns) == list(reference.columns)
    assert set(keys) | set(counts) | set(floats) == set(reference.columns)

    def rows(frame: pd.DataFrame, side: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for record in frame.to_dict("records"):
            key = tuple(_key(record[k]) for k in keys)
            assert key not in out, f"{side}: two rows for {key}"
            out[key] = record
        return out

    mine, theirs = rows(engine, "engine"), rows(reference, "reference")
    missing = sorted(set(theirs) - set(mine), key=repr)
    extra = sorted(set(mine) - set(theirs), key=repr)
    assert not missing, f"{len(missing)} rows only in the reference, the first ones: {missing[:10]}"
    assert not extra, f"{len(extra)} rows only in the engine, the first ones: {extra[:10]}"
    problems: list[str] = []
    for key in sorted(theirs, key=repr):
        got, want = mine[key], theirs[key]
        for column in counts:
            if _count(got[column]) != _count(want[column]):
                problems.append(f"{key} {column}: engine {got[column]!r}, reference {want[column]!r}")
        for column in floats:
            a, b = _number(got[column]), _number(want[column])
            if (a is None) != (b is None) or (a is not None and a != pytest.approx(b, rel=1e-9)):
                problems.append(f"{key} {column}: engine {got[column]!r}, reference {want[column]!r}")
    assert not problems, f"{len(problems)} differences, the first ones:\n" + "\n".join(problems[:25])


# --- funnel -------------------------------------------------------------------------------------------------------

FUNNEL_CASES: dict[str, dict[str, Any]] = {
    "no breakdown": {"by": [], "period": None},
    "by channel (with nulls), month": {"by": ["channel"], "period": "month"},
    "by channel and segment, month": {"by": ["channel", "segment"], "period": "month"},
    "by week": {"by": [], "period": "week"},
    "by segment, quarter": {"by": ["segment"], "period": "quarter"},
    "by day": {"by": [], "period": "day"},
    "strict, by channel, month": {"by": ["channel"], "period": "month", "strict": True},
    "strict, no breakdown": {"by": [], "period": None, "strict": True},
    "window 30, by channel, month": {"by": ["channel"], "period": "month", "window_days": 30},
    "window 30, strict, week": {"by": [], "period": "week", "strict": True, "window_days": 30},
    "start/end, by channel": {
        "by": ["channel"],
        "period": None,
        "start": datetime(2025, 6, 1),
        "end": datetime(2026, 1, 1),
    },
    # observed earlier: events after as_of ignored, more leads censored
    "as_of 2026-06-01, by channel, month": {"by": ["channel"], "period": "month", "as_of": datetime(2026, 6, 1)},
    "as_of 2026-06-01 12:00, strict, window 30": {
        "by": ["segment"],
        "period": None,
        "strict": True,
        "window_days": 30,
        "as_of": datetime(2026, 6, 1, 12),
    },
    "start/end, month, window 14": {
        "by": [],
        "period": "month",
        "start": datetime(2025, 3, 15),
        "end": datetime(2026, 9, 1),
        "window_days": 14,
    },
}


@pytest.mark.parametrize("case", list(FUNNEL_CASES))
def test_funnel_matches_the_reference(demo: Demo, case: str) -> None:
    args: dict[str, Any] = {"start": None, "end": None, "strict": False, "window_days": None, "as_of": AS_OF}
    args |= FUNNEL_CASES[case]
    engine = demo.ws.funnel(**args).to_pandas()
    reference = ref.funnel(demo.leads, demo.events, demo.stages, **args)
    assert len(reference) > 0
    keys = [*args["by"], *(["period"] if args["period"] else []), "stage"]
    counts = [*ref.FUNNEL_COUNTS, *ref.FROM_PREVIOUS_COUNTS]
    assert_same_table(engine, reference, keys=keys, counts=counts, floats=ref.FUNNEL_FLOATS)


# --- revenue ------------------------------------------------------------------------------------------------------


REVENUE_CASES: dict[str, dict[str, Any]] = {
    "quarter": {"by": [], "period": "quarter"},
    "by lead channel, quarter": {"by": ["channel"], "period": "quarter"},
    "by product, quarter": {"by": ["product"], "period": "quarter"},
    "by lead segment, quarter": {"by": ["segment"], "period": "quarter"},
    # observed earlier: deals created later ignored, deals closed later still open then, and every deal open then
    # unvalued, its row written by an import after that day (docs/funnel-semantics.md, "As of a past day")
    "as_of 2026-06-01, by channel, quarter": {"by": ["channel"], "period": "quarter", "as_of": datetime(2026, 6, 1)},
}


@pytest.mark.parametrize("case", list(REVENUE_CASES))
def test_revenue_matches_the_reference(demo: Demo, case: str) -> None:
    args: dict[str, Any] = {"as_of": AS_OF} | REVENUE_CASES[case]
    by = args["by"]
    engine = demo.ws.revenue(**args).to_pandas()
    imported_at = AS_OF if demo.ws.warehouse.backend_name != "pyspark" else None
    reference = ref.revenue(demo.opportunities, demo.leads, start=None, end=None, imported_at=imported_at, **args)
    assert len(reference) > 0
    assert_same_table(engine, reference, keys=[*by, "period"], counts=ref.REVENUE_COUNTS, floats=ref.REVENUE_FLOATS)


# --- data quality -------------------------------------------------------------------------------------------------


def test_quality_counts_match_the_reference(demo: Demo) -> None:
    report = demo.ws.quality()
    reference = ref.quality(demo.leads, demo.events, demo.stages)
    # the demo carries every flaw (about 1.2 % of the leads that can have it), except unknown leads and stages,
    # which the import rejects
    assert all(reference[check] > 0 for check in ("out_of_order", "re_entries", "negative_durations", "skipped_stages"))
    assert sorted(report.counts) == sorted(ref.QUALITY_CHECKS)
    differences = {k: (report.counts[k], reference[k]) for k in ref.QUALITY_CHECKS if report.counts[k] != reference[k]}
    assert not differences, f"(engine, reference) per differing count: {differences}"


def test_strict_vs_cumulative_matches_the_reference(demo: Demo) -> None:
    """The quality report's per-stage reach in both modes, and how many leads strict mode drops."""
    reference = ref.quality(demo.leads, demo.events, demo.stages)
    reached = {
        mode: ref.entries(demo.leads, demo.events, demo.stages, strict=strict, as_of=pd.Timestamp(AS_OF))
        for mode, strict in (("cumulative", False), ("strict", True))
    }
    expected = [
        {
            "stage": stage,
            "cumulative": int(reached["cumulative"][f"e_{stage}"].notna().sum()),
            "strict": int(reached["strict"][f"e_{stage}"].notna().sum()),
            "dropped_by_strict": reference["strict_dropped"][stage],
        }
        for stage in demo.stages
    ]
    assert [row["dropped_by_strict"] for row in expected] == [r["cumulative"] - r["strict"] for r in expected]
    assert demo.ws.quality().strict_vs_cumulative == expected
