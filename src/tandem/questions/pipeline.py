"""The open pipeline in the order deals move: CRM stages in pipeline order, age bins in age order, with totals.

A CRM export names each deal's current stage but not the order of the stages, and sorting them by name puts
"Demo" before "Discovery". The order is, first, the workspace's ``pipeline_stages`` setting (the CRM's stages as
listed in its pipeline settings); the stages it does not list come after, ordered from the data: by the age of
their open deals (a deal in a later stage has usually been open longer), measured as the deal-weighted mean
position of their age bins (0-30 days is 0, 30-60 is 1, ...), then by name. Deals whose stage is not known
(``null``: see `tandem.engine.known`) come last. The totals add up the rows: per stage and overall.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem.engine.revenue import AGE_BINS

__all__ = ["AGE_BIN_LABELS", "ORDER_FROM_DATA", "ORDER_FROM_SETTING", "ordered_pipeline", "stage_order"]

#: The age bins' labels, youngest first, as the pipeline's rows name them.
AGE_BIN_LABELS: tuple[str, ...] = tuple(f"{lo}-{hi}" if hi is not None else f"{lo}+" for lo, hi in AGE_BINS)
ORDER_FROM_SETTING = "the pipeline_stages setting"
ORDER_FROM_DATA = "the age of each stage's open deals (deal-weighted mean age bin)"


def _age_rank(label: Any) -> int:
    return AGE_BIN_LABELS.index(label) if label in AGE_BIN_LABELS else len(AGE_BIN_LABELS)


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
    listed = [s for s in configured if s in deals]
    rest = sorted(
        (s for s in deals if s not in listed),
        key=lambda s: (weighted[s] / deals[s] if deals[s] else 0.0, s),
    )
    order: list[str | None] = [*listed, *rest, *([None] if unknown else [])]
    if listed and rest:
        return order, f"{ORDER_FROM_SETTING}, then {ORDER_FROM_DATA}"
    return order, ORDER_FROM_SETTING if listed else ORDER_FROM_DATA


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
