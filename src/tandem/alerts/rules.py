"""The rules file, ``alerts.yaml`` in the workspace folder: where alerts go and which signal readings raise one.

::

    destinations:
      revops: {webhook: "https://hooks.example.com/T000/B000"}
      leaders: {email: [maria@example.com, sam@example.com]}
    rules:
      - name: goal-at-risk
        signal: goal_chance        # a signal kind (SIGNAL_KINDS)
        below: 0.5                 # or above: (exactly one); the reading must be strictly beyond it
        min_sample: 1000           # readings resting on fewer observations are skipped as "not enough data"
        send_to: [revops, leaders]
      - name: mql-behind
        signal: stage_pace
        subject: mql               # optional: only this subject (a stage); default every subject
        below: 0.85
        min_sample: 30
        send_to: [revops]
      - name: enterprise-breach
        signal: sla_breach
        above: 0
        team: Enterprise           # optional, on a rule or a destination: sent only in this team's hours
        send_to: [revops]

A handoff signal (``sla_at_risk``, ``sla_breach``) goes to a destination only inside the business hours of the
team it follows: the destination's ``team``, else its rule's, else the lead's own team. The names are checked
against the contract's teams when the signals are read (`load_rules` with ``teams``), since the file alone does
not know them.

Why a file and not database rows: the rules are configuration reviewed like code, beside ``tandem.toml``; what was
*sent* is state and lives in the application database (`tandem.alerts.service`).

The file is validated with Pydantic (unknown keys refused, exactly one of below/above, a known signal kind) and
then across entries (each `send_to` name is a destination, rule names are unique). Every problem is reported at
once with file, line, column and value, and `load_rules` returns nothing unless the whole file is good, so a bad
edit never half-applies.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tandem.errors import FileProblemsError, Issue
from tandem.located_yaml import YamlReader, compose_yaml, load_yaml

__all__ = [
    "RULES_FILE",
    "SIGNAL_KINDS",
    "AlertRule",
    "AlertRules",
    "AlertRulesError",
    "Destination",
    "load_rules",
]

RULES_FILE = "alerts.yaml"
#: The signal kinds a rule may watch (`tandem.forecast.signals.Signal.kind`); one list, used by validation and docs.
SIGNAL_KINDS: tuple[str, ...] = (
    "goal_chance",
    "stage_pace",
    "revenue_gap",
    "bottleneck",
    "sla_at_risk",
    "sla_breach",
)
SignalKind = Literal["goal_chance", "stage_pace", "revenue_gap", "bottleneck", "sla_at_risk", "sla_breach"]
#: The signals that follow a team's business hours (`tandem.forecast.handoff_signals`).
TEAM_SIGNAL_KINDS = ("sla_at_risk", "sla_breach")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$|^[^@\s<>,;]+@localhost$")
_START = "start with `destinations:` (where alerts go) and `rules:` (what raises one); see docs/alerts.md"


class AlertRulesError(FileProblemsError):
    """The rules file cannot be used; `issues` holds every problem found. No alert was evaluated or sent."""

    subject = "the alert rules"
    outcome = "nothing was sent"


def _team_name(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must name a team of the contract")
    return None if value is None else value.strip()


def _email(value: str) -> str:
    if not _EMAIL.match(value.strip()):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip()


EmailAddress = Annotated[str, AfterValidator(_email)]


class Destination(BaseModel):
    """Where an alert goes: a webhook URL (JSON POST) or a list of email addresses (one message to all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: str | None = None
    email: tuple[EmailAddress, ...] | None = None
    #: The contract's team whose business hours the handoff's alerts to this destination follow.
    team: str | None = None

    @field_validator("team")
    @classmethod
    def _team(cls, value: str | None) -> str | None:
        return _team_name(value)

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.strip()

    @field_validator("email", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and not value:
            raise ValueError("must list at least one address")
        return value

    @model_validator(mode="after")
    def _one(self) -> Destination:
        if (self.webhook is None) == (self.email is None):
            raise ValueError("give exactly one of webhook or email")
        return self

    @property
    def channel(self) -> str:
        return "webhook" if self.webhook is not None else "email"

    @property
    def target(self) -> str:
        """What the history shows: the webhook's scheme and host (its path is often the secret), or the addresses."""
        if self.webhook is not None:
            parts = urlsplit(self.webhook)
            return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/..."
        return ", ".join(self.email or ())


class AlertRule(BaseModel):
    """A rule: fire for a reading of `signal` (and `subject`, if given) resting on at least `min_sample`
    observations whose value is strictly below `below` or strictly above `above`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    signal: SignalKind
    subject: str | None = None
    below: float | None = None
    above: float | None = None
    min_sample: int = Field(default=0, ge=0)
    send_to: tuple[str, ...]
    #: The contract's team whose business hours this rule's alerts follow (a destination's own `team` wins).
    team: str | None = None

    @field_validator("team")
    @classmethod
    def _team(cls, value: str | None) -> str | None:
        return _team_name(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be lower-case letters, digits, '-', '_' or '.', e.g. goal-at-risk")
        return value

    @field_validator("below", "above")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("send_to", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and not value:
            raise ValueError("must name at least one destination")
        return value

    @model_validator(mode="after")
    def _threshold(self) -> AlertRule:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of below or above")
        return self

    @property
    def threshold(self) -> float:
        return self.below if self.below is not None else float(self.above)  # type: ignore[arg-type]

    @property
    def direction(self) -> Literal["below", "above"]:
        return "below" if self.below is not None else "above"

    def crosses(self, value: float) -> bool:
        """Strictly beyond the threshold: a reading exactly at it does not fire (and NaN never does)."""
        if self.below is not None:
            return value < self.below
        return value > self.threshold


class AlertRules(BaseModel):
    """The whole rules file, checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    destinations: dict[str, Destination] = Field(default_factory=dict)
    rules: tuple[AlertRule, ...] = ()

    def rule(self, name: str) -> AlertRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def team_for(self, rule: AlertRule, destination: str) -> str | None:
        """The team whose hours `rule`'s alerts to `destination` follow: the destination's, else the rule's; None
        for the lead's own team."""
        chosen = self.destinations.get(destination)
        return (chosen.team if chosen is not None else None) or rule.team

    def followed_teams(self) -> frozenset[str | None]:
        """Every team whose hours some handoff alert follows (None: the lead's own team), so the signals are read
        for each of them."""
        return frozenset(
            self.team_for(rule, name)
            for rule in self.rules
            if rule.signal in TEAM_SIGNAL_KINDS
            for name in rule.send_to
        )


def load_rules(
    path_or_text: str | os.PathLike[str], *, source_name: str = RULES_FILE, teams: Sequence[str] | None = None
) -> AlertRules:
    """Read a rules file (a path) or its text (a `str`); `AlertRulesError` lists every problem, else the rules.

    With `teams` (the contract's team names) every ``team:`` must be one of them."""
    if isinstance(path_or_text, str):
        text = path_or_text
    else:
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AlertRulesError(
                [Issue(str(path), None, None, None, "there is no alert rules file", f"create it: {_START}")]
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AlertRulesError([Issue(str(path), None, None, None, f"cannot be read: {exc}", "fix it")]) from None
        if source_name == RULES_FILE:
            source_name = str(path)
    reader = YamlReader(source_name, text)
    root = compose_yaml(reader, text, "the alert rules file", _START)
    if root is None:
        raise AlertRulesError(reader.issues)
    _check_duplicate_keys(reader, root)
    if not reader.issues:
        data = load_yaml(text, source_name)
        if not isinstance(data, dict):
            reader.problem(root, "the alert rules file must be a mapping", _START)
        else:
            try:
                rules = AlertRules.model_validate(data)
            except ValidationError as exc:
                for error in exc.errors():
                    _report(reader, root, error)
            else:
                _check_references(reader, root, rules)
                _check_teams(reader, root, rules, teams)
                if not reader.issues:
                    return rules
    raise AlertRulesError(reader.sorted_issues())


def _check_duplicate_keys(reader: YamlReader, node: Node) -> None:
    """YAML keeps the last of two equal keys silently; a rules file with one is refused instead."""
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                if key.value in seen:
                    reader.problem(
                        key, f"key {key.value!r} appears twice (first on line {seen[key.value]})", "keep one"
                    )
                seen.setdefault(key.value, key.start_mark.line + 1)
            _check_duplicate_keys(reader, value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _check_duplicate_keys(reader, item)


def _find(root: Node, loc: Sequence[int | str]) -> tuple[Node, bool, Node]:
    """The node at `loc` (True) or the deepest one on the way (False), and the key node of the last mapping step."""
    node, key_node = root, root
    for step in loc:
        if isinstance(node, MappingNode) and isinstance(step, str):
            match = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == step), None)
            if match is None:
                return node, False, key_node
            key_node, node = match
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return node, False, key_node
    return node, True, key_node


def _label(loc: Sequence[int | str]) -> str:
    """Where in the file, for people: "rule 2 'send_to'", "destination 'revops'"."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rest = "".join(f" {step!r}" for step in loc[2:] if isinstance(step, str))
        return f"rule {loc[1] + 1}{rest}"
    if len(loc) >= 2 and loc[0] == "destinations":
        rest = "".join(f" {step!r}" for step in loc[2:] if isinstance(step, str))
        return f"destination {loc[1]!r}{rest}"
    return " ".join(repr(step) for step in loc) or "the alert rules file"


def _hint(loc: Sequence[int | str], error_type: str, message: str) -> str:
    field = next((step for step in reversed(loc) if isinstance(step, str)), "")
    where = loc[0] if loc else ""
    if error_type == "extra_forbidden":
        if where == "rules" and len(loc) == 3:
            return f"a rule takes: {', '.join(AlertRule.model_fields)}"
        if where == "destinations" and len(loc) == 3:
            return "a destination takes webhook: URL or email: [ADDRESS, ...], and optionally team: NAME"
        return "the file takes: destinations, rules"
    if error_type == "literal_error" or field == "signal":
        return f"one of: {', '.join(SIGNAL_KINDS)}"
    if field in ("below", "above"):
        return "a number, e.g. 0.5"
    if field == "min_sample":
        return "a whole number of observations, 0 or more, e.g. 30"
    if field == "send_to":
        return "a list of destination names, e.g. [revops]"
    if field == "webhook":
        return 'e.g. webhook: "https://hooks.example.com/T000/B000"'
    if field == "email":
        return "e.g. email: [maria@example.com, sam@example.com]"
    if field == "name":
        return "e.g. name: goal-at-risk"
    if field == "team":
        return "a team of the contract's service_levels, e.g. team: Enterprise"
    if error_type == "missing":
        return f"add `{field}: ...`"
    if "below or above" in message:
        return "write `below: 0.5` to fire under a value, or `above: ...` to fire over one"
    if "webhook or email" in message:
        return "write webhook: URL or email: [ADDRESS, ...]"
    return "see docs/alerts.md for the format"


def _report(reader: YamlReader, root: Node, error: Any) -> None:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    error_type = str(error["type"])
    message = str(error["msg"]).removeprefix("Value error, ")
    node, found, key_node = _find(root, loc)
    label = _label(loc)
    value = node.value if found and isinstance(node, ScalarNode) else None
    if error_type == "extra_forbidden":
        reader.problem(key_node, f"unknown key {loc[-1]!r} in {_label(loc[:-1])}", _hint(loc, error_type, message))
    elif error_type == "missing":
        reader.problem(node, f"{_label(loc[:-1])} has no {loc[-1]!r}", _hint(loc, error_type, message))
    else:
        reader.problem(
            node, f"{label}: {message[0].lower()}{message[1:]}", _hint(loc, error_type, message), value=value
        )


def _check_references(reader: YamlReader, root: Node, rules: AlertRules) -> None:
    """Across entries: `send_to` names a destination; rule names are unique (they key the history)."""
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules.rules):
        if rule.name in seen:
            node, _, _ = _find(root, ("rules", index, "name"))
            reader.problem(
                node,
                f"rule name {rule.name!r} appears twice (first as rule {seen[rule.name] + 1})",
                "give each rule its own name: the history of what was sent is kept by name",
                value=rule.name,
            )
        seen.setdefault(rule.name, index)
        for position, name in enumerate(rule.send_to):
            if name not in rules.destinations:
                node, found, _ = _find(root, ("rules", index, "send_to", position))
                if not found:
                    node, _, _ = _find(root, ("rules", index, "send_to"))
                known = ", ".join(rules.destinations) or "none yet"
                reader.problem(
                    node,
                    f"rule {rule.name!r} sends to {name!r}, which is not a destination",
                    f"one of the names under `destinations:` ({known}), or add it there",
                    value=name,
                )


def _check_teams(reader: YamlReader, root: Node, rules: AlertRules, teams: Sequence[str] | None) -> None:
    """Only a rule watching a handoff signal names a team (no other signal follows business hours); with `teams`,
    every ``team:`` is one of them."""
    for index, rule in enumerate(rules.rules):
        if rule.team is not None and rule.signal not in TEAM_SIGNAL_KINDS:
            node, _, _ = _find(root, ("rules", index, "team"))
            reader.problem(
                node,
                f"rule {rule.name!r} watches {rule.signal}, which does not follow a team's hours",
                f"remove `team:`; only {' and '.join(TEAM_SIGNAL_KINDS)} are sent within a team's hours",
                value=rule.team,
            )
    if teams is None:
        return
    known = ", ".join(teams) or "none: the definitions have no service levels"
    places: list[tuple[tuple[int | str, ...], str, str | None]] = [
        (("destinations", name, "team"), f"destination {name!r}", d.team) for name, d in rules.destinations.items()
    ]
    places += [(("rules", i, "team"), f"rule {r.name!r}", r.team) for i, r in enumerate(rules.rules)]
    for loc, owner, team in places:
        if team is not None and team not in teams:
            node, _, _ = _find(root, loc)
            reader.problem(
                node,
                f"{owner} follows the hours of team {team!r}, which is not a team of the contract",
                f"one of: {known}",
                value=team,
            )
