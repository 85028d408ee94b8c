"""An independent, plain-pandas reading of docs/funnel-semantics.md: the numbers the funnel engine must match.

Written from the document alone, for clarity over speed (no DuckDB, Ibis or SQL). Where the document leaves a
choice open, the choice made here is stated next to the code that makes it and summarised below, so the engine
and the document can be aligned to it.

Conventions
    - Timestamps are naive UTC (``datetime64[ns]``). A zone-aware input is converted to UTC and made naive; a
      naive input is taken as UTC. Periods are UTC calendar periods; weeks start on Monday. A period is shown as
      the timestamp of its start (00:00).
    - A null group value is its own group (shown as null, never dropped); groups sort by value, nulls last.
    - Counts are integers (``int64``; the "from previous" counts are nullable ``Int64`` because the first stage's
      row has nulls there); rates and days are ``float64`` with NaN for null.

Choices where the document is open (also listed in the report that came with this file)
    1. Events after ``as_of`` are dropped before anything is computed; then any entry time after ``as_of`` (e.g. a
       ``created_at`` after ``as_of``) is null. In both modes this equals "compute with every event, then null
       the entries after as_of".
    2. ``start``/``end`` select the cohort (the entries into the previous stage); the step's outcome (the entry
       into the next stage) is observed up to ``as_of`` whatever its period or range.
    3. The horizon ``H`` is ``horizon_days`` when given, else the window ``W`` when given, else 90 days. "Age less
       than H days" compares the exact age with H days (for an integer H the same as ``floor(age) < H``).
    4. With a window, a lead whose next entry came after the window is not converted; for Kaplan-Meier it is a
       censored lead (at ``floor(as_of - e(k))``), never an event.
    5. Durations in days are exact: ``(later - earlier) / 1 day`` at the timestamps' own precision (the demo's
       timestamps are whole seconds, so "fractional days from seconds" gives the same numbers).
    6. A (group, period) whose previous-stage cohort is empty has previous_reached = converted = still_open = 0
       and null rates/days; period conversion is null when the previous stage has no entry in the period.
    7. Revenue is observed at ``as_of`` too: opportunities created after ``as_of`` are ignored; a won or lost one
       whose close (``close_date`` 00:00, or ``created_at`` without a close date) is after ``as_of`` was still
       open at ``as_of`` and counts as open. Its amount then is known only when ``as_of`` is at or after
       ``imported_at`` (when the rows were imported; None: no imports log, always known): otherwise it counts in
       ``open_unknown_amount_deals``, not in ``open_pipeline``.
    8. ``open_pipeline``/``open_deals`` in ``revenue`` are the deals open at ``as_of``, placed in time by
       ``created_at`` as the document says (so a period shows the still-open deals created in it); the snapshot
       by CRM stage and age is ``open_pipeline_by_stage_and_age``.
    9. Revenue breakdowns use the opportunity's own column when it has one of that name, else the lead's
       (through ``lead_id``; null when the opportunity has no lead or an unknown one).
   10. The sales cycle of a won deal with no close_date is unknown: it is left out of the cycle statistics. A deal
       closed on the day it was created has a negative cycle (close date at 00:00), kept as is.
   11. Data quality counts: out of order uses t(0) = min(created_at, first s0 event); unknown leads counts events
       (of any stage); negative durations counts leads with a used event strictly before created_at; skipped
       stages looks at events only. Events whose stage is not a funnel stage are counted as ``unknown_stages``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "AGE_BINS",
    "DEFAULT_HORIZON_DAYS",
    "FROM_PREVIOUS_COUNTS",
    "FUNNEL_COUNTS",
    "FUNNEL_FLOATS",
    "PERIODS",
    "QUALITY_CHECKS",
    "REVENUE_COUNTS",
    "REVENUE_FLOATS",
    "VELOCITY_BINS",
    "bin_label",
    "entries",
    "funnel",
    "km_conversion",
    "open_pipeline_by_stage_and_age",
    "period_start",
    "quality",
    "raw_first_entries",
    "revenue",
    "sales_cycle",
    "to_utc",
    "velocity_bins",
]

TimeLike = pd.Timestamp | datetime | date | str | None

DAY = pd.Timedelta(days=1)
DEFAULT_HORIZON_DAYS = 90
PERIODS = ("day", "week", "month", "quarter")
VELOCITY_BINS: tuple[tuple[float, float], ...] = (
    (0, 1),
    (1, 3),
    (3, 7),
    (7, 14),
    (14, 30),
    (30, 60),
    (60, 90),
    (90, 180),
    (180, math.inf),
)
AGE_BINS: tuple[tuple[float, float], ...] = ((0, 30), (30, 60), (60, 90), (90, 180), (180, math.inf))

FUNNEL_COUNTS = ("stage_index", "reached")
FROM_PREVIOUS_COUNTS = ("previous_reached", "converted_from_previous", "still_open_from_previous")
FUNNEL_FLOATS = (
    "conversion_from_previous",
    "km_conversion_from_previous",
    "period_conversion_from_previous",
    "median_days_from_previous",
    "p25_days_from_previous",
    "p75_days_from_previous",
    "mean_days_from_previous",
)
REVENUE_COUNTS = ("won_deals", "lost_deals", "open_deals", "open_unknown_amount_deals")
REVENUE_FLOATS = (
    "won_revenue",
    "average_deal_size",
    "win_rate",
    "open_pipeline",
    "median_sales_cycle_days",
    "mean_sales_cycle_days",
)
REVENUE_VALUES = (
    "won_revenue",
    "won_deals",
    "lost_deals",
    "average_deal_size",
    "win_rate",
    "open_pipeline",
    "open_deals",
    "open_unknown_amount_deals",
    "median_sales_cycle_days",
    "mean_sales_cycle_days",
)

QUALITY_CHECKS = (
    "out_of_order",
    "re_entries",
    "unknown_leads",
    "negative_durations",
    "skipped_stages",
    "undated_events",
)

#: Stands for "no period" inside the computations; never shown.
_NO_PERIOD = pd.Timestamp("1970-01-01")


# --- small helpers ----------------------------------------------------------------------------------------------


def to_utc(value: TimeLike) -> pd.Timestamp | None:
    """A moment as a naive UTC timestamp (nanoseconds); None stays None."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.as_unit("ns")


def _utc_column(series: pd.Series) -> pd.Series:
    """A column of moments (timestamps, dates, strings) as naive UTC ``datetime64[ns]``."""
    converted = pd.to_datetime(series)
    if isinstance(converted.dtype, pd.DatetimeTZDtype):
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted.astype("datetime64[ns]")


def period_start(moments: pd.Series, period: str) -> pd.Series:
    """The start (00:00 UTC) of the calendar period holding each moment; weeks start on Monday."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    day = moments.dt.floor("D")
    if period == "day":
        return day
    if period == "week":
        # Missing moments give a NaN weekday; pandas' float-to-timedelta cast can then read garbage, so missing
        # moments subtract 0 days (and stay missing).
        return day - pd.to_timedelta(day.dt.weekday.fillna(0).astype("int64"), unit="D")
    return moments.dt.to_period("M" if period == "month" else "Q").dt.start_time.astype("datetime64[ns]")


def bin_label(low: float, high: float) -> str:
    """``[0,1)``, ``[180,inf)``: how a bin of days is named."""
    return f"[{low:g},{high:g})"


def _earliest(*columns: pd.Series) -> pd.Series:
    """Element-wise earliest of timestamp columns; nulls are ignored, all null gives null."""
    return pd.concat(list(columns), axis=1).min(axis=1).astype("datetime64[ns]")


def _latest(*columns: pd.Series) -> pd.Series:
    return pd.concat(list(columns), axis=1).max(axis=1).astype("datetime64[ns]")


def _check_stages(stages: Sequence[str]) -> list[str]:
    names = list(stages)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"stages must be a non-empty list of distinct names, not {names!r}")
    return names


def _prepare_leads(leads: pd.DataFrame) -> pd.DataFrame:
    out = leads.reset_index(drop=True).copy()
    if out["lead_id"].duplicated().any():
        raise ValueError("leads has duplicate lead_id values")
    out["created_at"] = _utc_column(out["created_at"])
    return out


def _events(events: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """The stage events with UTC times, without those after as_of (when given)."""
    out = events[["lead_id", "stage", "occurred_at"]].copy()
    out["occurred_at"] = _utc_column(out["occurred_at"])
    if as_of is not None:
        out = out[out["occurred_at"] <= as_of]
    return out


def _used_events(
    leads: pd.DataFrame, events: pd.DataFrame, stages: Sequence[str], as_of: pd.Timestamp | None
) -> pd.DataFrame:
    """The events the funnel uses: a funnel stage, a known lead, not after as_of."""
    out = _events(events, as_of)
    return out[out["stage"].isin(list(stages)) & out["lead_id"].isin(leads["lead_id"])]


def _group_ids(frame: pd.DataFrame, by: Sequence[str]) -> tuple[pd.Series, pd.DataFrame]:
    """A group number per row (groups sorted by value, nulls last) and the group values by number."""
    if not by:
        return pd.Series(0, index=frame.index, dtype="int64"), pd.DataFrame(index=pd.Index([0], name="_gid"))
    gid = frame.groupby(list(by), dropna=False, sort=True).ngroup().astype("int64")
    values = frame[list(by)].assign(_gid=gid).drop_duplicates("_gid").set_index("_gid").sort_index()
    return gid, values


def _in_range(moments: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.Series:
    """Not null and in [start, end)."""
    keep = moments.notna()
    if start is not None:
        keep &= moments >= start
    if end is not None:
        keep &= moments < end
    return keep


def _periods(moments: pd.Series, period: str | None) -> pd.Series:
    if period is None:
        return pd.Series(_NO_PERIOD, index=moments.index, dtype="datetime64[ns]")
    return period_start(moments, period)


def _quantiles(days: np.ndarray) -> dict[str, float | None]:
    """Continuous quantiles (linear interpolation, as SQL percentile_cont) and the mean; nulls when empty."""
    if days.size == 0:
        return {"median": None, "p25": None, "p75": None, "mean": None}
    p25, median, p75 = np.quantile(days, [0.25, 0.5, 0.75])
    return {"median": float(median), "p25": float(p25), "p75": float(p75), "mean": float(days.mean())}


def _finish(
    rows: list[dict[str, Any]],
    groups: pd.DataFrame,
    by: Sequence[str],
    period: str | None,
    columns: Sequence[str],
    dtypes: dict[str, str],
    order: Sequence[str],
) -> pd.DataFrame:
    """Rows with a group number -> the public frame: group values first, then period, then `columns`."""
    frame = pd.DataFrame(rows, columns=["_gid", "period", *columns])
    frame = frame.sort_values(["_gid", "period", *order], kind="stable")
    if by:
        frame = frame.merge(groups.reset_index(), on="_gid", how="left", sort=False)
    frame = frame.drop(columns="_gid")
    if period is None:
        frame = frame.drop(columns="period")
    else:
        frame["period"] = frame["period"].astype("datetime64[ns]")
    for name, dtype in dtypes.items():
        frame[name] = frame[name].astype(dtype)
    head = [*by, *(["period"] if period is not None else [])]
    return frame[[*head, *columns]].reset_index(drop=True)


# --- entry times --------------------------------------------------------------------------------------------------


def raw_first_entries(
    leads: pd.DataFrame, events: pd.DataFrame, stages: Sequence[str], *, as_of: TimeLike = None
) -> pd.DataFrame:
    """t(k) per lead (rows aligned with `leads`, one column per stage): the earliest used event at each stage.

    The first stage is special: t(0) = min(created_at, earliest event at s0). Re-entries never count (min).
    """
    names = _check_stages(stages)
    people = _prepare_leads(leads)
    used = _used_events(people, events, names, to_utc(as_of))
    first = used.groupby(["stage", "lead_id"])["occurred_at"].min()
    raw = pd.DataFrame(index=people.index)
    for stage in names:
        per_lead = first.loc[stage] if stage in first.index.get_level_values("stage") else pd.Series(dtype=object)
        raw[stage] = people["lead_id"].map(per_lead).astype("datetime64[ns]")
    raw[names[0]] = _earliest(people["created_at"], raw[names[0]])
    return raw


def _cumulative(raw: pd.DataFrame, stages: Sequence[str]) -> pd.DataFrame:
    """e(n-1) = t(n-1); e(k) = min(t(k), e(k+1)), nulls ignored."""
    out = pd.DataFrame(index=raw.index)
    later: pd.Series | None = None
    for stage in reversed(list(stages)):
        later = raw[stage] if later is None else _earliest(raw[stage], later)
        out[stage] = later
    return out[list(stages)]


def _strict(raw: pd.DataFrame, stages: Sequence[str]) -> pd.DataFrame:
    """e(0) = t(0); e(k) = t(k) when e(k-1) and t(k) are not null and t(k) >= e(k-1) (a tie is in order)."""
    names = list(stages)
    out = pd.DataFrame(index=raw.index)
    out[names[0]] = raw[names[0]]
    for previous, stage in itertools.pairwise(names):
        in_order = out[previous].notna() & raw[stage].notna() & (raw[stage] >= out[previous])
        out[stage] = raw[stage].where(in_order)
    return out


def entries(
    leads: pd.DataFrame, events: pd.DataFrame, stages: Sequence[str], *, strict: bool, as_of: TimeLike
) -> pd.DataFrame:
    """One row per lead (in `leads` order): the lead's columns, then ``e_<stage>`` for every stage.

    ``e_<stage>`` is the entry time per the rules (cumulative or strict), null where not reached, and null when
    after `as_of` (a lead reached a stage when its entry is not null and at most as_of).
    """
    names = _check_stages(stages)
    moment = to_utc(as_of)
    if moment is None:
        raise ValueError("as_of is required")
    people = _prepare_leads(leads)
    raw = raw_first_entries(people, events, names, as_of=moment)
    chosen = _strict(raw, names) if strict else _cumulative(raw, names)
    out = people.copy()
    for stage in names:
        out[f"e_{stage}"] = chosen[stage].where(chosen[stage] <= moment)
    return out


# --- funnel -------------------------------------------------------------------------------------------------------


def km_conversion(days: Sequence[int] | np.ndarray, converted: Sequence[bool] | np.ndarray, horizon_days: int) -> float:
    """1 - S(H), S(H) = product over t <= H of (1 - c(t)/n(t)); n(t) = leads with duration >= t (converted or
    censored on day t included), c(t) = converted leads with duration exactly t. The cohort must not be empty."""
    duration = np.asarray(days, dtype=np.int64)
    event = np.asarray(converted, dtype=bool)
    if duration.size == 0:
        raise ValueError("Kaplan-Meier needs at least one lead")
    survival = 1.0
    for t in sorted(set(duration[event & (duration <= horizon_days)].tolist())):
        at_risk = int((duration >= t).sum())
        converted_on_t = int(((duration == t) & event).sum())
        survival *= 1.0 - converted_on_t / at_risk
    return 1.0 - survival


class _Funnel:
    """The entries of every lead with its group number, and per stage: in range or not, and the period."""

    def __init__(
        self,
        leads: pd.DataFrame,
        events: pd.DataFrame,
        stages: Sequence[str],
        *,
        by: Sequence[str],
        period: str | None,
        start: TimeLike,
        end: TimeLike,
        strict: bool,
        as_of: TimeLike,
    ) -> None:
        self.stages = _check_stages(stages)
        self.by = list(by)
        self.period = period
        moment = to_utc(as_of)
        if moment is None:
            raise ValueError("as_of is required")
        self.as_of = moment
        self.lead_entries = entries(leads, events, self.stages, strict=strict, as_of=moment)
        self.gid, self.groups = _group_ids(self.lead_entries, self.by)
        begin, finish = to_utc(start), to_utc(end)
        self.entry = [self.lead_entries[f"e_{s}"] for s in self.stages]
        self.in_range = [_in_range(e, begin, finish) for e in self.entry]
        self.placed = [_periods(e, period) for e in self.entry]

    def reached(self) -> dict[tuple[int, pd.Timestamp, int], int]:
        """reached(k, P) per group: {(group, period, k): leads whose e(k) is in P (and in range)}."""
        counts: dict[tuple[int, pd.Timestamp, int], int] = {}
        for k in range(len(self.stages)):
            keep = self.in_range[k]
            frame = pd.DataFrame({"_gid": self.gid[keep], "_p": self.placed[k][keep]})
            for (g, p), size in frame.groupby(["_gid", "_p"]).size().items():
                counts[(int(g), pd.Timestamp(p), k)] = int(size)
        return counts

    def group_periods(self) -> list[tuple[int, pd.Timestamp]]:
        """Every (group, period) in which at least one lead reached at least one stage in range, sorted."""
        found = {(g, p) for g, p, _k in self.reached()}
        return sorted(found)

    def step(self, k: int, window_days: int | None, horizon_days: int) -> pd.DataFrame:
        """The cohort of stage k-1 (entries in range), one row per lead, with its outcome for the step k-1 -> k.

        Columns: _gid, _p (period of e(k-1)), converted, still_open, km_days (whole days: to conversion for
        converted leads, else to as_of), days (fractional days to conversion; NaN when not converted).
        """
        keep = self.in_range[k - 1]
        previous = self.entry[k - 1][keep]
        following = self.entry[k][keep]  # already null when after as_of
        duration = following - previous
        converted = following.notna()
        if window_days is not None:
            converted &= duration <= pd.Timedelta(days=window_days)
        age = self.as_of - previous
        still_open = ~converted & (age < pd.Timedelta(days=horizon_days))
        km_days = np.floor(duration.where(converted, age) / DAY).astype("int64")
        return pd.DataFrame(
            {
                "_gid": self.gid[keep],
                "_p": self.placed[k - 1][keep],
                "converted": converted,
                "still_open": still_open,
                "km_days": km_days,
                "days": (duration / DAY).where(converted),
            }
        )


def _horizon(window_days: int | None, horizon_days: int | None) -> int:
    if horizon_days is not None:
        return horizon_days
    return window_days if window_days is not None else DEFAULT_HORIZON_DAYS


def _step_stats(cohort: pd.DataFrame, horizon_days: int) -> dict[tuple[int, pd.Timestamp], dict[str, Any]]:
    """Per (group, period) of a step's cohort: size, converted, still open, rates and velocity."""
    stats: dict[tuple[int, pd.Timestamp], dict[str, Any]] = {}
    for (g, p), lot in cohort.groupby(["_gid", "_p"], sort=True):
        size = len(lot)
        converted = int(lot["converted"].sum())
        velocity = _quantiles(lot.loc[lot["converted"], "days"].to_numpy(dtype=float))
        stats[(int(g), pd.Timestamp(p))] = {
            "previous_reached": size,
            "converted_from_previous": converted,
            "conversion_from_previous": converted / size,
            "still_open_from_previous": int(lot["still_open"].sum()),
            "km_conversion_from_previous": km_conversion(lot["km_days"], lot["converted"], horizon_days),
            "median_days_from_previous": velocity["median"],
            "p25_days_from_previous": velocity["p25"],
            "p75_days_from_previous": velocity["p75"],
            "mean_days_from_previous": velocity["mean"],
        }
    return stats


FUNNEL_COLUMNS = (
    "stage",
    "stage_index",
    "reached",
    "previous_reached",
    "converted_from_previous",
    "conversion_from_previous",
    "still_open_from_previous",
    "km_conversion_from_previous",
    "period_conversion_from_previous",
    "median_days_from_previous",
    "p25_days_from_previous",
    "p75_days_from_previous",
    "mean_days_from_previous",
)


def funnel(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: Sequence[str],
    *,
    by: Sequence[str],
    period: str | None,
    start: TimeLike,
    end: TimeLike,
    strict: bool,
    window_days: int | None,
    as_of: TimeLike,
    horizon_days: int | None = None,
) -> pd.DataFrame:
    """The funnel table: one row per (group, period) and stage.

    Columns, exactly: ``*by, [period], stage, stage_index, reached, previous_reached, converted_from_previous,
    conversion_from_previous, still_open_from_previous, km_conversion_from_previous,
    period_conversion_from_previous, median_days_from_previous, p25_days_from_previous, p75_days_from_previous,
    mean_days_from_previous``. The (group, period) pairs are those where at least one lead reached at least one
    stage in range; each has all n stages. Sorted by group (nulls last), period, stage_index.
    """
    model = _Funnel(leads, events, stages, by=by, period=period, start=start, end=end, strict=strict, as_of=as_of)
    horizon = _horizon(window_days, horizon_days)
    reached = model.reached()
    steps = {k: _step_stats(model.step(k, window_days, horizon), horizon) for k in range(1, len(model.stages))}
    empty_step = {
        "previous_reached": 0,
        "converted_from_previous": 0,
        "conversion_from_previous": None,
        "still_open_from_previous": 0,
        "km_conversion_from_previous": None,
        "median_days_from_previous": None,
        "p25_days_from_previous": None,
        "p75_days_from_previous": None,
        "mean_days_from_previous": None,
    }
    rows: list[dict[str, Any]] = []
    for g, p in model.group_periods():
        for k, stage in enumerate(model.stages):
            row: dict[str, Any] = {
                "_gid": g,
                "period": p,
                "stage": stage,
                "stage_index": k,
                "reached": reached.get((g, p, k), 0),
            }
            if k == 0:
                row.update(dict.fromkeys(empty_step))
                row["period_conversion_from_previous"] = None
            else:
                row.update(steps[k].get((g, p), empty_step))
                before = reached.get((g, p, k - 1), 0)
                row["period_conversion_from_previous"] = row["reached"] / before if before else None
            rows.append(row)
    dtypes = {"stage": "object", "stage_index": "int64", "reached": "int64"}
    dtypes |= dict.fromkeys(FROM_PREVIOUS_COUNTS, "Int64")
    dtypes |= dict.fromkeys(FUNNEL_FLOATS, "float64")
    return _finish(rows, model.groups, model.by, period, FUNNEL_COLUMNS, dtypes, ["stage_index"])


def velocity_bins(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: Sequence[str],
    *,
    stage: str,
    by: Sequence[str],
    period: str | None,
    start: TimeLike,
    end: TimeLike,
    strict: bool,
    window_days: int | None,
    as_of: TimeLike,
) -> pd.DataFrame:
    """The duration distribution of the step from the stage before `stage` into `stage`.

    Columns: ``*by, [period], stage, bin, bin_start_days, bin_end_days, leads``: per (group, period) of the funnel
    table and per bin ``[0,1) [1,3) ... [180,inf)`` (all nine, zero included), the converted cohort leads whose
    duration ``e(k) - e(k-1)`` in fractional days is in ``[bin_start_days, bin_end_days)``. The counts of a
    (group, period) add up to its ``converted_from_previous``.
    """
    model = _Funnel(leads, events, stages, by=by, period=period, start=start, end=end, strict=strict, as_of=as_of)
    k = model.stages.index(stage)
    if k == 0:
        raise ValueError("the first stage has no step into it")
    cohort = model.step(k, window_days, _horizon(window_days, None))
    days = cohort[cohort["converted"]]
    rows: list[dict[str, Any]] = []
    for g, p in model.group_periods():
        lot = days.loc[(days["_gid"] == g) & (days["_p"] == p), "days"]
        for low, high in VELOCITY_BINS:
            rows.append(
                {
                    "_gid": g,
                    "period": p,
                    "stage": stage,
                    "bin": bin_label(low, high),
                    "bin_start_days": float(low),
                    "bin_end_days": float(high),
                    "leads": int(((lot >= low) & (lot < high)).sum()),
                }
            )
    columns = ("stage", "bin", "bin_start_days", "bin_end_days", "leads")
    dtypes = {"bin_start_days": "float64", "bin_end_days": "float64", "leads": "int64"}
    return _finish(rows, model.groups, model.by, period, columns, dtypes, ["bin_start_days"])


def sales_cycle(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: Sequence[str],
    *,
    from_stage: str,
    by: Sequence[str],
    period: str | None,
    start: TimeLike,
    end: TimeLike,
    strict: bool,
    as_of: TimeLike,
) -> pd.DataFrame:
    """The sales cycle from `from_stage` to the last stage, over the leads of `from_stage`'s cohort that reached it.

    Columns: ``*by, [period], stage, cohort, reached_last, median_days, p25_days, p75_days, mean_days`` with
    ``stage`` = from_stage, per (group, period) of the funnel table; the duration is ``e(n-1) - e(k)`` in
    fractional days; no window applies.
    """
    model = _Funnel(leads, events, stages, by=by, period=period, start=start, end=end, strict=strict, as_of=as_of)
    k = model.stages.index(from_stage)
    keep = model.in_range[k]
    days = ((model.entry[-1] - model.entry[k]) / DAY)[keep]
    cohort = pd.DataFrame({"_gid": model.gid[keep], "_p": model.placed[k][keep], "days": days})
    rows: list[dict[str, Any]] = []
    for g, p in model.group_periods():
        lot = cohort.loc[(cohort["_gid"] == g) & (cohort["_p"] == p), "days"]
        won = lot.dropna().to_numpy(dtype=float)
        q = _quantiles(won)
        rows.append(
            {
                "_gid": g,
                "period": p,
                "stage": from_stage,
                "cohort": len(lot),
                "reached_last": int(won.size),
                "median_days": q["median"],
                "p25_days": q["p25"],
                "p75_days": q["p75"],
                "mean_days": q["mean"],
            }
        )
    columns = ("stage", "cohort", "reached_last", "median_days", "p25_days", "p75_days", "mean_days")
    dtypes = {"cohort": "int64", "reached_last": "int64"} | dict.fromkeys(columns[3:], "float64")
    return _finish(rows, model.groups, model.by, period, columns, dtypes, [])


# --- revenue ------------------------------------------------------------------------------------------------------


def _deals(opportunities: pd.DataFrame, leads: pd.DataFrame, by: Sequence[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Opportunities as observed at as_of, with ``_status``, ``_placed``, ``_amount``, ``_closed_at`` and the
    breakdown columns (the opportunity's own, else the lead's through lead_id)."""
    deals = opportunities.reset_index(drop=True).copy()
    deals["created_at"] = _utc_column(deals["created_at"])
    if "close_date" in deals:
        close = _utc_column(deals["close_date"])
    else:
        close = pd.Series(pd.NaT, index=deals.index, dtype="datetime64[ns]")
    deals["_close"] = close
    deals = deals[deals["created_at"] <= as_of].copy()
    closed = deals["status"].isin(["won", "lost"])
    closed_at = deals["_close"].fillna(deals["created_at"])
    status = deals["status"].where(~(closed & (closed_at > as_of)), "open")
    deals["_status"] = status
    deals["_placed"] = deals["created_at"].where(status == "open", closed_at)
    amount = deals["amount"] if "amount" in deals else pd.Series(np.nan, index=deals.index)
    deals["_amount"] = amount.astype("float64").fillna(0.0)
    people = _prepare_leads(leads).set_index("lead_id")
    for column in by:
        if column not in opportunities.columns:
            deals[column] = deals["lead_id"].map(people[column]) if "lead_id" in deals else None
    return deals


def revenue(
    opportunities: pd.DataFrame,
    leads: pd.DataFrame,
    *,
    by: Sequence[str],
    period: str | None,
    start: TimeLike,
    end: TimeLike,
    as_of: TimeLike,
    imported_at: TimeLike = None,
) -> pd.DataFrame:
    """Revenue per (group, period) where at least one opportunity is placed in range.

    Columns, exactly: ``*by, [period], won_revenue, won_deals, lost_deals, average_deal_size, win_rate,
    open_pipeline, open_deals, open_unknown_amount_deals, median_sales_cycle_days, mean_sales_cycle_days``.
    Every deal was imported at `imported_at` (rule 7). Won and lost deals are placed by
    close_date (00:00 UTC; created_at without one), open ones by created_at; [start, end) filters that moment.
    """
    moment = to_utc(as_of)
    if moment is None:
        raise ValueError("as_of is required")
    imported = to_utc(imported_at)
    unknown = imported is not None and moment < imported
    deals = _deals(opportunities, leads, by, moment)
    deals = deals[_in_range(deals["_placed"], to_utc(start), to_utc(end))].copy()
    gid, groups = _group_ids(deals, by)
    deals["_gid"] = gid
    deals["_p"] = _periods(deals["_placed"], period)
    rows: list[dict[str, Any]] = []
    for (g, p), lot in deals.groupby(["_gid", "_p"], sort=True):
        won = lot[lot["_status"] == "won"]
        lost = lot[lot["_status"] == "lost"]
        still_open = lot[lot["_status"] == "open"]
        won_revenue = float(won["_amount"].sum())
        cycle = ((won["_close"] - won["created_at"]) / DAY).dropna().to_numpy(dtype=float)
        closed = len(won) + len(lost)
        rows.append(
            {
                "_gid": int(g),
                "period": pd.Timestamp(p),
                "won_revenue": won_revenue,
                "won_deals": len(won),
                "lost_deals": len(lost),
                "average_deal_size": won_revenue / len(won) if len(won) else None,
                "win_rate": len(won) / closed if closed else None,
                "open_pipeline": 0.0 if unknown else float(still_open["_amount"].sum()),
                "open_deals": len(still_open),
                "open_unknown_amount_deals": len(still_open) if unknown else 0,
                "median_sales_cycle_days": float(np.median(cycle)) if cycle.size else None,
                "mean_sales_cycle_days": float(cycle.mean()) if cycle.size else None,
            }
        )
    dtypes = dict.fromkeys(REVENUE_COUNTS, "int64") | dict.fromkeys(REVENUE_FLOATS, "float64")
    return _finish(rows, groups, list(by), period, REVENUE_VALUES, dtypes, [])


def open_pipeline_by_stage_and_age(
    opportunities: pd.DataFrame, leads: pd.DataFrame, *, by: Sequence[str] = (), as_of: TimeLike
) -> pd.DataFrame:
    """The deals open at as_of by CRM stage and age (``as_of - created_at``, fractional days).

    Columns: ``*by, stage, age_bin, open_pipeline, open_deals``; ``age_bin`` one of ``[0,30) [30,60) [60,90)
    [90,180) [180,inf)``; one row per combination holding at least one open deal (a null stage is its own
    group); sorted by group, stage (nulls last), bin.
    """
    moment = to_utc(as_of)
    if moment is None:
        raise ValueError("as_of is required")
    deals = _deals(opportunities, leads, by, moment)
    deals = deals[deals["_status"] == "open"].copy()
    if "stage" not in deals:
        deals["stage"] = None
    age = (moment - deals["created_at"]) / DAY
    deals["_bin"] = -1
    for index, (low, high) in enumerate(AGE_BINS):
        deals.loc[(age >= low) & (age < high), "_bin"] = index
    gid, groups = _group_ids(deals, [*by, "stage"])
    deals["_gid"] = gid
    rows: list[dict[str, Any]] = []
    for (g, b), lot in deals.groupby(["_gid", "_bin"], sort=True):
        low, high = AGE_BINS[int(b)]
        rows.append(
            {
                "_gid": int(g),
                "period": _NO_PERIOD,
                "age_bin": bin_label(low, high),
                "open_pipeline": float(lot["_amount"].sum()),
                "open_deals": len(lot),
            }
        )
    frame = _finish(
        rows,
        groups,
        [*by, "stage"],
        None,
        ("age_bin", "open_pipeline", "open_deals"),
        {"open_pipeline": "float64", "open_deals": "int64"},
        [],
    )
    return frame


# --- data quality -------------------------------------------------------------------------------------------------


def quality(
    leads: pd.DataFrame, events: pd.DataFrame, stages: Sequence[str], *, as_of: TimeLike = None
) -> dict[str, Any]:
    """The data-quality counts (events after as_of ignored when as_of is given).

    Keys: out_of_order, re_entries, unknown_leads, negative_durations, skipped_stages (the document's checks),
    unknown_stages (events whose stage is not a funnel stage), re_entry_extra_entries (entries re-entries would
    add if every entry counted), cumulative_changed (leads whose entry time the cumulative rule moved earlier),
    placed_in_earlier_period ({day, week, month, quarter}: leads whose cumulative e(0) falls in an earlier period
    than their created_at) and strict_dropped ({stage: leads reached in cumulative mode but not in strict mode}).
    """
    names = _check_stages(stages)
    moment = to_utc(as_of)
    people = _prepare_leads(leads)
    every = _events(events, moment)
    used = _used_events(people, events, names, moment)

    # re-entries: (lead, stage) pairs with more than one event
    per_pair = used.groupby(["lead_id", "stage"]).size()

    # out of order: some i < j with t(j) < t(i), i.e. t(j) earlier than the latest t(i) before it
    raw = raw_first_entries(people, events, names, as_of=moment)
    out_of_order = pd.Series(False, index=raw.index)
    latest_before = raw[names[0]]
    for stage in names[1:]:
        out_of_order |= raw[stage] < latest_before  # a null compares False
        latest_before = _latest(latest_before, raw[stage])

    # negative durations: a used event strictly before the lead's created_at
    created = used["lead_id"].map(people.set_index("lead_id")["created_at"])
    negative = used.loc[used["occurred_at"] < created, "lead_id"].nunique()

    # skipped stages: an event at stage j with no event at some stage i, 1 <= i < j
    has = pd.DataFrame({s: people["lead_id"].isin(used.loc[used["stage"] == s, "lead_id"]) for s in names})
    skipped = pd.Series(False, index=people.index)
    missing_before = pd.Series(False, index=people.index)
    for stage in names[1:]:
        skipped |= has[stage] & missing_before
        missing_before |= ~has[stage]

    cumulative, strict = _cumulative(raw, names), _strict(raw, names)

    def is_reached(moments: pd.Series) -> pd.Series:
        return moments.notna() if moment is None else moments.notna() & (moments <= moment)

    changed = pd.Series(False, index=raw.index)
    for stage in names:
        changed |= raw[stage].notna() & (cumulative[stage] < raw[stage])

    first = cumulative[names[0]]
    earlier = {
        p: int((is_reached(first) & (period_start(first, p) < period_start(people["created_at"], p))).sum())
        for p in PERIODS
    }
    return {
        "out_of_order": int(out_of_order.sum()),
        "re_entries": int((per_pair > 1).sum()),
        "unknown_leads": int((~every["lead_id"].isin(people["lead_id"])).sum()),
        "negative_durations": int(negative),
        "skipped_stages": int(skipped.sum()),
        # stage events the import dated at the lead's creation: a `source` ending in "(undated)"
        "undated_events": int(
            events["source"].fillna("").astype(str).str.strip().str.lower().str.endswith("(undated)").sum()
        )
        if "source" in events.columns
        else 0,
        "unknown_stages": int((~every["stage"].isin(names)).sum()),
        "re_entry_extra_entries": int((per_pair - 1).sum()),
        "cumulative_changed": int(changed.sum()),
        "placed_in_earlier_period": earlier,
        "strict_dropped": {s: int(is_reached(cumulative[s]).sum() - is_reached(strict[s]).sum()) for s in names},
    }
