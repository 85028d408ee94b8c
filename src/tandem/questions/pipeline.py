"""The open pipeline in the order deals move: CRM stages in pipeline order, age bins in age order, with totals.

A CRM export names each deal's current stage but not the order of the stages, and sorting them by name puts
"Demo" before "Discovery". The order is, first, the workspace's ``pipeline_stages`` setting (the CRM's stages as
listed in its pipeline settings). Unset, a CRM's default pipeline whose stages the deals carry (`CRM_PIPELINES`:
HubSpot's default sales pipeline, Salesforce's standard opportunity stages, as the hubspot-deals and
salesforce-opportunities presets import them) gives the order, so that a HubSpot export comes out in HubSpot's
order with nothing to set. The stages neither lists come after, ordered from the data: by the age of their open
deals (a deal in a later stage has usually been open longer), measured as the deal-weighted mean position of their
age bins (0-30 days is 0, 30-60 is 1, ...), then by name. Deals whose stage is not known (``null``: see
`tandem.engine.known`) come last. The totals add up the rows: per stage and overall.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from tandem.engine.revenue import AGE_BINS

__all__ = [
    "AGE_BIN_LABELS",
    "CRM_PIPELINES",
    "ORDER_FROM_DATA",
    "ORDER_FROM_SETTING",
    "crm_pipeline",
    "order_advice",
    "ordered_pipeline",
    "stage_order",
]

#: The age bins' labels, youngest first, as the pipeline's rows name them.
AGE_BIN_LABELS: tuple[str, ...] = tuple(f"{lo}-{hi}" if hi is not None else f"{lo}+" for lo, hi in AGE_BINS)
ORDER_FROM_SETTING = "the pipeline_stages setting"
ORDER_FROM_DATA = "the age of each stage's open deals (deal-weighted mean age bin)"

#: The default pipelines of the CRMs tandem has presets for: what the order is called -> its stages in order, as
#: labels. A stage matches a deal's stage value ignoring case, spaces and punctuation (`_plain`), so HubSpot's labels
#: in either case ("Appointment Scheduled", "Appointment scheduled") and its internal names ("appointmentscheduled")
#: are one stage. The presets name them in their comments (warehouse/presets/hubspot-deals.toml,
#: salesforce-opportunities.toml).
CRM_PIPELINES: dict[str, tuple[str, ...]] = {
    "HubSpot's default sales pipeline": (
        "Appointment Scheduled",
        "Qualified To Buy",
        "Presentation Scheduled",
        "Decision Maker Bought-In",
        "Contract Sent",
        "Closed Won",
        "Closed Lost",
    ),
    "Salesforce's standard opportunity stages": (
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Value Proposition",
        "Id. Decision Makers",
        "Perception Analysis",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    ),
}


def _plain(stage: str) -> str:
    """A stage name without case, spaces or punctuation: ``Decision Maker Bought-In`` is ``decisionmakerboughtin``."""
    return re.sub(r"[\W_]+", "", stage.casefold())


def _age_rank(label: Any) -> int:
    return AGE_BIN_LABELS.index(label) if label in AGE_BIN_LABELS else len(AGE_BIN_LABELS)


def crm_pipeline(stages: Sequence[str]) -> tuple[str, list[str]] | None:
    """The CRM pipeline (`CRM_PIPELINES`) that at least half of `stages` belong to, the most of them if two do: its
    name and those stages in its order; None when none does (a pipeline of the company's own stages)."""
    best: tuple[str, list[str]] | None = None
    for name, order in CRM_PIPELINES.items():
        rank = {_plain(stage): i for i, stage in enumerate(order)}
        matched = sorted((s for s in stages if _plain(s) in rank), key=lambda s: (rank[_plain(s)], s))
        if matched and 2 * len(matched) >= len(stages) and (best is None or len(matched) > len(best[1])):
            best = (name, matched)
    return best


def stage_order(rows: Sequence[dict[str, Any]], configured: Sequence[str] = ()) -> tuple[list[str | None], str]:
    """The stages of `rows` in pipeline order (see the module), and what the order came from."""
    deals: dict[str, int] = {}
    weighted: dict[str, float] = {}
    unknown = False
    for row in rows:
        stage = row.get("stage")
        if stage is None:
            unknown = True
            continue
        n = int(row.get("deals") or 0)
        deals[stage] = deals.get(stage, 0) + n
        weighted[stage] = weighted.get(stage, 0.0) + n * _age_rank(row.get("age_bin"))
    listed, source = [s for s in configured if s in deals], ORDER_FROM_SETTING
    if not configured and (crm := crm_pipeline(sorted(deals))) is not None:
        source, listed = crm
    rest = sorted(
        (s for s in deals if s not in listed),
        key=lambda s: (weighted[s] / deals[s] if deals[s] else 0.0, s),
    )
    order: list[str | None] = [*listed, *rest, *([None] if unknown else [])]
    if listed and rest:
        return order, f"{source}, then {ORDER_FROM_DATA}"
    return order, source if listed else ORDER_FROM_DATA


def order_advice(document: dict[str, Any]) -> str | None:
    """How to put the stages a pipeline document ordered from the data (``stage_order_from``) in the CRM's order:
    the ``pipeline_stages`` line to write, listing them as they come now (reorder it). None when the setting or a
    CRM's pipeline ordered every stage."""
    source = str(document.get("stage_order_from") or "")
    if not source.endswith(ORDER_FROM_DATA):
        return None
    stages = [s for s in document.get("stage_order") or [] if s is not None]
    if not stages:
        return None
    example = "[" + ", ".join(json.dumps(s, ensure_ascii=False) for s in stages) + "]"
    return (
        "to list the stages in your CRM's order, set pipeline_stages under [settings] in tandem.toml (see "
        f"`tandem settings`), e.g. pipeline_stages = {example}, reordered as your CRM's pipeline lists them"
    )


def ordered_pipeline(document: dict[str, Any], configured: Sequence[str] = ()) -> dict[str, Any]:
    """The pipeline `document` with its rows in pipeline order (breakdown groups as they came, then stage, then age
    bin) and its totals: ``stage_order``, ``stage_order_from``, ``age_bins``, ``stage_totals`` (per group and
    stage) and ``total``."""
    rows: list[dict[str, Any]] = document["rows"]
    groups = list(document.get("breakdown") or [])
    order, source = stage_order(rows, configured)
    rank = {stage: i for i, stage in enumerate(order)}
    first_seen: dict[tuple[Any, ...], int] = {}
    for row in rows:
        first_seen.setdefault(tuple(row.get(c) for c in groups), len(first_seen))

    def key(row: dict[str, Any]) -> tuple[int, int, int]:
        group = first_seen[tuple(row.get(c) for c in groups)]
        return group, rank[row.get("stage")], _age_rank(row.get("age_bin"))

    rows.sort(key=key)
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        group = tuple(row.get(c) for c in groups)
        cell = totals.setdefault(
            (*group, row.get("stage")),
            {**dict(zip(groups, group, strict=True)), "stage": row.get("stage"), **_zero()},
        )
        _add(cell, row)
    total = _zero()
    for row in rows:
        _add(total, row)
    document.update(
        stage_order=order,
        stage_order_from=source,
        age_bins=list(AGE_BIN_LABELS),
        stage_totals=list(totals.values()),
        total=total,
    )
    return document


def _zero() -> dict[str, Any]:
    return {"deals": 0, "amount": 0.0, "unknown_deals": 0}


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    into["deals"] += int(row.get("deals") or 0)
    into["amount"] += float(row.get("amount") or 0.0)
    into["unknown_deals"] += int(row.get("unknown_deals") or 0)
