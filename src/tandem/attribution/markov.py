"""Markov-chain removal-effect attribution on aggregated journeys.

Each journey is a walk START -> its touches -> CONVERSION (or NULL when it did not convert); the walks' transition
counts, non-converting journeys included, estimate an absorbing Markov chain. An item's removal effect is the
share of the conversion probability from START lost when every transition into a state holding the item goes to
NULL instead; credit is split in proportion to the removal effects. Order k uses the last k touches as the state
(padded with START at the beginning, so the first state of order 2 is (START, c1)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse

from tandem.attribution.paths import BOOTSTRAP_BATCH, PRIOR_STRENGTH, Credit, FloatArray, PathCounts, assemble_credit

_ROUND_OFF = 1e-9
"""How far outside [0, 1] a removal effect may come out of floating-point round-off before it is a bug."""
_MATRIX_ENTRIES = 4_000_000
"""Entries of the (replicates, states, states) arrays solved together: replicates are batched within this."""


@dataclass(frozen=True)
class _Chain:
    """The chain's shape, fixed for the point estimate and every bootstrap replicate.

    State 0 is START; the other states are the distinct tuples of the last `order` items seen. `incidence` maps
    the path counts to transition counts: column j of the (transitions, paths) matrix counts how many times path j
    makes each transition, so counts = incidence @ weights is one sparse mat-vec per replicate.
    """

    states: int
    source: npt.NDArray[np.intp]
    target: npt.NDArray[np.intp]
    incidence: scipy.sparse.csr_matrix
    last_state: scipy.sparse.csr_matrix
    held_by: tuple[npt.NDArray[np.intp], ...]

    @classmethod
    def build(cls, paths: PathCounts, order: int) -> _Chain:
        """Number the states and transitions of every path at once (numpy, no loop over touches)."""
        items = len(paths.items)
        base = items + 1
        if order * np.log2(base) >= 62:
            raise ValueError(f"order {order} over {items} items does not fit the 64-bit state codes")
        item_index = {item: position for position, item in enumerate(paths.items)}
        lengths = np.fromiter((len(path) for path in paths.paths), dtype=np.intp, count=len(paths.paths))
        touches = np.fromiter((item_index[item] for path in paths.paths for item in path), dtype=np.int64)
        path_of_touch = np.repeat(np.arange(lengths.size), lengths)
        first_touch = np.cumsum(lengths) - lengths
        position = np.arange(touches.size) - np.repeat(first_touch, lengths)
        # A state is the window of the last `order` touches, coded in base items + 1 with 0 for START padding.
        code = np.zeros(touches.size, dtype=np.int64)
        for back in range(order):
            earlier = np.zeros(touches.size, dtype=np.int64)
            earlier[back:] = touches[: touches.size - back] + 1
            code += np.where(position >= back, earlier, 0) * base**back
        codes, state_of_touch = np.unique(code, return_inverse=True)
        state_of_touch = state_of_touch.reshape(-1) + 1
        previous = np.zeros(touches.size, dtype=np.int64)
        previous[1:] = state_of_touch[:-1]
        previous[position == 0] = 0
        states = codes.size + 1
        pairs, transition_of_touch = np.unique(previous * states + state_of_touch, return_inverse=True)
        incidence = scipy.sparse.csr_matrix(
            (np.ones(touches.size), (transition_of_touch.reshape(-1), path_of_touch)),
            shape=(pairs.size, lengths.size),
        )
        incidence.sum_duplicates()
        last_state = scipy.sparse.csr_matrix(
            (np.ones(lengths.size), (state_of_touch[first_touch + lengths - 1], np.arange(lengths.size))),
            shape=(states, lengths.size),
        )
        digits = (codes[:, None] // base ** np.arange(order)[None, :]) % base
        holds = np.zeros((states, items + 1), dtype=bool)
        holds[np.repeat(np.arange(1, states), order), digits.reshape(-1)] = True
        held_by = tuple(np.flatnonzero(holds[:, item + 1]) for item in range(items))
        return cls(states, pairs // states, pairs % states, incidence, last_state, held_by)

    def removal_effects(self, conversions: FloatArray, non_conversions: FloatArray) -> FloatArray:
        """Removal effect of each item for each replicate row of path counts, shape (replicates, items)."""
        rows = max(1, _MATRIX_ENTRIES // self.states**2)
        return np.concatenate(
            [
                self._removal_effects(conversions[start : start + rows], non_conversions[start : start + rows])
                for start in range(0, conversions.shape[0], rows)
            ]
        )

    def _removal_effects(self, conversions: FloatArray, non_conversions: FloatArray) -> FloatArray:
        """Conversion probability from START with every state, then without the states D holding each item.

        The fundamental matrix N = (I - Q)^-1 comes from one solve, never from powers of Q: x = N r is the
        probability to convert from each state. Without D, the walks that enter D are lost; they enter it first at
        d with probability F(START, d), and N[START, D] = F(START, D) N[D, D], so
        P_without = x[START] - N[START, D] N[D, D]^-1 x[D]: one small solve per item instead of one per item of the
        whole chain (order 2 over 40 items has ~1,600 states).
        """
        journeys = np.ascontiguousarray((conversions + non_conversions).T)
        moves = np.asarray(self.incidence @ journeys).T
        converted = np.asarray(self.last_state @ np.ascontiguousarray(conversions.T)).T
        lost = np.asarray(self.last_state @ np.ascontiguousarray(non_conversions.T)).T
        replicates = conversions.shape[0]
        counts = np.zeros((replicates, self.states, self.states))
        counts[:, self.source, self.target] = moves
        leaving = counts.sum(axis=2) + converted + lost
        safe = np.where(leaving > 0, leaving, 1.0)
        system = np.eye(self.states)[None, :, :] - counts / safe[:, :, None]
        fundamental = np.linalg.solve(system, np.broadcast_to(np.eye(self.states), system.shape))
        reach = np.einsum("bij,bj->bi", fundamental, converted / safe)
        effects = np.zeros((replicates, len(self.held_by)))
        converting = reach[:, 0] > 0
        for item, held in enumerate(self.held_by):
            entering = np.linalg.solve(fundamental[:, held[:, None], held[None, :]], reach[:, held, None])[:, :, 0]
            lost_without = np.einsum("bd,bd->b", fundamental[:, 0, held], entering)
            effect = np.divide(lost_without, reach[:, 0], out=np.zeros_like(lost_without), where=converting)
            if np.any(effect < -_ROUND_OFF) or np.any(effect > 1 + _ROUND_OFF):
                raise ArithmeticError(f"removal effects {effect} are beyond round-off: the chain is wrong")
            effects[:, item] = np.clip(effect, 0.0, 1.0)
        return effects


def _shares(effects: FloatArray) -> FloatArray:
    """Removal effects normalised to shares per replicate (all 0 when nothing converts)."""
    totals = effects.sum(axis=1, keepdims=True)
    shares: FloatArray = np.divide(effects, totals, out=np.zeros_like(effects), where=totals > 0)
    return shares


def markov_attribution(
    paths: PathCounts,
    *,
    order: int = 1,
    bootstrap: int = 200,
    seed: int = 0,
    prior: Mapping[str, float] | None = None,
    prior_strength: float = PRIOR_STRENGTH,
) -> Credit:
    """Credit each item with its normalised removal effect: RE(c) / sum RE * conversions (and * value).

    `bootstrap` replicates of the journeys (seeded) give the 95 % percentile interval of the conversion credit;
    `prior`, the rule-based credit on the same journeys, shrinks the credit and the interval (see `shrink`).
    Model name "markov" for order 1, "markov-<order>" above.
    """
    if order < 1:
        raise ValueError("the order of the chain is at least 1")
    if bootstrap < 0:
        raise ValueError("bootstrap counts replicates: 0 or more")
    chain = _Chain.build(paths, order)
    shares = _shares(chain.removal_effects(paths.conversions[None, :], paths.non_conversions[None, :]))[0]
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        resampler = paths.resampler()
        size = len(paths.paths)
        conversion_batches: list[FloatArray] = []
        credit_batches: list[FloatArray] = []
        for start in range(0, bootstrap, BOOTSTRAP_BATCH):
            drawn = resampler.draw(rng, min(BOOTSTRAP_BATCH, bootstrap - start))
            conversions = drawn[:, :size].sum(axis=1)
            conversion_batches.append(conversions)
            shares_drawn = _shares(chain.removal_effects(drawn[:, :size], drawn[:, size:]))
            credit_batches.append(shares_drawn * conversions[:, None])
        replicate_conversions = np.concatenate(conversion_batches)
        replicate_credit = np.concatenate(credit_batches)
    else:
        replicate_conversions = np.zeros(0)
        replicate_credit = np.zeros((0, len(paths.items)))
    return assemble_credit(
        "markov" if order == 1 else f"markov-{order}",
        paths.items,
        paths,
        shares * paths.total_conversions,
        shares * paths.total_value,
        replicate_credit,
        replicate_conversions,
        prior,
        prior_strength,
    )
