"""Journey builders: describe leads and deals the way a person would, get canonical tables.

    lead("a", "2026-01-01", channel="email").at("mql", "2026-01-03").at("sql", "2026-01-05 14:00")
    deal("o1", "2026-01-02", "won", amount=1000, closed="2026-01-20", lead="a")

Times are UTC unless the string carries an offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Deal", "Lead", "deal", "lead", "tables", "write_tables"]


def ts(value: str | datetime) -> datetime:
    """A naive UTC datetime from '2026-01-03', '2026-01-03 14:00' or an ISO string with an offset."""
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@dataclass
class Lead:
    lead_id: str
    created_at: datetime
    attributes: dict[str, Any]
    events: list[tuple[str, datetime]] = field(default_factory=list)

    def at(self, stage: str, when: str | datetime) -> Lead:
        """The lead entered `stage` at `when` (call again for a re-entry)."""
        self.events.append((stage, ts(when)))
        return self


@dataclass
class Deal:
    opportunity_id: str
    created_at: datetime
    status: str
    amount: float | None
    close_date: date | None
    lead_id: str | None
    attributes: dict[str, Any]


def lead(lead_id: str, created: str | datetime = "2026-01-01", **attributes: Any) -> Lead:
    return Lead(lead_id, ts(created), attributes)


def deal(
    opportunity_id: str,
    created: str,
    status: str,
    *,
    amount: float | None = None,
    closed: str | None = None,
    lead: str | None = None,
    **attributes: Any,
) -> Deal:
    close = date.fromisoformat(closed) if closed else None
    return Deal(opportunity_id, ts(created), status, amount, close, lead, attributes)


def _attribute_columns(rows: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [row.get(name) for row in rows] for name in names}


def tables(leads: Sequence[Lead], deals: Sequence[Deal] = ()) -> dict[str, pa.Table]:
    """Canonical tables (leads, stage_events, opportunities) for the journeys."""
    names = sorted({name for one in leads for name in one.attributes})
    lead_table = pa.table(
        {
            "lead_id": pa.array([one.lead_id for one in leads], pa.string()),
            "created_at": pa.array([one.created_at for one in leads], pa.timestamp("us")),
            **{
                n: pa.array(v, pa.string()) for n, v in _attribute_columns([o.attributes for o in leads], names).items()
            },
        }
    )
    events = [(one.lead_id, stage, when) for one in leads for stage, when in one.events]
    event_table = pa.table(
        {
            "lead_id": pa.array([e[0] for e in events], pa.string()),
            "stage": pa.array([e[1] for e in events], pa.string()),
            "occurred_at": pa.array([e[2] for e in events], pa.timestamp("us")),
        }
    )
    out = {"leads": lead_table, "stage_events": event_table}
    if deals:
        deal_names = sorted({name for one in deals for name in one.attributes})
        out["opportunities"] = pa.table(
            {
                "opportunity_id": pa.array([d.opportunity_id for d in deals], pa.string()),
                "created_at": pa.array([d.created_at for d in deals], pa.timestamp("us")),
                "status": pa.array([d.status for d in deals], pa.string()),
                "amount": pa.array([d.amount for d in deals], pa.float64()),
                "close_date": pa.array([d.close_date for d in deals], pa.date32()),
                "lead_id": pa.array([d.lead_id for d in deals], pa.string()),
                **{
                    n: pa.array(v, pa.string())
                    for n, v in _attribute_columns([d.attributes for d in deals], deal_names).items()
                },
            }
        )
    return out


def write_tables(folder: Path, canonical: dict[str, pa.Table]) -> dict[str, Path]:
    """Write each table as ``folder/<table>.parquet`` (the layout a Spark warehouse reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in canonical.items():
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths
