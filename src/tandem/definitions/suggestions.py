"""Suggestions from data for a workspace: what `tandem definitions suggest` and ``/api/definitions/suggestions`` show.

It puts together the pieces of `tandem.definitions.suggest`: the training frame of the workspace's leads old enough
to judge, the won model (which attributes predict reaching the last stage, with its held-out AUC), and the
threshold curve of the model's score for one stage (default the MQL stage: the last marketing one): if the stage
were "score at or above t", how many leads would reach it and how many of them went on to win.

The curve is drawn on the held-out leads only (the model never saw them), among those that reached the stage
before it (for the MQL stage: those that reached the stage before MQL), so its rates are honest. Beside it, the
stage as defined today: how many of the same leads reached it and their won rate. Nothing here changes the
definitions; it informs the next proposal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from tandem.definitions.suggest import (
    OUTCOME_COLUMN,
    AttributeImportance,
    ThresholdRow,
    fit_won_model,
    threshold_curve,
    workspace_training_frame,
)
from tandem.engine.spec import as_of_or_now
from tandem.errors import ConfigError

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.definitions.model import Definitions

__all__ = ["NOTE", "Suggestions", "curve_stage", "suggest_definitions"]

NOTE = "A suggestion to inform the next definitions proposal; it does not change the definitions."
#: Leads of each outcome (won, not won) the model needs: its 5-fold cross-validation and held-out split stay
#: stratified with at least two of each in every part.
MIN_PER_CLASS = 20
#: Share of the candidates passing at each threshold of the curve: all of them, then 90 %, 80 % ... 10 %.
CURVE_SHARES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)


@dataclass(frozen=True)
class Suggestions:
    """The model, its ranked attributes and the threshold curve for one stage."""

    definition_version: int
    as_of: datetime
    stage: str
    candidates_stage: str
    outcome: str
    min_age_days: int
    auc: float
    train_rows: int
    test_rows: int
    base_rate: float
    features: list[str]
    attributes: list[AttributeImportance]
    candidates: int  # held-out leads that reached `candidates_stage`
    current_reached: int  # of them, those that reached `stage` as defined today
    current_won: int
    curve: list[ThresholdRow]

    @property
    def current_rate(self) -> float | None:
        return self.current_won / self.current_reached if self.current_reached else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "definition_version": self.definition_version,
            "as_of": self.as_of.isoformat(),
            "stage": self.stage,
            "candidates_stage": self.candidates_stage,
            "outcome": self.outcome,
            "min_age_days": self.min_age_days,
            "model": {
                "auc": self.auc,
                "train_rows": self.train_rows,
                "test_rows": self.test_rows,
                "base_rate": self.base_rate,
                "features": self.features,
            },
            "attributes": [{**asdict(a), "effect": a.describe()} for a in self.attributes],
            "current": {
                "candidates": self.candidates,
                "reached": self.current_reached,
                "won": self.current_won,
                "rate": self.current_rate,
            },
            "curve": [asdict(row) for row in self.curve],
            "note": NOTE,
        }


def curve_stage(definitions: Definitions, stage: str | None = None) -> str:
    """The stage a threshold curve is drawn for: `stage`, or by default the last marketing stage (the MQL stage).

    It must be a stage of `definitions` between the first (everyone reaches it) and the last (the outcome itself);
    a refusal names the ``stage`` field.
    """
    names = definitions.stage_names
    if stage is None:
        marketing = [i for i, s in enumerate(definitions.stages) if s.side == "marketing"]
        stage = names[marketing[-1]] if marketing else names[1]
    if stage not in names:
        raise ConfigError(f"unknown stage {stage!r}; the stages are {', '.join(names)}", field="stage", value=stage)
    if names.index(stage) in (0, len(names) - 1):
        raise ConfigError(
            f"{stage!r} is not between the first and the last stage; choose one of {', '.join(names[1:-1])}",
            field="stage",
            value=stage,
        )
    return stage


def suggest_definitions(
    ws: DefinitionsContext,
    *,
    stage: str | None = None,
    as_of: date | datetime | str | None = None,
    top: int = 10,
    min_age_days: int = 90,
    seed: int = 0,
) -> Suggestions:
    """Fit the won model on the workspace's leads at least `min_age_days` old and draw `stage`'s threshold curve.

    `stage` defaults to the last marketing stage; it cannot be the first stage (everyone reaches it) or the last
    (the outcome itself). The same data and `seed` give the same answer.
    """
    from sklearn.model_selection import train_test_split

    moment = as_of_or_now(as_of)
    if not 1900 <= moment.year <= 9000:
        raise ConfigError(
            f"{moment:%Y-%m-%d} is out of the range of dates suggestions can use", field="as_of", value=as_of
        )
    current = ws.definitions_in_force(moment)  # what the training frame counts under
    names = current.definitions.stage_names
    stage = curve_stage(current.definitions, stage)
    index = names.index(stage)
    if top < 1:
        raise ConfigError(f"{top} is too small; list at least 1 attribute", field="top", value=top)
    outcome = names[-1]
    frame = workspace_training_frame(ws, outcome, moment, min_age_days=min_age_days)
    wins = int(frame[OUTCOME_COLUMN].sum())
    if min(wins, len(frame) - wins) < MIN_PER_CLASS:
        raise ConfigError(
            f"{wins} of the {len(frame)} leads at least {min_age_days} days old reached {outcome}: a model needs at "
            f"least {MIN_PER_CLASS} that did and {MIN_PER_CLASS} that did not"
        )
    reached_stage = workspace_training_frame(ws, stage, moment, min_age_days=min_age_days)[OUTCOME_COLUMN]
    reached_before = workspace_training_frame(ws, names[index - 1], moment, min_age_days=min_age_days)[OUTCOME_COLUMN]
    test_size = 0.25
    model = fit_won_model(frame, OUTCOME_COLUMN, test_size=test_size, seed=seed)
    # The held-out split of fit_won_model, drawn again: the same rows, labels, size and seed give the same split.
    y = frame[OUTCOME_COLUMN].to_numpy()
    _, held_out = train_test_split(np.arange(len(frame)), test_size=test_size, stratify=y, random_state=seed)
    held = frame.iloc[np.sort(held_out)]
    candidates = reached_before.iloc[held.index].to_numpy(dtype=bool)
    pool = held[candidates]
    won = pool[OUTCOME_COLUMN].to_numpy(dtype=bool)
    scores = model.predict(pool) if len(pool) else np.zeros(0)
    thresholds = sorted({float(np.quantile(scores, 1 - share)) for share in CURVE_SHARES}) if len(pool) else []
    reached_now = reached_stage.iloc[held.index].to_numpy(dtype=bool)[candidates]
    return Suggestions(
        definition_version=current.version,
        as_of=moment,
        stage=stage,
        candidates_stage=names[index - 1],
        outcome=outcome,
        min_age_days=min_age_days,
        auc=model.auc,
        train_rows=model.train_rows,
        test_rows=model.test_rows,
        base_rate=model.base_rate,
        features=model.features,
        attributes=model.ranking[:top],
        candidates=len(pool),
        current_reached=int(reached_now.sum()),
        current_won=int((reached_now & won).sum()),
        curve=threshold_curve(scores, won, thresholds) if len(pool) else [],
    )
