"""The attribution model both leaders approve: how a deal's credit is split over the touches of its journey.

Part of the shared definitions (``attribution:``), so the model that decides "how much of this revenue did
marketing produce" is proposed, approved by one leader of each side, versioned and audited like a stage rule
(docs/attribution.md, "The approved model"). Everything that says marketing-sourced names the version it used.

The rule-based models are position weights over a journey's milestones (`PositionWeights`): its first touch, the
touch that created the lead, the touch that created the opportunity, and its last touch before the outcome; the
touches between share the rest. A data-driven model (Markov, Shapley) cannot be the approved one: its credit for
a past deal moves whenever new journeys arrive, and a quota or a commission must not change after the fact. They
are shown beside it, shrunk toward it where the data is thin.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "DATA_DRIVEN_MODELS",
    "LEVELS",
    "MODEL_NAMES",
    "OUTCOMES",
    "RULE_MODELS",
    "SOURCED_RULES",
    "AttributionModel",
    "PositionWeights",
    "model_name",
    "model_weights",
]

#: The rule-based models, in the order the comparison shows them.
RULE_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "u_shaped",
    "w_shaped",
    "full_path",
    "time_decay",
    "custom",
)
#: The data-driven models: computed on the journeys aggregated to paths (`tandem.attribution.markov`, `.shapley`).
DATA_DRIVEN_MODELS = ("markov", "shapley")
#: How a model is named where people read it (the keys are how the definitions file and the API write it).
MODEL_NAMES = {
    "first_touch": "first touch",
    "last_touch": "last touch",
    "last_non_direct": "last non-direct",
    "linear": "linear",
    "u_shaped": "U-shaped",
    "w_shaped": "W-shaped",
    "full_path": "full path",
    "time_decay": "time decay",
    "custom": "custom",
    "markov": "Markov",
    "markov_2": "Markov, 2nd order",
    "shapley": "Shapley",
}
#: Whose touches make a journey: the lead's own; the opportunity's (its lead's, and touches on its account with no
#: lead); or the account's (every lead of the account: the buying group).
LEVELS = ("lead", "opportunity", "account")
#: What is credited: leads created, pipeline (opportunities created, by amount), revenue (deals won, by amount).
OUTCOMES = ("leads", "pipeline", "revenue")
#: Which channel sources a lead: the channel of its journey's first touch, or the lead's own ``channel`` column.
SOURCED_RULES = ("first_touch", "lead_channel")

Level = Literal["lead", "opportunity", "account"]


class PositionWeights(BaseModel):
    """Percent of a journey's credit for each milestone touch, and for the touches between them (sum 100).

    ``between`` is shared equally by the touches after the first touch and before the last milestone the model
    weighs. A milestone a journey lacks (no touch before the lead was created, say) leaves its share to the
    others: the weights that remain are scaled back to 100 %.
    """

    model_config = ConfigDict(frozen=True)

    first: float = 0.0
    lead: float = 0.0
    opportunity: float = 0.0
    last: float = 0.0
    between: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {key: value for key, value in self.model_dump().items() if value}


#: The published position models (DESIGN.md, "Attribution weights").
_POSITIONS: dict[str, PositionWeights] = {
    "first_touch": PositionWeights(first=100),
    "last_touch": PositionWeights(last=100),
    "u_shaped": PositionWeights(first=40, lead=40, between=20),
    "w_shaped": PositionWeights(first=30, lead=30, opportunity=30, between=10),
    "full_path": PositionWeights(first=22.5, lead=22.5, opportunity=22.5, last=22.5, between=10),
}


class AttributionModel(BaseModel):
    """The approved model: its type, its weights or half-life, the journey's lookback and level, and the rules for
    repeats, direct traffic and sourcing."""

    model_config = ConfigDict(frozen=True)

    model: str = "w_shaped"
    level: Level = "opportunity"
    lookback_days: int = 365
    collapse_repeats: bool = True
    half_life_days: float = 7.0
    weights: PositionWeights | None = None
    direct_channels: tuple[str, ...] = ("direct",)
    sourced_by: Literal["first_touch", "lead_channel"] = "first_touch"

    @property
    def label(self) -> str:
        """How the model is named on a page: its type and, where it has them, its parameters."""
        if self.model == "time_decay":
            return f"time decay (half-life {self.half_life_days:g} days)"
        if self.model == "custom" and self.weights is not None:
            shown = ", ".join(f"{key} {value:g} %" for key, value in self.weights.as_dict().items())
            return f"custom ({shown})"
        return model_name(self.model)

    def as_dict(self) -> dict[str, Any]:
        """The section as it is written in the definitions file (defaults left out, so a diff shows choices)."""
        data: dict[str, Any] = {"model": self.model, "level": self.level, "lookback": f"{self.lookback_days} days"}
        data["repeats"] = "collapse" if self.collapse_repeats else "keep"
        if self.model == "time_decay":
            data["half_life"] = f"{self.half_life_days:g} days"
        if self.weights is not None:
            data["weights"] = self.weights.as_dict()
        if self.direct_channels != ("direct",):
            data["direct_channels"] = list(self.direct_channels)
        data["sourced_by"] = self.sourced_by
        return data


def model_weights(model: str, weights: PositionWeights | None = None) -> PositionWeights | None:
    """The position weights of a position model (custom: `weights`); None for linear, time decay and last
    non-direct, which weigh touches otherwise."""
    if model == "custom":
        return weights
    return _POSITIONS.get(model)


def model_name(key: str) -> str:
    """`key` (``w_shaped``) as people read it (W-shaped); an unknown key with its underscores as spaces."""
    return MODEL_NAMES.get(key, key.replace("_", " "))
