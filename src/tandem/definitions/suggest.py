"""Suggestions from data: which attributes predict reaching won, and an MQL threshold against volume and quality.

These inform the next definitions proposal; they never change definitions by themselves. The model is a
regularised logistic regression (scikit-learn): its coefficients read as "this attribute raises the odds", which a
marketing and a sales lead can discuss, and its held-out AUC says how much to trust them. The threshold curve is
plain numpy so its figures can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tandem.engine.entries import entry_table, stage_column
from tandem.engine.spec import as_of_or_now
from tandem.errors import ConfigError

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext

__all__ = [
    "OUTCOME_COLUMN",
    "AttributeImportance",
    "ThresholdRow",
    "WonModel",
    "describe_curve",
    "fit_won_model",
    "threshold_curve",
    "workspace_training_frame",
]

#: The boolean target column `workspace_training_frame` adds.
OUTCOME_COLUMN = "reached_outcome"

_MISSING = "(missing)"

#: Lead columns that identify or date a lead rather than describe it: never features.
_NOT_FEATURES = ("lead_id", "created_at", "email", "account_id", "campaign_id", "_import_id", "_imported_at")


@dataclass(frozen=True)
class AttributeImportance:
    """One source attribute's weight in the model.

    `importance` is the sum of the absolute standardised coefficients of its levels (one for a number);
    `strongest` names the level with the largest coefficient and `raises` says whether it raises the odds.
    """

    attribute: str
    importance: float
    strongest: str
    raises: bool

    def describe(self) -> str:
        effect = "raises" if self.raises else "lowers"
        return f"{self.strongest} {effect} the odds"


@dataclass
class WonModel:
    """A fitted won model and how well it ranks leads it never saw."""

    target: str
    auc: float
    train_rows: int
    test_rows: int
    base_rate: float
    features: list[str]
    ranking: list[AttributeImportance]
    pipeline: Any = field(repr=False)

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Probability of reaching the target for each row of `frame` (same columns as the training frame)."""
        return np.asarray(self.pipeline.predict_proba(frame[self.features])[:, 1], dtype=np.float64)

    def describe(self, top: int = 5) -> str:
        """Plain text for the CLI: how good the model is and the attributes that predict the target most."""
        lines = [
            f"held-out AUC {self.auc:.2f} on {self.test_rows:,} leads "
            f"(trained on {self.train_rows:,}; base rate {self.base_rate:.1%})",
            f"the attributes that predict {self.target} most:",
        ]
        lines += [
            f"  {i}. {a.attribute} ({a.importance:.2f}): {a.describe()}" for i, a in enumerate(self.ranking[:top], 1)
        ]
        lines.append("a suggestion for the next definitions proposal, not a change to the definitions")
        return "\n".join(lines)


@dataclass(frozen=True)
class ThresholdRow:
    """Leads with a score at or above `threshold`: the MQL volume and its downstream quality."""

    threshold: float
    volume: int
    share: float
    reached: int
    rate: float | None
    rate_below: float | None
    recall: float | None


def fit_won_model(
    frame: pd.DataFrame,
    target: str,
    *,
    features: Sequence[str] | None = None,
    leaky: Sequence[str] = (),
    test_size: float = 0.25,
    seed: int = 0,
) -> WonModel:
    """Fit a regularised logistic regression of `target` on the other columns and score it on a held-out split.

    Numbers are median-imputed and standardised; text columns keep "missing" as its own level and group levels
    rarer than 1% into one. Attributes are ranked by the sum of their levels' absolute standardised coefficients
    (coefficient times the column's standard deviation), so numbers and categories compare. C (the L2 strength)
    is chosen by 5-fold cross-validated AUC on the training split only; the AUC is measured on the stratified
    held-out split.
    Identifier-like columns (every value distinct), constant columns and the `leaky` ones (filled in after the
    outcome is known) are left out. The same `seed` gives the same model.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if target not in frame.columns:
        raise ConfigError(f"target column {target!r} is not in the frame")
    if frame[target].isna().any():
        raise ConfigError(f"{target!r} has {int(frame[target].isna().sum())} missing values: drop or fill them first")
    y = frame[target].astype(bool).to_numpy()
    if y.all() or not y.any():
        raise ConfigError(f"{target!r} has a single value: nothing to learn")
    chosen = list(features) if features is not None else [c for c in frame.columns if c != target]
    excluded = set(leaky) | {target}
    usable = [c for c in chosen if c not in excluded and _informative(frame[c])]
    if not usable:
        raise ConfigError("no usable feature columns (all identifier-like, constant or excluded)")
    numeric = [
        c for c in usable if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    categorical = [c for c in usable if c not in numeric]
    x = frame[usable].copy()
    for column in categorical:
        x[column] = x[column].astype("string").fillna(_MISSING).astype(object)

    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(
            ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric)
        )
    if categorical:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.01, sparse_output=False)
        transformers.append(("cat", encoder, categorical))
    prepare = ColumnTransformer(transformers, verbose_feature_names_out=False)
    # GridSearchCV over C rather than LogisticRegressionCV: the latter's arguments and fitted attributes are being
    # reworked (scikit-learn 1.8-1.10) and warn either way; the grid search is the same choice, stable across 1.x.
    # Newton-Cholesky suits many leads and a few hundred levels: a few steps where lbfgs crawls on nearly
    # separable data (25 times faster with X Education's sales-side columns).
    model = GridSearchCV(
        LogisticRegression(class_weight="balanced", solver="newton-cholesky", max_iter=500),
        {"C": np.logspace(-3, 2, 6).tolist()},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=seed),
    )
    pipeline = Pipeline([("prepare", prepare), ("model", model)])

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    pipeline.fit(x_train, y_train)
    auc = float(roc_auc_score(y_test, pipeline.predict_proba(x_test)[:, 1]))
    # Standardised coefficients: each one times its column's spread on the training split, so a one-hot level
    # seen on 2% of leads does not outweigh a number that moves every lead (numbers are already scaled to 1).
    spread = np.asarray(prepare.transform(x_train), dtype=np.float64).std(axis=0)
    coefs = np.asarray(model.best_estimator_.coef_[0], dtype=np.float64) * spread
    ranking = _rank(prepare, coefs, numeric, categorical)
    return WonModel(
        target=target,
        auc=auc,
        train_rows=len(y_train),
        test_rows=len(y_test),
        base_rate=float(y.mean()),
        features=usable,
        ranking=ranking,
        pipeline=pipeline,
    )


def _informative(values: pd.Series) -> bool:
    """Not constant, and not an identifier: every value distinct in a text or integer column (a lead number).

    Floats may all differ and still measure something (a score), so they are kept.
    """
    distinct = values.nunique(dropna=True)
    if distinct <= 1 and not values.isna().any():
        return False
    identifier_like = not pd.api.types.is_float_dtype(values)
    return not (identifier_like and distinct == len(values) and len(values) > 1)


def _rank(
    prepare: Any, coefs: np.ndarray[Any, Any], numeric: list[str], categorical: list[str]
) -> list[AttributeImportance]:
    """Sum the absolute coefficients per source attribute, keeping the signed strongest level for the wording.

    Output columns come in transformer order (the numbers, then each text column's levels with its infrequent
    level last), so they are matched to attributes by position rather than by parsing their names.
    """
    labels: list[tuple[str, str]] = [(column, f"more {column}") for column in numeric]
    if categorical:
        encoder = prepare.named_transformers_["cat"]
        for index, column in enumerate(categorical):
            infrequent = encoder.infrequent_categories_[index]
            rare = set() if infrequent is None else {str(v) for v in infrequent}
            levels = [str(v) for v in encoder.categories_[index] if str(v) not in rare]
            labels += [(column, f"{column} missing" if v == _MISSING else f"{column} = {v!r}") for v in levels]
            if rare:
                labels.append((column, f"{column} = (a rare value)"))
    if len(labels) != len(coefs):  # pragma: no cover - a scikit-learn layout change
        raise RuntimeError(f"{len(coefs)} coefficients for {len(labels)} model columns")
    per: dict[str, list[tuple[str, float]]] = {}
    for (column, label), weight in zip(labels, coefs.tolist(), strict=True):
        per.setdefault(column, []).append((label, weight))
    ranking = []
    for column, weights in per.items():
        strongest, weight = max(weights, key=lambda item: abs(item[1]))
        ranking.append(AttributeImportance(column, float(sum(abs(w) for _, w in weights)), strongest, weight > 0))
    ranking.sort(key=lambda a: (-a.importance, a.attribute))
    return ranking


def threshold_curve(
    scores: Sequence[float] | np.ndarray[Any, Any],
    reached: Sequence[bool] | np.ndarray[Any, Any],
    thresholds: Sequence[float] | None = None,
) -> list[ThresholdRow]:
    """For each threshold t, the leads scoring >= t (the MQLs under that rule) and how many reached the outcome.

    `rate` is the outcome rate among them (downstream quality), `rate_below` the rate among the rest and `recall`
    the share of all outcomes they keep: raising t trades volume and recall for quality. Without `thresholds`,
    every distinct score is one. Rates are None when nobody is counted.
    """
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(reached, dtype=bool)
    if s.shape != r.shape or s.ndim != 1:
        raise ConfigError("scores and reached must be two sequences of the same length")
    if np.isnan(s).any():
        raise ConfigError("scores contain missing values: score every lead before drawing the curve")
    levels = np.unique(s) if thresholds is None else np.asarray(sorted(thresholds), dtype=np.float64)
    total = int(s.size)
    outcomes = int(r.sum())
    rows = []
    for t in levels.tolist():
        above = s >= t
        volume = int(above.sum())
        hits = int(r[above].sum())
        below = total - volume
        rows.append(
            ThresholdRow(
                threshold=float(t),
                volume=volume,
                share=volume / total if total else 0.0,
                reached=hits,
                rate=hits / volume if volume else None,
                rate_below=(outcomes - hits) / below if below else None,
                recall=hits / outcomes if outcomes else None,
            )
        )
    return rows


def describe_curve(rows: Sequence[ThresholdRow], outcome: str = "won") -> str:
    """The threshold curve as plain text, one line per threshold."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    lines = [f"{'threshold':>10} {'MQLs':>8} {'share':>7} {outcome:>6} {'rate':>7} {'below':>7} {'recall':>7}"]
    lines += [
        f"{r.threshold:>10g} {r.volume:>8,} {pct(r.share):>7} {r.reached:>6,} {pct(r.rate):>7} "
        f"{pct(r.rate_below):>7} {pct(r.recall):>7}"
        for r in rows
    ]
    return "\n".join(lines)


def workspace_training_frame(
    ws: DefinitionsContext,
    outcome_stage: str | None = None,
    as_of: date | datetime | str | None = None,
    *,
    min_age_days: int = 90,
) -> pd.DataFrame:
    """Each lead's describing columns and whether it reached `outcome_stage` (default: the last stage, won).

    Censoring: a lead created within `min_age_days` of `as_of` (default now) is left out, because whether it will
    reach the outcome is not known yet; counting it as "not reached" would teach the model that new leads are bad.
    Identifiers and timestamps are dropped; canonical optional columns and imported attributes are kept, nulls as
    missing. The outcome uses the engine's entry table (cumulative rule), so it agrees with the funnel.
    """
    when = as_of_or_now(as_of)
    in_force = ws.definitions_in_force(when)
    stages = in_force.definitions.stage_names
    stage = outcome_stage or stages[-1]
    if stage not in stages:
        raise ConfigError(f"unknown stage {stage!r}; the stages are {', '.join(stages)}")
    cutoff = when - timedelta(days=min_age_days)
    leads = ws.warehouse.table("leads")
    events = ws.stage_events(in_force.definitions, when)  # stage events or rules, as the funnel counts
    entries = entry_table(leads, events, stages, strict=False, as_of=when)
    entries = entries.filter(entries.created_at <= cutoff)
    reached = entries[stage_column(stages.index(stage))].notnull()
    schema = leads.schema()
    keep = [
        c
        for c in leads.columns
        if c not in _NOT_FEATURES and not c.startswith("_") and not (schema[c].is_timestamp() or schema[c].is_date())
    ]
    table = entries.select("lead_id", *keep, **{OUTCOME_COLUMN: reached}).order_by("lead_id")
    frame: pd.DataFrame = table.to_pandas().drop(columns="lead_id")
    frame[OUTCOME_COLUMN] = frame[OUTCOME_COLUMN].astype(bool)
    return frame.reset_index(drop=True)
