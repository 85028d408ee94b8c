"""Which definitions count which stretch of time: every period under the version in force during it.

Why: a definition change approved on day 67 of a quarter must not rewrite days 1 to 66. Marketing is measured on
MQLs; if a looser MQL rule recounted the whole quarter (and every past one), the quarter's number would jump the
day it was approved, and the loosening signal, comparing weeks that had all been recounted, could not see the
change it exists to catch. Finance handles a change of accounting policy the same way: applied from its date on,
the past kept as reported, and the restated figure shown beside it on demand.

**The rule** (docs/funnel-semantics.md, "Definition versions"). Version V is in force from its effective date
(midnight UTC) until the next version's. A lead's entry into a stage is the first moment the version in force at
that moment admits it:

* a stage event (imported) counts in the stretch it falls in, under whichever version is in force then;
* a rule is applied from its version's effective date on: the lead enters at the first moment, on or after that
  date and before the next version's, at which the rule holds (checked, as always, when something happens to the
  lead). A lead that met a new, looser rule before it took effect is not counted on the effective date all at
  once; it is counted the next time something happens to it, as a CRM re-evaluating its lead status would;
* a lead is counted once per stage, at its first entry under any version (the engine keeps the first entry), and
  cumulative counting then applies as always.

The stages are those of the version in force at the as-of moment; an older version's entries into a stage it has
and the newer one does not are not counted. With a single version in force over all time nothing changes.

``--definitions N`` (a `Counting` of one version, ``explicit``) recounts everything under version N: the restated
figure, or any other version's view of the past.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.definitions.governance import VersionInfo

__all__ = ["Counting", "Stretch", "counting_in_force", "counting_under"]


@dataclass(frozen=True)
class Stretch:
    """One version and the stretch of time it counts: [start, end), None meaning open-ended."""

    version: VersionInfo
    start: datetime | None
    end: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.version,
            "from": self.start.date() if self.start is not None else None,
            "until": self.end.date() if self.end is not None else None,
        }


@dataclass(frozen=True)
class Counting:
    """How a result counts stage entries: the stretches of time and the version that counts each.

    `explicit`: one version was asked for (``--definitions N``) and counts all time. Otherwise each version counts
    the stretch it was in force (module docs).
    """

    stretches: tuple[Stretch, ...]
    explicit: bool = False

    @property
    def current(self) -> VersionInfo:
        """The version in force at the as-of moment (or the one asked for): its stages are the result's."""
        return self.stretches[-1].version

    @property
    def split(self) -> bool:
        """More than one version counts some part of time."""
        return len(self.stretches) > 1

    def within(self, start: datetime | None, end: datetime | None) -> list[Stretch]:
        """The stretches that overlap [start, end) (None: unbounded on that side)."""
        return [
            s
            for s in self.stretches
            if (end is None or s.start is None or s.start < end) and (start is None or s.end is None or s.end > start)
        ]

    def shape(self) -> tuple[Hashable, ...]:
        """What the SQL depends on: each stretch's version, its definitions and its bounds."""
        return tuple((s.version.version, s.version.definitions, s.start, s.end) for s in self.stretches)

    def describe(self, start: datetime | None = None, end: datetime | None = None) -> str:
        """In words, for the stretches overlapping [start, end): "version 1 until 2026-11-06, version 2 since"."""
        parts = self.within(start, end)
        if self.explicit:
            return f"version {self.current.version} throughout (recounted)"
        if len(parts) == 1:
            return f"version {parts[0].version.version}"
        words = []
        for s in parts:
            if s.start is None or (start is not None and s.start <= start):
                words.append(f"version {s.version.version} until {_day(s.end)}")
            elif s.end is None or (end is not None and s.end >= end):
                words.append(f"version {s.version.version} from {_day(s.start)}")
            else:
                words.append(f"version {s.version.version} from {_day(s.start)} until {_day(s.end)}")
        return ", ".join(words)

    def as_list(self, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """The stretches overlapping [start, end) as JSON-ready dicts (all of them without bounds)."""
        return [s.as_dict() for s in self.within(start, end)]


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment is not None else ""


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def counting_under(version: VersionInfo) -> Counting:
    """Everything counted under one version (``--definitions N``)."""
    return Counting((Stretch(version, None, None),), explicit=True)


def counting_in_force(versions: Sequence[VersionInfo], as_of: datetime) -> Counting:
    """Each version counting the stretch it was in force, up to the one in force at `as_of` (later ones unseen).

    Version 1 has no date: it counts from the start. A version whose effective date another version shares or
    passes (approved later, effective earlier or the same day) counts nothing and is left out.
    """
    known = [v for v in versions if v.effective_from is None or v.effective_from <= as_of.date()]
    if not known:
        known = [versions[0]]
    starts: list[tuple[datetime | None, VersionInfo]] = []
    for v in known:
        start = _midnight(v.effective_from) if v.effective_from is not None else None
        # A later version starting no later than the ones before it replaces them from its start.
        while starts and start is not None and (starts[-1][0] is not None and starts[-1][0] >= start):
            starts.pop()
        if start is None:
            starts = [(None, v)]
        else:
            starts.append((start, v))
    if starts[0][0] is not None:  # no version from the start: the first known one counts from the start
        starts[0] = (None, starts[0][1])
    stretches = [
        Stretch(version, start, starts[i + 1][0] if i + 1 < len(starts) else None)
        for i, (start, version) in enumerate(starts)
    ]
    return Counting(tuple(stretches))
