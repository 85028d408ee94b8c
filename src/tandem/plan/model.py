"""The funnel model the plan is made with: for each step, a conversion rate and a lag distribution; a deal size.

A model is given by hand (the calculator: "10 % of MQLs become SALs, 45 days later") or estimated from history
(`tandem.plan.history`). What it holds:

- **Rate**: the share of the leads entering a stage that go on to the next. Estimated from data it keeps its counts
  (converted of cohort), and its uncertainty is the Beta posterior under Jeffreys' prior, Beta(converted + 1/2,
  cohort - converted + 1/2): few leads give a wide range, many a narrow one. A rate given by hand is exact unless
  given as counts (``120/400``).
- **Lag**: days from entering a stage to entering the next, as a distribution (weights over day values), not an
  average: MQLs of March become deals over the months that follow. A hand-given lag is one value.
- **Deal size**: the mean won amount, with its standard error (and the spread of single deals) when estimated from
  data.

Months: a plan is monthly. A lag of L days moves a lead from its month to a later one by ``L / 30.4375`` months
(the mean month, `tandem.durations.MONTH_DAYS`). With the lead's day uniformly spread within its month, a lag of
``i + f`` months (whole i, fraction f) lands ``i`` months later with probability ``1 - f`` and ``i + 1`` months
later with probability ``f`` (`Lag.month_offsets`): exact for a uniform spread, and a lag of whole months moves
exactly that many months.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.durations import MONTH_DAYS
from tandem.errors import ConfigError

__all__ = ["FunnelModel", "Lag", "Rate", "Step"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Rate:
    """A conversion rate from one stage to the next, with the counts it was estimated from (if any)."""

    value: float
    converted: int | None = None
    cohort: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.value <= 1:
            raise ConfigError(f"a conversion rate is above 0 and at most 1 (100 %), not {self.value!r}")

    @classmethod
    def from_counts(cls, converted: int, cohort: int) -> Rate:
        if cohort <= 0 or not 0 < converted <= cohort:
            raise ConfigError(f"a rate from counts needs 0 < converted <= cohort, not {converted}/{cohort}")
        return cls(converted / cohort, converted, cohort)

    @property
    def estimated(self) -> bool:
        return self.cohort is not None

    def draws(self, rng: np.random.Generator, n: int) -> Floats:
        """`n` plausible values of the rate: its Beta posterior when estimated, else the value itself."""
        if self.converted is None or self.cohort is None:
            return np.full(n, self.value)
        drawn: Floats = rng.beta(self.converted + 0.5, self.cohort - self.converted + 0.5, n)
        return np.maximum(drawn, 1e-12)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "converted": self.converted, "cohort": self.cohort}


@dataclass(frozen=True)
class Lag:
    """Days from entering a stage to entering the next: values and their weights (summing to 1)."""

    days: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.days or len(self.days) != len(self.weights):
            raise ConfigError("a lag needs at least one value, each with a weight")
        if any(d < 0 for d in self.days):
            raise ConfigError(f"a lag is at least 0 days, not {min(self.days)}")
        total = sum(self.weights)
        if total <= 0 or any(w < 0 for w in self.weights):
            raise ConfigError("a lag's weights are positive")
        if abs(total - 1) > 1e-9:
            object.__setattr__(self, "weights", tuple(w / total for w in self.weights))

    @classmethod
    def fixed(cls, days: float) -> Lag:
        return cls((float(days),), (1.0,))

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> Lag:
        """The empirical distribution of observed lags, in whole days (a day's fraction does not move a month)."""
        if len(samples) == 0:
            raise ConfigError("no observed lags to estimate a lag distribution from")
        values, counts = np.unique(np.round(np.asarray(samples, dtype=float)), return_counts=True)
        return cls(tuple(float(v) for v in values), tuple(float(c) / len(samples) for c in counts))

    @property
    def mean(self) -> float:
        return float(np.dot(self.days, self.weights))

    def quantile(self, q: float) -> float:
        """The smallest lag with at least `q` of the weight at or below it."""
        order = np.argsort(self.days)
        cumulative = np.cumsum(np.asarray(self.weights)[order])
        index = int(np.searchsorted(cumulative, q - 1e-12))
        return float(np.asarray(self.days)[order][min(index, len(order) - 1)])

    def month_offsets(self) -> dict[int, float]:
        """Probability that a lead entering the next stage does so 0, 1, 2... calendar months later (module docs)."""
        offsets: dict[int, float] = {}
        for days, weight in zip(self.days, self.weights, strict=True):
            months = days / MONTH_DAYS
            whole = int(np.floor(months + 1e-9))
            fraction = max(0.0, months - whole)
            if fraction < 1e-9:
                offsets[whole] = offsets.get(whole, 0.0) + weight
                continue
            offsets[whole] = offsets.get(whole, 0.0) + weight * (1 - fraction)
            offsets[whole + 1] = offsets.get(whole + 1, 0.0) + weight * fraction
        return dict(sorted(offsets.items()))

    def plus(self, other: Lag) -> Lag:
        """The lag of two steps in a row (independent): the distribution of the sum, by convolution."""
        sums: dict[float, float] = {}
        for a, wa in zip(self.days, self.weights, strict=True):
            for b, wb in zip(other.days, other.weights, strict=True):
                sums[a + b] = sums.get(a + b, 0.0) + wa * wb
        days = sorted(sums)
        return Lag(tuple(days), tuple(sums[d] for d in days))

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean_days": self.mean,
            "median_days": self.quantile(0.5),
            "p80_days": self.quantile(0.8),
            "values": len(self.days),
        }


@dataclass(frozen=True)
class Step:
    """One step of the funnel: from a stage to the next, its rate and its lag."""

    source: str
    target: str
    rate: Rate
    lag: Lag

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "rate": self.rate.as_dict(), "lag": self.lag.as_dict()}


@dataclass(frozen=True)
class FunnelModel:
    """Stages in order, a step between each two, and the deal size; `basis` says where the numbers came from."""

    stages: tuple[str, ...]
    steps: tuple[Step, ...]
    deal_size: float
    deal_size_se: float | None = None
    #: The spread of single deals' amounts (standard deviation), when estimated from data.
    deal_size_sd: float | None = None
    basis: str = "given by hand"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.stages) < 2 or len(self.steps) != len(self.stages) - 1:
            raise ConfigError("a funnel model needs at least two stages and one step between each two")
        for k, step in enumerate(self.steps):
            if (step.source, step.target) != (self.stages[k], self.stages[k + 1]):
                raise ConfigError(
                    f"step {k + 1} goes {step.source} -> {step.target}, expected {self.stages[k]} -> "
                    f"{self.stages[k + 1]}"
                )
        if not self.deal_size > 0:
            raise ConfigError(f"the deal size is a positive amount, not {self.deal_size!r}")

    @classmethod
    def from_steps(
        cls,
        rates: Mapping[tuple[str, str], Rate],
        lags: Mapping[tuple[str, str], Lag],
        deal_size: float,
        **kwargs: Any,
    ) -> FunnelModel:
        """A model from rates and lags keyed by (from, to); the steps must chain into one funnel.

        A step without a lag has none (0 days). Raises `ConfigError` naming the break when the steps do not chain.
        """
        stages = chain_of(list(rates))
        unknown = [f"{a}:{b}" for a, b in lags if (a, b) not in rates]
        if unknown:
            raise ConfigError(f"a lag for a step without a rate: {', '.join(unknown)}; give its rate too")
        steps = tuple(Step(a, b, rates[(a, b)], lags.get((a, b), Lag.fixed(0))) for a, b in itertools.pairwise(stages))
        return cls(stages=tuple(stages), steps=steps, deal_size=deal_size, **kwargs)

    def index(self, stage: str) -> int:
        try:
            return self.stages.index(stage)
        except ValueError:
            raise ConfigError(f"no stage {stage!r} in the model; its stages are {', '.join(self.stages)}") from None

    def rate_to_end(self, k: int) -> float:
        """The share of stage k's entries that reach the last stage: the product of the rates from k on."""
        return float(np.prod([step.rate.value for step in self.steps[k:]])) if k < len(self.steps) else 1.0

    def lag_to_end(self, k: int) -> Lag:
        """The lag from entering stage k to entering the last stage (the steps' lags added)."""
        total = Lag.fixed(0)
        for step in self.steps[k:]:
            total = total.plus(step.lag)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": list(self.stages),
            "steps": [step.as_dict() for step in self.steps],
            "deal_size": self.deal_size,
            "deal_size_se": self.deal_size_se,
            "deal_size_sd": self.deal_size_sd,
            "basis": self.basis,
            "notes": list(self.notes),
        }


def chain_of(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The stages of steps given as (from, to) pairs, in funnel order; `ConfigError` unless they form one chain."""
    if not pairs:
        raise ConfigError("give at least one conversion rate, e.g. mql:sql=0.4")
    following: dict[str, str] = {}
    for a, b in pairs:
        if a == b:
            raise ConfigError(f"the step {a}:{b} goes from a stage to itself")
        if a in following:
            raise ConfigError(f"two steps leave {a}: {a}:{following[a]} and {a}:{b}; a funnel has one next stage")
        following[a] = b
    targets = set(following.values())
    starts = [a for a in following if a not in targets]
    if len(starts) != 1:
        raise ConfigError(
            "the steps do not form one funnel from a first stage to a last: " + ", ".join(f"{a}:{b}" for a, b in pairs)
        )
    chain = [starts[0]]
    while chain[-1] in following:
        if following[chain[-1]] in chain:
            raise ConfigError(f"the steps go round in a circle at {following[chain[-1]]}")
        chain.append(following[chain[-1]])
    if len(chain) != len(pairs) + 1:
        raise ConfigError("the steps do not form one funnel: " + ", ".join(f"{a}:{b}" for a, b in pairs))
    return chain
