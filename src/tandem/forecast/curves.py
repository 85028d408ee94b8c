"""Time-to-event curves on a daily grid, with censoring: when deals are won or lost, when leads move on.

Why not "won / (won + lost)" and a median cycle: at any moment many deals and leads are still open. Counting
them as lost reads the funnel low; leaving them out reads it high and ignores their age. The estimator here is
Aalen-Johansen (Kaplan-Meier with competing outcomes): at each age in days, the share of what was still open at
that age that ended that day, won or lost. A deal of age a then has

    P(won at an age in (a, a + D] | still open at age a) = (CIF_won(a + D) - CIF_won(a)) / S(a)

where S is the share still open and CIF_won the cumulative share won. For a lead step there is one outcome
(moved on to the next stage); there is no "lost" event, so the curve simply tends to the step's eventual rate.

Ages beyond those the history has seen enough of (fewer than `min_at_risk` still open) use the pooled hazard of
the oldest ages: old deals still close, slowly, and a curve that stops would call them certain losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["EventCurve", "event_curve"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: Below this many still open at an age, the hazard is pooled with the older ages.
MIN_AT_RISK = 20


@dataclass(frozen=True)
class EventCurve:
    """Daily hazards of each outcome by age (index = age in days), and the counts they rest on."""

    hazards: Floats  # shape (outcomes, ages)
    at_risk: Floats  # still open at each age
    events: Ints  # how many of each outcome were observed
    observed: int  # how many subjects

    @property
    def ages(self) -> int:
        return int(self.hazards.shape[1])

    def extended(self, ages: int) -> EventCurve:
        """The curve over at least `ages` ages; the last hazard carries on (module docs)."""
        if ages <= self.ages:
            return self
        tail = np.repeat(self.hazards[:, -1:], ages - self.ages, axis=1)
        at_risk = np.r_[self.at_risk, np.zeros(ages - self.ages)]
        return EventCurve(np.concatenate([self.hazards, tail], axis=1), at_risk, self.events, self.observed)

    def survival(self) -> Floats:
        """S(a): the share still open after age a."""
        result: Floats = np.cumprod(1.0 - self.hazards.sum(axis=0))
        return result

    def incidence(self, outcome: int = 0) -> Floats:
        """CIF(a): the share that ended with `outcome` at an age up to a."""
        survival = self.survival()
        before = np.r_[1.0, survival[:-1]]
        result: Floats = np.cumsum(before * self.hazards[outcome])
        return result

    def pmf(self, outcome: int = 0) -> Floats:
        """The share of new subjects ending with `outcome` at each age (sums to the eventual rate)."""
        return np.diff(np.r_[0.0, self.incidence(outcome)])

    def within(self, ages: Ints, days: int, outcome: int = 0) -> Floats:
        """P(`outcome` at an age in (a, a + days] | still open at age a), for each a in `ages` (module docs)."""
        curve = self.extended(int(ages.max(initial=0)) + days + 2)
        survival = curve.survival()
        incidence = curve.incidence(outcome)
        ages = np.asarray(ages, dtype=np.int64)
        alive = survival[ages]
        gained = incidence[ages + days] - incidence[ages]
        result: Floats = np.where(alive > 1e-12, gained / np.maximum(alive, 1e-12), 0.0)
        return np.clip(result, 0.0, 1.0)

    def within_calendar(self, ages: Ints, lift: Floats, outcome: int = 0) -> Floats:
        """As `within` over len(lift) days, with `outcome`'s hazard on day x multiplied by lift[x - 1].

        Day by day from a still-open deal: P = sum over x of S(x - 1) h(a + x) lift[x - 1], where S(x) is the
        share still open after day x under the lifted hazard and the others' unchanged.
        """
        days = int(lift.size)
        ages = np.asarray(ages, dtype=np.int64)
        if not days or not ages.size:
            return np.zeros(ages.size)
        curve = self.extended(int(ages.max(initial=0)) + days + 2)
        index = ages[:, None] + np.arange(1, days + 1)[None, :]
        lifted = curve.hazards[outcome][index] * lift[None, :]
        total = np.clip(curve.hazards.sum(axis=0)[index] - curve.hazards[outcome][index] + lifted, 0.0, 1.0)
        lifted = np.minimum(lifted, total)
        still_open = np.cumprod(1.0 - total, axis=1)
        before = np.concatenate([np.ones((ages.size, 1)), still_open[:, :-1]], axis=1)
        result: Floats = np.clip((before * lifted).sum(axis=1), 0.0, 1.0)
        return result


def event_curve(durations: Floats, outcomes: Ints, n_outcomes: int, *, min_at_risk: int = MIN_AT_RISK) -> EventCurve:
    """The Aalen-Johansen curve from observed `durations` (days) and `outcomes` (0..n-1, or -1: still open).

    A subject still open at duration d was open at every age up to and including d (it is censored after d).
    """
    ages = np.floor(np.asarray(durations, dtype=np.float64)).astype(np.int64)
    ages = np.maximum(ages, 0)
    outcomes = np.asarray(outcomes, dtype=np.int64)
    size = int(ages.max(initial=0)) + 1
    # At risk at age j: every subject whose observed age is at least j.
    ended_at = np.bincount(ages, minlength=size).astype(np.float64)
    at_risk = ended_at[::-1].cumsum()[::-1]
    counts = np.zeros((n_outcomes, size))
    for outcome in range(n_outcomes):
        counts[outcome] = np.bincount(ages[outcomes == outcome], minlength=size)
    hazards = np.where(at_risk > 0, counts / np.maximum(at_risk, 1.0), 0.0)
    # Pool the thin tail: from the first age with fewer than min_at_risk open, one hazard for all older ages.
    thin = np.flatnonzero(at_risk < min_at_risk)
    if thin.size and thin[0] > 0:
        start = int(thin[0])
        exposure = at_risk[start:].sum()
        pooled = counts[:, start:].sum(axis=1) / exposure if exposure > 0 else np.zeros(n_outcomes)
        hazards = np.concatenate([hazards[:, :start], pooled[:, None]], axis=1)
        at_risk = np.r_[at_risk[:start], at_risk[start]]
    return EventCurve(
        hazards=hazards,
        at_risk=at_risk,
        events=np.asarray([int((outcomes == o).sum()) for o in range(n_outcomes)], dtype=np.int64),
        observed=int(ages.size),
    )
