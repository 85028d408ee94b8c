"""Reading the ``service_levels:`` section of the definitions file (the contract, `tandem.sla.contract`).

Every problem is reported at its line and column with the rest of the file's, and nothing is built unless the whole
section is good. A priority's ``when`` is a rule, checked with the stage rules (`RuleSite`s handed back).

Choices: targets are business time, written in seconds, minutes or hours (``5m``, ``24h``, ``24 business hours``);
days and weeks are refused, because a business day has no fixed length (write the hours). The handoff stage is the
named ``stage``, else the last marketing stage followed by a sales stage. A priority without an ``accept`` target
takes the handoff stage's ``sla``. A priority's ``attempts`` replaces the contract-wide ``attempts`` for its leads.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from yaml.nodes import Node, ScalarNode, SequenceNode

from tandem.durations import Duration, parse_duration
from tandem.errors import ConfigError
from tandem.located_yaml import Entries, YamlReader, is_null, node_value
from tandem.sla.calendar import TeamCalendar
from tandem.sla.contract import Attempts, Priority, ServiceLevels, Team

__all__ = ["RuleSite", "read_service_levels"]

_KEYS = ("stage", "teams", "priorities", "attempts", "pause_statuses", "package", "rejection", "warn_at_percent")
#: A team's keys: its reps and its calendar's, but `effective_from`: a contract's calendars are versioned by the
#: definitions' versions.
_TEAM_KEYS = ("team", "members", "time_zone", "hours", "holidays", "closed", "closed_hours")
_PRIORITY_KEYS = ("name", "when", "accept", "first_touch", "attempts")
_ATTEMPT_KEYS = ("count", "within")
_REJECTION_KEYS = ("reasons", "ceiling_percent")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WITHIN = re.compile(r"^\s*(\d+)\s*business\s+days?\s*$", re.IGNORECASE)
TARGET_HINT = "business time in seconds, minutes or hours, e.g. 5m, 4h or 24 business hours"


@dataclass(frozen=True)
class RuleSite:
    """A priority's rule and its node, checked with the file's other rules."""

    text: str
    node: ScalarNode
    what: str


def _target(reader: YamlReader, entries: Entries, key: str, what: str) -> Duration | None:
    text = reader.text(entries, key, what)
    if text is None:
        return None
    node = entries[key][1]
    try:
        duration = parse_duration(text)
    except ValueError:
        reader.problem(node, f"{key!r} of {what} is not a duration", TARGET_HINT, value=text)
        return None
    if duration.unit in ("days", "weeks"):
        reader.problem(
            node, f"{key!r} of {what} is {text!r}: a business day has no fixed length", TARGET_HINT, value=text
        )
        return None
    return duration


def _names(reader: YamlReader, node: Node, what: str) -> tuple[str, ...] | None:
    """A list of plain names (or one name) as a tuple; a problem for anything else."""
    if isinstance(node, ScalarNode):
        if is_null(node):
            return ()
        return (str(node.value),)
    if not isinstance(node, SequenceNode) or not all(isinstance(item, ScalarNode) for item in node.value):
        reader.problem(node, f"{what} must be a list of names", f"write {what} as [a, b, c]")
        return None
    names = tuple(str(item.value).strip() for item in node.value)
    if twice := sorted({n for n in names if names.count(n) > 1}):
        reader.problem(node, f"{what} lists {twice[0]!r} twice", "list each once", value=twice[0])
        return None
    return names


def _percent(reader: YamlReader, entries: Entries, key: str, what: str, owner: Node) -> int | None:
    if key not in entries:
        return None
    value = reader.integer(entries, key, what, owner)
    if value is not None and not 1 <= value <= 100:
        reader.problem(entries[key][1], f"{key!r} of {what} is {value}", "use 1 to 100", value=str(value))
        return None
    return value


def _handoff_stage(stages: Sequence[tuple[str, str]]) -> str | None:
    """The last marketing stage followed by a sales stage (`stages`: name and side, in order)."""
    found = None
    for (name, side), (_, next_side) in itertools.pairwise(stages):
        if side == "marketing" and next_side == "sales":
            found = name
    return found


def read_service_levels(
    reader: YamlReader, node: Node, stages: Sequence[tuple[str, str, Duration | None]]
) -> tuple[ServiceLevels | None, list[RuleSite], list[RuleSite]]:
    """The contract in `node`; `stages` are the file's stages (name, side, sla) in order, to check ``stage``.

    Also returns the priorities' rules, and the package's fields (each a lead column, checked with the rules)."""
    entries = reader.mapping(node, _KEYS, "service_levels")
    if entries is None:
        return None, [], []
    before = len(reader.issues)
    names = [name for name, _, _ in stages]
    stage = reader.text(entries, "stage", "service_levels")
    if stage is None:
        stage = _handoff_stage([(name, side) for name, side, _ in stages])
        if stage is None and names:
            reader.problem(
                node,
                "service_levels has no 'stage' and no marketing stage is followed by a sales stage",
                "add `stage: <the stage at which marketing hands a lead to sales>`",
            )
    elif names and stage not in names:
        reader.problem(
            entries["stage"][1],
            f"service_levels' stage {stage!r} is not a stage of the funnel",
            f"use one of {', '.join(names)}",
            value=stage,
        )
    if stage is not None and names and stage == names[-1]:
        reader.problem(entries["stage"][1], f"{stage!r} is the last stage: no one acts after it", "name an earlier one")
    stage_sla = next((sla for name, _, sla in stages if name == stage), None)
    teams = _read_teams(reader, entries, node)
    priorities, rules = _read_priorities(reader, entries, stage_sla)
    attempts = _read_attempts(reader, entries, "service_levels")
    pauses = _names(reader, entries["pause_statuses"][1], "pause_statuses") if "pause_statuses" in entries else ()
    package = _names(reader, entries["package"][1], "package") if "package" in entries else ()
    fields: list[RuleSite] = []
    if package and isinstance(entries["package"][1], SequenceNode):
        for item in entries["package"][1].value:
            assert isinstance(item, ScalarNode)
            fields.append(RuleSite(str(item.value).strip(), item, "the package"))
    reasons: tuple[str, ...] | None = ()
    ceiling = None
    if "rejection" in entries:
        rejection_node = entries["rejection"][1]
        rejection = reader.mapping(rejection_node, _REJECTION_KEYS, "rejection")
        if rejection is not None:
            if "reasons" in rejection:
                reasons = _names(reader, rejection["reasons"][1], "rejection reasons")
                for reason in reasons or ():
                    if not _NAME.match(reason):
                        reader.problem(
                            rejection["reasons"][1],
                            f"rejection reason {reason!r} is not a code",
                            "use lower snake_case codes, e.g. not_a_fit",
                            value=reason,
                        )
            ceiling = _percent(reader, rejection, "ceiling_percent", "rejection", rejection_node)
    warn = _percent(reader, entries, "warn_at_percent", "service_levels", node)
    if len(reader.issues) > before or stage is None or teams is None or priorities is None:
        return None, rules, fields
    return (
        ServiceLevels(
            stage=stage,
            teams=teams,
            priorities=priorities,
            attempts=attempts,
            pause_statuses=pauses or (),
            package=package or (),
            reasons=reasons or (),
            rejection_ceiling_percent=ceiling,
            warn_at_percent=75 if warn is None else warn,
        ),
        rules,
        fields,
    )


def _read_teams(reader: YamlReader, entries: Entries, owner: Node) -> tuple[Team, ...] | None:
    if "teams" not in entries:
        reader.problem(owner, "service_levels has no 'teams'", "add `teams:` with each team's time_zone and hours")
        return None
    node = entries["teams"][1]
    if not isinstance(node, SequenceNode) or not node.value:
        reader.problem(node, "'teams' must be a list of teams", "write each team as `- team: ...` with its hours")
        return None
    teams: list[Team] = []
    seen_members: dict[str, str] = {}
    for item in node.value:
        team_entries = reader.mapping(item, _TEAM_KEYS, "a team")
        if team_entries is None:
            continue
        name = reader.text(team_entries, "team", "a team", owner=item)
        if name is None:
            continue
        if any(t.name == name for t in teams):
            reader.problem(team_entries["team"][1], f"team {name!r} is listed twice", "list each team once")
            continue
        members = (
            _names(reader, team_entries["members"][1], f"team {name!r} members") if "members" in team_entries else ()
        )
        for member in members or ():
            if member in seen_members:
                reader.problem(
                    team_entries["members"][1],
                    f"{member!r} is a member of teams {seen_members[member]!r} and {name!r}",
                    "put each rep in one team",
                    value=member,
                )
            seen_members[member] = name
        calendar = {key: node_value(value) for key, (_, value) in team_entries.items() if key != "members"}
        try:
            TeamCalendar.from_dict(calendar)
        except ConfigError as exc:
            reader.problem(_place(exc, team_entries, item), exc.message, "see docs/sla.md, 'A team's calendar'")
            continue
        teams.append(
            Team(name=name, members=members or (), calendar_json=json.dumps(calendar, sort_keys=True, default=str))
        )
    return tuple(teams)


def _place(exc: ConfigError, entries: Entries, item: Node) -> Node:
    """The node a calendar's refusal is about: its field, else the field its message names
    ("calendar 'emea': hours.mon-fri: ..."), else the whole team."""
    named = str(exc.field or exc.message)
    if named.startswith("calendar "):
        named = named.partition(": ")[2]
    key = re.split(r"[.:\s]", named.strip(), maxsplit=1)[0]
    return entries[key][1] if key in entries else item


def _read_priorities(
    reader: YamlReader, entries: Entries, stage_sla: Duration | None
) -> tuple[tuple[Priority, ...] | None, list[RuleSite]]:
    if "priorities" not in entries:
        return (Priority(name="standard", accept=stage_sla),), []
    node = entries["priorities"][1]
    if not isinstance(node, SequenceNode) or not node.value:
        reader.problem(node, "'priorities' must be a list", "write each as `- name: hot` with `when:` and targets")
        return None, []
    priorities: list[Priority] = []
    rules: list[RuleSite] = []
    for index, item in enumerate(node.value):
        what = f"priority {index + 1}"
        found = reader.mapping(item, _PRIORITY_KEYS, "a priority")
        if found is None:
            continue
        name = reader.text(found, "name", what, owner=item)
        if name is not None:
            what = f"priority {name!r}"
            if not _NAME.match(name):
                reader.problem(
                    found["name"][1], f"priority name {name!r} is not lower snake_case", "e.g. hot", value=name
                )
            elif any(p.name == name for p in priorities):
                reader.problem(found["name"][1], f"priority {name!r} is listed twice", "list each once", value=name)
        when = reader.text(found, "when", what)
        last = index == len(node.value) - 1
        if when is not None:
            when_node = found["when"][1]
            assert isinstance(when_node, ScalarNode)
            rules.append(RuleSite(when, when_node, f"the 'when' of {what}"))
            if last:
                reader.problem(when_node, f"the last priority ({what}) has a 'when'", "leave it out: it takes the rest")
        elif not last:
            reader.problem(item, f"{what} has no 'when'", "add `when: <rule>`; only the last priority takes the rest")
        accept = _target(reader, found, "accept", what)
        first_touch = _target(reader, found, "first_touch", what)
        attempts = _read_attempts(reader, found, what)
        if name is not None:
            priorities.append(
                Priority(
                    name=name,
                    when=when,
                    accept=accept if "accept" in found else stage_sla,
                    first_touch=first_touch,
                    attempts=attempts,
                )
            )
    return tuple(priorities), rules


def _read_attempts(reader: YamlReader, entries: Entries, what: str) -> Attempts | None:
    """The ``attempts`` of `what` (the contract's, or a priority's, which takes precedence for its leads)."""
    if "attempts" not in entries:
        return None
    node = entries["attempts"][1]
    label = "attempts" if what == "service_levels" else f"the attempts of {what}"
    found = reader.mapping(node, _ATTEMPT_KEYS, label)
    if found is None:
        return None
    count = reader.integer(found, "count", label, node)
    within = reader.text(found, "within", label, owner=node)
    days = None
    if within is not None:
        match = _WITHIN.match(within)
        if match is None or int(match.group(1)) < 1:
            reader.problem(
                found["within"][1], f"'within' of {label} is {within!r}", "e.g. 5 business days", value=within
            )
        else:
            days = int(match.group(1))
    if count is not None and count < 1:
        reader.problem(found["count"][1], f"'count' of {label} is {count}", "use 1 or more", value=str(count))
        return None
    if count is None or days is None:
        return None
    return Attempts(count=count, within_days=days)
