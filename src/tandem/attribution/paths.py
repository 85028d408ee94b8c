"""Aggregated journeys and what the data-driven models share: the bootstrap, evidence strength and shrinkage.

The warehouse hands the models distinct paths with counts, never single journeys, so everything here works on
counts: a bootstrap replicate redraws the journeys as a multinomial over the (path, outcome) cells, which is the
same as drawing the journeys one by one with replacement, without ever expanding them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

STRONG_EVIDENCE = 1_000.0
"""Converted journeys from which a data-driven model is trusted on its own (interval widths of a few percent)."""
MODERATE_EVIDENCE = 200.0
"""Converted journeys from which a data-driven model is worth showing next to the rule-based one."""
PRIOR_STRENGTH = 200.0
"""How many converted journeys the rule-based prior is worth: with 200 conversions data and prior weigh the same."""

_INDEX_DRAW_LIMIT = 24.0
"""Cells of a count class hold at most this many journeys on average for drawing journeys one by one to beat
numpy's per-cell multinomial (measured: ~115 ns a cell plus a call per class, ~8 ns a journey drawn and counted)."""
BOOTSTRAP_BATCH = 16
"""Replicates drawn and solved together: large enough to vectorise, small enough to bound memory."""


@dataclass(frozen=True, eq=False)
class PathCounts:
    """Distinct journeys with how many of them converted, did not, and the value converted ones brought.

    `paths[i]` is the ordered tuple of items (channels or campaigns, opaque strings) of the i-th distinct journey;
    `conversions[i]`, `non_conversions[i]` count its journeys by outcome (floats: normally whole numbers) and
    `value[i]` is the revenue of its converted journeys. The arrays are read-only copies; instances compare by
    identity, as arrays have no single truth value to compare fields with.
    """

    paths: tuple[tuple[str, ...], ...]
    conversions: FloatArray
    non_conversions: FloatArray
    value: FloatArray
    _items: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        size = len(self.paths)
        arrays: dict[str, FloatArray] = {}
        for name in ("conversions", "non_conversions", "value"):
            array = np.array(getattr(self, name), dtype=np.float64, copy=True).reshape(-1)
            if array.shape != (size,):
                raise ValueError(f"{name} has {array.size} entries for {size} paths")
            if not np.all(np.isfinite(array)) or np.any(array < 0):
                raise ValueError(f"{name} must be finite and non-negative")
            array.flags.writeable = False
            arrays[name] = array
            object.__setattr__(self, name, array)
        if np.any((arrays["conversions"] == 0) & (arrays["value"] > 0)):
            raise ValueError("a path has value but no converted journey to carry it")
        items: set[str] = set()
        for path in self.paths:
            if len(path) == 0:
                raise ValueError("every journey has at least one touch: an empty path is a data error")
            items.update(path)
        object.__setattr__(self, "paths", tuple(tuple(path) for path in self.paths))
        object.__setattr__(self, "_items", tuple(sorted(items)))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Sequence[str], float, float, float]]) -> PathCounts:
        """Build from (path, conversions, non-conversions, value) rows, adding up rows of the same path."""
        merged: dict[tuple[str, ...], list[float]] = {}
        for path, conversions, non_conversions, value in rows:
            totals = merged.setdefault(tuple(path), [0.0, 0.0, 0.0])
            totals[0] += conversions
            totals[1] += non_conversions
            totals[2] += value
        columns = np.array(list(merged.values()), dtype=np.float64).reshape(-1, 3)
        return cls(tuple(merged), columns[:, 0], columns[:, 1], columns[:, 2])

    @property
    def items(self) -> tuple[str, ...]:
        """The distinct items of all paths, sorted: the players of the models."""
        return self._items

    @property
    def total_conversions(self) -> float:
        """Converted journeys: what the conversion credits add up to."""
        return math.fsum(self.conversions.tolist())

    @property
    def total_value(self) -> float:
        """Revenue of the converted journeys: what the value credits add up to."""
        return math.fsum(self.value.tolist())

    @property
    def journeys(self) -> float:
        """All journeys, converted or not."""
        return self.total_conversions + math.fsum(self.non_conversions.tolist())

    def journeys_per_path(self) -> FloatArray:
        """Each path's journeys, converted or not."""
        return np.asarray(self.conversions + self.non_conversions, dtype=np.float64)

    def value_per_conversion(self) -> FloatArray:
        """Each path's revenue per converted journey (0 where none converted): kept by a bootstrap replicate."""
        rates = np.zeros_like(self.value)
        np.divide(self.value, self.conversions, out=rates, where=self.conversions > 0)
        return rates

    def item_sets(self) -> PathCounts:
        """The same journeys keyed by their sorted set of items, order and repeats forgotten (Shapley's view).

        Redrawing these coarser cells gives exactly the distribution of the set counts that redrawing the paths
        gives, at a fraction of the cost.
        """
        return PathCounts.from_rows(
            (tuple(sorted(set(path))), conversions, non_conversions, value)
            for path, conversions, non_conversions, value in zip(
                self.paths,
                self.conversions.tolist(),
                self.non_conversions.tolist(),
                self.value.tolist(),
                strict=True,
            )
        )

    def bootstrap_counts(self, rng: np.random.Generator, replicates: int) -> tuple[FloatArray, FloatArray]:
        """Conversions and non-conversions per path of `replicates` bootstrap replicates, shapes (replicates, paths).

        A replicate draws round(journeys) journeys with replacement: a multinomial over the 2 x paths
        (path, outcome) cells, each with probability count / journeys.
        """
        drawn = self.resampler().draw(rng, replicates)
        size = len(self.paths)
        return drawn[:, :size], drawn[:, size:]

    def resampler(self) -> Resampler:
        """The bootstrap's sampler over the (path, outcome) cells: conversions first, then non-conversions."""
        return Resampler(np.concatenate([self.conversions, self.non_conversions]))

    def resample(self, rng: np.random.Generator) -> PathCounts:
        """One bootstrap replicate; each path keeps its value per conversion."""
        conversions, non_conversions = self.bootstrap_counts(rng, 1)
        return PathCounts(self.paths, conversions[0], non_conversions[0], conversions[0] * self.value_per_conversion())


class Resampler:
    """Draws of Multinomial(round(sum(cells)), cells / sum(cells)): bootstrap replicates of counted journeys.

    numpy's multinomial costs ~100 ns per cell, too slow for 200 replicates of 200,000 cells, so a draw is split
    exactly in two stages: first how many journeys fall in each class of cells with the same count, then, cells of
    a class being equally likely, which cell of its class each journey falls in (journey by journey when the class
    holds few journeys per cell, else a uniform multinomial over the class; nothing to draw for a class of one).
    The classes are worked out once, so the models can draw their replicates in small batches to bound memory.
    """

    def __init__(self, cells: FloatArray) -> None:
        self.size = cells.size
        total = math.fsum(cells.tolist())
        self.journeys = round(total)
        positive = np.flatnonzero(cells > 0)
        class_counts, class_of_cell = np.unique(cells[positive], return_inverse=True)
        self.class_sizes = np.bincount(class_of_cell.reshape(-1), minlength=class_counts.size)
        probabilities = class_counts * self.class_sizes / total if total > 0 else np.zeros(0)
        self.class_probabilities = probabilities / probabilities.sum() if probabilities.size else probabilities
        self.members = positive[np.argsort(class_of_cell.reshape(-1), kind="stable")]
        self.class_starts = np.cumsum(self.class_sizes) - self.class_sizes
        single = self.class_sizes == 1
        journey_by_journey = ~single & (class_counts * self.journeys / max(total, 1.0) <= _INDEX_DRAW_LIMIT)
        self.single_classes = np.flatnonzero(single)
        self.single_cells = self.members[self.class_starts[single]]
        self.drawn_classes = np.flatnonzero(journey_by_journey)
        self.per_cell_classes = np.flatnonzero(~single & ~journey_by_journey)

    def draw(self, rng: np.random.Generator, replicates: int) -> FloatArray:
        """`replicates` independent draws, shape (replicates, cells)."""
        drawn = np.zeros((replicates, self.size), dtype=np.float64)
        if replicates == 0 or self.journeys == 0:
            return drawn
        per_class = rng.multinomial(self.journeys, self.class_probabilities, size=replicates)
        drawn[:, self.single_cells] = per_class[:, self.single_classes]
        for class_index in self.drawn_classes:
            size = int(self.class_sizes[class_index])
            cells = self.members[int(self.class_starts[class_index]) : int(self.class_starts[class_index]) + size]
            in_class = per_class[:, class_index]
            cell_of_draw = rng.integers(0, size, size=int(in_class.sum()))
            ends = np.cumsum(in_class)
            for replicate, end in enumerate(ends.tolist()):
                drawn[replicate, cells] = np.bincount(cell_of_draw[end - in_class[replicate] : end], minlength=size)
        for class_index in self.per_cell_classes:
            size = int(self.class_sizes[class_index])
            start = int(self.class_starts[class_index])
            drawn[:, self.members[start : start + size]] = rng.multinomial(
                per_class[:, class_index], np.full(size, 1.0 / size)
            )
        return drawn


@dataclass(frozen=True)
class Credit:
    """One data-driven model's credit per item, with its uncertainty and how much the prior pulled it.

    `conversions` adds up to the converted journeys, `value` to their revenue. `low`/`high` bound the bootstrap
    95 % percentile interval of the conversion credit; they are None when the model ran with `bootstrap=0`
    (no interval rather than a zero-width one that would look certain). `strength` is `evidence_strength` of the
    converted journeys; `shrink_weight` is the data's weight w of `shrink` (1.0 when no prior was given).
    """

    model: str
    conversions: dict[str, float]
    value: dict[str, float]
    low: dict[str, float] | None
    high: dict[str, float] | None
    strength: str
    shrink_weight: float
    bootstrap: int


def evidence_strength(conversions: float) -> str:
    """How far the data-driven credit can be trusted, from the number of converted journeys.

    Decision: "strong" from 1,000 converted journeys (a channel with a 10 % share then rests on ~100 of them and
    its interval is a few points wide), "moderate" from 200 (the shrinkage weight passes 1/2: the data outweighs
    the rule-based prior), "weak" below 200.
    """
    if conversions >= STRONG_EVIDENCE:
        return "strong"
    if conversions >= MODERATE_EVIDENCE:
        return "moderate"
    return "weak"


def shrink(
    data_driven: Mapping[str, float],
    prior: Mapping[str, float] | None,
    conversions: float,
    prior_strength: float = PRIOR_STRENGTH,
) -> tuple[dict[str, float], float]:
    """Pull a data-driven credit toward the rule-based prior when the data is thin; returns (credit, w).

    credit = w * data + (1 - w) * prior with w = n / (n + prior_strength), n the converted journeys: the prior
    counts as `prior_strength` journeys of evidence. An item missing on one side counts 0 there. Without a prior
    nothing is shrunk (w = 1).
    """
    if prior is None:
        return dict(data_driven), 1.0
    if prior_strength < 0 or conversions < 0:
        raise ValueError("prior_strength and conversions must be non-negative")
    weight = conversions / (conversions + prior_strength) if conversions + prior_strength > 0 else 1.0
    names = sorted(set(data_driven) | set(prior))
    return {name: weight * data_driven.get(name, 0.0) + (1.0 - weight) * prior.get(name, 0.0) for name in names}, weight


def prior_shares(prior: Mapping[str, float] | None) -> dict[str, float] | None:
    """The prior as shares summing to 1, so it can be scaled to any replicate's conversions."""
    if prior is None:
        return None
    if any(not math.isfinite(credit) or credit < 0 for credit in prior.values()):
        raise ValueError("the prior credit must be finite and non-negative")
    total = math.fsum(prior.values())
    if total <= 0:
        raise ValueError("the prior gives no credit to anything: it cannot be used as shares")
    return {name: credit / total for name, credit in prior.items()}


def assemble_credit(
    model: str,
    items: Sequence[str],
    paths: PathCounts,
    conversion_credit: FloatArray,
    value_credit: FloatArray,
    replicate_credit: FloatArray,
    replicate_conversions: FloatArray,
    prior: Mapping[str, float] | None,
    prior_strength: float,
) -> Credit:
    """Shrink the point credit and each bootstrap replicate toward the prior, and take the percentile interval.

    A replicate is shrunk with its own converted journeys (its w) and the prior's shares scaled to them, as the
    rule-based model on the redrawn journeys would be; the interval is the 2.5 and 97.5 percentiles.
    """
    shares = prior_shares(prior)
    total_conversions = paths.total_conversions
    total_value = paths.total_value

    def scaled(scale: float) -> dict[str, float] | None:
        return None if shares is None else {name: share * scale for name, share in shares.items()}

    conversions, weight = shrink(
        dict(zip(items, conversion_credit.tolist(), strict=True)),
        scaled(total_conversions),
        total_conversions,
        prior_strength,
    )
    value, _ = shrink(
        dict(zip(items, value_credit.tolist(), strict=True)), scaled(total_value), total_conversions, prior_strength
    )
    low: dict[str, float] | None = None
    high: dict[str, float] | None = None
    if replicate_credit.shape[0] > 0:
        names = sorted(conversions)
        column = {name: index for index, name in enumerate(items)}
        replicates = np.zeros((replicate_credit.shape[0], len(names)))
        for position, name in enumerate(names):
            if name in column:
                replicates[:, position] = replicate_credit[:, column[name]]
        if shares is not None:
            evidence = replicate_conversions + prior_strength
            data_weight = np.divide(replicate_conversions, evidence, out=np.ones_like(evidence), where=evidence > 0)
            prior_part = np.array([shares.get(name, 0.0) for name in names])
            replicates = (
                data_weight[:, None] * replicates
                + ((1.0 - data_weight) * replicate_conversions)[:, None] * prior_part[None, :]
            )
        bounds = np.percentile(replicates, [2.5, 97.5], axis=0)
        low = dict(zip(names, bounds[0].tolist(), strict=True))
        high = dict(zip(names, bounds[1].tolist(), strict=True))
    return Credit(
        model=model,
        conversions=conversions,
        value=value,
        low=low,
        high=high,
        strength=evidence_strength(total_conversions),
        shrink_weight=weight,
        bootstrap=int(replicate_credit.shape[0]),
    )
