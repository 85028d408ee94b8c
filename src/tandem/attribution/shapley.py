"""Shapley-value attribution on aggregated journeys: the order-blind data-driven model.

Players are the items; a journey's coalition is the SET of its items (order and repeats are ignored, which is what
sets Shapley apart from the Markov chain).

Decision, the characteristic function: v(S) = N * conv(S) / J(S), where conv(S) and J(S) count the converted and
all journeys whose item set lies within S, and N is the number of all journeys; v(S) = 0 when no observed journey
lies within S (the empty set and unobserved coalitions are worth only what their observed sub-coalitions show).
So v(all items) = total conversions and, by efficiency, the credits add up to the conversions. Non-converting
journeys count through J(S): a set seen often without converting lowers the rate of every coalition holding it.
Zhao et al. (2018) value a coalition by conversion counts alone, which ignores non-conversions, so this rate-based
game is kept. A consequence stated honestly: an item whose journeys convert less than those without it lowers the
rate when it joins, and its credit can be NEGATIVE; the sign is kept and reported, never clipped.

Decision, value credit: the same game with the converted journeys' value instead of their count,
v_value(S) = N * value(S) / J(S), so an item on journeys that bring bigger deals earns more value than conversions.

Exact when there are at most `exact_limit` items (at most 20: 2^n coalitions), by a subset-sum transform over
bitmasks; beyond, Monte Carlo over random orderings of the items, which needs no bitmask and so takes any number of
items, with a standard error per item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse

from tandem.attribution.paths import BOOTSTRAP_BATCH, PRIOR_STRENGTH, Credit, FloatArray, PathCounts, assemble_credit

EXACT_ITEMS_MAX = 20
"""Above 20 items the 2^n coalition table (8 MB per row of replicates and growing twice per item) is not worth it."""
BOOTSTRAP_ORDERINGS = 50
"""Orderings shared by the bootstrap replicates in Monte Carlo mode (see `shapley_attribution`)."""
_ENTRIES_PER_CHUNK = 2_000_000
"""(ordering, set) pairs worked at once in Monte Carlo mode, to bound memory."""


@dataclass(frozen=True)
class ShapleyEstimate:
    """Raw Shapley values per item and their Monte Carlo standard error (0.0 everywhere when exact)."""

    values: dict[str, float]
    value_credit: dict[str, float]
    standard_error: dict[str, float]
    exact: bool
    orderings: int


@dataclass(frozen=True)
class _Game:
    """The observed item sets with their journey counts: all the game needs."""

    items: tuple[str, ...]
    membership: npt.NDArray[np.bool_]
    sets: PathCounts

    @classmethod
    def build(cls, paths: PathCounts) -> _Game:
        sets = paths.item_sets()
        column = {item: index for index, item in enumerate(paths.items)}
        membership = np.zeros((len(sets.paths), len(paths.items)), dtype=bool)
        for row, members in enumerate(sets.paths):
            membership[row, [column[item] for item in members]] = True
        return cls(paths.items, membership, sets)

    def masks(self) -> npt.NDArray[np.int64]:
        return np.asarray(self.membership @ (1 << np.arange(len(self.items), dtype=np.int64)), dtype=np.int64)


def _rate_game(totals: FloatArray, gains: FloatArray, journeys: FloatArray) -> FloatArray:
    """v = N * gains / journeys, 0 where no journey lies within the coalition; N is each row's total journeys."""
    rate = np.divide(gains, journeys, out=np.zeros_like(gains), where=journeys > 0)
    return np.asarray(totals[:, None] * rate, dtype=np.float64)


def _subset_sums(masks: npt.NDArray[np.int64], weights: FloatArray, items: int) -> FloatArray:
    """For every coalition S (bitmask) and row of weights, the sum over observed sets within S (zeta transform)."""
    table = np.zeros((weights.shape[0], 1 << items))
    for row in range(weights.shape[0]):
        table[row] = np.bincount(masks, weights=weights[row], minlength=1 << items)
    for bit in range(items):
        view = table.reshape(weights.shape[0], -1, 2, 1 << bit)
        view[:, :, 1, :] += view[:, :, 0, :]
    return table


def _shapley_matrix(items: int) -> FloatArray:
    """M with phi = v @ M: +|S|!(n-|S|-1)!/n! on S + {i}, minus the same on S, for S without i."""
    masks = np.arange(1 << items)
    sizes = np.array([bin(mask).count("1") for mask in range(1 << items)])
    weight = np.array([math.factorial(size) * math.factorial(items - size - 1) for size in range(items)], dtype=float)
    weight /= math.factorial(items)
    matrix = np.zeros((1 << items, items))
    for item in range(items):
        holds = (masks >> item) & 1 == 1
        matrix[holds, item] = weight[sizes[holds] - 1]
        matrix[~holds, item] = -weight[sizes[~holds]]
    return matrix


def _exact(
    game: _Game, conversions: FloatArray, journeys: FloatArray, value: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Exact Shapley values of the conversion and value games, one row per row of set counts."""
    items = len(game.items)
    masks = game.masks()
    matrix = _shapley_matrix(items)
    covered = _subset_sums(masks, journeys, items)
    totals = journeys.sum(axis=1)
    conversion_game = _rate_game(totals, _subset_sums(masks, conversions, items), covered)
    value_game = _rate_game(totals, _subset_sums(masks, value, items), covered)
    return conversion_game @ matrix, value_game @ matrix


def _orderings(rng: np.random.Generator, count: int, items: int) -> npt.NDArray[np.intp]:
    """`count` uniformly random orderings of the items, one per row."""
    return np.argsort(rng.random((count, items)), axis=1)


def _ranks(orderings: npt.NDArray[np.intp]) -> npt.NDArray[np.integer[Any]]:
    """Each item's position in each ordering, in the smallest integer type that holds it: the sets' joining
    positions are maxima over gathered ranks, which run several times faster on bytes than on 64-bit integers."""
    count, items = orderings.shape
    rank = np.empty(orderings.shape, dtype=np.min_scalar_type(max(items - 1, 0)))
    rank[np.arange(count)[:, None], orderings] = np.arange(items)[None, :]
    return rank


def _marginals(
    game: _Game, orderings: npt.NDArray[np.intp], conversions: FloatArray, journeys: FloatArray, value: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each item's marginal contribution in each ordering, shape (orderings, items), for both games.

    A set joins the coalition at the position of its last item in the ordering; cumulative sums over positions
    then give conv, J and value of every prefix without any bitmask.
    """
    count, items = orderings.shape
    rank = _ranks(orderings)
    rows, columns = np.nonzero(game.membership)
    boundaries = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    total = float(journeys.sum())
    marginal_conversions = np.empty((count, items))
    marginal_value = np.empty((count, items))
    chunk = max(1, _ENTRIES_PER_CHUNK // max(columns.size, 1))
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        joins = np.maximum.reduceat(rank[start:stop][:, columns], boundaries, axis=1).astype(np.intp)
        flat = (joins + items * np.arange(stop - start)[:, None]).reshape(-1)
        prefix = {}
        for name, weights in (("conversions", conversions), ("journeys", journeys), ("value", value)):
            sums = np.bincount(flat, weights=np.tile(weights, stop - start), minlength=(stop - start) * items)
            prefix[name] = np.cumsum(sums.reshape(stop - start, items), axis=1)
        covered = prefix["journeys"]
        for name, out in (("conversions", marginal_conversions), ("value", marginal_value)):
            worth = total * np.divide(prefix[name], covered, out=np.zeros_like(covered), where=covered > 0)
            gain = np.diff(worth, axis=1, prepend=0.0)
            out[np.arange(start, stop)[:, None], orderings[start:stop]] = gain
    return marginal_conversions, marginal_value


class _FixedOrderings:
    """Mean marginal contributions over a few fixed orderings, for many rows of set counts at once.

    The sets' joining positions are worked out once into a sparse (ordering x position, set) matrix, so each
    bootstrap batch costs one sparse product instead of re-ranking every set.
    """

    def __init__(self, game: _Game, orderings: npt.NDArray[np.intp]) -> None:
        count, items = orderings.shape
        rank = _ranks(orderings)
        rows, columns = np.nonzero(game.membership)
        boundaries = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        joins = np.maximum.reduceat(rank[:, columns], boundaries, axis=1).astype(np.intp)
        sets = joins.shape[1]
        positions = (joins + items * np.arange(count)[:, None]).reshape(-1)
        self.entering = scipy.sparse.csr_matrix(
            (np.ones(joins.size), (positions, np.tile(np.arange(sets), count))), shape=(count * items, sets)
        )
        self.orderings = orderings

    def mean_marginals(self, conversions: FloatArray, journeys: FloatArray) -> FloatArray:
        """Shape (rows, items): each row's Shapley estimate over these orderings."""
        count, items = self.orderings.shape
        replicates = conversions.shape[0]

        def prefix(weights: FloatArray) -> FloatArray:
            sums = np.asarray(self.entering @ np.ascontiguousarray(weights.T)).reshape(count, items, replicates)
            return np.cumsum(sums, axis=1)

        covered = prefix(journeys)
        rate = np.divide(prefix(conversions), covered, out=np.zeros_like(covered), where=covered > 0)
        gain = np.diff(journeys.sum(axis=1)[None, None, :] * rate, axis=1, prepend=0.0)
        by_item = np.zeros((count, items, replicates))
        by_item[np.arange(count)[:, None], self.orderings] = gain
        return np.asarray(by_item.mean(axis=0).T, dtype=np.float64)


def shapley_values(paths: PathCounts, *, exact_limit: int = 12, samples: int = 2000, seed: int = 0) -> ShapleyEstimate:
    """Raw Shapley values of the conversion game (and of the value game), exact or by `samples` random orderings."""
    return _estimate(_Game.build(paths), exact_limit=exact_limit, samples=samples, seed=seed)


def _estimate(game: _Game, *, exact_limit: int, samples: int, seed: int) -> ShapleyEstimate:
    if exact_limit > EXACT_ITEMS_MAX:
        raise ValueError(f"exact_limit is at most {EXACT_ITEMS_MAX}: 2^n coalitions beyond that do not fit")
    if samples < 2:
        raise ValueError("Monte Carlo needs at least 2 orderings for a standard error")
    sets = game.sets
    if len(game.items) <= exact_limit:
        phi, phi_value = _exact(game, sets.conversions[None, :], sets.journeys_per_path()[None, :], sets.value[None, :])
        return ShapleyEstimate(
            values=dict(zip(game.items, phi[0].tolist(), strict=True)),
            value_credit=dict(zip(game.items, phi_value[0].tolist(), strict=True)),
            standard_error=dict.fromkeys(game.items, 0.0),
            exact=True,
            orderings=0,
        )
    orderings = _orderings(np.random.default_rng(seed), samples, len(game.items))
    marginal, marginal_value = _marginals(game, orderings, sets.conversions, sets.journeys_per_path(), sets.value)
    error = marginal.std(axis=0, ddof=1) / math.sqrt(samples)
    return ShapleyEstimate(
        values=dict(zip(game.items, marginal.mean(axis=0).tolist(), strict=True)),
        value_credit=dict(zip(game.items, marginal_value.mean(axis=0).tolist(), strict=True)),
        standard_error=dict(zip(game.items, error.tolist(), strict=True)),
        exact=False,
        orderings=samples,
    )


def shapley_attribution(
    paths: PathCounts,
    *,
    exact_limit: int = 12,
    samples: int = 2000,
    bootstrap: int = 200,
    seed: int = 0,
    prior: Mapping[str, float] | None = None,
    prior_strength: float = PRIOR_STRENGTH,
) -> Credit:
    """Credit each item with its Shapley value (conversions) and its Shapley value of the value game (revenue).

    The bootstrap redraws the journeys as set counts (the same distribution as redrawing paths, far cheaper).
    Exact mode recomputes the exact values per replicate. Monte Carlo mode cannot afford `samples` orderings per
    replicate, so every replicate uses the same first `BOOTSTRAP_ORDERINGS` orderings and is placed at
    point + (replicate - same orderings on the original journeys): common orderings cancel the Monte Carlo noise,
    leaving the spread of the journeys. `prior` shrinks credit and interval as in `shrink`.
    """
    if bootstrap < 0:
        raise ValueError("bootstrap counts replicates: 0 or more")
    game = _Game.build(paths)
    estimate = _estimate(game, exact_limit=exact_limit, samples=samples, seed=seed)
    items = paths.items
    sets = game.sets
    rng = np.random.default_rng(seed)
    resampler = sets.resampler()
    size = len(sets.paths)
    per_value = sets.value_per_conversion()
    reference = np.zeros(len(items))
    fixed: _FixedOrderings | None = None
    if not estimate.exact and bootstrap > 0:
        orderings = _orderings(np.random.default_rng(seed), min(samples, BOOTSTRAP_ORDERINGS), len(items))
        fixed = _FixedOrderings(game, orderings)
        reference = fixed.mean_marginals(sets.conversions[None, :], sets.journeys_per_path()[None, :])[0]
    point = np.array([estimate.values[item] for item in items])
    conversion_batches: list[FloatArray] = []
    credit_batches: list[FloatArray] = []
    for start in range(0, bootstrap, BOOTSTRAP_BATCH):
        drawn = resampler.draw(rng, min(BOOTSTRAP_BATCH, bootstrap - start))
        conversions, journeys = drawn[:, :size], drawn[:, :size] + drawn[:, size:]
        conversion_batches.append(conversions.sum(axis=1))
        if fixed is None:
            phi, _ = _exact(game, conversions, journeys, conversions * per_value[None, :])
            credit_batches.append(phi)
            continue
        credit_batches.append(point[None, :] + fixed.mean_marginals(conversions, journeys) - reference[None, :])
    return assemble_credit(
        "shapley",
        items,
        paths,
        point,
        np.array([estimate.value_credit[item] for item in items]),
        np.concatenate(credit_batches) if credit_batches else np.zeros((0, len(items))),
        np.concatenate(conversion_batches) if conversion_batches else np.zeros(0),
        prior,
        prior_strength,
    )
