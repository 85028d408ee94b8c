"""Which lead channels sales sources itself: the ``sales_sourced_channels`` setting, and what to set it to.

The setting has no default: a channel name that is not in the data (the demo's ``outbound`` on a HubSpot export)
would make every won deal marketing-sourced, and marketing's revenue quota 100 % of the goal. Unset, `tandem status`,
`tandem settings` and the Plan page say so and suggest the imported channel values that look sales-sourced
(`tandem.plan.goals.suggest_sales_sourced`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tandem.errors import TandemError
from tandem.plan.goals import sales_sourced_advice, suggest_sales_sourced

if TYPE_CHECKING:
    from tandem.workspace import Workspace

__all__ = ["CHANNELS_READ", "lead_channels", "sales_sourced_status"]

#: Distinct channel values read at most: enough for any CRM's picklist, bounded for a free-text column.
CHANNELS_READ = 1000


def lead_channels(ws: Workspace) -> list[str]:
    """The distinct channel values of the imported leads, sorted (none when leads have no channel column)."""
    if "channel" not in ws.warehouse.columns("leads"):
        return []
    leads = ws.warehouse.table("leads")
    values = leads.select(channel=leads.channel.cast("string")).distinct()
    values = values.filter(values.channel.notnull()).order_by("channel").limit(CHANNELS_READ)
    return [str(row["channel"]) for row in values.to_pyarrow().to_pylist()]


def sales_sourced_status(ws: Workspace) -> dict[str, Any]:
    """The setting (``set``: its values, empty when unset) and, when unset, the imported channels that look
    sales-sourced (``suggested``) and how to set it (``advice``)."""
    configured = list(ws.settings["sales_sourced_channels"])
    if configured:
        return {"set": configured, "suggested": None, "advice": None}
    try:
        suggested = suggest_sales_sourced(lead_channels(ws))
    except TandemError:  # no warehouse to read (a workspace opened without it): advise without values
        suggested = []
    return {"set": [], "suggested": suggested, "advice": sales_sourced_advice(suggested)}
