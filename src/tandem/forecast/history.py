"""What the forecast reads, as arrays, and the same data as it was known on any earlier day.

Why arrays: a forecast is a few vectorised passes over every open deal and every lead in flight, and the backtest
repeats it from every week of every past period. Reading the warehouse once and slicing in memory makes that
cheap, and it makes "only what was known then" one function, `known_at`, that every forecast goes through: the
live forecast is `known_at(history, now)`, the backtest `known_at(history, each past day)`. Nothing else reads
the data, so nothing can leak from the future.

Time is in days since 1970-01-01 UTC (floats; a close date is a whole day). A deal closed on day d is known from
d's midnight, as in the revenue figures (docs/funnel-semantics.md, "Revenue").

What was known at day t:

- **deals**: those created by t. A deal won or lost after t was still open then: its status and close day are
  dropped. A deal's CRM stage, amount and expected close date are known at t only if its row was last written by
  an import made at or before t (`written`, from the row's `_import_id` and the import log's finish time): the
  warehouse keeps only a row's latest values, so a row rewritten after t holds values t never saw. Otherwise,
  for a deal still open at t, all three are unknown (NaN, stage None) and `unknown` counts them; nothing is filled
  in from today. This is the one `known_at` rule of every as-of view (DESIGN, "As of a moment"). Where the CRM
  records amounts only at close (no open deal has one today: `amounts_at_close`), an open deal has no amount
  even when its row is known;
- **leads**: those created by t, with the stage entries they had made by t (later entries dropped). Entries are
  counted as every page counts them: each stretch of time under the definitions version in force during it
  (`tandem.definitions.counting`), so a looser rule approved today does not rewrite the history the forecast
  learns from; rule entries are themselves checked with the data of their own moment
  (tandem.definitions.membership).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import ibis
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tandem.engine.entries import entry_table, stage_column
from tandem.engine.spec import as_of_or_now
from tandem.engine.usable import left_out_messages, usable
from tandem.warehouse.backends import IMPORT_LOG

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext

__all__ = ["History", "day_of", "known_at", "load_history", "opportunity_stage_index", "to_date"]

Strings = npt.NDArray[np.object_]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_EPOCH = date(1970, 1, 1)


def day_of(moment: datetime | date) -> float:
    """Days since the epoch (UTC) of a moment or a day's midnight."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return (moment - datetime(1970, 1, 1)).total_seconds() / 86400.0
    return float((moment - _EPOCH).days)


def to_date(day: float) -> date:
    return date.fromordinal(_EPOCH.toordinal() + int(np.floor(day)))


def opportunity_stage_index(stages: tuple[str, ...]) -> int:
    """The stage at which a lead becomes an opportunity: "opportunity" when the definitions have it, else the
    second to last (the stage before won), as the demo and the DESIGN default stages use."""
    return stages.index("opportunity") if "opportunity" in stages[:-1] else max(len(stages) - 2, 0)


@dataclass(frozen=True)
class History:
    """Deals and leads, as known on day `as_of` (module docs).

    Deals: `created` (day), `closed` (the close day of a deal won or lost by `as_of`, NaN while open), `won`,
    `amount` (NaN when unknown), `expected_close` (an open deal's expected close day, NaN when unknown).
    Leads: `entries[i, k]`, the day lead i first reached stage k (cumulative counting), NaN if not yet.
    `crm_stage` (the deal's CRM stage, None when unknown) and `written` (the day its row was last written by an
    import; -inf when the import log has no record of it: taken as known): a still-open deal's stage,
    amount and expected close are those of day t only when `written <= t` (module docs).
    `amounts_at_close`: the CRM records a deal's amount only when it closes (no open deal has one, as in the
    Maven data, where a lost deal's amount is 0): then a deal open on a past day had no amount that day.
    `unknown`: how many deals open at `as_of` had their row rewritten later, so their stage, amount and expected
    close date are unknown then.
    `left_out`: the findings of rows left out because they hold a value no figure can use (tandem.engine.usable).
    """

    as_of: float
    stages: tuple[str, ...]
    created: Floats
    closed: Floats
    won: Bools
    amount: Floats
    expected_close: Floats
    entries: Floats
    definition_version: int | None = None
    amounts_at_close: bool = False
    crm_stage: Strings | None = None
    written: Floats | None = None
    unknown: int = 0
    left_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Hand-built histories (tests, benchmarks) may leave the CRM columns out: no stage, rows known from the start.
        n = self.created.size
        if self.crm_stage is None:
            object.__setattr__(self, "crm_stage", np.full(n, None, dtype=object))
        if self.written is None:
            object.__setattr__(self, "written", np.full(n, -np.inf))

    @property
    def stages_known(self) -> Strings:
        """`crm_stage`, never None (set in __post_init__)."""
        assert self.crm_stage is not None
        return self.crm_stage

    @property
    def opportunity_stage(self) -> int:
        return opportunity_stage_index(self.stages)

    @property
    def is_open(self) -> Bools:
        result: Bools = np.isnan(self.closed)
        return result

    @property
    def has_leads(self) -> bool:
        return bool(self.entries.shape[0])


def known_at(history: History, day: float) -> History:
    """The history as it was known at `day` (module docs); `day` may not be after the history's own as-of."""
    if day > history.as_of + 1e-9:
        raise ValueError(f"cannot see day {day} from a history known up to {history.as_of}")
    created = history.created <= day
    closed = history.closed[created]
    still_open = ~(closed <= day)  # NaN (open) compares False, so it stays open
    entries = history.entries[history.entries[:, 0] <= day] if history.has_leads else history.entries
    if entries.size:
        entries = np.where(entries <= day, entries, np.nan)
    assert history.written is not None
    written = history.written[created]
    # A row rewritten after `day` holds values `day` never saw: for a deal open then, they are unknown.
    unseen = still_open & ~(written <= day)
    stage = history.stages_known[created].copy()
    stage[unseen] = None
    amount = history.amount[created]
    if history.amounts_at_close:
        amount = np.where(still_open, np.nan, amount)
    return replace(
        history,
        as_of=day,
        created=history.created[created],
        closed=np.where(still_open, np.nan, closed),
        won=history.won[created] & ~still_open,
        amount=np.where(unseen, np.nan, amount),
        expected_close=np.where(still_open & ~unseen, history.expected_close[created], np.nan),
        crm_stage=stage,
        written=written,
        unknown=int(unseen.sum()),
        entries=entries,
    )


def load_history(ws: DefinitionsContext, as_of: datetime | None = None) -> History:
    """Every deal and every lead's stage entries from the warehouse, as known at `as_of` (default now)."""
    moment = as_of_or_now(as_of)
    counting = ws.counting(moment)  # each stretch of time under the definitions in force then
    in_force = counting.current
    stages = tuple(in_force.definitions.stage_names)
    wh = ws.warehouse
    # A deal holding a value no figure can use (a close date in year 1, an infinite amount) is left out, as in every
    # figure (tandem.engine.usable): one such row must not break the quarter arithmetic or the simulation.
    opportunities = usable(wh.table("opportunities"), "opportunities")
    when = ibis.literal(moment, type="timestamp")
    opportunities = opportunities.filter(opportunities.created_at <= when)
    close = opportunities.close_date.cast("timestamp")
    columns = opportunities.columns
    stage = opportunities.stage.cast("string") if "stage" in columns else ibis.null("string")
    import_id = opportunities["_import_id"].cast("int64") if "_import_id" in columns else ibis.null("int64")
    deals = opportunities.select(
        created=opportunities.created_at,
        close=close,
        status=opportunities.status,
        amount=opportunities.amount.cast("float64"),
        stage=stage,
        import_id=import_id,
    ).to_pyarrow()
    created = _days(deals.column("created"))
    close_day = np.floor(_days(deals.column("close")))
    status = np.asarray(deals.column("status").to_pylist(), dtype=object)
    finished = np.isin(status, ["won", "lost"])
    # A won or lost deal without a close date is placed at its creation, as in the revenue figures; one whose close
    # date comes before its creation day (a deal entered in the CRM after it closed, a migrated deal) closed at
    # age 0: deals are aged from one date to the other, and no age is negative.
    closed = np.where(finished, np.where(np.isnan(close_day), np.floor(created), close_day), np.nan)
    closed = np.where(closed < np.floor(created), np.floor(created), closed)
    expected = np.where(finished, np.nan, close_day)
    amount = deals.column("amount").to_numpy(zero_copy_only=False).astype(np.float64)
    crm_stage = np.asarray(deals.column("stage").to_pylist(), dtype=object)
    written = _written_days(ws, deals.column("import_id").to_pylist())

    leads = wh.table("leads")
    events = ws.counted_stage_events(counting, moment)
    table = entry_table(leads, events, stages, strict=False, as_of=moment)
    columns = [stage_column(k) for k in range(len(stages))]
    arrow = table.select(*columns).to_pyarrow()
    entries = np.column_stack([_days(arrow.column(c)) for c in columns]) if arrow.num_rows else np.empty((0, 0))
    entries = entries[~np.isnan(entries[:, 0])] if entries.size else np.empty((0, len(stages)))
    history = History(
        as_of=day_of(moment),
        stages=stages,
        created=created,
        closed=closed,
        won=status == "won",
        amount=amount,
        expected_close=expected,
        entries=entries,
        definition_version=in_force.version,
        amounts_at_close=bool((~finished).any()) and bool(np.isnan(amount[~finished]).all()),
        crm_stage=crm_stage,
        written=written,
        left_out=tuple(
            left_out_messages({name: wh.table(name) for name in ("opportunities", "leads", "stage_events")})
        ),
    )
    return known_at(history, history.as_of)


def _written_days(ws: DefinitionsContext, import_ids: list[int | None]) -> Floats:
    """The day each row was last written: its import's finish time (import log; on Spark the exported
    ``import_log.parquet``). A row with no entry in the log (Parquet written without one, rows written without an
    import) has no record of when it was written and is taken as known (-inf), as tandem.engine.known does for
    every as-of view."""
    finished: dict[int, float] = {}
    warehouse = ws.warehouse
    if any(i is not None for i in import_ids):
        log = warehouse.table(IMPORT_LOG)
        rows = log.select(log.import_id, log.finished_at).to_pyarrow()
        days = _days(rows.column("finished_at"))
        for import_id, day in zip(rows.column("import_id").to_pylist(), days, strict=True):
            if import_id is not None and not np.isnan(day):
                finished[int(import_id)] = max(float(day), finished.get(int(import_id), -np.inf))
    return np.asarray([finished.get(int(i), -np.inf) if i is not None else -np.inf for i in import_ids], dtype=float)


def _days(column: object) -> Floats:
    """A timestamp column as days since the epoch (NaN for nulls)."""
    chunked = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    micros = pc.cast(pc.cast(chunked, pa.timestamp("us")), pa.int64())
    values = micros.to_numpy(zero_copy_only=False).astype(np.float64)
    valid = pc.is_valid(micros).to_numpy(zero_copy_only=False)
    days: Floats = np.where(valid, values / 86_400_000_000.0, np.nan)
    return days
