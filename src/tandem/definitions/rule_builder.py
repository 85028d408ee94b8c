"""The rule builder: a stage's entry rule from conditions picked in a form, and the definitions file it writes.

Leaders who do not write the rule language (`tandem.definitions.rules`) pick its parts instead:

- conditions on the leads' columns: a column, an operator (``= != < <= > >= in, not in, is null, is not null``)
  and a value, written as a literal of the column's type (a number for a numeric column, a quoted string
  otherwise; ``in`` takes a comma-separated list);
- an activity window: touches of a kind within a number of days, ``has_event('webinar', within='90d')``, or with
  a count above one, ``count_events('webinar', within='90d') >= 2``;
- a score threshold: ``score >= 50``.

All the parts must hold (``and``); a rule with ``or`` is written in the YAML editor. `compose_rule` writes the
rule's text, refusing a part that cannot be written with one line naming it (``condition 2, value: ...``);
`decompose_rule` reads a rule back into parts when it has that shape (to start the form from the current rule);
`with_stage_rule` writes the rule into the definitions file's text in place, keeping the rest of the file (its
comments, its other stages) as it was, so the proposal's diff shows the one line that changed. The file then goes
through `Governance.propose` like any other: the rule is checked there against the leads' columns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from tandem.definitions.rules import (
    And,
    Call,
    Compare,
    In,
    IsNull,
    Keyword,
    Name,
    Node,
    RuleError,
    RuleLiteral,
    parse_rule,
)
from tandem.errors import ConfigError
from tandem.located_yaml import compose_node, load_yaml

__all__ = [
    "OPERATORS",
    "Activity",
    "Condition",
    "RuleParts",
    "compose_rule",
    "decompose_rule",
    "with_stage_rule",
]

#: The operators a condition may use, as the rule language writes them.
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null")
_NO_VALUE = ("is null", "is not null")
_NUMERIC = ("integer", "float")
_KIND = re.compile(r"^[A-Za-z0-9_.:/ -]{1,100}$")
_MAX_DAYS = 3650


@dataclass(frozen=True)
class Condition:
    """One condition as the form has it: a column, an operator and the value as typed."""

    field: str
    operator: str
    value: str = ""

    @property
    def blank(self) -> bool:
        return not (self.field.strip() or self.value.strip())


@dataclass(frozen=True)
class Activity:
    """Touches of `kind`, at least `count` of them, within `days` days (empty: at any time)."""

    kind: str = ""
    count: str = ""
    days: str = ""

    @property
    def blank(self) -> bool:
        return not (self.kind.strip() or self.days.strip() or self.count.strip())


@dataclass(frozen=True)
class RuleParts:
    """What the builder holds: conditions, an activity window and a score threshold (all must hold)."""

    conditions: tuple[Condition, ...] = ()
    activity: Activity = Activity()
    score: str = ""


def _string(text: str) -> str:
    """A rule language string literal: single-quoted, a backslash before a quote or a backslash."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number(text: str, where: str) -> str:
    cleaned = text.strip().replace(",", "")
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", cleaned):
        raise ConfigError(f"{where}: {text.strip()!r} is not a number; give one like 50 or 12.5")
    return cleaned


def _literal(text: str, column_type: str, where: str) -> str:
    """The value as a literal of the column's type."""
    if column_type in _NUMERIC:
        return _number(text, where)
    if column_type == "boolean":
        if text.strip().lower() not in ("true", "false"):
            raise ConfigError(f"{where}: {text.strip()!r} is not true or false")
        return text.strip().lower()
    return _string(text.strip())


def _condition(condition: Condition, columns: Mapping[str, str], number: int) -> str:
    where = f"condition {number}"
    name = condition.field.strip()
    if not name:
        raise ConfigError(f"{where}, field: choose a column of the leads")
    if columns and name not in columns:
        raise ConfigError(
            f"{where}, field: {name!r} is not a column of the leads; use one of {', '.join(sorted(columns))}"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"{where}, field: {name!r} is not a column name (letters, digits and _)")
    operator = condition.operator.strip().lower()
    if operator not in OPERATORS:
        raise ConfigError(f"{where}, operator: {operator!r} is not one of {', '.join(OPERATORS)}")
    if operator in _NO_VALUE:
        return f"{name} {operator}"
    column_type = columns.get(name, "string")
    if not condition.value.strip():
        raise ConfigError(f"{where}, value: give the value to compare {name} with")
    if operator in ("in", "not in"):
        items = [item for item in condition.value.split(",") if item.strip()]
        literals = [_literal(item, column_type, f"{where}, value") for item in items]
        return f"{name} {operator} ({', '.join(literals)})"
    return f"{name} {operator} {_literal(condition.value, column_type, f'{where}, value')}"


def _activity(activity: Activity) -> str:
    kind = activity.kind.strip()
    if not kind:
        raise ConfigError("activity, kind: name the kind of touch, e.g. webinar (or clear the activity's days)")
    if not _KIND.match(kind):
        raise ConfigError(f"activity, kind: {kind!r} is not a touch kind (letters, digits, _ . : / - and spaces)")
    within = ""
    if activity.days.strip():
        days = activity.days.strip()
        if not days.isdigit() or not 1 <= int(days) <= _MAX_DAYS:
            raise ConfigError(f"activity, days: {days!r} is not a whole number of days from 1 to {_MAX_DAYS}")
        within = f", within='{int(days)}d'"
    count = activity.count.strip() or "1"
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"activity, at least: {count!r} is not a whole number of touches, 1 or more")
    if int(count) == 1:
        return f"has_event({_string(kind)}{within})"
    return f"count_events({_string(kind)}{within}) >= {int(count)}"


def compose_rule(parts: RuleParts, columns: Mapping[str, str]) -> str:
    """The rule's text: every part that is filled in, joined by ``and`` ("" when nothing is); `ConfigError`, one
    line naming the part and its input, for a part that cannot be written. `columns` are the leads' columns (name
    to tandem column type); empty, a condition's column is taken as a string column and checked on proposing."""
    written = [_condition(c, columns, number) for number, c in enumerate(parts.conditions, start=1) if not c.blank]
    if not parts.activity.blank:
        written.append(_activity(parts.activity))
    if parts.score.strip():
        written.append(f"score >= {_number(parts.score, 'score threshold')}")
    return " and ".join(written)


# --- reading a rule back into parts -------------------------------------------------------------------------------
def _value_text(literal: RuleLiteral) -> str:
    return (
        "" if literal.value is None else str(literal.value).lower() if literal.kind == "boolean" else str(literal.value)
    )


def _within_days(keywords: Sequence[Keyword]) -> str | None:
    """The days of a ``within='90d'`` argument ("" without one); None when it is not in whole days."""
    for keyword in keywords:
        if keyword.name == "within":
            value = keyword.value
            if not isinstance(value, RuleLiteral) or not isinstance(value.value, str):
                return None
            days = re.fullmatch(r"\s*(\d+)\s*d\s*", value.value)
            return days.group(1) if days else None
    return ""


def _event(node: Node) -> Activity | None:
    """The activity a ``has_event(...)`` or ``count_events(...) >= n`` node says, if it is one."""
    count = "1"
    call = node
    if isinstance(node, Compare) and node.op == ">=" and isinstance(node.left, Call):
        if not (isinstance(node.right, RuleLiteral) and node.right.kind == "integer"):
            return None
        call, count = node.left, str(node.right.value)
        if call.name != "count_events":
            return None
    elif not (isinstance(node, Call) and node.name == "has_event"):
        return None
    assert isinstance(call, Call)
    if len(call.args) != 1 or not isinstance(call.args[0], RuleLiteral) or not isinstance(call.args[0].value, str):
        return None
    days = _within_days(call.keywords)
    if days is None or any(k.name != "within" for k in call.keywords):
        return None
    return Activity(kind=call.args[0].value, count="" if count == "1" else count, days=days)


def decompose_rule(text: str | None) -> RuleParts | None:
    """The builder's parts that write `text` back (up to spacing), or None when the rule has another shape (an
    ``or``, a ``not``, a function other than the activity's, two activities or scores): then only the YAML editor
    shows it. No rule: empty parts."""
    if not text or not text.strip():
        return RuleParts()
    try:
        rule = parse_rule(text)
    except RuleError:
        return None
    nodes = rule.ast.operands if isinstance(rule.ast, And) else (rule.ast,)
    conditions: list[Condition] = []
    activity: Activity | None = None
    score = ""
    for node in nodes:
        event = _event(node)
        if event is not None:
            if activity is not None:
                return None
            activity = event
        elif (
            isinstance(node, Compare)
            and isinstance(node.left, Name)
            and isinstance(node.right, RuleLiteral)
            and node.right.kind != "null"
        ):
            if node.left.name == "score" and node.op == ">=" and not score:
                score = _value_text(node.right)
            else:
                conditions.append(Condition(node.left.name, node.op, _value_text(node.right)))
        elif isinstance(node, In) and isinstance(node.operand, Name):
            if any("," in _value_text(item) for item in node.items):
                return None
            values = ", ".join(_value_text(item) for item in node.items)
            conditions.append(Condition(node.operand.name, "not in" if node.negated else "in", values))
        elif isinstance(node, IsNull) and isinstance(node.operand, Name):
            conditions.append(Condition(node.operand.name, "is not null" if node.negated else "is null"))
        else:
            return None
    return RuleParts(tuple(conditions), activity or Activity(), score)


# --- writing the rule into the file -------------------------------------------------------------------------------
def _scalar(text: str) -> str:
    """`text` as a YAML scalar on one line: plain when YAML reads it back as the same string, else double-quoted."""
    try:
        plain_ok = load_yaml(f"rule: {text}", "the rule") == {"rule": text}
    except (yaml.YAMLError, ConfigError):
        plain_ok = False
    return text if plain_ok and "\n" not in text else json.dumps(text, ensure_ascii=False)


def with_stage_rule(document: str, stage: str, rule: str) -> str:
    """The definitions file's text with `stage`'s ``rule:`` set to `rule` (removed when `rule` is ""), everything
    else kept as written. `ConfigError` when the file has no such stage or is not a definitions file's shape."""
    try:
        root = compose_node(document, "the definitions file")
    except yaml.YAMLError as exc:
        raise ConfigError(f"the definitions file cannot be read as YAML ({exc}); fix it in the YAML editor") from None
    stages = None
    if isinstance(root, MappingNode):
        stages = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "stages"), None)
    if not isinstance(stages, SequenceNode):
        raise ConfigError("the definitions file has no `stages:` list; fix it in the YAML editor")
    for item in stages.value:
        if not isinstance(item, MappingNode):
            continue
        keys = {k.value: (k, v) for k, v in item.value if isinstance(k, ScalarNode)}
        name = keys.get("name", (None, None))[1]
        if not isinstance(name, ScalarNode) or name.value != stage:
            continue
        lines = document.splitlines(keepends=True)
        if "rule" in keys:
            key, value = keys["rule"]
            first = key.start_mark.line
            last = value.end_mark.line if value.end_mark.column > 0 else value.end_mark.line - 1
            last = max(last, first)
            prefix = lines[first][: key.start_mark.column]
            replacement = [f"{prefix}rule: {_scalar(rule)}\n"] if rule else []
            # A key written after "- " shares its line with the list item: keep the dash when removing it.
            if not rule and prefix.strip():
                raise ConfigError(f"the rule of {stage} starts its list item; remove it in the YAML editor")
            return "".join(lines[:first] + replacement + lines[last + 1 :])
        if not rule:
            return document
        # A new key, indented like the stage's other keys, after the last of them.
        last_key, last_value = item.value[-1]
        column = max(k.start_mark.column for k, _ in item.value)
        column = keys["name"][0].start_mark.column if "name" in keys else column
        end = last_value.end_mark.line if last_value.end_mark.column > 0 else last_value.end_mark.line - 1
        end = max(end, last_key.start_mark.line)
        line = f"{' ' * column}rule: {_scalar(rule)}\n"
        if end < len(lines) and not lines[end].endswith("\n"):
            lines[end] += "\n"
        return "".join([*lines[: end + 1], line, *lines[end + 1 :]])
    raise ConfigError(f"the definitions file has no stage {stage!r}; choose one of its stages")
