"""A team's working calendar, and exact business time between two instants.

How time is counted: a calendar turns into a sorted list of business intervals in UTC, each carrying the business
seconds from the list's start up to its own start (``cumulative``). B(t), the business seconds up to an instant
``t``, is the cumulative value of the last interval starting at or before ``t`` plus the part of that interval
before ``t``; business time between two instants is ``B(end) - B(start)``. The warehouse computes the same B(t) from
the same intervals (`tandem.sla.table`), so a report and the Python clock agree to the second.

Wall-clock windows become instants by one rule, kept monotonic so windows never overlap or swap (docs/sla.md):

- a local time that occurs once is that instant;
- a local time that occurs twice (the hour repeated when clocks go back) is its **first** occurrence;
- a local time that never occurs (the hour skipped when clocks go forward) is the moment of the jump.

A window's business time is the real time between its two ends: a window spanning the skipped hour is an hour
shorter, one spanning the repeated hour an hour longer, a window inside the skipped hour is empty.

Instants are naive UTC datetimes (the project's convention; an aware datetime is converted), cut to the whole
second, as the warehouse counts (`tandem.engine.entries.whole_seconds`): business seconds are integers.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from tandem.errors import ConfigError, InvalidError, NotFoundError

__all__ = [
    "DAY_NAMES",
    "BusinessClock",
    "BusinessInterval",
    "TeamCalendar",
    "Window",
    "business_intervals",
    "business_seconds",
    "business_seconds_paused",
    "calendar_in_force",
    "deadline",
    "local_instant",
]

#: Weekday names as a calendar writes them, Monday first (`date.weekday()` order).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 86400
#: How far `deadline` looks ahead before deciding a calendar never opens: ten years of days.
DEADLINE_HORIZON_DAYS = 3660
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_KEYS = ("team", "time_zone", "hours", "holidays", "closed", "closed_hours", "effective_from")


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@dataclass(frozen=True, order=True)
class Window:
    """A span of local wall-clock time in a day, ``[start, end)`` in seconds after midnight; `end` may be 24:00."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_SECONDS:
            raise ConfigError(
                f"window {self}: a window runs from 00:00 to 24:00 at most and ends after it starts", value=str(self)
            )

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    @classmethod
    def parse(cls, text: object, *, where: str) -> Window:
        """A window from ``"HH:MM-HH:MM"`` (24:00 ends at midnight); `where` names the field in an error."""
        hint = "write HH:MM-HH:MM with the end after the start, e.g. 09:00-12:30 (24:00 ends at midnight)"
        if not isinstance(text, str) or text.count("-") != 1:
            raise ConfigError(f"{where}: {text!r} is not a window; {hint}", field=where, value=text)
        ends = [_parse_clock(part, where=where, whole=text, hint=hint) for part in text.split("-")]
        if ends[0] >= DAY_SECONDS or ends[1] <= ends[0]:
            raise ConfigError(f"{where}: {text!r} ends before it starts; {hint}", field=where, value=text)
        return cls(ends[0], ends[1])


def _parse_clock(part: str, *, where: str, whole: str, hint: str) -> int:
    match = _CLOCK.match(part)
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and (hours, minutes) != (24, 0):
        raise ConfigError(f"{where}: {whole!r} has no valid time {part.strip()!r}; {hint}", field=where, value=whole)
    return hours * 3600 + minutes * 60


def _check_disjoint(windows: Sequence[Window], *, where: str) -> tuple[Window, ...]:
    """`windows` sorted, refused when two overlap (touching is fine: 09:00-12:00 then 12:00-13:00)."""
    ordered = tuple(sorted(windows))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ConfigError(
                f"{where}: windows {before} and {after} overlap; make each window end before the next starts",
                field=where,
                value=f"{before}, {after}",
            )
    return ordered


@functools.lru_cache(maxsize=256)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of `country` (and `subdivision`) in `year`, observed days included."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def _check_holidays(country: str | None, subdivision: str | None, *, where: str) -> None:
    if country is None:
        if subdivision is not None:
            raise ConfigError(
                f"{where}.subdivision: {subdivision!r} needs a country; add holidays.country (e.g. DE)",
                field=f"{where}.subdivision",
                value=subdivision,
            )
        return
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ConfigError(
            f"{where}.country: {country!r} is not a country the holidays package knows; use an ISO 3166 alpha-2 "
            "code such as US, DE, GB or FR",
            field=f"{where}.country",
            value=country,
        )
    if subdivision is not None and subdivision not in supported[country]:
        known = ", ".join(supported[country]) or "none"
        raise ConfigError(
            f"{where}.subdivision: {subdivision!r} is not a subdivision of {country}; use one of {known}",
            field=f"{where}.subdivision",
            value=subdivision,
        )


@dataclass(frozen=True)
class TeamCalendar:
    """When a team works: its time zone, working windows per weekday, holidays and closures.

    `hours` has seven entries, Monday first, each the day's windows in local wall-clock time (several a day for a
    lunch break or split shifts; none for a day off). A day is closed when it is a public holiday of
    `holiday_country` (and `holiday_subdivision`), from the `holidays` package, or one of the team's own `closed`
    dates; `closed_hours` closes parts of given dates (an afternoon off). `effective_from` is the first local date
    this version of the calendar is in force (None: always): an edit is a new version, so clocks that started
    under the old one keep it (`calendar_in_force`).
    """

    team: str
    time_zone: str
    hours: tuple[tuple[Window, ...], ...]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    closed: frozenset[date] = frozenset()
    closed_hours: tuple[tuple[date, tuple[Window, ...]], ...] = ()
    effective_from: date | None = None
    _closed_hours: Mapping[date, tuple[Window, ...]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"calendar {self.team!r}"
        if not isinstance(self.team, str) or not self.team.strip():
            raise ConfigError(f"calendar: team {self.team!r} is empty; name the team", field="team", value=self.team)
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(
                f"{where}: time_zone {self.time_zone!r} is not an IANA time zone; use a name such as "
                "Europe/Berlin or America/New_York",
                field="time_zone",
                value=self.time_zone,
            ) from None
        if len(self.hours) != len(DAY_NAMES):
            raise ConfigError(
                f"{where}: hours has {len(self.hours)} days; give seven, Monday first", field="hours", value=self.hours
            )
        sorted_hours = tuple(
            _check_disjoint(windows, where=f"{where}: hours.{name}")
            for name, windows in zip(DAY_NAMES, self.hours, strict=True)
        )
        # Kept sorted, so a day's business intervals come in time order; closed dates as a frozenset to hash.
        object.__setattr__(self, "hours", sorted_hours)
        object.__setattr__(self, "closed", frozenset(self.closed))
        _check_holidays(self.holiday_country, self.holiday_subdivision, where=f"{where}: holidays")
        by_date: dict[date, tuple[Window, ...]] = {}
        for day, windows in self.closed_hours:
            if day in by_date:
                raise ConfigError(
                    f"{where}: closed_hours.{day} is given twice; list its windows once",
                    field="closed_hours",
                    value=day,
                )
            by_date[day] = _check_disjoint(windows, where=f"{where}: closed_hours.{day}")
        object.__setattr__(self, "_closed_hours", by_date)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TeamCalendar:
        """A calendar from the plain mapping a contract's YAML holds, e.g.::

            {"team": "emea", "time_zone": "Europe/Berlin",
             "hours": {"mon-fri": ["09:00-12:30", "13:30-18:00"]},
             "holidays": {"country": "DE", "subdivision": "BE"},
             "closed": ["2026-12-24"], "closed_hours": {"2026-12-31": ["13:30-18:00"]},
             "effective_from": "2026-01-01"}

        Days are ``mon``..``sun``, ranges (``mon-fri``, ``sun-thu``) or lists (``mon,wed``); a day not named is
        closed. Every refusal is one `ConfigError` naming the field and the value.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"calendar: {data!r} is not a mapping; write team, time_zone and hours", value=data)
        team = data.get("team")
        where = f"calendar {team!r}"
        if not isinstance(team, str) or not team.strip():
            raise ConfigError(f"calendar: team {team!r} is missing or empty; name the team", field="team", value=team)
        if unknown := [k for k in data if k not in _KEYS]:
            raise ConfigError(
                f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(_KEYS)}",
                field=str(unknown[0]),
                value=unknown[0],
            )
        zone = data.get("time_zone")
        if not isinstance(zone, str):
            raise ConfigError(
                f"{where}: time_zone {zone!r} is missing or not text; use an IANA name such as Europe/Berlin",
                field="time_zone",
                value=zone,
            )
        country, subdivision = _parse_holidays(data.get("holidays"), where=where)
        closed_hours = data.get("closed_hours") or {}
        if not isinstance(closed_hours, Mapping):
            raise ConfigError(
                f"{where}: closed_hours {closed_hours!r} is not a mapping; write date: [HH:MM-HH:MM, ...]",
                field="closed_hours",
                value=closed_hours,
            )
        effective = data.get("effective_from")
        return cls(
            team=team,
            time_zone=zone,
            hours=_parse_hours(data.get("hours"), where=where),
            holiday_country=country,
            holiday_subdivision=subdivision,
            closed=frozenset(_parse_dates(data.get("closed"), where=f"{where}: closed")),
            closed_hours=tuple(
                (
                    _parse_date(day, where=f"{where}: closed_hours"),
                    tuple(
                        Window.parse(w, where=f"{where}: closed_hours.{day}")
                        for w in _as_list(spans, where=f"{where}: closed_hours.{day}")
                    ),
                )
                for day, spans in closed_hours.items()
            ),
            effective_from=None if effective is None else _parse_date(effective, where=f"{where}: effective_from"),
        )

    def is_closed(self, day: date) -> bool:
        """Whether the whole local `day` is closed: a public holiday or one of the team's own closures."""
        if day in self.closed:
            return True
        return self.holiday_country is not None and day in _holiday_dates(
            self.holiday_country, self.holiday_subdivision, day.year
        )

    def windows_on(self, day: date) -> tuple[Window, ...]:
        """The local windows the team works on `day`: its weekday's, less closures, none on a closed day."""
        if self.is_closed(day):
            return ()
        windows = self.hours[day.weekday()]
        for cut in self._closed_hours.get(day, ()):
            windows = tuple(piece for w in windows for piece in _subtract(w, cut))
        return windows

    def starts_at(self) -> datetime | None:
        """The instant this version comes into force: local midnight of `effective_from` (None: always)."""
        return None if self.effective_from is None else local_instant(self.zone, self.effective_from, 0)


def _subtract(window: Window, cut: Window) -> Iterator[Window]:
    if cut.end <= window.start or cut.start >= window.end:
        yield window
        return
    if cut.start > window.start:
        yield Window(window.start, cut.start)
    if cut.end < window.end:
        yield Window(cut.end, window.end)


def _as_list(value: object, *, where: str) -> list[object]:
    if isinstance(value, str):
        return [value]
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"{where}: {value!r} is not a list of windows; write [HH:MM-HH:MM, ...]", field=where, value=value
        )
    return list(value)


def _parse_days(spec: object, *, where: str) -> list[int]:
    """Weekday indexes (Monday 0) of ``mon``, ``mon-fri``, ``sun-thu`` (wrapping) or ``mon,wed,fri``."""
    hint = "write days as mon..sun, a range such as mon-fri, or a list such as mon,wed,fri"
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{where}: {spec!r} is not a day; {hint}", field=where, value=spec)
    days: list[int] = []
    for part in spec.lower().split(","):
        ends = [p.strip() for p in part.split("-")]
        if len(ends) > 2 or any(e not in DAY_NAMES for e in ends):
            raise ConfigError(f"{where}: {spec!r} is not a day; {hint}", field=where, value=spec)
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return days


def _parse_hours(value: object, *, where: str) -> tuple[tuple[Window, ...], ...]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"{where}: hours {value!r} is missing or not a mapping; write e.g. mon-fri: [09:00-12:30, 13:30-18:00]",
            field="hours",
            value=value,
        )
    days: list[tuple[Window, ...] | None] = [None] * 7
    for spec, spans in value.items():
        field_name = f"hours.{spec}"
        place = f"{where}: {field_name}"
        parsed = [Window.parse(w, where=place) for w in _as_list(spans, where=place)]
        windows = _check_disjoint(parsed, where=place)
        for index in _parse_days(spec, where=f"{where}: hours key"):
            if days[index] is not None:
                raise ConfigError(
                    f"{where}: {field_name}: {DAY_NAMES[index]} is given twice; name each day once",
                    field=field_name,
                    value=spec,
                )
            days[index] = windows
    return tuple(d or () for d in days)


def _parse_holidays(value: object, *, where: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, None
    if not isinstance(value, Mapping) or not isinstance(value.get("country"), str):
        raise ConfigError(
            f"{where}: holidays {value!r} needs a country; write holidays: {{country: DE, subdivision: BE}}",
            field="holidays",
            value=value,
        )
    if unknown := [k for k in value if k not in ("country", "subdivision")]:
        raise ConfigError(
            f"{where}: holidays has an unknown field {unknown[0]!r}; the fields are country and subdivision",
            field="holidays",
            value=unknown[0],
        )
    subdivision = value.get("subdivision")
    if subdivision is not None and not isinstance(subdivision, str):
        raise ConfigError(
            f"{where}: holidays.subdivision {subdivision!r} is not text; write a code such as BE",
            field="holidays.subdivision",
            value=subdivision,
        )
    return str(value["country"]), subdivision


def _parse_date(value: object, *, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(
            f"{where}: {value!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-24", field=where, value=value
        ) from None


def _parse_dates(value: object, *, where: str) -> list[date]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"{where}: {value!r} is not a list of dates; write [YYYY-MM-DD, ...]", field=where, value=value
        )
    return [_parse_date(v, where=where) for v in value]


# --- wall clock to instants -----------------------------------------------------------------------------------------
def _wall(zone: ZoneInfo, instant: datetime) -> datetime:
    """The local wall-clock reading of the naive UTC `instant` in `zone`."""
    return instant.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def local_instant(zone: ZoneInfo, day: date, seconds: int) -> datetime:
    """The naive UTC instant at which `zone`'s clock first reads `seconds` after midnight of local `day`.

    Once: that instant. Twice (clocks going back): the first. Never (clocks going forward): the jump, i.e. the
    first instant whose reading is later. Monotonic in (`day`, `seconds`), so windows keep their order.
    """
    wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
    first = wall.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    if _wall(zone, first) == wall:
        return first
    # Skipped: fold=1 reads the gap with the offset after the jump, which lands before it; fold=0 lands after it.
    # The jump is on a whole second, found by halving.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(tzinfo=None)
    high = first
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low) // timedelta(seconds=1) // 2)
        if _wall(zone, middle) >= wall:
            high = middle
        else:
            low = middle
    return high


def _utc(value: datetime) -> datetime:
    """`value` as a naive UTC instant cut to the whole second (an aware datetime converted, a naive one kept)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _seconds(delta: timedelta) -> int:
    return delta // timedelta(seconds=1)


# --- business intervals and the clock -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BusinessInterval:
    """A stretch of business time in naive UTC, and the business seconds before it from the list's first interval."""

    start: datetime
    end: datetime
    cumulative: int

    @property
    def seconds(self) -> int:
        return _seconds(self.end - self.start)


def _day_intervals(calendar: TeamCalendar, zone: ZoneInfo, day: date) -> Iterator[tuple[datetime, datetime]]:
    for window in calendar.windows_on(day):
        start, end = local_instant(zone, day, window.start), local_instant(zone, day, window.end)
        if end > start:  # a window inside a skipped hour is empty
            yield start, end


def business_intervals(calendar: TeamCalendar, first_day: date, last_day: date) -> list[BusinessInterval]:
    """The business intervals of the local days `first_day`..`last_day` (both included), in order, as naive UTC
    instants, each with the business seconds of the intervals before it (the first's is 0)."""
    zone = calendar.zone
    out: list[BusinessInterval] = []
    cumulative = 0
    for offset in range((last_day - first_day).days + 1):
        for start, end in _day_intervals(calendar, zone, first_day + timedelta(days=offset)):
            out.append(BusinessInterval(start, end, cumulative))
            cumulative += _seconds(end - start)
    return out


class BusinessClock:
    """B(t) over a run of business intervals: the business seconds from the run's start up to instant t."""

    def __init__(self, intervals: Sequence[BusinessInterval]) -> None:
        self.intervals = list(intervals)
        self._starts = [i.start for i in self.intervals]

    @classmethod
    def covering(cls, calendar: TeamCalendar, first: datetime, last: datetime) -> BusinessClock:
        """A clock whose intervals cover the instants `first`..`last` (naive UTC), a day of margin each side."""
        zone = calendar.zone
        return cls(
            business_intervals(
                calendar,
                _wall(zone, first).date() - timedelta(days=1),
                _wall(zone, last).date() + timedelta(days=1),
            )
        )

    def at(self, instant: datetime) -> int:
        """B(instant): in a gap between intervals, the value at the end of the one before."""
        index = bisect.bisect_right(self._starts, instant) - 1
        if index < 0:
            return 0
        interval = self.intervals[index]
        return interval.cumulative + _seconds(min(instant, interval.end) - interval.start)


def business_seconds(calendar: TeamCalendar, start: datetime, end: datetime) -> int:
    """The business seconds from `start` to `end`: ``B(end) - B(start)`` (negative when `end` comes first)."""
    start, end = _utc(start), _utc(end)
    clock = BusinessClock.covering(calendar, min(start, end), max(start, end))
    return clock.at(end) - clock.at(start)


def business_seconds_paused(
    calendar: TeamCalendar,
    start: datetime,
    end: datetime,
    pauses: Iterable[tuple[datetime, datetime | None]],
) -> int:
    """The business seconds from `start` to `end` less those inside `pauses` (the spans in a status that stops
    the clock; a pause with no end lasts to `end`). Pauses are cut to the clock and overlapping ones merged, so no
    second is taken off twice."""
    start, end = _utc(start), _utc(end)
    if end < start:
        raise InvalidError(
            f"clock ends at {end.isoformat()} before it starts at {start.isoformat()}; give the end after the start",
            field="end",
            value=end,
        )
    spans: list[tuple[datetime, datetime]] = []
    for index, (pause_start, pause_end) in enumerate(pauses):
        low, high = _utc(pause_start), end if pause_end is None else _utc(pause_end)
        if high < low:
            raise InvalidError(
                f"pause {index + 1} ends at {high.isoformat()} before it starts at {low.isoformat()}; "
                "give each pause's end after its start",
                field="pauses",
                value=(pause_start, pause_end),
            )
        low, high = max(low, start), min(high, end)
        if high > low:
            spans.append((low, high))
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    clock = BusinessClock.covering(calendar, start, end)
    paused = sum(clock.at(high) - clock.at(low) for low, high in merged)
    return clock.at(end) - clock.at(start) - paused


def deadline(calendar: TeamCalendar, start: datetime, seconds: int) -> datetime:
    """The first instant at which `seconds` of business time have passed since `start` (naive UTC): when a
    "24 business hours" clock started at `start` runs out. 0 seconds: `start` itself."""
    if seconds < 0:
        raise InvalidError(
            f"a clock's target of {seconds} seconds is negative; give 0 or more", field="seconds", value=seconds
        )
    start = _utc(start)
    if seconds == 0:
        return start
    zone = calendar.zone
    remaining = seconds
    first_day = _wall(zone, start).date() - timedelta(days=1)
    for offset in range(DEADLINE_HORIZON_DAYS):
        for low, high in _day_intervals(calendar, zone, first_day + timedelta(days=offset)):
            if high <= start:
                continue
            begin = max(low, start)
            available = _seconds(high - begin)
            if remaining <= available:
                return begin + timedelta(seconds=remaining)
            remaining -= available
    raise ConfigError(
        f"calendar {calendar.team!r}: fewer than {seconds} business seconds in the {DEADLINE_HORIZON_DAYS} days "
        f"after {start.isoformat()}; give the team working hours",
        field="hours",
        value=seconds,
    )


def calendar_in_force(versions: Sequence[TeamCalendar], moment: datetime) -> TeamCalendar:
    """The version of a team's calendar in force at `moment` (a clock's start, naive UTC or aware): the one with
    the latest `effective_from` whose local midnight is at or before it.

    A clock is measured with the calendar in force when it started, from start to end, so an edit (a new version
    effective from a later date) never changes a clock already closed, nor one already running.
    """
    if not versions:
        raise NotFoundError("no calendar versions given; define the team's calendar first")
    teams = sorted({v.team for v in versions})
    if len(teams) > 1:
        raise InvalidError(
            f"calendar versions of several teams ({', '.join(teams)}); choose among one team's versions",
            field="team",
            value=teams,
        )
    seen: set[date | None] = set()
    for version in versions:
        if version.effective_from in seen:
            raise ConfigError(
                f"calendar {version.team!r}: two versions effective from {version.effective_from}; "
                "give each edit its own effective_from",
                field="effective_from",
                value=version.effective_from,
            )
        seen.add(version.effective_from)
    moment = _utc(moment)
    in_force = [(v.starts_at(), v) for v in versions]
    started = [(s, v) for s, v in in_force if s is None or s <= moment]
    if not started:
        earliest = min(v.effective_from for v in versions if v.effective_from is not None)
        raise NotFoundError(
            f"calendar {teams[0]!r}: no version is in force at {moment.isoformat()} UTC; the earliest is effective "
            f"from {earliest}: add a version effective from an earlier date"
        )
    return max(started, key=lambda pair: (pair[0] is not None, pair[0] or datetime.min))[1]
