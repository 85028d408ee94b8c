"""The service-level contract at the handoff: what sales owes each lead marketing hands over, and what marketing owes
sales with it. Part of the shared definitions (``service_levels:``), so both leaders approve it and every change is
a new, audited version (docs/sla.md, "The contract").

Sales' side, per priority: the business time to accept or reject a handed-over lead (``accept``), the business time
to the first touch (``first_touch``), and a minimum number of attempts within a number of business days
(``attempts``: the priority's, else the contract-wide one). Marketing's
side: the lead fields that must be filled when the lead is handed over (``package``), and a ceiling on the share of
its handoffs sales rejects. Teams give the calendars the clocks run on (`tandem.sla.calendar`) and the reps in each.

Targets are business time. A priority is chosen by the first ``when`` rule (the definitions' rule language, over the
lead's columns) the lead meets; the last priority has no rule and takes the rest.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from tandem.durations import Duration
from tandem.sla.calendar import TeamCalendar

__all__ = ["Attempts", "Priority", "ServiceLevels", "Team", "team_calendar"]


class Attempts(BaseModel):
    """At least `count` activities on a lead within its first `within_days` business days after the handoff."""

    model_config = ConfigDict(frozen=True)

    count: int
    within_days: int

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "within": f"{self.within_days} business days"}


class Priority(BaseModel):
    """One priority: which leads (`when`, a rule; None for the rest) and its targets in business time; its
    `attempts` (None: the contract's)."""

    model_config = ConfigDict(frozen=True)

    name: str
    when: str | None = None
    accept: Duration | None = None
    first_touch: Duration | None = None
    attempts: Attempts | None = None


class Team(BaseModel):
    """A team: its reps (the lead owners in it) and its working calendar, kept as canonical JSON (hashable)."""

    model_config = ConfigDict(frozen=True)

    name: str
    members: tuple[str, ...] = ()
    calendar_json: str

    @property
    def calendar(self) -> TeamCalendar:
        return team_calendar(self.calendar_json)

    def calendar_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.calendar_json)
        return data


@functools.lru_cache(maxsize=64)
def team_calendar(calendar_json: str) -> TeamCalendar:
    """The calendar a team's canonical JSON describes (checked when the definitions were read)."""
    return TeamCalendar.from_dict(json.loads(calendar_json))


class ServiceLevels(BaseModel):
    """The whole contract. `stage` is the handoff stage: a lead entering it is handed to sales."""

    model_config = ConfigDict(frozen=True)

    stage: str
    teams: tuple[Team, ...]
    priorities: tuple[Priority, ...]
    attempts: Attempts | None = None
    pause_statuses: tuple[str, ...] = ()
    package: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    rejection_ceiling_percent: int | None = None
    warn_at_percent: int = 75

    def attempts_of(self, priority: Priority) -> Attempts | None:
        """The attempts a lead of `priority` owes: the priority's own, else the contract's (None: none)."""
        return priority.attempts if priority.attempts is not None else self.attempts

    def team_of(self, owner: str | None) -> Team:
        """The team `owner` is a member of; the first team for an owner no team lists."""
        for team in self.teams:
            if owner is not None and owner in team.members:
                return team
        return self.teams[0]

    def team(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(f"no team {name!r}; the teams are {', '.join(t.name for t in self.teams)}")

    def as_dict(self) -> dict[str, Any]:
        """The contract as the definitions file writes it (`dump_definitions`), and as documents show it."""
        data: dict[str, Any] = {"stage": self.stage, "teams": []}
        for team in self.teams:
            calendar = team.calendar_dict()
            calendar.pop("team", None)
            entry: dict[str, Any] = {"team": team.name}
            if team.members:
                entry["members"] = list(team.members)
            entry.update(calendar)
            data["teams"].append(entry)
        priorities = []
        for priority in self.priorities:
            item: dict[str, Any] = {"name": priority.name}
            if priority.when is not None:
                item["when"] = priority.when
            if priority.accept is not None:
                item["accept"] = priority.accept.text
            if priority.first_touch is not None:
                item["first_touch"] = priority.first_touch.text
            if priority.attempts is not None:
                item["attempts"] = priority.attempts.as_dict()
            priorities.append(item)
        data["priorities"] = priorities
        if self.attempts is not None:
            data["attempts"] = self.attempts.as_dict()
        if self.pause_statuses:
            data["pause_statuses"] = list(self.pause_statuses)
        if self.package:
            data["package"] = list(self.package)
        rejection: dict[str, Any] = {}
        if self.reasons:
            rejection["reasons"] = list(self.reasons)
        if self.rejection_ceiling_percent is not None:
            rejection["ceiling_percent"] = self.rejection_ceiling_percent
        if rejection:
            data["rejection"] = rejection
        if self.warn_at_percent != 75:
            data["warn_at_percent"] = self.warn_at_percent
        return data
