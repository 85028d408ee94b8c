"""Scenarios: named what-ifs on the funnel model, compared side by side with the plan as it stands.

A scenario changes some of what the plan rests on and leaves the rest as the base model has it (history, or the
numbers given by hand):

- ``rates``: a step's conversion set outright (``mql:sql=0.45``), or ``rate_changes`` moved relatively
  (``mql:sql=+10%`` is 1.1 times the base rate, capped at 100 %);
- ``lags``: a step's lag set outright (``sql:won=60``), or ``lag_shifts`` added to every value of its
  distribution (``sql:won=+14``, or ``-7``; never below 0 days);
- ``deal_size`` set outright, or ``deal_size_change`` relatively (``+15%``);
- ``channels``: a channel mix of its own (``webinar=0.5@120``: a share of the leads, at a cost per lead);
- ``budget``: what marketing would spend on the period: with the channel mix and costs it buys a number of leads,
  and the model turns those into expected revenue, set against the goal.

Each scenario is answered like the base: what each stage needs (the reverse waterfall), the budget that needs at
its mix and costs, and with a budget, the revenue it brings and the share of the goal it covers. Rates estimated
from data keep their counts when moved (their range moves with them); a rate set outright is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from tandem.durations import format_days
from tandem.errors import ConfigError
from tandem.money import format_whole, parse_amount
from tandem.plan.calculator import parse_channel, parse_lag, parse_rate
from tandem.plan.model import FunnelModel, Lag, Rate, Step
from tandem.plan.waterfall import ChannelCost, Waterfall, reverse_waterfall

__all__ = ["Outcome", "Scenario", "apply_scenario", "compare", "load_scenarios", "parse_change"]

T = TypeVar("T")


def parse_change(text: str, what: str) -> tuple[tuple[str, str], float]:
    """``mql:sql=+10%`` -> ((mql, sql), 0.10); ``sql:won=-7`` -> ((sql, won), -7.0) (days for lags)."""
    step, sep, value = text.partition("=")
    source, colon, target = step.strip().lower().partition(":")
    try:
        number = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
    except ValueError:
        number = float("nan")
    if not sep or not colon or not source or not target or number != number:
        raise ConfigError(f"{what} {text!r} is not FROM:TO=CHANGE, e.g. mql:sql=+10% or sql:won=-7")
    return (source.strip(), target.strip()), number


@dataclass(frozen=True)
class Scenario:
    """A named what-if (module docs); empty fields leave the base as it is."""

    name: str
    note: str = ""
    rates: Mapping[tuple[str, str], Rate] = field(default_factory=dict)
    rate_changes: Mapping[tuple[str, str], float] = field(default_factory=dict)
    lags: Mapping[tuple[str, str], Lag] = field(default_factory=dict)
    lag_shifts: Mapping[tuple[str, str], float] = field(default_factory=dict)
    deal_size: float | None = None
    deal_size_change: float | None = None
    channels: Sequence[ChannelCost] = ()
    budget: float | None = None

    @classmethod
    def from_options(
        cls,
        name: str,
        *,
        note: str = "",
        rates: Sequence[str] = (),
        rate_changes: Sequence[str] = (),
        lags: Sequence[str] = (),
        lag_shifts: Sequence[str] = (),
        deal_size: float | None = None,
        deal_size_change: str | None = None,
        channels: Sequence[str] = (),
        budget: float | None = None,
    ) -> Scenario:
        """A scenario from the spellings of a scenarios file (`load_scenarios`); `ConfigError` names a bad one."""
        if not name.strip():
            raise ConfigError("a scenario needs a name")
        change = None
        if deal_size_change is not None:
            _, change = parse_change(f"x:y={deal_size_change}", "deal_size_change")
        return cls(
            name=name.strip(),
            note=note,
            rates=dict(_each("rates", rates, parse_rate)),
            rate_changes=dict(parse_change(text, "rate_changes") for text in rate_changes),
            lags=dict(_each("lags", lags, parse_lag)),
            lag_shifts=dict(parse_change(text, "lag_shifts") for text in lag_shifts),
            deal_size=deal_size,
            deal_size_change=change,
            channels=tuple(_each("channels", channels, parse_channel)),
            budget=budget,
        )

    def describe(self) -> str:
        """What the scenario changes, in words (for tables and the audit log)."""
        parts = [f"{a}:{b}={r.value:.1%}" for (a, b), r in self.rates.items()]
        parts += [f"{a}:{b} {c:+.0%}" for (a, b), c in self.rate_changes.items()]
        parts += [f"lag {a}:{b}={format_days(lag.mean)}" for (a, b), lag in self.lags.items()]
        parts += [f"lag {a}:{b} {format_days(d, signed=True)}" for (a, b), d in self.lag_shifts.items()]
        if self.deal_size is not None:
            parts.append(f"deal size {format_whole(self.deal_size)}")
        if self.deal_size_change is not None:
            parts.append(f"deal size {self.deal_size_change:+.0%}")
        if self.channels:
            parts.append("mix " + ", ".join(f"{c.channel} {c.share:.0%}" for c in self.channels))
        if self.budget is not None:
            parts.append(f"budget {format_whole(self.budget)}")
        return "; ".join(parts) or "no change"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "note": self.note,
            "rates": {f"{a}:{b}": r.value for (a, b), r in self.rates.items()},
            "rate_changes": {f"{a}:{b}": c for (a, b), c in self.rate_changes.items()},
            "lags": {f"{a}:{b}": lag.mean for (a, b), lag in self.lags.items()},
            "lag_shifts": {f"{a}:{b}": d for (a, b), d in self.lag_shifts.items()},
            "deal_size": self.deal_size,
            "deal_size_change": self.deal_size_change,
            "channels": [
                {"channel": c.channel, "share": c.share, "cost_per_lead": c.cost_per_lead} for c in self.channels
            ],
            "budget": self.budget,
            "describe": self.describe(),
        }


def _each(key: str, texts: Sequence[str], parse: Callable[[str], T]) -> list[T]:
    """Each of a scenario's `key` texts parsed; a bad one is refused naming the key."""
    try:
        return [parse(text) for text in texts]
    except ConfigError as exc:
        raise ConfigError(f"`{key}`: {exc}") from None


def apply_scenario(model: FunnelModel, scenario: Scenario) -> FunnelModel:
    """The base model with the scenario's changes; `ConfigError` names a step the funnel does not have."""
    steps = {(s.source, s.target) for s in model.steps}
    named = [*scenario.rates, *scenario.rate_changes, *scenario.lags, *scenario.lag_shifts]
    foreign = sorted({f"{a}:{b}" for a, b in named if (a, b) not in steps})
    if foreign:
        raise ConfigError(
            f"scenario {scenario.name!r}: {', '.join(foreign)} is not a step of the funnel "
            f"({' -> '.join(model.stages)})"
        )
    changed: list[Step] = []
    for step in model.steps:
        key = (step.source, step.target)
        rate = scenario.rates.get(key, step.rate)
        if key in scenario.rate_changes:
            value = min(rate.value * (1 + scenario.rate_changes[key]), 1.0)
            if value <= 0:
                raise ConfigError(f"scenario {scenario.name!r}: {key[0]}:{key[1]} would convert no one")
            rate = _moved(rate, value) if rate.estimated else Rate(value)
        lag = scenario.lags.get(key, step.lag)
        if key in scenario.lag_shifts:
            shift = scenario.lag_shifts[key]
            lag = Lag(tuple(max(0.0, d + shift) for d in lag.days), lag.weights)
        changed.append(Step(step.source, step.target, rate, lag))
    deal = scenario.deal_size if scenario.deal_size is not None else model.deal_size
    if scenario.deal_size_change is not None:
        deal *= 1 + scenario.deal_size_change
    if not deal > 0:
        raise ConfigError(f"scenario {scenario.name!r}: the deal size would be {format_whole(deal)}")
    return FunnelModel(
        stages=model.stages,
        steps=tuple(changed),
        deal_size=deal,
        deal_size_se=model.deal_size_se * deal / model.deal_size if model.deal_size_se else None,
        deal_size_sd=model.deal_size_sd * deal / model.deal_size if model.deal_size_sd else None,
        basis=f"{model.basis}; scenario {scenario.name}: {scenario.describe()}",
        notes=model.notes,
    )


def _moved(rate: Rate, value: float) -> Rate:
    """An estimated rate moved to `value`, keeping its cohort (so its range keeps its width)."""
    assert rate.cohort is not None
    converted = max(1, min(rate.cohort, round(value * rate.cohort)))
    return Rate(value, converted, rate.cohort)


@dataclass(frozen=True)
class Outcome:
    """One column of the comparison: a scenario (or the base) answered."""

    name: str
    describe: str
    waterfall: Waterfall
    budget_needed: float | None
    budget: float | None
    leads_bought: float | None
    revenue_from_budget: float | None
    goal_share: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "describe": self.describe,
            "deal_size": self.waterfall.model.deal_size,
            "deals": self.waterfall.deals,
            "stages": [t.as_dict() for t in self.waterfall.totals],
            "budget_needed": self.budget_needed,
            "budget": self.budget,
            "leads_bought": self.leads_bought,
            "revenue_from_budget": self.revenue_from_budget,
            "goal_share": self.goal_share,
        }


def compare(
    base: FunnelModel,
    scenarios: Sequence[Scenario],
    goal_by_month: Mapping[date, float],
    *,
    period_end: date,
    costs: Sequence[ChannelCost] = (),
    seed: int = 0,
) -> list[Outcome]:
    """The base and each scenario, answered the same way (module docs); the base first."""
    outcomes = [_answer("base", "as the plan stands", base, goal_by_month, period_end, costs, None, seed)]
    for scenario in scenarios:
        model = apply_scenario(base, scenario)
        mix = scenario.channels or costs
        outcomes.append(
            _answer(scenario.name, scenario.describe(), model, goal_by_month, period_end, mix, scenario.budget, seed)
        )
    return outcomes


def _answer(
    name: str,
    describe: str,
    model: FunnelModel,
    goal_by_month: Mapping[date, float],
    period_end: date,
    costs: Sequence[ChannelCost],
    budget: float | None,
    seed: int,
) -> Outcome:
    waterfall = reverse_waterfall(model, goal_by_month, period_end=period_end, costs=costs, seed=seed)
    priced = [b for b in waterfall.budget if b.budget is not None]
    budget_needed = sum(b.budget for b in priced if b.budget is not None) if priced else None
    leads = revenue = share = None
    if budget is not None:
        per_lead = sum(c.share * c.cost_per_lead for c in costs if c.cost_per_lead is not None)
        if not costs or per_lead <= 0:
            raise ConfigError(f"scenario {name!r}: a budget needs a channel mix with costs per lead (channels)")
        leads = budget / per_lead
        revenue = leads * model.rate_to_end(0) * model.deal_size
        share = revenue / waterfall.revenue
    return Outcome(name, describe, waterfall, budget_needed, budget, leads, revenue, share)


_KEYS = (
    "name",
    "note",
    "rates",
    "rate_changes",
    "lags",
    "lag_shifts",
    "deal_size",
    "deal_size_change",
    "channels",
    "budget",
)


def load_scenarios(text: str, source: str = "scenarios.yaml") -> list[Scenario]:
    """Scenarios from a YAML file (what-ifs kept beside the plan and reviewed like it)::

        scenarios:
          - name: better qualification
            rate_changes: [sal:sqo=+25%]
          - name: flat budget
            channels: [webinar=1@120]
            budget: 250k

    Each problem is refused naming the file, the scenario and the key, with what to write.
    """
    import yaml

    from tandem.located_yaml import load_yaml

    try:
        document = load_yaml(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not YAML ({getattr(exc, 'problem', exc)}); indent with spaces") from None
    items = document.get("scenarios") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source}: expected `scenarios:` with a list of scenarios, each with a name")
    scenarios: list[Scenario] = []
    for number, item in enumerate(items, start=1):
        place = f"{source}: scenario {number}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{place}: each scenario is a mapping with a `name`")
        place = f"{source}: scenario {item['name']!r}"
        unknown = sorted(set(item) - set(_KEYS))
        if unknown:
            raise ConfigError(f"{place}: unknown key(s) {', '.join(map(str, unknown))}; keys: {', '.join(_KEYS)}")

        def texts(key: str, item: dict[str, Any] = item, place: str = place) -> list[str]:
            value = item.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{place}: `{key}` is a list of FROM:TO=VALUE texts, e.g. [mql:sql=+10%]")
            return value

        def amount(key: str, item: dict[str, Any] = item, place: str = place) -> float | None:
            value = item.get(key)
            if value is None:
                return None
            try:
                return float(parse_amount(str(value)))
            except (ConfigError, ValueError) as exc:
                raise ConfigError(f"{place}: `{key}`: {exc}") from None

        change = item.get("deal_size_change")
        try:
            scenario = Scenario.from_options(
                item["name"],
                note=str(item.get("note") or ""),
                rates=texts("rates"),
                rate_changes=texts("rate_changes"),
                lags=texts("lags"),
                lag_shifts=texts("lag_shifts"),
                deal_size=amount("deal_size"),
                deal_size_change=None if change is None else str(change),
                channels=texts("channels"),
                budget=amount("budget"),
            )
        except ConfigError as exc:
            raise ConfigError(f"{place}: {exc}") from None
        if scenario.name in {s.name for s in scenarios}:
            raise ConfigError(f"{place}: the name is used twice; give each scenario its own")
        scenarios.append(scenario)
    return scenarios
