"""The workspace's status: counts per table, the definitions in force (and any waiting to take effect), the
backends, the last import, and what the funnel can and cannot show yet (`funnel_findings`).

The findings are computed here once; `tandem status` prints them and the Imports page lists them, so a user who
imported contacts alone reads "no stage events: the funnel will show only leads" and what to import next, rather
than a funnel of zeros with no word why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tandem.questions.base import Question

if TYPE_CHECKING:
    from tandem.workspace import Workspace

__all__ = ["StatusQuestion", "funnel_findings"]

#: What to import for stage events, in the words every finding uses.
STAGE_SOURCES = (
    "import HubSpot's contacts with the 'Became a ... Date' columns (preset hubspot-contacts) and deals with "
    "'Associated Contact IDs' (hubspot-deals), Salesforce's leads (salesforce-leads) or lead history "
    "(salesforce-lead-history), or map your CRM's stage dates with [stage_columns] in a mapping of your own "
    "(docs/import.md)"
)


class StatusQuestion(Question):
    """What `tandem status` shows: the one question with no parameters."""

    kind = "status"
    money = True
    reads = (
        "leads",
        "stage_events",
        "opportunities",
        "touches",
        "campaigns",
        "spend",
        "activities",
        "handoffs",
        "accounts",
        "definitions",
        "imports",
        "goals",  # and plans: the set-up steps done (`tandem.questions.next_steps`)
        "plans",
    )

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.questions.next_steps import next_steps
        from tandem.questions.sales_sourced import sales_sourced_status

        status = ws.status()
        return {
            **status,
            "findings": funnel_findings(ws, status["tables"]),
            "next_steps": next_steps(ws, status["tables"]),
            "sales_sourced_channels": sales_sourced_status(ws),  # unset: what to set it to
        }


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def funnel_findings(ws: Workspace, counts: dict[str, int] | None = None) -> list[dict[str, str]]:
    """What the funnel can and cannot show yet, from the data imported: each finding a ``kind`` and a ``text``
    saying what is missing and what to import or map. Empty when every stage has what it needs.

    A handful of small aggregations (events per stage, undated events, links from deals to leads).
    """
    from tandem.engine.quality import is_undated, prefer_dated
    from tandem.engine.usable import left_out_messages

    counts = counts if counts is not None else ws.warehouse.counts()
    stages = ws.stages
    definitions = ws.definitions_in_force().definitions
    ruled = {stage.name for stage in definitions.stages if stage.rule}
    findings: list[dict[str, str]] = []

    def say(kind: str, text: str) -> None:
        findings.append({"kind": kind, "text": text})

    if not counts.get("leads"):
        say(
            "no_leads",
            "no leads yet: the funnel is empty; import your contacts or leads first, e.g. "
            "`tandem import leads contacts.csv --mapping hubspot-contacts` (or salesforce-leads)",
        )
        return findings

    wh = ws.warehouse
    leads = wh.table("leads")
    events = wh.table("stage_events")
    later = [stage for stage in stages[1:] if stage not in ruled]
    if not counts.get("stage_events"):
        if later:
            only = "only leads" if not ruled else f"only leads and the stages with a rule ({', '.join(sorted(ruled))})"
            say("no_stage_events", f"no stage events: the funnel will show {only}; {STAGE_SOURCES}")
    else:
        known = events.filter(events.stage.isin(stages))
        per_stage = known.group_by("stage").aggregate(events=known.count()).to_pyarrow().to_pylist()
        present = {row["stage"] for row in per_stage} | ruled
        # Reaching a stage implies the earlier ones: only the stages after the last one reached show 0.
        last = max((stages.index(stage) for stage in present), default=0)
        empty = stages[last + 1 :]
        if empty:
            say(
                "empty_stages",
                f"no lead has reached {', '.join(empty)}: no stage event or rule gives "
                f"{'it' if len(empty) == 1 else 'them'}, so the funnel will show 0 there; {STAGE_SOURCES}",
            )
        used = prefer_dated(events, stages)  # as the funnel reads them: an undated event yields to dated ones
        undated = used.filter(is_undated(used))
        row = undated.aggregate(leads=undated.lead_id.nunique(), events=undated.count()).to_pyarrow().to_pylist()[0]
        if row["events"]:
            sources = sorted(str(s) for s in undated.select("source").distinct().source.to_pyarrow().to_pylist())
            say(
                "undated_events",
                f"stage events for {_plural(int(row['leads']), 'lead')} have no date of their own "
                f"({', '.join(sources)}): they are dated at the lead's creation (or its last dated event), so the "
                "counts per stage are right but the days between stages and the period a stage is counted in are "
                "not; export HubSpot's 'Became a ... Date' properties, or import Salesforce's lead history, for "
                "real dates",
            )
        orphans = int(events.anti_join(leads, events.lead_id == leads.lead_id).count().execute())
        if orphans:
            say(
                "events_for_unknown_leads",
                f"{_plural(orphans, 'stage event')} name leads not imported (a deal's contacts, say): they count "
                "once those leads are imported; import the contacts or leads they name",
            )

    if counts.get("opportunities"):
        deals = wh.table("opportunities")
        linked = deals.lead_id.notnull() & deals.lead_id.isin(leads.lead_id)
        row = (
            deals.aggregate(
                deals=deals.count(),
                unlinked=deals.count(where=~linked.fill_null(False)),
                won=deals.count(where=deals.status == "won"),
                won_unlinked=deals.count(where=(deals.status == "won") & ~linked.fill_null(False)),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        how = (
            "export HubSpot deals with 'Associated Contact IDs'; for Salesforce, import the leads (with "
            "ConvertedOpportunityId) before the opportunities; or map lead_id in the opportunities' mapping"
        )
        if row["unlinked"] == row["deals"]:
            say(
                "unlinked_opportunities",
                "opportunities are not linked to leads: won deals will not show in the funnel, nor revenue by "
                f"channel; {how}",
            )
        elif row["unlinked"]:
            won = f", {row['won_unlinked']:,} of them won" if row["won_unlinked"] else ""
            say(
                "unlinked_opportunities",
                f"{row['unlinked']:,} of {row['deals']:,} opportunities name no imported lead{won}: their won deals "
                f"will not show in the funnel, nor in revenue by channel; {how}",
            )

    # Rows holding a value no figure can use (written past the import's checks) are left out of every figure.
    read = {name: wh.table(name) for name in ("leads", "stage_events", "opportunities", "spend") if counts.get(name)}
    for message in left_out_messages(read):
        say("unusable_values", message)
    return findings
