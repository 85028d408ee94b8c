"""Shapley attribution: hand-worked games, the axioms, Monte Carlo against exact, bootstrap and shrinkage."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from tandem.attribution.paths import PathCounts
from tandem.attribution.shapley import shapley_attribution, shapley_values

Row = tuple[tuple[str, ...], float, float, float]


def phi(rows: list[Row]) -> dict[str, float]:
    return shapley_values(PathCounts.from_rows(rows)).values


def oracle(rows: list[Row]) -> dict[str, Fraction]:
    """Shapley values in exact fractions by averaging marginal contributions over every ordering, with
    v(S) = N * conv(within S) / J(within S), 0 when no journey lies within S."""
    total = sum(Fraction(row[1]) + Fraction(row[2]) for row in rows)

    def worth(coalition: set[str]) -> Fraction:
        within = [row for row in rows if set(row[0]) <= coalition]
        journeys = sum(Fraction(row[1]) + Fraction(row[2]) for row in within)
        return total * sum(Fraction(row[1]) for row in within) / journeys if journeys else Fraction(0)

    items = sorted({item for row in rows for item in row[0]})
    credit = dict.fromkeys(items, Fraction(0))
    for ordering in itertools.permutations(items):
        coalition: set[str] = set()
        for item in ordering:
            before = worth(coalition)
            coalition.add(item)
            credit[item] += worth(coalition) - before
    return {item: share / math.factorial(len(items)) for item, share in credit.items()}


def test_two_channels_by_hand() -> None:
    """A alone: 20 of 100 converted; B alone: 10 of 100; A and B: 30 of 100. N = 300.
    v(A) = 300 * 20/100 = 60, v(B) = 30, v(AB) = 300 * 60/300 = 60.
    phi_A = 1/2 (60 - 0) + 1/2 (60 - 30) = 45; phi_B = 1/2 (30 - 0) + 1/2 (60 - 60) = 15; 45 + 15 = 60."""
    rows: list[Row] = [(("A",), 20, 80, 0.0), (("B",), 10, 90, 0.0), (("B", "A"), 30, 70, 0.0)]

    assert phi(rows) == pytest.approx({"A": 45.0, "B": 15.0}, abs=1e-9)
    assert oracle(rows) == {"A": 45, "B": 15}


def test_three_channels_by_hand() -> None:
    """{A}: 2 of 10 converted, {B}: 1 of 10, {A, C}: 5 of 10, {A, B, C}: 4 of 10; N = 40, 12 conversions.
    v(A) = 8, v(B) = 4, v(C) = 0 (no journey within), v(AB) = 40 * 3/20 = 6, v(AC) = 40 * 7/20 = 14,
    v(BC) = 4, v(ABC) = 12. With weights 1/3, 1/6, 1/6, 1/3 for S = {}, one other, the other, both:
    phi_A = 8/3 + (6 - 4)/6 + (14 - 0)/6 + (12 - 4)/3 = 8
    phi_B = 4/3 + (6 - 8)/6 + (4 - 0)/6 + (12 - 14)/3 = 1
    phi_C = 0/3 + (14 - 8)/6 + (4 - 4)/6 + (12 - 6)/3 = 3."""
    rows: list[Row] = [
        (("A",), 2, 8, 0.0),
        (("B",), 1, 9, 0.0),
        (("C", "A"), 5, 5, 0.0),
        (("A", "B", "C"), 4, 6, 0.0),
    ]

    assert oracle(rows) == {"A": 8, "B": 1, "C": 3}
    assert phi(rows) == pytest.approx({"A": 8.0, "B": 1.0, "C": 3.0}, abs=1e-9)


def test_a_channel_that_lowers_the_conversion_rate_gets_negative_credit() -> None:
    """{A}: 50 of 100 converted, {A, B}: 0 of 100; N = 200. v(A) = 100, v(B) = 0, v(AB) = 200 * 50/200 = 50.
    phi_A = 1/2 * 100 + 1/2 * (50 - 0) = 75, phi_B = 1/2 * 0 + 1/2 * (50 - 100) = -25: the sign is kept."""
    rows: list[Row] = [(("A",), 50, 50, 0.0), (("A", "B"), 0, 100, 0.0)]

    assert phi(rows) == pytest.approx({"A": 75.0, "B": -25.0}, abs=1e-9)


def test_interchangeable_channels_get_equal_credit_and_order_is_ignored() -> None:
    """{A}: 10 of 100, {B}: 10 of 100, {A, B}: 40 of 100 (half A > B, half B > A, order does not matter):
    v(A) = v(B) = 30, v(AB) = 60, so 30 each."""
    rows: list[Row] = [
        (("A",), 10, 90, 0.0),
        (("B",), 10, 90, 0.0),
        (("A", "B"), 15, 35, 0.0),
        (("B", "A", "B"), 25, 25, 0.0),
    ]

    assert phi(rows) == pytest.approx({"A": 30.0, "B": 30.0}, abs=1e-9)


def test_a_channel_that_never_changes_the_rate_is_a_null_player() -> None:
    """D only ever joins journeys that convert at the rate they would without it ({A} and {A, D} both 1 in 5,
    {B} and {B, D} both 1 in 10), so v(S + D) = v(S) for every S and D gets 0."""
    rows: list[Row] = [
        (("A",), 2, 8, 0.0),
        (("A", "D"), 2, 8, 0.0),
        (("B",), 1, 9, 0.0),
        (("D", "B"), 1, 9, 0.0),
    ]

    credit = phi(rows)

    assert credit["D"] == pytest.approx(0.0, abs=1e-12)
    assert oracle(rows)["D"] == 0


def random_rows(seed: int, items: int, paths: int) -> list[Row]:
    rng = np.random.default_rng(seed)
    names = [f"c{index:02d}" for index in range(items)]
    rows: list[Row] = []
    for _ in range(paths):
        path = tuple(names[position] for position in rng.integers(0, items, int(rng.integers(1, 5))))
        converted = float(rng.integers(0, 5))
        rows.append((path, converted, float(rng.integers(0, 20)), converted * float(rng.integers(1, 100))))
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_exact_values_match_the_ordering_oracle_and_add_up(seed: int) -> None:
    rows = random_rows(seed, items=5, paths=40)
    paths = PathCounts.from_rows(rows)

    estimate = shapley_values(paths)

    assert estimate.exact
    assert estimate.values == pytest.approx({item: float(share) for item, share in oracle(rows).items()}, abs=1e-9)
    assert sum(estimate.values.values()) == pytest.approx(paths.total_conversions, rel=1e-12)
    assert sum(estimate.value_credit.values()) == pytest.approx(paths.total_value, rel=1e-12)
    assert set(estimate.standard_error.values()) == {0.0}


def test_monte_carlo_lands_within_three_standard_errors_of_the_exact_values() -> None:
    paths = PathCounts.from_rows(random_rows(3, items=10, paths=300))

    exact = shapley_values(paths, exact_limit=12)
    sampled = shapley_values(paths, exact_limit=4, samples=2000, seed=11)

    assert (exact.exact, sampled.exact) == (True, False)
    assert sampled.orderings == 2000
    for item, value in exact.values.items():
        assert abs(sampled.values[item] - value) <= 3 * sampled.standard_error[item]
    # Every ordering's marginal contributions add up to v(all): the estimate is efficient exactly.
    assert sum(sampled.values.values()) == pytest.approx(paths.total_conversions, rel=1e-9)


def test_shapley_attribution_reports_the_credit_with_its_interval() -> None:
    rows: list[Row] = [(("A",), 20, 80, 2000.0), (("B",), 10, 90, 500.0), (("B", "A"), 30, 70, 3000.0)]

    credit = shapley_attribution(PathCounts.from_rows(rows), bootstrap=100, seed=4)

    assert credit.model == "shapley"
    assert credit.conversions == pytest.approx({"A": 45.0, "B": 15.0}, abs=1e-9)
    # Value game: v(A) = 300 * 2000/100 = 6000, v(B) = 1500, v(AB) = 5500:
    # A = 1/2 * 6000 + 1/2 * (5500 - 1500) = 5000, B = 1/2 * 1500 + 1/2 * (5500 - 6000) = 500.
    assert credit.value == pytest.approx({"A": 5000.0, "B": 500.0}, abs=1e-9)
    low, high = credit.low or {}, credit.high or {}
    assert set(low) == set(high) == set(credit.conversions)
    for item, point in credit.conversions.items():
        assert low[item] <= point <= high[item]
    assert credit.strength == "weak"


def test_monte_carlo_bootstrap_interval_brackets_the_credit() -> None:
    paths = PathCounts.from_rows(random_rows(8, items=6, paths=200))

    credit = shapley_attribution(paths, exact_limit=3, samples=500, bootstrap=60, seed=2)

    low, high = credit.low or {}, credit.high or {}
    assert set(low) == set(high) == set(credit.conversions)
    for item, point in credit.conversions.items():
        assert low[item] <= point <= high[item]


def test_without_bootstrap_there_is_no_interval() -> None:
    credit = shapley_attribution(PathCounts.from_rows(random_rows(9, items=3, paths=20)), bootstrap=0)

    assert (credit.low, credit.high, credit.bootstrap) == (None, None, 0)


def test_thin_data_is_shrunk_toward_the_prior() -> None:
    """60 conversions against a prior worth 200: w = 60 / 260 = 3/13. Prior: last touch gave A 20, B 40 (shares
    1/3, 2/3 of the 60 conversions). A = 3/13 * 45 + 10/13 * 20 = 335/13, B = 3/13 * 15 + 10/13 * 40 = 445/13."""
    rows: list[Row] = [(("A",), 20, 80, 0.0), (("B",), 10, 90, 0.0), (("B", "A"), 30, 70, 0.0)]

    credit = shapley_attribution(PathCounts.from_rows(rows), bootstrap=0, prior={"A": 20.0, "B": 40.0})

    assert credit.shrink_weight == pytest.approx(3 / 13, abs=1e-15)
    assert credit.conversions == pytest.approx({"A": 335 / 13, "B": 445 / 13}, abs=1e-9)


def test_no_conversions_and_a_single_channel() -> None:
    nothing = shapley_attribution(PathCounts.from_rows([(("A", "B"), 0, 4, 0.0), (("B",), 0, 2, 0.0)]), bootstrap=10)
    alone = shapley_values(PathCounts.from_rows([(("A",), 3, 7, 30.0), (("A", "A"), 1, 0, 5.0)]))

    assert nothing.conversions == {"A": 0.0, "B": 0.0}
    assert alone.values == pytest.approx({"A": 4.0}, abs=1e-12)
    assert alone.value_credit == pytest.approx({"A": 35.0}, abs=1e-12)


def test_too_large_an_exact_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="exact_limit"):
        shapley_values(PathCounts.from_rows([(("A",), 1, 0, 0.0)]), exact_limit=21)
