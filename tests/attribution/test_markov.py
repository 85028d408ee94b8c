"""Markov removal-effect attribution: worked examples by hand, non-converting journeys, and an independent oracle."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import numpy as np
import pytest

from tandem.attribution.markov import markov_attribution
from tandem.attribution.paths import PathCounts

Row = tuple[tuple[str, ...], float, float, float]


def credit_of(rows: list[Row], order: int = 1) -> dict[str, float]:
    return markov_attribution(PathCounts.from_rows(rows), order=order, bootstrap=0).conversions


def test_the_three_journey_example_of_the_literature() -> None:
    """C1 > C2 > C3 converted, C1 did not, C2 > C3 did not (the example of the Markov attribution write-ups).

    Worked by hand (the search tool found other write-ups of the method but not this one's page, so the numbers
    below are derived here): START goes to C1 2/3 and to C2 1/3; C1 goes to C2 1/2 and NULL 1/2; C2 goes to C3;
    C3 converts 1/2. P = 2/3 * 1/2 * 1/2 + 1/3 * 1/2 = 1/3.
    Without C1: only START > C2 > C3 remains, P = 1/3 * 1/2 = 1/6, RE = 1 - (1/6) / (1/3) = 1/2.
    Without C2 or C3 nothing converts: RE = 1. Credit of the one conversion: 1/2 / (5/2) = 1/5, and 2/5, 2/5.
    """
    probability = Fraction(2, 3) * Fraction(1, 2) * Fraction(1, 2) + Fraction(1, 3) * Fraction(1, 2)
    assert probability == Fraction(1, 3)
    effects = {"C1": 1 - Fraction(1, 6) / probability, "C2": Fraction(1), "C3": Fraction(1)}
    expected = {item: float(effect / sum(effects.values())) for item, effect in effects.items()}
    assert expected == {"C1": 0.2, "C2": 0.4, "C3": 0.4}

    rows: list[Row] = [(("C1", "C2", "C3"), 1, 0, 1000.0), (("C1",), 0, 1, 0.0), (("C2", "C3"), 0, 1, 0.0)]
    credit = markov_attribution(PathCounts.from_rows(rows), bootstrap=0)

    assert credit.model == "markov"
    assert credit.conversions == pytest.approx(expected, abs=1e-12)
    assert credit.value == pytest.approx({"C1": 200.0, "C2": 400.0, "C3": 400.0}, abs=1e-9)
    assert credit.strength == "weak"
    assert credit.shrink_weight == 1.0


def test_the_google_ads_and_mailing_example() -> None:
    """Google Ads converted twice alone and failed once, mailing converted once, Google Ads > mailing once.

    START goes to Google Ads 4/5, to mailing 1/5; Google Ads converts 1/2, goes to mailing 1/4, NULL 1/4; mailing
    converts. P = 4/5 * (1/2 + 1/4) + 1/5 = 4/5. Without Google Ads P = 1/5 (RE 3/4); without mailing
    P = 4/5 * 1/2 = 2/5 (RE 1/2). Four conversions split 3/4 : 1/2, i.e. 2.4 and 1.6.
    """
    rows: list[Row] = [(("ads",), 2, 1, 0.0), (("mail",), 1, 0, 0.0), (("ads", "mail"), 1, 0, 0.0)]

    assert credit_of(rows) == pytest.approx({"ads": 2.4, "mail": 1.6}, abs=1e-12)


def test_non_converting_journeys_that_end_on_a_channel_lower_its_share() -> None:
    """A > B and B > A each converted once: by symmetry A and B get 1 each.

    Add one B > A that did not convert: A now converts 1/3 (to B 1/3, NULL 1/3), B converts 1/3 (to A 2/3);
    START goes to A 1/3, to B 2/3. x_A = 1/3 x_B + 1/3 and x_B = 1/3 + 2/3 x_A give x_A = 4/7, x_B = 5/7,
    P = 1/3 * 4/7 + 2/3 * 5/7 = 2/3. Without A: P = 2/3 * 1/3 = 2/9, RE 2/3; without B: P = 1/3 * 1/3 = 1/9,
    RE 5/6. A's credit falls from 1 to 2 * (2/3) / (3/2) = 8/9, B's rises to 10/9.
    """
    both: list[Row] = [(("A", "B"), 1, 0, 0.0), (("B", "A"), 1, 0, 0.0)]
    assert credit_of(both) == pytest.approx({"A": 1.0, "B": 1.0}, abs=1e-12)

    assert credit_of([*both, (("B", "A"), 0, 1, 0.0)]) == pytest.approx({"A": 8 / 9, "B": 10 / 9}, abs=1e-12)


def test_non_converting_journeys_that_start_on_a_channel_can_raise_its_share() -> None:
    """The removal effect measures the traffic a channel carries, not its conversion rate: stated as a property.

    Add one journey "A" that did not convert to A > B and B > A converted: START goes to A 2/3; A converts 1/3,
    goes to B 1/3, NULL 1/3; B converts 1/2, goes to A 1/2. x_A = 3/5, x_B = 4/5, P = 2/3. Without A:
    P = 1/3 * 1/2 = 1/6 (RE 3/4); without B: P = 2/3 * 1/3 = 2/9 (RE 2/3). A's share rises to 9/17.
    """
    rows: list[Row] = [(("A", "B"), 1, 0, 0.0), (("B", "A"), 1, 0, 0.0), (("A",), 0, 1, 0.0)]

    assert credit_of(rows) == pytest.approx({"A": 18 / 17, "B": 16 / 17}, abs=1e-12)


def test_a_repeated_touch_is_a_self_loop() -> None:
    """A > A > B converted, A did not. A loops on itself 1/3, goes to B 1/3 and NULL 1/3: x_A = x_A / 3 + 1/3,
    so x_A = 1/2 = P, as with the repeat collapsed (A > B: 1/2). Removing either item leaves no conversion."""
    rows: list[Row] = [(("A", "A", "B"), 1, 0, 0.0), (("A",), 0, 1, 0.0)]

    assert credit_of(rows) == pytest.approx({"A": 0.5, "B": 0.5}, abs=1e-12)
    assert credit_of(rows, order=2) == pytest.approx({"A": 0.5, "B": 0.5}, abs=1e-12)


def test_no_conversion_means_no_credit() -> None:
    credit = markov_attribution(PathCounts.from_rows([(("A", "B"), 0, 5, 0.0), (("B",), 0, 3, 0.0)]), bootstrap=20)

    assert credit.conversions == {"A": 0.0, "B": 0.0}
    assert credit.value == {"A": 0.0, "B": 0.0}
    assert credit.low == {"A": 0.0, "B": 0.0}
    assert credit.high == {"A": 0.0, "B": 0.0}


def test_a_single_channel_gets_everything() -> None:
    credit = markov_attribution(PathCounts.from_rows([(("A",), 3, 2, 90.0), (("A", "A"), 1, 0, 10.0)]), bootstrap=0)

    assert credit.conversions == {"A": 4.0}
    assert credit.value == {"A": 100.0}


def test_order_two_names_itself_and_splits_the_example_the_same_way() -> None:
    """In the three-journey example the pair states add nothing: (C2, C3) converts 1/2 whichever way it is
    reached, so order 2 gives 1/5, 2/5, 2/5 too."""
    rows: list[Row] = [(("C1", "C2", "C3"), 1, 0, 0.0), (("C1",), 0, 1, 0.0), (("C2", "C3"), 0, 1, 0.0)]

    credit = markov_attribution(PathCounts.from_rows(rows), order=2, bootstrap=0)

    assert credit.model == "markov-2"
    assert credit.conversions == pytest.approx({"C1": 0.2, "C2": 0.4, "C3": 0.4}, abs=1e-12)


def test_thin_data_is_shrunk_toward_the_prior() -> None:
    """One conversion against a prior worth 200: w = 1 / 201. The prior (first touch: C1 2, the others 0) is
    rescaled to shares of the one conversion, so C1 = (0.2 + 200) / 201, C2 = C3 = 0.4 / 201."""
    rows: list[Row] = [(("C1", "C2", "C3"), 1, 0, 0.0), (("C1",), 0, 1, 0.0), (("C2", "C3"), 0, 1, 0.0)]

    credit = markov_attribution(PathCounts.from_rows(rows), bootstrap=0, prior={"C1": 2.0, "C2": 0.0, "C3": 0.0})

    assert credit.shrink_weight == 1 / 201
    assert credit.conversions == pytest.approx({"C1": 200.2 / 201, "C2": 0.4 / 201, "C3": 0.4 / 201}, abs=1e-12)


def random_rows(seed: int, items: int = 4, paths: int = 30) -> list[Row]:
    rng = np.random.default_rng(seed)
    names = [f"c{index}" for index in range(items)]
    return [
        (
            tuple(names[position] for position in rng.integers(0, items, int(rng.integers(1, 6)))),
            float(rng.integers(0, 4)),
            float(rng.integers(0, 6)),
            0.0,
        )
        for _ in range(paths)
    ]


def oracle_credit(rows: list[Row], order: int) -> dict[str, float]:
    """An independent implementation: transition counts in dicts, absorption probabilities by iterating
    x <- Q x + r from 0 until nothing moves (value iteration converges geometrically to the solution), and a
    removed item's states simply skipped, so that moving into them is worth nothing (as going to NULL)."""
    start: tuple[str, ...] = ("<start>",)
    conversion: tuple[str, ...] = ("<conversion>",)
    lost_journey: tuple[str, ...] = ("<null>",)
    counts: dict[tuple[str, ...], dict[tuple[str, ...], float]] = defaultdict(lambda: defaultdict(float))
    for path, converted, lost, _ in rows:
        state = start
        window = ("<start>",) * order
        for item in path:
            window = (*window[1:], item)
            counts[state][window] += converted + lost
            state = window
        counts[state][conversion] += converted
        counts[state][lost_journey] += lost

    def conversion_probability(removed: str | None) -> float:
        reach: dict[tuple[str, ...], float] = defaultdict(float)
        reach[conversion] = 1.0
        for _ in range(100_000):
            moved = 0.0
            for state, targets in counts.items():
                if removed in state:
                    continue
                new = sum(count * reach[target] for target, count in targets.items() if removed not in target)
                new /= sum(targets.values())
                moved = max(moved, abs(new - reach[state]))
                reach[state] = new
            if moved < 1e-15:
                break
        return reach[start]

    total = sum(row[1] for row in rows)
    probability = conversion_probability(None)
    items = sorted({item for row in rows for item in row[0]})
    if probability == 0:
        return dict.fromkeys(items, 0.0)
    effects = {item: 1 - conversion_probability(item) / probability for item in items}
    return {item: effect / sum(effects.values()) * total for item, effect in effects.items()}


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_agrees_with_an_independent_value_iteration(seed: int, order: int) -> None:
    rows = random_rows(seed)

    credit = credit_of(rows, order=order)

    assert credit == pytest.approx(oracle_credit(rows, order), rel=1e-9, abs=1e-9)
    assert sum(credit.values()) == pytest.approx(sum(row[1] for row in rows), rel=1e-12)


def test_the_bootstrap_interval_brackets_the_credit_and_is_seeded() -> None:
    paths = PathCounts.from_rows(random_rows(5, items=5, paths=200))

    credit = markov_attribution(paths, bootstrap=100, seed=3)
    again = markov_attribution(paths, bootstrap=100, seed=3)

    assert credit.bootstrap == 100
    low, high = credit.low or {}, credit.high or {}
    assert set(low) == set(high) == set(credit.conversions)
    for item, point in credit.conversions.items():
        assert low[item] <= point <= high[item]
    assert again == credit


def test_the_interval_is_shrunk_with_the_credit() -> None:
    """With a prior every replicate is shrunk with its own w, so the shrunk point stays inside the shrunk interval,
    and an item only the prior knows gets its share of the prior's weight."""
    paths = PathCounts.from_rows(random_rows(5, items=3, paths=50))
    prior = {"c0": 1.0, "c1": 1.0, "c2": 1.0, "referral": 1.0}

    credit = markov_attribution(paths, bootstrap=50, prior=prior)

    low, high = credit.low or {}, credit.high or {}
    assert set(low) == set(credit.conversions) == {"c0", "c1", "c2", "referral"}
    for item, point in credit.conversions.items():
        assert low[item] <= point <= high[item]
    conversions = paths.total_conversions
    assert credit.shrink_weight == conversions / (conversions + 200)
    assert credit.conversions["referral"] == pytest.approx((1 - credit.shrink_weight) * conversions / 4, rel=1e-12)
    assert sum(credit.conversions.values()) == pytest.approx(conversions, rel=1e-12)


def test_without_bootstrap_there_is_no_interval() -> None:
    credit = markov_attribution(PathCounts.from_rows(random_rows(6)), bootstrap=0)

    assert (credit.low, credit.high, credit.bootstrap) == (None, None, 0)


def test_an_order_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="order"):
        markov_attribution(PathCounts.from_rows(random_rows(7)), order=0)
