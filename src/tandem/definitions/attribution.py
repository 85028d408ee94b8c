"""Reading the ``attribution:`` section of the definitions file: the approved model (`tandem.attribution.model`).

Every problem is reported at its line and column with the rest of the file's. Choices: the lookback and the
half-life are whole days (``365 days``, ``7 days``, or weeks); a custom model's weights are percents that add up to
100; only a rule-based model can be approved (`tandem.attribution.model` says why).
"""

from __future__ import annotations

from yaml.nodes import Node

from tandem.attribution.model import (
    DATA_DRIVEN_MODELS,
    LEVELS,
    RULE_MODELS,
    SOURCED_RULES,
    AttributionModel,
    PositionWeights,
)
from tandem.durations import parse_duration
from tandem.located_yaml import Entries, YamlReader, node_value

__all__ = ["read_attribution"]

_KEYS = ("model", "level", "lookback", "repeats", "half_life", "weights", "direct_channels", "sourced_by")
_WEIGHT_KEYS = ("first", "lead", "opportunity", "last", "between")
_REPEATS = ("collapse", "keep")
#: The longest lookback a journey may have: ten years.
MAX_LOOKBACK_DAYS = 3660


def _days(reader: YamlReader, entries: Entries, key: str, low: int, high: int) -> float | None:
    text = reader.text(entries, key, "attribution")
    if text is None:
        return None
    node = entries[key][1]
    hint = f"a number of days or weeks from {low} to {high} days, e.g. 90 days"
    try:
        duration = parse_duration(text)
    except ValueError:
        reader.problem(node, f"{key!r} of attribution is not a duration", hint, value=text)
        return None
    if duration.unit not in ("days", "weeks"):
        reader.problem(node, f"{key!r} of attribution is {text!r}: give it in days or weeks", hint, value=text)
        return None
    days = duration.seconds / 86400
    if not low <= days <= high:
        reader.problem(node, f"{key!r} of attribution is {text!r}", hint, value=text)
        return None
    return days


def _choice(reader: YamlReader, entries: Entries, key: str, choices: tuple[str, ...], default: str) -> str | None:
    text = reader.text(entries, key, "attribution")
    if text is None:
        return default
    if text not in choices:
        reader.problem(
            entries[key][1], f"{key!r} of attribution is {text!r}", f"use one of {', '.join(choices)}", value=text
        )
        return None
    return text


def _weights(reader: YamlReader, node: Node) -> PositionWeights | None:
    entries = reader.mapping(node, _WEIGHT_KEYS, "attribution weights")
    if entries is None:
        return None
    values: dict[str, float] = {}
    for key, (_, value_node) in entries.items():
        value = node_value(value_node)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            reader.problem(value_node, f"weight {key!r} is {value!r}", "a percent from 0 to 100", value=str(value))
            return None
        values[key] = float(value)
    total = sum(values.values())
    if abs(total - 100) > 1e-9:
        reader.problem(
            node,
            f"the attribution weights add up to {total:g} %",
            "make first, lead, opportunity, last and between add up to 100",
            value=f"{total:g}",
        )
        return None
    return PositionWeights(**values)


def read_attribution(reader: YamlReader, node: Node) -> AttributionModel | None:
    """The approved attribution model in `node`, or None (with the problems reported) when it is not good."""
    entries = reader.mapping(node, _KEYS, "attribution")
    if entries is None:
        return None
    before = len(reader.issues)
    model = reader.text(entries, "model", "attribution")
    if model is None:
        reader.problem(node, "attribution has no 'model'", f"add `model:`, one of {', '.join(RULE_MODELS)}")
    elif model in DATA_DRIVEN_MODELS:
        reader.problem(
            entries["model"][1],
            f"a data-driven model ({model}) cannot be the approved one: its credit for past deals moves as new "
            "journeys arrive",
            f"approve a rule-based model ({', '.join(RULE_MODELS)}); {model} is shown beside it for comparison",
            value=model,
        )
    elif model not in RULE_MODELS:
        reader.problem(
            entries["model"][1],
            f"attribution model {model!r} is not known",
            f"use one of {', '.join(RULE_MODELS)}",
            value=model,
        )
    level = _choice(reader, entries, "level", LEVELS, "opportunity")
    repeats = _choice(reader, entries, "repeats", _REPEATS, "collapse")
    sourced_by = _choice(reader, entries, "sourced_by", SOURCED_RULES, "first_touch")
    lookback = _days(reader, entries, "lookback", 1, MAX_LOOKBACK_DAYS) if "lookback" in entries else 365.0
    half_life = _days(reader, entries, "half_life", 1, 366) if "half_life" in entries else 7.0
    weights = _weights(reader, entries["weights"][1]) if "weights" in entries else None
    if model == "custom" and "weights" not in entries:
        reader.problem(
            node,
            "a custom attribution model has no 'weights'",
            "add `weights:` with first, lead, opportunity, last, between",
        )
    elif model not in (None, "custom") and "weights" in entries:
        reader.problem(
            entries["weights"][1],
            f"weights are for the custom model, not {model}",
            "set `model: custom`, or remove the weights",
        )
    if "half_life" in entries and model != "time_decay":
        reader.problem(
            entries["half_life"][1],
            f"a half-life is for the time_decay model, not {model}",
            "remove it, or set `model: time_decay`",
        )
    direct: tuple[str, ...] = ("direct",)
    if "direct_channels" in entries:
        value = node_value(entries["direct_channels"][1])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            reader.problem(
                entries["direct_channels"][1],
                "direct_channels must be a list of channel names",
                "e.g. [direct, organic]",
            )
        else:
            direct = tuple(v.strip() for v in value)
    if len(reader.issues) > before or model is None or lookback is None or half_life is None:
        return None
    if level is None or repeats is None or sourced_by is None:
        return None
    return AttributionModel(
        model=model,
        level=level,
        lookback_days=round(lookback),
        collapse_repeats=repeats == "collapse",
        half_life_days=half_life,
        weights=weights,
        direct_channels=direct,
        sourced_by=sourced_by,
    )
