"""The definitions file: the funnel's stages, who owns each, how a lead enters it, and lead scoring, as code.

Sales and marketing agree on one YAML file, reviewed like code. A complete example::

    version_note: MQL needs 50 points instead of 60 (agreed with sales on 3 March)
    stages:
      - name: lead
        side: marketing
        description: Someone we can reach who showed interest.
      - name: mql
        side: marketing
        description: A lead marketing believes is worth a sales conversation.
        rule: score >= 50
        sla: 24 business hours     # sales acts within a day of handover
      - name: sql
        after: mql                 # optional, for readability; must match the list order
        side: sales
        description: A lead sales accepted and will work.
      - name: opportunity
        side: sales
        description: A qualified deal with an amount and a close date.
      - name: won
        side: sales
        description: The customer signed.
    scoring:
      fit:                         # points from what the lead is
        - when: industry = 'software'
          points: 20
      behaviour:                   # points from what the lead did, fading with time
        - event: webinar           # a touch kind
          points: 10
          within: 90d              # only touches in the last 90 days count
          half_life: 14d           # a touch is worth half as much 14 days later

Choices worth knowing:

* The first stage is reached when the lead is created. A rule on it is allowed and filters which leads count in
  the funnel at all (e.g. leave out test records); it does not delay entry.
* A stage's `sla` is the longest time the *next* stage's side may take to act once a lead is here, so the last
  stage cannot have one. Durations keep the text and unit as written (`24 business hours`, `5m`, `2d`);
  A service-level contract (``service_levels:``, docs/sla.md) measures it in its teams' business hours; on its
  own `Duration.seconds` is a length in seconds (a business hour is 3,600 of them).
* ``attribution:`` is the approved attribution model (`tandem.attribution.model`, docs/attribution.md): what
  everything that says marketing-sourced uses, approved with the rest of the file.
* `load_definitions` reports every problem in one run, each with file, line, column and a hint, and builds
  nothing unless the whole file is good.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, field_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tandem.attribution.model import AttributionModel
from tandem.definitions.attribution import read_attribution
from tandem.definitions.rules import RuleError, check_rule, parse_rule
from tandem.definitions.service_levels import RuleSite as ServiceLevelSite
from tandem.definitions.service_levels import read_service_levels
from tandem.durations import DURATION_HINT, Duration, parse_duration
from tandem.errors import FileProblemsError, Issue
from tandem.located_yaml import Entries, YamlReader, compose_yaml, is_null
from tandem.sla.contract import ServiceLevels

__all__ = [
    "DEFAULT_DEFINITIONS_PATH",
    "BehaviourRule",
    "Change",
    "Definitions",
    "DefinitionsError",
    "FitRule",
    "GuardRules",
    "Scoring",
    "ScoringRule",
    "Side",
    "StageDefinition",
    "default_definitions",
    "definitions_from_stages",
    "diff_definitions",
    "dump_definitions",
    "load_definitions",
]

Side = Literal["marketing", "sales"]
SIDES: tuple[Side, ...] = ("marketing", "sales")

DEFAULT_DEFINITIONS_PATH = Path(__file__).with_name("default.yaml")

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class DefinitionsError(FileProblemsError):
    """The definitions file cannot be used; `issues` holds every problem found. Nothing was changed.

    Each `Issue` has the 1-based line and, in `column`, the 1-based column number as text (the field names a
    CSV column elsewhere); `expected` holds the hint.
    """

    subject = "the definitions"
    outcome = "nothing was changed"
    show_values = False


class StageDefinition(BaseModel):
    """One funnel stage: its name, the side that owns it, what it means, how a lead enters it, and its SLA."""

    model_config = ConfigDict(frozen=True)

    name: str
    side: Side
    description: str
    rule: str | None = None
    sla: Duration | None = None  # longest time before the next stage's side acts

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _STAGE_NAME.match(value):
            raise ValueError(f"stage name {value!r} must be lower snake_case (letters, digits, _)")
        return value


class FitRule(BaseModel):
    """Points for what a lead is: `points` when the rule `when` holds for its attributes."""

    model_config = ConfigDict(frozen=True)

    when: str
    points: int


class BehaviourRule(BaseModel):
    """Points for what a lead did: `points` per touch of kind `event`, within a window, halving every `half_life`."""

    model_config = ConfigDict(frozen=True)

    event: str
    points: int
    within: Duration | None = None
    half_life: Duration | None = None


ScoringRule = FitRule | BehaviourRule


class Scoring(BaseModel):
    """Lead scoring, versioned with the stages so a score always means what the definitions said at the time."""

    model_config = ConfigDict(frozen=True)

    fit: tuple[FitRule, ...] = ()
    behaviour: tuple[BehaviourRule, ...] = ()


class GuardRules(BaseModel):
    """The guard against quiet loosening (`tandem.definitions.guard`), as both leaders approved it; a rule left
    out takes its default (`freeze_weeks`: the workspace's ``definitions_freeze_weeks`` setting)."""

    model_config = ConfigDict(frozen=True)

    #: The last weeks of a quarter in which any loosening of a marketing stage needs an exec's override.
    freeze_weeks: int | None = None
    #: Anywhere in a quarter: a change that would add more than this share (percent) to a marketing stage's volume
    #: over the last `window_days` needs an exec's override.
    max_added_percent: int | None = None
    window_days: int | None = None


class Definitions(BaseModel):
    """The whole definitions file: stages in funnel order, optional lead scoring, the guard's rules, and the
    service levels at the handoff (`tandem.sla.contract`)."""

    model_config = ConfigDict(frozen=True)

    stages: tuple[StageDefinition, ...]
    scoring: Scoring | None = None
    version_note: str | None = None
    guard: GuardRules | None = None
    service_levels: ServiceLevels | None = None
    attribution: AttributionModel | None = None

    @property
    def stage_names(self) -> list[str]:
        """The stage names in funnel order."""
        return [stage.name for stage in self.stages]

    def stage(self, name: str) -> StageDefinition:
        """The stage called `name`, or a `KeyError` naming the stages there are."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r}; the stages are {', '.join(self.stage_names)}")


# ---------------------------------------------------------------------------------------------------------------
# Loading: walk PyYAML's node tree (which keeps line and column) and collect every problem before building models.

_TOP_KEYS = ("version_note", "stages", "scoring", "guard", "service_levels", "attribution")
_GUARD_KEYS = ("freeze_weeks", "max_added_percent", "window_days")
#: The guard's rules' bounds: (lowest, highest) whole number each may take.
GUARD_BOUNDS = {"freeze_weeks": (0, 13), "max_added_percent": (0, 1000), "window_days": (7, 366)}
_STAGE_KEYS = ("name", "side", "description", "rule", "sla", "after")
_SCORING_KEYS = ("fit", "behaviour")
_FIT_KEYS = ("when", "points")
_BEHAVIOUR_KEYS = ("event", "points", "within", "half_life")


@dataclass
class _RuleSite:
    """A rule's text and the node it came from, checked once the whole file is read."""

    text: str
    node: ScalarNode
    what: str
    allow_score: bool


class _Reader(YamlReader):
    """The located-YAML reader, with the definitions file's durations (`tandem.durations.parse_duration`)."""

    def duration(self, entries: Entries, key: str, what: str) -> Duration | None:
        text = self.text(entries, key, what)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError:
            self.problem(entries[key][1], f"{key!r} in {what} is not a duration", DURATION_HINT, value=text)
            return None


def load_definitions(
    path_or_text: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    source_name: str = "definitions.yaml",
) -> Definitions:
    """Read a definitions file (a path) or its text (a `str`), reporting every problem at once.

    With `columns` (attribute name -> column type) every rule is also checked against the attributes leads have;
    `score` is allowed in stage rules when the file defines scoring. Raises `DefinitionsError`.
    """
    if isinstance(path_or_text, str):
        text = path_or_text
    else:
        path = Path(path_or_text)
        text = path.read_text(encoding="utf-8")
        if source_name == "definitions.yaml":
            source_name = str(path)
    reader = _Reader(source_name, text)
    root = compose_yaml(reader, text, "the definitions file", "start with `stages:` and a list of stages")
    if root is None:
        raise DefinitionsError(reader.issues)
    definitions, rules, fields = _read_definitions(reader, root)
    _check_rules(reader, rules, columns)
    if columns is not None:
        for field in fields:
            if field.text not in columns:
                known = ", ".join(sorted(columns))
                reader.problem(
                    field.node, f"the package field {field.text!r} is not a column of leads", f"use one of: {known}"
                )
    if reader.issues or definitions is None:
        raise DefinitionsError(reader.sorted_issues())
    return definitions


def _read_definitions(
    reader: _Reader, root: Node
) -> tuple[Definitions | None, list[_RuleSite], list[ServiceLevelSite]]:
    """The definitions, the rules to check, and the columns the contract's package names."""
    top = reader.mapping(root, _TOP_KEYS, "the definitions file")
    if top is None:
        return None, [], []
    version_note = reader.text(top, "version_note", "the definitions file")
    scoring, rules = _read_scoring(reader, top["scoring"][1]) if "scoring" in top else (None, [])
    guard = _read_guard(reader, top["guard"][1]) if "guard" in top else None
    if "stages" not in top:
        reader.problem(root, "the definitions file has no 'stages'", "add `stages:` with the funnel's stages in order")
        return None, rules, []
    stages, stage_rules = _read_stages(reader, top["stages"][1], allow_score=scoring is not None)
    if stages is None:
        return None, rules + stage_rules, []
    service_levels = None
    fields: list[ServiceLevelSite] = []
    if "service_levels" in top:
        listed = [(stage.name, stage.side, stage.sla) for stage in stages]
        service_levels, sites, fields = read_service_levels(reader, top["service_levels"][1], listed)
        rules += [_RuleSite(site.text, site.node, site.what, allow_score=scoring is not None) for site in sites]
        if service_levels is None:
            return None, stage_rules + rules, fields
    attribution = None
    if "attribution" in top:
        attribution = read_attribution(reader, top["attribution"][1])
        if attribution is None:
            return None, stage_rules + rules, fields
    definitions = Definitions(
        stages=tuple(stages),
        scoring=scoring,
        version_note=version_note,
        guard=guard,
        service_levels=service_levels,
        attribution=attribution,
    )
    return definitions, stage_rules + rules, fields


def _read_guard(reader: _Reader, node: Node) -> GuardRules | None:
    """The `guard:` section: whole numbers within `GUARD_BOUNDS`, each optional."""
    entries = reader.mapping(node, _GUARD_KEYS, "the guard")
    if entries is None:
        return None
    values: dict[str, int] = {}
    for key in _GUARD_KEYS:
        if key not in entries:
            continue
        value = reader.integer(entries, key, "the guard", node)
        if value is None:
            continue
        low, high = GUARD_BOUNDS[key]
        if not low <= value <= high:
            reader.problem(
                entries[key][1], f"{key!r} in the guard is {value}", f"use {low} to {high}", value=str(value)
            )
            continue
        values[key] = value
    return GuardRules(**values)


def _read_stages(
    reader: _Reader, node: Node, *, allow_score: bool
) -> tuple[list[StageDefinition] | None, list[_RuleSite]]:
    if not isinstance(node, SequenceNode):
        reader.problem(node, "'stages' must be a list", "write each stage on its own line starting with `- name: ...`")
        return None, []
    stages: list[StageDefinition] = []
    rules: list[_RuleSite] = []
    names: list[tuple[str, Node]] = []  # (name, node) for every stage with a name, in list order
    afters: dict[str, tuple[str, Node]] = {}  # stage -> (the stage it says it follows, the `after` value node)
    before = len(reader.issues)
    for index, stage_node in enumerate(node.value):
        what = f"stage {index + 1}"
        entries = reader.mapping(stage_node, _STAGE_KEYS, "a stage")
        if entries is None:
            continue
        name = reader.text(entries, "name", what, owner=stage_node)
        if name is not None:
            what = f"stage {name!r}"
            name_node = entries["name"][1]
            if not _STAGE_NAME.match(name):
                suggestion = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "stage"
                reader.problem(
                    name_node,
                    f"stage name {name!r} is not lower snake_case",
                    f"use letters, digits and _, starting with a letter, e.g. {suggestion!r}",
                    value=name,
                )
            seen = [n for n, _ in names if n == name]
            if seen:
                first = next(n_node for n, n_node in names if n == name).start_mark.line + 1
                reader.problem(
                    name_node,
                    f"duplicate stage {name!r}: defined on line {first} and line {name_node.start_mark.line + 1}",
                    "give each stage a different name, or remove one",
                    value=name,
                )
            names.append((name, name_node))
        side = reader.text(entries, "side", what, owner=stage_node)
        if side is not None and side not in SIDES:
            close = difflib.get_close_matches(side, SIDES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            reader.problem(entries["side"][1], f"{what} has side {side!r}", f"{hint}side is marketing or sales")
        description = reader.text(entries, "description", what, owner=stage_node)
        rule = reader.text(entries, "rule", what)
        if rule is not None:
            rule_node = entries["rule"][1]
            assert isinstance(rule_node, ScalarNode)
            rules.append(_RuleSite(rule, rule_node, f"the rule of {what}", allow_score))
        sla = reader.duration(entries, "sla", what)
        after = reader.text(entries, "after", what)
        if after is not None and name is not None:
            afters.setdefault(name, (after, entries["after"][1]))
        if name is not None and side in SIDES and description is not None and len(reader.issues) == before:
            owner: Side = "marketing" if side == "marketing" else "sales"
            stages.append(StageDefinition(name=name, side=owner, description=description, rule=rule, sla=sla))
    _check_order(reader, names, afters)
    if len(node.value) < 2:
        reader.problem(node, f"a funnel needs at least two stages, found {len(node.value)}", "e.g. lead, mql, won")
    last = node.value[-1] if node.value else None
    if isinstance(last, MappingNode):
        for key_node, value_node in last.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "sla" and len(node.value) >= 2:
                reader.problem(
                    value_node,
                    "the last stage has an 'sla', but no next stage acts after it",
                    "put the SLA on the stage before the handover, or remove it",
                )
    if len(reader.issues) > before:
        return None, rules
    return stages, rules


def _check_order(reader: _Reader, names: list[tuple[str, Node]], afters: dict[str, tuple[str, Node]]) -> None:
    """`after:` must name the stage listed just before; a chain of `after:` that comes back is a cycle."""
    order = [name for name, _ in names]
    reported: set[frozenset[str]] = set()
    for name, (after, after_node) in afters.items():
        if after not in order:
            close = difflib.get_close_matches(after, order, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            reader.problem(
                after_node,
                f"stage {name!r} is after {after!r}, which is not a stage",
                f"{hint}the stages are {', '.join(order)}",
                value=after,
            )
            continue
        chain = [name]
        current = after
        while current in afters and current not in chain:
            chain.append(current)
            current = afters[current][0]
        if current == name:
            members = frozenset(chain)
            if members not in reported:
                reported.add(members)
                reader.problem(
                    after_node,
                    f"cyclic stages: {' -> '.join([*chain, name])} (each 'after' the next)",
                    "the funnel is one line: each stage follows the one listed before it",
                    value=after,
                )
            continue
        if current in chain:
            continue  # part of a cycle reported from one of its own stages
        position = order.index(name)
        listed_before = order[position - 1] if position > 0 else None
        if after != listed_before:
            shown = f"{listed_before!r}" if listed_before else "nothing (it is listed first)"
            reader.problem(
                after_node,
                f"stage {name!r} says it is after {after!r}, but it is listed after {shown}",
                "list the stages in funnel order, or fix 'after'",
                value=after,
            )


def _read_scoring(reader: _Reader, node: Node) -> tuple[Scoring | None, list[_RuleSite]]:
    entries = reader.mapping(node, _SCORING_KEYS, "scoring")
    if entries is None:
        return None, []
    before = len(reader.issues)
    fit: list[FitRule] = []
    behaviour: list[BehaviourRule] = []
    rules: list[_RuleSite] = []
    for key in _SCORING_KEYS:
        if key not in entries:
            continue
        items = entries[key][1]
        if not isinstance(items, SequenceNode):
            if not (isinstance(items, ScalarNode) and is_null(items)):
                reader.problem(
                    items,
                    f"scoring {key!r} must be a list",
                    f"write each rule as `- {_FIT_KEYS[0] if key == 'fit' else 'event'}: ...`",
                )
            continue
        for index, item in enumerate(items.value):
            what = f"{key} rule {index + 1}"
            rule_entries = reader.mapping(item, _FIT_KEYS if key == "fit" else _BEHAVIOUR_KEYS, f"a {key} rule")
            if rule_entries is None:
                continue
            points = reader.integer(rule_entries, "points", what, item)
            if key == "fit":
                when = reader.text(rule_entries, "when", what, owner=item)
                if when is not None:
                    when_node = rule_entries["when"][1]
                    assert isinstance(when_node, ScalarNode)
                    rules.append(_RuleSite(when, when_node, f"the 'when' of {what}", allow_score=False))
                    if points is not None:
                        fit.append(FitRule(when=when, points=points))
                continue
            event = reader.text(rule_entries, "event", what, owner=item)
            within = reader.duration(rule_entries, "within", what)
            half_life = reader.duration(rule_entries, "half_life", what)
            if "half_life" in rule_entries and "within" not in rule_entries:
                reader.problem(
                    rule_entries["half_life"][0],
                    f"{what} has a 'half_life' but no 'within'",
                    "add `within:` (e.g. 90d) so old touches stop counting, not just fade",
                )
            if event is not None and points is not None:
                behaviour.append(BehaviourRule(event=event, points=points, within=within, half_life=half_life))
    if len(reader.issues) > before:
        return None, rules
    return Scoring(fit=tuple(fit), behaviour=tuple(behaviour)), rules


def _check_rules(reader: _Reader, sites: list[_RuleSite], columns: Mapping[str, str] | None) -> None:
    """Syntax of every rule, and with `columns` the attributes and types it uses, at their place in the file."""
    for site in sites:
        try:
            rule = parse_rule(site.text)
        except RuleError as exc:
            problems = list(exc.problems)
        else:
            if columns is None:
                continue
            known = dict(columns)
            if site.allow_score:
                known["score"] = "float"
            problems = check_rule(rule, known)
        for problem in problems:
            line, column = reader.position_in(site.node, problem.line, problem.column)
            hint = problem.hint
            if "score" in problem.message and not site.allow_score and "score" not in (columns or {}):
                hint = f"{hint}; `score` can be used in stage rules once the file defines `scoring:`"
            reader.add(line, column, f"{site.what}: {problem.message}", hint, value=site.text)


# ---------------------------------------------------------------------------------------------------------------
# Writing, defaults and differences.


def dump_definitions(definitions: Definitions) -> str:
    """The definitions as YAML in a stable key order; `load_definitions` reads it back to equal definitions."""
    data: dict[str, Any] = {}
    if definitions.version_note is not None:
        data["version_note"] = definitions.version_note
    stages: list[dict[str, Any]] = []
    for stage in definitions.stages:
        entry: dict[str, Any] = {"name": stage.name, "side": stage.side, "description": stage.description}
        if stage.rule is not None:
            entry["rule"] = stage.rule
        if stage.sla is not None:
            entry["sla"] = stage.sla.text
        stages.append(entry)
    data["stages"] = stages
    if definitions.scoring is not None:
        behaviour: list[dict[str, Any]] = []
        for rule in definitions.scoring.behaviour:
            item: dict[str, Any] = {"event": rule.event, "points": rule.points}
            if rule.within is not None:
                item["within"] = rule.within.text
            if rule.half_life is not None:
                item["half_life"] = rule.half_life.text
            behaviour.append(item)
        data["scoring"] = {
            "fit": [{"when": rule.when, "points": rule.points} for rule in definitions.scoring.fit],
            "behaviour": behaviour,
        }
    if definitions.guard is not None:
        data["guard"] = definitions.guard.model_dump(exclude_none=True)
    if definitions.service_levels is not None:
        data["service_levels"] = definitions.service_levels.as_dict()
    if definitions.attribution is not None:
        data["attribution"] = definitions.attribution.as_dict()
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)


def default_definitions() -> Definitions:
    """The definitions shipped with tandem for the default stages lead, mql, sql, opportunity, won."""
    return load_definitions(DEFAULT_DEFINITIONS_PATH)


def definitions_from_stages(stages: Sequence[str]) -> Definitions:
    """Version 1 of a workspace made with `tandem init --stages ...`: no rules, no SLAs, plain descriptions.

    The first half of the stages (rounded down) is marketing's and the rest sales': funnels start with
    marketing and end with sales, and the teams move the handover by editing the file. A stage named like one of
    the default funnel's (lead, mql, sql, opportunity, won) gets its description from `default.yaml`; any other a
    neutral one asking the teams to say what it means. Rules and scoring are left to a proposal both sides approve.
    """
    names = [stage.strip() for stage in stages if stage.strip()]
    issues = _stage_list_issues(names)
    if issues:
        raise DefinitionsError(issues)
    handover = len(names) // 2
    known = {stage.name: stage.description for stage in default_definitions().stages}
    return Definitions(
        stages=tuple(
            StageDefinition(
                name=name,
                side="marketing" if index < handover else "sales",
                description=known.get(name)
                or f"Stage {index + 1} of {len(names)}: {name.replace('_', ' ')}. Say in plain words what it means "
                "for a lead to reach it.",
            )
            for index, name in enumerate(names)
        ),
        version_note="Created from the stage names given to tandem init.",
    )


def _stage_list_issues(names: Sequence[str]) -> list[Issue]:
    def issue(problem: str, hint: str, value: str | None = None) -> Issue:
        return Issue(file="--stages", line=None, column=None, value=value, problem=problem, expected=hint)

    found = [
        issue(f"stage name {name!r} is not lower snake_case", "letters, digits and _, starting with a letter", name)
        for name in names
        if not _STAGE_NAME.match(name)
    ]
    found += [
        issue(f"duplicate stage {name!r}", "give each stage a different name", name)
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    if len(names) < 2:
        found.append(issue("a funnel needs at least two stages", "e.g. lead,mql,sql,opportunity,won"))
    return found


@dataclass(frozen=True)
class Change:
    """One difference between two versions of the definitions, for review before approval."""

    stage: str | None  # None for changes to the whole funnel (order, scoring)
    field: str  # "added", "removed", "order", "side", "description", "rule", "sla", "scoring"
    old: str | None
    new: str | None

    def __str__(self) -> str:
        where = f"stage {self.stage!r}" if self.stage else "funnel"
        return f"{where}: {self.field}: {self.old or '(none)'} -> {self.new or '(none)'}"


def diff_definitions(old: Definitions, new: Definitions) -> list[Change]:
    """What changed from `old` to `new`, stage by stage, then the order of the stages and the scoring."""
    changes: list[Change] = []
    old_by_name = {stage.name: stage for stage in old.stages}
    new_by_name = {stage.name: stage for stage in new.stages}
    for stage in old.stages:
        if stage.name not in new_by_name:
            changes.append(Change(stage.name, "removed", stage.description, None))
    for stage in new.stages:
        before = old_by_name.get(stage.name)
        if before is None:
            changes.append(Change(stage.name, "added", None, stage.description))
            continue
        for field in ("side", "description", "rule", "sla"):
            was, now = getattr(before, field), getattr(stage, field)
            if was != now:
                changes.append(Change(stage.name, field, _text(was), _text(now)))
    kept_old = [name for name in old_by_name if name in new_by_name]
    kept_new = [name for name in new_by_name if name in old_by_name]
    if kept_old != kept_new:
        changes.append(Change(None, "order", " -> ".join(old.stage_names), " -> ".join(new.stage_names)))
    old_rules, new_rules = _scoring_lines(old.scoring), _scoring_lines(new.scoring)
    changes += [Change(None, "scoring", line, None) for line in old_rules if line not in new_rules]
    changes += [Change(None, "scoring", None, line) for line in new_rules if line not in old_rules]
    old_guard = (old.guard or GuardRules()).model_dump()
    new_guard = (new.guard or GuardRules()).model_dump()
    for key, was in old_guard.items():
        if was != new_guard[key]:
            changes.append(Change(None, f"guard {key}", _text(was), _text(new_guard[key])))
    old_levels, new_levels = _contract_lines(old.service_levels), _contract_lines(new.service_levels)
    changes += [Change(None, "service levels", line, None) for line in old_levels if line not in new_levels]
    changes += [Change(None, "service levels", None, line) for line in new_levels if line not in old_levels]
    old_model, new_model = _attribution_lines(old.attribution), _attribution_lines(new.attribution)
    changes += [Change(None, "attribution", line, None) for line in old_model if line not in new_model]
    changes += [Change(None, "attribution", None, line) for line in new_model if line not in old_model]
    return changes


def _attribution_lines(model: AttributionModel | None) -> list[str]:
    """The approved attribution model as one line per setting (a change reads as the lines it removes and adds)."""
    if model is None:
        return []
    return [
        f"{key}: {yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix('...').strip()}"
        for key, value in model.as_dict().items()
    ]


def _contract_lines(levels: ServiceLevels | None) -> list[str]:
    """The contract as one line per setting, so a change reads as the lines it removes and adds."""
    if levels is None:
        return []
    lines: list[str] = []
    for key, value in levels.as_dict().items():
        items = value if isinstance(value, list) and value and isinstance(value[0], dict) else [value]
        for item in items:
            shown = yaml.safe_dump(item, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
            lines.append(f"{key}: {shown}")
    return lines


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _scoring_lines(scoring: Scoring | None) -> list[str]:
    if scoring is None:
        return []
    lines = [f"fit: {rule.when} -> {rule.points:+d}" for rule in scoring.fit]
    for rule in scoring.behaviour:
        line = f"behaviour: {rule.event} -> {rule.points:+d}"
        if rule.within is not None:
            line += f" within {rule.within}"
        if rule.half_life is not None:
            line += f", half-life {rule.half_life}"
        lines.append(line)
    return lines
