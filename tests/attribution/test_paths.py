"""Aggregated journeys, the bootstrap's multinomial redraw, evidence strength and shrinkage toward the prior."""

from __future__ import annotations

import numpy as np
import pytest

from tandem.attribution.paths import PathCounts, Resampler, evidence_strength, shrink


def test_rows_of_the_same_path_are_added_up_and_items_are_sorted() -> None:
    paths = PathCounts.from_rows(
        [
            (["email", "search"], 2, 3, 200.0),
            (("webinar",), 0, 4, 0.0),
            (("email", "search"), 1, 1, 50.0),
        ]
    )

    assert paths.paths == (("email", "search"), ("webinar",))
    assert paths.conversions.tolist() == [3.0, 0.0]
    assert paths.non_conversions.tolist() == [4.0, 4.0]
    assert paths.value.tolist() == [250.0, 0.0]
    assert paths.items == ("email", "search", "webinar")
    assert paths.total_conversions == 3.0
    assert paths.total_value == 250.0
    assert paths.journeys == 11.0


def test_an_empty_path_is_a_data_error() -> None:
    with pytest.raises(ValueError, match="empty path"):
        PathCounts.from_rows([(("email",), 1, 0, 0.0), ((), 1, 0, 0.0)])


@pytest.mark.parametrize(
    ("conversions", "non_conversions", "value", "message"),
    [
        ([-1.0], [0.0], [0.0], "non-negative"),
        ([0.0], [float("nan")], [0.0], "finite"),
        ([0.0], [2.0], [10.0], "no converted journey"),
        ([1.0, 2.0], [0.0], [0.0], "2 entries for 1 paths"),
    ],
)
def test_counts_that_cannot_describe_journeys_are_refused(
    conversions: list[float], non_conversions: list[float], value: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PathCounts((("email",),), np.array(conversions), np.array(non_conversions), np.array(value))


def test_item_sets_forget_order_and_repeats() -> None:
    paths = PathCounts.from_rows([(("b", "a", "a"), 1, 2, 10.0), (("a", "b"), 3, 0, 30.0), (("c",), 0, 5, 0.0)])

    sets = paths.item_sets()

    assert sets.paths == (("a", "b"), ("c",))
    assert sets.conversions.tolist() == [4.0, 0.0]
    assert sets.non_conversions.tolist() == [2.0, 5.0]
    assert sets.value.tolist() == [40.0, 0.0]


def test_a_replicate_redraws_all_journeys_and_keeps_each_paths_value_per_conversion() -> None:
    paths = PathCounts.from_rows([(("email",), 4, 6, 400.0), (("search",), 2, 8, 100.0)])

    replicate = paths.resample(np.random.default_rng(7))

    assert replicate.paths == paths.paths
    assert replicate.journeys == 20.0  # the same number of journeys, redrawn
    assert replicate.value.tolist() == (replicate.conversions * np.array([100.0, 50.0])).tolist()
    again = paths.resample(np.random.default_rng(7))
    assert again.conversions.tolist() == replicate.conversions.tolist()  # seeded


def test_a_single_cell_gets_every_journey() -> None:
    paths = PathCounts.from_rows([(("email",), 5, 0, 50.0)])

    conversions, non_conversions = paths.bootstrap_counts(np.random.default_rng(0), 3)

    assert conversions.tolist() == [[5.0], [5.0], [5.0]]
    assert non_conversions.tolist() == [[0.0], [0.0], [0.0]]


def test_the_redraw_is_multinomial_whatever_way_each_class_of_cells_is_drawn() -> None:
    """Cells of count 1 and 3 are drawn journey by journey, count 40 by a per-cell multinomial, count 500 alone.

    A cell with count c of n = 1,000 journeys gets Binomial(1000, c / 1000) journeys: mean c, variance
    c (1 - c / 1000). Over 4,000 replicates the mean's standard error is sqrt(variance / 4000) and the variance's
    relative standard error is about sqrt(2 / 4000) = 2.2 %; the bounds are 4 standard errors.
    """
    cells = np.array([1.0] * 110 + [3.0] * 50 + [40.0] * 6 + [500.0] + [0.0])
    assert cells.sum() == 1000.0
    replicates = 4000

    resampler = Resampler(cells)
    assert resampler.single_cells.tolist() == [166]
    assert resampler.class_sizes[resampler.drawn_classes].tolist() == [110, 50]
    assert resampler.class_sizes[resampler.per_cell_classes].tolist() == [6]

    drawn = resampler.draw(np.random.default_rng(3), replicates)

    assert drawn.sum(axis=1).tolist() == [1000.0] * replicates
    assert drawn[:, -1].tolist() == [0.0] * replicates  # an empty cell stays empty
    variance = cells * (1 - cells / 1000)
    for cell in (0, 110, 160, 166):
        standard_error = np.sqrt(variance[cell] / replicates)
        assert abs(drawn[:, cell].mean() - cells[cell]) < 4 * standard_error
        assert drawn[:, cell].var(ddof=1) == pytest.approx(variance[cell], rel=4 * np.sqrt(2 / replicates))


@pytest.mark.parametrize(
    ("conversions", "strength"),
    [(0.0, "weak"), (199.0, "weak"), (200.0, "moderate"), (999.0, "moderate"), (1000.0, "strong")],
)
def test_evidence_strength_thresholds(conversions: float, strength: str) -> None:
    assert evidence_strength(conversions) == strength


def test_fifty_conversions_weigh_a_fifth_against_a_prior_worth_two_hundred() -> None:
    """w = 50 / (50 + 200) = 0.2; an item missing on one side counts 0 there.

    email: 0.2 * 40 + 0.8 * 10 = 16; search: 0.2 * 10 + 0.8 * 0 = 2; webinar: 0.2 * 0 + 0.8 * 40 = 32.
    """
    credit, weight = shrink({"email": 40.0, "search": 10.0}, {"email": 10.0, "webinar": 40.0}, 50.0)

    assert weight == 0.2
    assert credit == pytest.approx({"email": 16.0, "search": 2.0, "webinar": 32.0}, abs=1e-12)


def test_without_a_prior_nothing_is_shrunk() -> None:
    assert shrink({"email": 3.0}, None, 5.0) == ({"email": 3.0}, 1.0)
