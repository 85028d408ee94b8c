"""The reference implementation itself, on small journeys worked out by hand (the arithmetic is in the comments).

The journeys (default stages lead, mql, sql, opportunity, won; as_of = 2025-03-01 00:00):

    lead  created           channel  segment  events
    A     01-01 10:00       email    smb      lead 01-01 10:00, mql 01-05, sql 01-07 12:00, opportunity 01-20,
                                              won 02-10, churned 02-20 (not a funnel stage)      clean
    B     01-02             email    smb      mql 01-05, opportunity 01-09                     skipped sql
    C     01-01             (null)   smb      sql 01-03, mql 01-05                             out of order
    D     01-10             webinar  mid      lead 01-10, mql 01-12, mql 02-15                 re-entry
    E     02-01             webinar  mid      (none)                                           no events
    F     01-15             email    mid      lead 01-15, mql 01-15, sql 01-15                 ties
    G     01-20             (null)   mid      mql 01-18                                        before created
    H     02-20             webinar  smb      mql 03-05                                        after as_of
    Z     (not a lead)                        mql 01-10                                        unknown lead

Entry times (all 2025, 00:00 unless said):

    cumulative: A 01-01 10:00 / 01-05 / 01-07 12:00 / 01-20 / 02-10    strict: A the same
                B 01-02 / 01-05 / 01-09 / 01-09 / -                             B 01-02 / 01-05 / - / - / -
                C 01-01 / 01-03 / 01-03 / - / -                                 C 01-01 / 01-05 / - / - / -
                D 01-10 / 01-12 / - / - / -                                     D the same
                E 02-01 / - / - / - / -                                         E the same
                F 01-15 / 01-15 / 01-15 / - / -                                 F the same (ties are in order)
                G 01-18 / 01-18 / - / - / -                                     G 01-20 / - / - / - / -
                H 02-20 / - (the mql event is after as_of) / ...                H the same
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.engine import reference as ref

STAGES = ["lead", "mql", "sql", "opportunity", "won"]
AS_OF = pd.Timestamp("2025-03-01")
T = pd.Timestamp
NA = None  # a null expected value


def journeys() -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = pd.DataFrame(
        [
            ("A", T("2025-01-01 10:00"), "email", "smb", "Zed"),
            ("B", T("2025-01-02"), "email", "smb", "Zed"),
            ("C", T("2025-01-01"), None, "smb", "Zed"),
            ("D", T("2025-01-10"), "webinar", "mid", "Zed"),
            ("E", T("2025-02-01"), "webinar", "mid", "Zed"),
            ("F", T("2025-01-15"), "email", "mid", "Zed"),
            ("G", T("2025-01-20"), None, "mid", "Zed"),
            ("H", T("2025-02-20"), "webinar", "smb", "Zed"),
        ],
        columns=["lead_id", "created_at", "channel", "segment", "owner"],
    )
    events = pd.DataFrame(
        [
            ("A", "lead", T("2025-01-01 10:00")),
            ("A", "mql", T("2025-01-05")),
            ("A", "sql", T("2025-01-07 12:00")),
            ("A", "opportunity", T("2025-01-20")),
            ("A", "won", T("2025-02-10")),
            ("A", "churned", T("2025-02-20")),
            ("B", "mql", T("2025-01-05")),
            ("B", "opportunity", T("2025-01-09")),
            ("C", "sql", T("2025-01-03")),
            ("C", "mql", T("2025-01-05")),
            ("D", "lead", T("2025-01-10")),
            ("D", "mql", T("2025-01-12")),
            ("D", "mql", T("2025-02-15")),
            ("F", "lead", T("2025-01-15")),
            ("F", "mql", T("2025-01-15")),
            ("F", "sql", T("2025-01-15")),
            ("G", "mql", T("2025-01-18")),
            ("H", "mql", T("2025-03-05")),
            ("Z", "mql", T("2025-01-10")),
        ],
        columns=["lead_id", "stage", "occurred_at"],
    )
    return leads, events


def same(actual: Any, expected: Any) -> bool:
    """Null equals null; numbers to 1e-9 relative (and 1e-12 absolute); anything else exactly."""
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return (
            actual is None or actual is pd.NA or actual is pd.NaT or (isinstance(actual, float) and math.isnan(actual))
        )
    if actual is None or actual is pd.NA or actual is pd.NaT:
        return False
    if isinstance(expected, float):
        return bool(actual == pytest.approx(expected, rel=1e-9, abs=1e-12))
    return bool(actual == expected)


def check(frame: pd.DataFrame, columns: list[str], expected: list[tuple[Any, ...]]) -> None:
    """`frame[columns]`, row by row, equals `expected` (same length, same order)."""
    got = [tuple(None if v is pd.NA else v for v in row) for row in frame[columns].itertuples(index=False)]
    assert len(got) == len(expected), f"{len(got)} rows, expected {len(expected)}:\n{frame[columns]}"
    for i, (row, want) in enumerate(zip(got, expected, strict=True)):
        assert all(same(a, e) for a, e in zip(row, want, strict=True)), f"row {i}: {row} != {want}"


STEP = [
    "stage",
    "reached",
    "previous_reached",
    "converted_from_previous",
    "conversion_from_previous",
    "still_open_from_previous",
    "km_conversion_from_previous",
    "period_conversion_from_previous",
]
DAYS = [
    "stage",
    "median_days_from_previous",
    "p25_days_from_previous",
    "p75_days_from_previous",
    "mean_days_from_previous",
]


# --- entries ------------------------------------------------------------------------------------------------------


def test_entries_cumulative_and_strict() -> None:
    leads, events = journeys()
    cols = [f"e_{s}" for s in STAGES]
    cum = ref.entries(leads, events, STAGES, strict=False, as_of=AS_OF)
    assert list(cum.columns) == [*leads.columns, *cols]
    assert cum["lead_id"].tolist() == list("ABCDEFGH")
    d = T
    check(
        cum,
        cols,
        [
            (d("2025-01-01 10:00"), d("2025-01-05"), d("2025-01-07 12:00"), d("2025-01-20"), d("2025-02-10")),
            # B skipped sql: it reached sql when it reached the opportunity
            (d("2025-01-02"), d("2025-01-05"), d("2025-01-09"), d("2025-01-09"), NA),
            # C's sql (01-03) came before its mql (01-05): it entered mql on 01-03
            (d("2025-01-01"), d("2025-01-03"), d("2025-01-03"), NA, NA),
            # D's re-entry into mql on 02-15 never counts
            (d("2025-01-10"), d("2025-01-12"), NA, NA, NA),
            (d("2025-02-01"), NA, NA, NA, NA),
            (d("2025-01-15"), d("2025-01-15"), d("2025-01-15"), NA, NA),
            # G's mql (01-18) is before its created_at (01-20): e(0) = min(t(0), e(1)) = 01-18
            (d("2025-01-18"), d("2025-01-18"), NA, NA, NA),
            # H's mql event (03-05) is after as_of: ignored
            (d("2025-02-20"), NA, NA, NA, NA),
        ],
    )
    strict = ref.entries(leads, events, STAGES, strict=True, as_of=AS_OF)
    check(
        strict,
        cols,
        [
            (d("2025-01-01 10:00"), d("2025-01-05"), d("2025-01-07 12:00"), d("2025-01-20"), d("2025-02-10")),
            (d("2025-01-02"), d("2025-01-05"), NA, NA, NA),  # no sql event: stops at mql
            (d("2025-01-01"), d("2025-01-05"), NA, NA, NA),  # sql 01-03 < mql 01-05: out of order, stops at mql
            (d("2025-01-10"), d("2025-01-12"), NA, NA, NA),
            (d("2025-02-01"), NA, NA, NA, NA),
            (d("2025-01-15"), d("2025-01-15"), d("2025-01-15"), NA, NA),  # ties are in order
            (d("2025-01-20"), NA, NA, NA, NA),  # mql 01-18 < e(0) = created 01-20: dropped at mql
            (d("2025-02-20"), NA, NA, NA, NA),
        ],
    )


def test_entries_after_as_of_are_null_and_as_of_may_carry_a_zone() -> None:
    leads, events = journeys()
    # as_of 2025-01-10 00:00: D's lead entry (01-10 00:00) is on as_of, so reached; E, H created later: null.
    # F (created 01-15) and G (mql 01-18) too. A's sql (01-07 12:00) counts, its opportunity (01-20) not.
    early = ref.entries(leads, events, STAGES, strict=False, as_of=datetime(2025, 1, 10, tzinfo=UTC))
    reached = {s: early.loc[early[f"e_{s}"].notna(), "lead_id"].tolist() for s in STAGES}
    assert reached == {
        "lead": ["A", "B", "C", "D"],
        "mql": ["A", "B", "C"],
        "sql": ["A", "B", "C"],
        "opportunity": ["B"],
        "won": [],
    }


def test_period_start() -> None:
    moments = pd.Series([T("2025-01-07 13:00"), T("2025-11-30 23:59:59"), T("2025-01-01 00:00")])
    assert ref.period_start(moments, "day").tolist() == [T("2025-01-07"), T("2025-11-30"), T("2025-01-01")]
    # 2025-01-07 is a Tuesday, 2025-11-30 a Sunday, 2025-01-01 a Wednesday: weeks start on Monday
    assert ref.period_start(moments, "week").tolist() == [T("2025-01-06"), T("2025-11-24"), T("2024-12-30")]
    assert ref.period_start(moments, "month").tolist() == [T("2025-01-01"), T("2025-11-01"), T("2025-01-01")]
    assert ref.period_start(moments, "quarter").tolist() == [T("2025-01-01"), T("2025-10-01"), T("2025-01-01")]


# --- funnel -------------------------------------------------------------------------------------------------------


def funnel(**kw: Any) -> pd.DataFrame:
    leads, events = journeys()
    args: dict[str, Any] = {
        "by": [],
        "period": None,
        "start": None,
        "end": None,
        "strict": False,
        "window_days": None,
        "as_of": AS_OF,
    }
    return ref.funnel(leads, events, STAGES, **(args | kw))


def test_funnel_columns_and_types() -> None:
    frame = funnel(by=["channel"], period="month")
    assert list(frame.columns) == [
        "channel",
        "period",
        "stage",
        "stage_index",
        "reached",
        "previous_reached",
        "converted_from_previous",
        "conversion_from_previous",
        "still_open_from_previous",
        "km_conversion_from_previous",
        "period_conversion_from_previous",
        "median_days_from_previous",
        "p25_days_from_previous",
        "p75_days_from_previous",
        "mean_days_from_previous",
    ]
    assert frame["reached"].dtype == "int64"
    assert frame["stage_index"].dtype == "int64"
    assert frame["previous_reached"].dtype == "Int64"
    assert frame["km_conversion_from_previous"].dtype == "float64"
    assert frame["period"].dtype == "datetime64[ns]"
    assert list(funnel().columns) == ["stage", *list(frame.columns)[3:]]


def test_funnel_cumulative_no_breakdown() -> None:
    frame = funnel()
    # reached: lead 8 (everyone); mql A B C D F G = 6; sql A B C F = 4; opportunity A B = 2; won A = 1.
    #
    # lead -> mql: cohort 8, converted 6, 0.75; still open: E (age 28 d) and H (9 d) < 90 -> 2.
    #   KM durations (floor days): A 3 (3 d 14 h), B 3, C 2, D 2, F 0, G 0 converted; E 28, H 9 censored.
    #   t=0: n 8, c 2 -> 6/8; t=2: n 6 (A B C D E H), c 2 -> 4/6; t=3: n 4 (A B E H), c 2 -> 2/4.
    #   S = 6/8 * 4/6 * 2/4 = 1/4 -> 0.75.
    # mql -> sql: cohort A B C D F G = 6; converted A (2.5 d), B (4 d), C (0), F (0) -> 4/6;
    #   still open D (mql 01-12, age 48 d), G (01-18, 42 d) -> 2.
    #   KM: t=0: n 6, c 2 -> 4/6; t=2: n 4 (A B D G), c 1 -> 3/4; t=4: n 3 (B D G), c 1 -> 2/3. S = 1/3 -> 2/3.
    # sql -> opportunity: cohort A B C F; converted A (12.5 d), B (0) -> 0.5; still open C (57 d), F (45 d) -> 2.
    #   KM: t=0: n 4, c 1 -> 3/4; t=12: n 3 (A C F), c 1 -> 2/3. S = 1/2 -> 0.5.
    # opportunity -> won: cohort A B; converted A (21 d) -> 0.5; still open B (51 d) -> 1.
    #   KM: t=21: n 2, c 1 -> S = 1/2 -> 0.5.
    # Period conversion (no period: the whole range): 6/8, 4/6, 2/4, 1/2.
    check(
        frame,
        STEP,
        [
            ("lead", 8, NA, NA, NA, NA, NA, NA),
            ("mql", 6, 8, 6, 0.75, 2, 0.75, 0.75),
            ("sql", 4, 6, 4, 4 / 6, 2, 2 / 3, 4 / 6),
            ("opportunity", 2, 4, 2, 0.5, 2, 0.5, 0.5),
            ("won", 1, 2, 1, 0.5, 1, 0.5, 0.5),
        ],
    )
    # Velocity, fractional days, continuous quantiles (position q * (n - 1) in the sorted values):
    # lead -> mql: 0, 0, 2, 2, 3, 3.58333 (A: 3 d 14 h). median pos 2.5 -> 2; p25 pos 1.25 -> 0 + 0.25 * 2 = 0.5;
    #   p75 pos 3.75 -> 2 + 0.75 * 1 = 2.75; mean 10.58333 / 6.
    # mql -> sql: 0, 0, 2.5, 4. median (0 + 2.5) / 2 = 1.25; p25 pos 0.75 -> 0; p75 pos 2.25 -> 2.5 + 0.25 * 1.5
    #   = 2.875; mean 6.5 / 4 = 1.625.
    # sql -> opportunity: 0, 12.5: median 6.25, p25 3.125, p75 9.375, mean 6.25.
    # opportunity -> won: 21.
    a_days = 3 + 14 / 24
    check(
        frame,
        DAYS,
        [
            ("lead", NA, NA, NA, NA),
            ("mql", 2.0, 0.5, 2.75, (7 + a_days) / 6),
            ("sql", 1.25, 0.0, 2.875, 1.625),
            ("opportunity", 6.25, 3.125, 9.375, 6.25),
            ("won", 21.0, 21.0, 21.0, 21.0),
        ],
    )


def test_funnel_strict_no_breakdown() -> None:
    frame = funnel(strict=True)
    # reached: lead 8; mql A B C D F = 5 (G dropped); sql A F = 2; opportunity A = 1; won A = 1.
    # lead -> mql: cohort 8, converted 5 -> 0.625; still open E (28 d), H (9 d), G (created 01-20, 40 d) -> 3.
    #   KM: converted A 3, B 3, C 4 (01-01 -> 01-05), D 2, F 0; censored E 28, H 9, G 40.
    #   t=0: n 8, c 1 -> 7/8; t=2: n 7, c 1 -> 6/7; t=3: n 6 (A B C E H G), c 2 -> 4/6; t=4: n 4 (C E H G), c 1
    #   -> 3/4. S = 7/8 * 6/7 * 4/6 * 3/4 = 3/8 -> 0.625.
    # mql -> sql: cohort A B C D F; converted A (2.5 d), F (0) -> 0.4; still open B, C (55 d), D (48 d) -> 3.
    #   KM: t=0: n 5, c 1 -> 4/5; t=2: n 4, c 1 -> 3/4. S = 3/5 -> 0.4.
    # sql -> opportunity: cohort A F; converted A -> 0.5; still open F -> 1. KM: t=12: n 2, c 1 -> 0.5.
    # opportunity -> won: cohort A; converted A -> 1.0; KM 1.0.
    check(
        frame,
        STEP,
        [
            ("lead", 8, NA, NA, NA, NA, NA, NA),
            ("mql", 5, 8, 5, 0.625, 3, 0.625, 0.625),
            ("sql", 2, 5, 2, 0.4, 3, 0.4, 0.4),
            ("opportunity", 1, 2, 1, 0.5, 1, 0.5, 0.5),
            ("won", 1, 1, 1, 1.0, 0, 1.0, 1.0),
        ],
    )
    # lead -> mql: 0, 2, 3, 3.58333, 4: median 3, p25 2, p75 3.58333, mean 12.58333 / 5.
    # mql -> sql: 0, 2.5: median 1.25, p25 0.625, p75 1.875.
    a_days = 3 + 14 / 24
    check(
        frame,
        DAYS,
        [
            ("lead", NA, NA, NA, NA),
            ("mql", 3.0, 2.0, a_days, (9 + a_days) / 5),
            ("sql", 1.25, 0.625, 1.875, 1.25),
            ("opportunity", 12.5, 12.5, 12.5, 12.5),
            ("won", 21.0, 21.0, 21.0, 21.0),
        ],
    )


def test_funnel_by_channel_and_month_with_a_null_channel() -> None:
    frame = funnel(by=["channel"], period="month")
    jan, feb = T("2025-01-01"), T("2025-02-01")
    # Groups sort by value, the null channel last; a (group, month) appears only when some lead of the group
    # entered some stage in that month: no (null, February) rows.
    #
    # email (A B F), January: lead 3, mql 3, sql 3, opportunity 2 (A 01-20, B 01-09), won 0 (A won in February).
    #   lead -> mql: 3 of 3; KM t=0: n 3, c 1 (F) -> 2/3; t=3: n 2, c 2 -> 0 -> 1.0.
    #   mql -> sql: 3 of 3 (A 2.5 d, B 4 d, F 0).
    #   sql -> opportunity: cohort A B F; A (12.5 d), B (0) -> 2/3; still open F. KM t=0: n 3, c 1 -> 2/3;
    #     t=12: n 2 (A, F), c 1 -> 1/2; S = 1/3 -> 2/3.
    #   opportunity -> won: cohort A B: A converted (in February: the cohort view follows it) -> 0.5, B open;
    #     period conversion: won entries in January 0 / opportunity entries 2 = 0.0.
    # email, February: only A's won entry. Every previous cohort is empty: 0 and nulls; period conversion null
    #   where the previous stage has no entry in February (all of them).
    # webinar (D E H), January: D lead, mql (2 d). mql -> sql: cohort D, not converted, open (48 d): 0.0, KM 0.0.
    #   sql -> opportunity: cohort empty. period conversion sql: 0 / 1 = 0.0; opportunity: 0 / 0 = null.
    # webinar, February: E, H created; mql cohort 2, none converted, both open (28 d, 9 d); KM 0.0.
    # null channel (C G), January: lead 2, mql 2 (C 2 d, G 0), sql 1 (C).
    #   mql -> sql: cohort C G; C converted (0), G open (42 d) -> 0.5; KM t=0: n 2, c 1 -> 0.5.
    #   sql -> opportunity: cohort C, open (57 d): 0.0.
    cols = ["channel", "period", *STEP]
    check(
        frame,
        cols,
        [
            ("email", jan, "lead", 3, NA, NA, NA, NA, NA, NA),
            ("email", jan, "mql", 3, 3, 3, 1.0, 0, 1.0, 1.0),
            ("email", jan, "sql", 3, 3, 3, 1.0, 0, 1.0, 1.0),
            ("email", jan, "opportunity", 2, 3, 2, 2 / 3, 1, 2 / 3, 2 / 3),
            ("email", jan, "won", 0, 2, 1, 0.5, 1, 0.5, 0.0),
            ("email", feb, "lead", 0, NA, NA, NA, NA, NA, NA),
            ("email", feb, "mql", 0, 0, 0, NA, 0, NA, NA),
            ("email", feb, "sql", 0, 0, 0, NA, 0, NA, NA),
            ("email", feb, "opportunity", 0, 0, 0, NA, 0, NA, NA),
            ("email", feb, "won", 1, 0, 0, NA, 0, NA, NA),
            ("webinar", jan, "lead", 1, NA, NA, NA, NA, NA, NA),
            ("webinar", jan, "mql", 1, 1, 1, 1.0, 0, 1.0, 1.0),
            ("webinar", jan, "sql", 0, 1, 0, 0.0, 1, 0.0, 0.0),
            ("webinar", jan, "opportunity", 0, 0, 0, NA, 0, NA, NA),
            ("webinar", jan, "won", 0, 0, 0, NA, 0, NA, NA),
            ("webinar", feb, "lead", 2, NA, NA, NA, NA, NA, NA),
            ("webinar", feb, "mql", 0, 2, 0, 0.0, 2, 0.0, 0.0),
            ("webinar", feb, "sql", 0, 0, 0, NA, 0, NA, NA),
            ("webinar", feb, "opportunity", 0, 0, 0, NA, 0, NA, NA),
            ("webinar", feb, "won", 0, 0, 0, NA, 0, NA, NA),
            (NA, jan, "lead", 2, NA, NA, NA, NA, NA, NA),
            (NA, jan, "mql", 2, 2, 2, 1.0, 0, 1.0, 1.0),
            (NA, jan, "sql", 1, 2, 1, 0.5, 1, 0.5, 0.5),
            (NA, jan, "opportunity", 0, 1, 0, 0.0, 1, 0.0, 0.0),
            (NA, jan, "won", 0, 0, 0, NA, 0, NA, NA),
        ],
    )
    # email January velocity: lead -> mql 0, 3, 3.58333: median 3, p25 pos 0.5 -> 1.5, p75 pos 1.5 -> 3.29167.
    # mql -> sql 0, 2.5, 4: median 2.5, p25 1.25, p75 3.25, mean 6.5 / 3.
    a_days = 3 + 14 / 24
    check(
        frame.iloc[:3],
        DAYS,
        [
            ("lead", NA, NA, NA, NA),
            ("mql", 3.0, 1.5, (3 + a_days) / 2, (3 + a_days) / 3),
            ("sql", 2.5, 1.25, 3.25, 6.5 / 3),
        ],
    )


def test_funnel_by_two_columns() -> None:
    frame = funnel(by=["channel", "segment"])
    # (email, mid) F; (email, smb) A B; (webinar, mid) D E; (webinar, smb) H; (null, mid) G; (null, smb) C.
    # Groups sort by the first column, then the second; the null channel last. reached per stage, in order:
    #   F: lead, mql, sql (01-15)             A B: 2, 2, 2 (B's skipped sql), 2, 1 (A)
    #   D E: lead 2, mql 1 (D)                H: lead only (its mql is after as_of)
    #   G: lead, mql                          C: lead, mql, sql
    reached = [
        (channel, segment, lot["reached"].tolist())
        for (channel, segment), lot in frame.groupby(["channel", "segment"], dropna=False, sort=False)
    ]
    assert [(None if pd.isna(c) else c, s, r) for c, s, r in reached] == [
        ("email", "mid", [1, 1, 1, 0, 0]),
        ("email", "smb", [2, 2, 2, 2, 1]),
        ("webinar", "mid", [2, 1, 0, 0, 0]),
        ("webinar", "smb", [1, 0, 0, 0, 0]),
        (None, "mid", [1, 1, 0, 0, 0]),
        (None, "smb", [1, 1, 1, 0, 0]),
    ]


def test_funnel_by_week_across_the_year_end() -> None:
    frame = funnel(period="week")
    # Weeks (Monday start) of the entries: 2024-12-30 (A B C lead, A B C mql, C sql), 2025-01-06 (D lead, D mql,
    # A B sql, B opportunity), 01-13 (F G lead, F G mql, F sql), 01-20 (A opportunity), 01-27 (E lead),
    # 02-10 (A won), 02-17 (H lead). Weeks with no entry (02-03, 02-24) do not appear.
    table = frame.pivot(index="period", columns="stage_index", values="reached")
    assert table.index.tolist() == [
        T("2024-12-30"),
        T("2025-01-06"),
        T("2025-01-13"),
        T("2025-01-20"),
        T("2025-01-27"),
        T("2025-02-10"),
        T("2025-02-17"),
    ]
    assert table.to_numpy().tolist() == [
        [3, 3, 1, 0, 0],
        [1, 1, 2, 1, 0],
        [2, 2, 1, 0, 0],
        [0, 0, 0, 1, 0],
        [1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [1, 0, 0, 0, 0],
    ]
    # Week 2024-12-30, mql -> sql: cohort A B C all converted (sql 01-07, 01-09, 01-03) -> 1.0, but only C's sql
    # falls in that week: period conversion 1 / 3.
    row = frame[(frame["period"] == T("2024-12-30")) & (frame["stage"] == "sql")].iloc[0]
    assert (row["previous_reached"], row["converted_from_previous"]) == (3, 3)
    assert row["conversion_from_previous"] == 1.0
    assert row["period_conversion_from_previous"] == pytest.approx(1 / 3)


def test_funnel_start_end_select_the_cohort_not_the_outcome() -> None:
    frame = funnel(start=T("2025-01-01"), end=T("2025-01-08"))
    # Entries in [01-01, 01-08): lead A B C; mql A B C; sql A (01-07 12:00) C (01-03); B's sql (01-09) is out.
    # mql -> sql: the cohort A B C all converted (B on 01-09, after the range: the cohort view follows it)
    #   -> 3/3 = 1.0, while the period view is 2 / 3.
    # sql -> opportunity: cohort A C; A converted on 01-20 (out of range, still counted) -> 0.5, C open (57 d);
    #   KM t=12: n 2, c 1 -> 0.5; period view 0 / 2 = 0.0.
    # opportunity -> won: no cohort: 0 and nulls; period view null (no opportunity entry in range).
    check(
        frame,
        STEP,
        [
            ("lead", 3, NA, NA, NA, NA, NA, NA),
            ("mql", 3, 3, 3, 1.0, 0, 1.0, 1.0),
            ("sql", 2, 3, 3, 1.0, 0, 1.0, 2 / 3),
            ("opportunity", 0, 2, 1, 0.5, 1, 0.5, 0.0),
            ("won", 0, 0, 0, NA, 0, NA, NA),
        ],
    )


def test_funnel_with_nothing_in_range_is_empty() -> None:
    frame = funnel(by=["channel"], period="month", start=T("2030-01-01"))
    assert frame.empty
    assert list(frame.columns)[:3] == ["channel", "period", "stage"]


# --- censoring: Kaplan-Meier, horizon and window ------------------------------------------------------------------


def censoring() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six leads, two stages (lead, mql), as_of 2025-03-01:

    L1 created 02-01, mql 02-03 12:00 -> 2.5 d (floor 2)     L4 created 02-01, mql 02-06 -> 5 d
    L2 created 02-01, mql 02-03 04:48 -> 2.2 d (floor 2)     L5 created 02-09, no mql: age 20 d (censored at 20)
    L3 created 02-26 12:00, no mql: age 2.5 d (censored at 2) L6 created 01-30, mql 02-11 -> 12 d; age 30 d
    """
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4", "L5", "L6"],
            "created_at": [
                T("2025-02-01"),
                T("2025-02-01"),
                T("2025-02-26 12:00"),
                T("2025-02-01"),
                T("2025-02-09"),
                T("2025-01-30"),
            ],
        }
    )
    events = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L4", "L6"],
            "stage": ["mql"] * 4,
            "occurred_at": [T("2025-02-03 12:00"), T("2025-02-03 04:48"), T("2025-02-06"), T("2025-02-11")],
        }
    )
    return leads, events


def censored_funnel(window_days: int | None, horizon_days: int | None = None) -> pd.Series:
    leads, events = censoring()
    frame = ref.funnel(
        leads,
        events,
        ["lead", "mql"],
        by=[],
        period=None,
        start=None,
        end=None,
        strict=False,
        window_days=window_days,
        as_of=AS_OF,
        horizon_days=horizon_days,
    )
    return frame.iloc[1]


def test_km_counts_a_lead_censored_on_day_t_at_risk_on_day_t() -> None:
    # Horizon 10 days, no window. Durations: L1 2 (event), L2 2 (event), L3 2 (censored), L4 5 (event),
    # L5 20 (censored), L6 12 (event, after the horizon).
    # t=2: n(2) = 6 (all, L3 censored on day 2 included), c(2) = 2 -> 1 - 2/6 = 4/6
    # t=5: n(5) = 3 (L4, L5, L6), c(5) = 1 -> 2/3
    # S(10) = 4/6 * 2/3 = 4/9 -> conversion_km = 5/9. (Leaving L3 out of n(2) would give 1 - 3/5 * 2/3 = 0.6.)
    row = censored_funnel(None, horizon_days=10)
    assert row["km_conversion_from_previous"] == pytest.approx(5 / 9, rel=1e-12)
    # raw: 4 converted of 6 (L6 too: no window); still open: not converted and age < 10 d: L3 only (L5 is 20 d).
    assert (row["converted_from_previous"], row["still_open_from_previous"]) == (4, 1)
    assert row["conversion_from_previous"] == pytest.approx(4 / 6)
    assert ref.km_conversion([2, 2, 2, 5, 20, 12], [True, True, False, True, False, True], 10) == pytest.approx(5 / 9)


def test_km_default_horizon_is_90_days() -> None:
    # H = 90: t=2 -> 4/6, t=5 -> 2/3, t=12: n(12) = 2 (L5 20, L6 12), c = 1 -> 1/2. S = 2/9 -> 7/9.
    # still open (age < 90): L3 and L5 -> 2.
    row = censored_funnel(None)
    assert row["km_conversion_from_previous"] == pytest.approx(7 / 9, rel=1e-12)
    assert row["still_open_from_previous"] == 2
    # velocity over the 4 converted: 2.2, 2.5, 5, 12: median 3.75; p25 pos 0.75 -> 2.2 + 0.75 * 0.3 = 2.425;
    # p75 pos 2.25 -> 5 + 0.25 * 7 = 6.75; mean 21.7 / 4 = 5.425.
    assert row["median_days_from_previous"] == pytest.approx(3.75)
    assert row["p25_days_from_previous"] == pytest.approx(2.425)
    assert row["p75_days_from_previous"] == pytest.approx(6.75)
    assert row["mean_days_from_previous"] == pytest.approx(5.425)


def test_window() -> None:
    # Window 10 days (so H = 10): L6 converted after 12 days is not converted; it is censored at its age, 30.
    # converted L1 L2 L4 -> 3/6 = 0.5; still open: L3 (2.5 d < 10); L5 (20 d) and L6 (30 d) are lost.
    # KM: t=2: n 6, c 2 -> 4/6; t=5: n 3 (L4, L5, L6), c 1 -> 2/3; S = 4/9 -> 5/9.
    # velocity 2.2, 2.5, 5: median 2.5, p25 pos 0.5 -> 2.35, p75 pos 1.5 -> 3.75, mean 9.7 / 3.
    row = censored_funnel(10)
    assert (row["converted_from_previous"], row["still_open_from_previous"]) == (3, 1)
    assert row["conversion_from_previous"] == pytest.approx(0.5)
    assert row["km_conversion_from_previous"] == pytest.approx(5 / 9, rel=1e-12)
    assert row["period_conversion_from_previous"] == pytest.approx(4 / 6)  # the period view has no window
    assert row["median_days_from_previous"] == pytest.approx(2.5)
    assert row["p25_days_from_previous"] == pytest.approx(2.35)
    assert row["p75_days_from_previous"] == pytest.approx(3.75)
    assert row["mean_days_from_previous"] == pytest.approx(9.7 / 3)


def test_window_includes_exactly_w_days() -> None:
    # With a 5-day window L4 (exactly 5 d) converts; L6 (12 d) does not. H = 5.
    # KM: t=2: n 6, c 2 -> 4/6; t=5: n 3, c 1 -> 2/3 -> 5/9. still open: L3 (2.5 d < 5) only.
    row = censored_funnel(5)
    assert row["converted_from_previous"] == 3
    assert row["still_open_from_previous"] == 1
    assert row["km_conversion_from_previous"] == pytest.approx(5 / 9)


def test_velocity_bins() -> None:
    leads, events = censoring()
    args: dict[str, Any] = {
        "by": [],
        "period": None,
        "start": None,
        "end": None,
        "strict": False,
        "as_of": AS_OF,
    }
    bins = ref.velocity_bins(leads, events, ["lead", "mql"], stage="mql", window_days=None, **args)
    assert list(bins.columns) == ["stage", "bin", "bin_start_days", "bin_end_days", "leads"]
    # 2.2 and 2.5 in [1,3), 5 in [3,7), 12 in [7,14)
    assert dict(zip(bins["bin"], bins["leads"], strict=True)) == {
        "[0,1)": 0,
        "[1,3)": 2,
        "[3,7)": 1,
        "[7,14)": 1,
        "[14,30)": 0,
        "[30,60)": 0,
        "[60,90)": 0,
        "[90,180)": 0,
        "[180,inf)": 0,
    }
    windowed = ref.velocity_bins(leads, events, ["lead", "mql"], stage="mql", window_days=10, **args)
    assert windowed["leads"].tolist() == [0, 2, 1, 0, 0, 0, 0, 0, 0]
    # journeys, lead -> mql: 0 (F), 0 (G), 2 (C), 2 (D), 3 exactly (B: the bin's start is included), 3.58 (A)
    j_leads, j_events = journeys()
    journey_bins = ref.velocity_bins(j_leads, j_events, STAGES, stage="mql", window_days=None, **args)
    assert journey_bins["leads"].tolist() == [2, 2, 2, 0, 0, 0, 0, 0, 0]


def test_sales_cycle() -> None:
    leads, events = journeys()
    # From mql: the mql cohort is A B C D F G; only A reached won: 02-10 - 01-05 = 36 days.
    cycle = ref.sales_cycle(
        leads, events, STAGES, from_stage="mql", by=[], period=None, start=None, end=None, strict=False, as_of=AS_OF
    )
    check(cycle, ["stage", "cohort", "reached_last", "median_days", "mean_days"], [("mql", 6, 1, 36.0, 36.0)])


# --- revenue ------------------------------------------------------------------------------------------------------

REVENUE_AS_OF = T("2025-07-01")


def opportunities() -> pd.DataFrame:
    """As of 2025-07-01:

    O1  A  created 01-10 12:00  won  1000  close 02-15  -> Q1; cycle 02-15 00:00 - 01-10 12:00 = 35.5 d
    O2  B  created 02-01        won  null  close 04-01  -> Q2; amount counts 0; cycle 59 d (28 + 31)
    O3  C  created 03-01        lost  500  close 03-20  -> Q1
    O4  D  created 03-15        open 2000  (expected close 08-01) -> Q1 by created_at; age 108 d
    O5  -  created 06-20        open  300  no lead -> Q2; age 11 d; null channel
    O6  A  created 05-01        won  4000  no close_date -> placed by created_at, Q2; cycle unknown
    O7  F  created 06-01        won   800  close 07-15, after as_of -> open at as_of, Q2; age 30 d
    O8  A  created 07-10        open  999  created after as_of -> ignored
    O9  A  created 04-10 15:00  won  2000  close 04-10 -> Q2; cycle -0.625 d (close date at 00:00)
    O10 B  created 04-02        won   100  close 04-12 -> Q2; cycle 10 d
    owner: Ann, except O3 Bob (the leads' owner is Zed: the opportunity's own column wins).
    """
    rows = [
        ("O1", T("2025-01-10 12:00"), "won", "A", 1000.0, "Closed Won", "2025-02-15", "Ann"),
        ("O2", T("2025-02-01"), "won", "B", None, "Closed Won", "2025-04-01", "Ann"),
        ("O3", T("2025-03-01"), "lost", "C", 500.0, "Closed Lost", "2025-03-20", "Bob"),
        ("O4", T("2025-03-15"), "open", "D", 2000.0, "Demo", "2025-08-01", "Ann"),
        ("O5", T("2025-06-20"), "open", None, 300.0, "Discovery", None, "Ann"),
        ("O6", T("2025-05-01"), "won", "A", 4000.0, "Closed Won", None, "Ann"),
        ("O7", T("2025-06-01"), "won", "F", 800.0, "Closed Won", "2025-07-15", "Ann"),
        ("O8", T("2025-07-10"), "open", "A", 999.0, "Discovery", None, "Ann"),
        ("O9", T("2025-04-10 15:00"), "won", "A", 2000.0, "Closed Won", "2025-04-10", "Ann"),
        ("O10", T("2025-04-02"), "won", "B", 100.0, "Closed Won", "2025-04-12", "Ann"),
    ]
    frame = pd.DataFrame(
        rows, columns=["opportunity_id", "created_at", "status", "lead_id", "amount", "stage", "close_date", "owner"]
    )
    frame["close_date"] = [None if d is None else pd.Timestamp(d).date() for d in frame["close_date"]]
    return frame


REVENUE = [
    "won_revenue",
    "won_deals",
    "lost_deals",
    "average_deal_size",
    "win_rate",
    "open_pipeline",
    "open_deals",
    "open_unknown_amount_deals",
    "median_sales_cycle_days",
    "mean_sales_cycle_days",
]


def test_revenue_by_quarter() -> None:
    leads, _ = journeys()
    frame = ref.revenue(opportunities(), leads, by=[], period="quarter", start=None, end=None, as_of=REVENUE_AS_OF)
    assert list(frame.columns) == ["period", *REVENUE]
    # Q1: O1 won 1000, O3 lost, O4 open 2000 -> win rate 1/2, cycle 35.5.
    # Q2: won O2 (0), O6 (4000), O9 (2000), O10 (100) = 6100 over 4 deals = 1525; no loss -> win rate 1.0;
    #     open O5 (300) + O7 (800) = 1100 in 2 deals; cycles 59, -0.625, 10 (O6 unknown): median 10,
    #     mean 68.375 / 3.
    check(
        frame,
        ["period", *REVENUE],
        [
            (T("2025-01-01"), 1000.0, 1, 1, 1000.0, 0.5, 2000.0, 1, 0, 35.5, 35.5),
            (T("2025-04-01"), 6100.0, 4, 0, 1525.0, 1.0, 1100.0, 2, 0, 10.0, 68.375 / 3),
        ],
    )


def test_revenue_by_lead_channel_with_nulls() -> None:
    leads, _ = journeys()
    frame = ref.revenue(opportunities(), leads, by=["channel"], period=None, start=None, end=None, as_of=REVENUE_AS_OF)
    # email (A B F): won O1 1000, O2 0, O6 4000, O9 2000, O10 100 = 7100 in 5 deals (1420 each); open O7 800;
    #   cycles 35.5, 59, -0.625, 10 -> median (10 + 35.5) / 2 = 22.75, mean 103.875 / 4.
    # webinar (D): open O4 2000 only: no won deal -> average null; no closed deal -> win rate null.
    # null channel: O3 (lead C, lost 500) and O5 (no lead, open 300): win rate 0 / 1 = 0.0.
    check(
        frame,
        ["channel", *REVENUE],
        [
            ("email", 7100.0, 5, 0, 1420.0, 1.0, 800.0, 1, 0, 22.75, 103.875 / 4),
            ("webinar", 0.0, 0, 0, NA, NA, 2000.0, 1, 0, NA, NA),
            (NA, 0.0, 0, 1, NA, 0.0, 300.0, 1, 0, NA, NA),
        ],
    )


def test_revenue_prefers_the_opportunity_column_and_filters_the_placement() -> None:
    leads, _ = journeys()
    by_owner = ref.revenue(opportunities(), leads, by=["owner"], period=None, start=None, end=None, as_of=REVENUE_AS_OF)
    # the opportunity's owner (Ann, Bob), not the lead's (Zed)
    assert by_owner["owner"].tolist() == ["Ann", "Bob"]
    assert by_owner["lost_deals"].tolist() == [0, 1]
    # [04-01, 05-01): placed in April: O2 (04-01 00:00, included), O9, O10; O6 (05-01) is out (end exclusive).
    # won 0 + 2000 + 100 = 2100 in 3 deals; cycles 59, -0.625, 10 -> median 10.
    april = ref.revenue(
        opportunities(), leads, by=[], period=None, start=T("2025-04-01"), end=T("2025-05-01"), as_of=REVENUE_AS_OF
    )
    check(april, REVENUE, [(2100.0, 3, 0, 700.0, 1.0, 0.0, 0, 0, 10.0, 68.375 / 3)])


def test_open_pipeline_by_stage_and_age() -> None:
    leads, _ = journeys()
    frame = ref.open_pipeline_by_stage_and_age(opportunities(), leads, as_of=REVENUE_AS_OF)
    # open at 07-01: O4 Demo 108 d -> [90,180); O5 Discovery 11 d -> [0,30); O7 (won after as_of, still open
    # then, recorded stage Closed Won) exactly 30 d -> [30,60). O8 was created after as_of.
    check(
        frame,
        ["stage", "age_bin", "open_pipeline", "open_deals"],
        [
            ("Closed Won", "[30,60)", 800.0, 1),
            ("Demo", "[90,180)", 2000.0, 1),
            ("Discovery", "[0,30)", 300.0, 1),
        ],
    )


# --- data quality -------------------------------------------------------------------------------------------------


def test_quality() -> None:
    leads, events = journeys()
    counts = ref.quality(leads, events, STAGES, as_of=AS_OF)
    assert counts == {
        # C (sql 01-03 < mql 01-05) and G (mql 01-18 < t(0) = created 01-20); F's ties are in order.
        "out_of_order": 2,
        "re_entries": 1,  # D's two mql events
        "unknown_leads": 1,  # Z
        "negative_durations": 1,  # G (A's lead event equals its created_at: not before)
        "skipped_stages": 1,  # B: an opportunity event, no sql event (C has mql and sql; G only mql)
        "undated_events": 0,  # no source ends in "(undated)"
        "unknown_stages": 1,  # A's "churned"
        "re_entry_extra_entries": 1,
        # C's mql moved from 01-05 to 01-03; G's lead from 01-20 to 01-18 (B's sql was null: a skip, not a move)
        "cumulative_changed": 2,
        # G: placed on Saturday 01-18 (week of 01-13), created Monday 01-20 (week of 01-20); same month.
        "placed_in_earlier_period": {"day": 1, "week": 1, "month": 0, "quarter": 0},
        # reached, cumulative vs strict: lead 8/8, mql 6/5 (G), sql 4/2 (B, C), opportunity 2/1 (B), won 1/1
        "strict_dropped": {"lead": 0, "mql": 1, "sql": 2, "opportunity": 1, "won": 0},
    }
    assert set(ref.QUALITY_CHECKS) <= set(counts)


def test_quality_without_as_of_uses_every_event() -> None:
    leads, events = journeys()
    # H's mql on 03-05 now counts: one more mql for both modes; nothing else changes.
    counts = ref.quality(leads, events, STAGES)
    assert counts["strict_dropped"] == {"lead": 0, "mql": 1, "sql": 2, "opportunity": 1, "won": 0}
    assert counts["out_of_order"] == 2


def test_a_single_lead_with_no_events_and_a_null_breakdown_value() -> None:
    # A single lead with no event: it reached the first stage (at created_at), nothing else.
    leads = pd.DataFrame({"lead_id": ["X"], "created_at": [T("2025-02-14 08:00")], "channel": [np.nan]})
    events = pd.DataFrame(
        {"lead_id": pd.Series([], dtype=object), "stage": [], "occurred_at": pd.Series([], dtype="datetime64[us]")}
    )
    frame = ref.funnel(
        leads,
        events,
        STAGES,
        by=["channel"],
        period="day",
        start=None,
        end=None,
        strict=False,
        window_days=None,
        as_of=AS_OF,
    )
    # one (null channel, 2025-02-14) group: lead 1; mql cohort 1, not converted, open (age 14.7 d < 90).
    assert frame["channel"].isna().all()
    assert frame["period"].unique().tolist() == [T("2025-02-14")]
    check(frame.iloc[:2], STEP, [("lead", 1, NA, NA, NA, NA, NA, NA), ("mql", 0, 1, 0, 0.0, 1, 0.0, 0.0)])
