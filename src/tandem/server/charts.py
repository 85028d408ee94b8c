"""Chart specs: one Vega-Lite spec per chart, drawn on the page and exported as PNG or SVG by vl-convert.

Each function takes the rows of a computed document (plain dicts) and returns the spec as a dict, so the page, the
image export and a report all draw exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import altair as alt

__all__ = [
    "CHART_WIDTH",
    "IMAGE_TYPES",
    "cohort_heatmap",
    "plan_requirements",
    "revenue_trend",
    "stage_trend",
    "stage_volumes",
    "to_image",
    "velocity_histogram",
]

CHART_WIDTH = 420
IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


class ImageFormat(StrEnum):
    """The formats a chart exports to (a path parameter of the chart routes)."""

    png = "png"
    svg = "svg"


PALETTE = ["#2f5bd3", "#9db5f0", "#e07b39", "#1f7a4d", "#8c5bd3", "#c2410c", "#0e7490", "#6b7280"]


def _base(values: Sequence[dict[str, Any]]) -> alt.Chart:
    data = alt.Data(values=list(values))  # type: ignore[no-untyped-call]
    chart: alt.Chart = alt.Chart(data).properties(width=CHART_WIDTH, height=220)
    return chart


def _spec(chart: alt.TopLevelMixin, title: str) -> dict[str, Any]:
    spec: dict[str, Any] = chart.properties(title=title).to_dict()
    spec.pop("$schema", None)  # an identifier only; dropped so the page names no outside address
    return spec


def stage_volumes(rows: Sequence[dict[str, Any]], stages: Sequence[str], series: str, title: str) -> dict[str, Any]:
    """Grouped bars: leads reaching each stage, one bar per `series` value (e.g. this quarter, last quarter)."""
    chart = (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("stage:N", sort=list(stages), title=None),
            xOffset=alt.XOffset(f"{series}:N"),
            y=alt.Y("reached:Q", title="leads reaching the stage"),
            color=alt.Color(
                f"{series}:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom", columns=4)
            ),
            tooltip=["stage:N", f"{series}:N", alt.Tooltip("reached:Q", format=",")],
        )
    )
    return _spec(chart, title)


def revenue_trend(rows: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Won revenue per period as bars, win rate as a line on its own axis."""
    base = _base(rows).encode(x=alt.X("yearmonth(period):O", title=None))
    bars = base.mark_bar(color=PALETTE[0]).encode(
        y=alt.Y("won_revenue:Q", title="won revenue"),
        tooltip=[alt.Tooltip("period:T", format="%Y-%m"), alt.Tooltip("won_revenue:Q", format=",.0f")],
    )
    line = base.mark_line(color=PALETTE[2], point=True).encode(
        y=alt.Y("win_rate:Q", title="win rate", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("period:T", format="%Y-%m"), alt.Tooltip("win_rate:Q", format=".1%")],
    )
    return _spec(alt.layer(bars, line).resolve_scale(y="independent"), title)


def to_image(spec: dict[str, Any], fmt: str) -> bytes:
    """The chart as PNG or SVG bytes (vl-convert renders it without a browser)."""
    import vl_convert

    if fmt == "png":
        return bytes(vl_convert.vegalite_to_png(spec, scale=2))
    if fmt == "svg":
        return str(vl_convert.vegalite_to_svg(spec)).encode()
    raise ValueError(f"unknown image format {fmt!r}; use png or svg")


def stage_trend(rows: Sequence[dict[str, Any]], stages: Sequence[str], title: str) -> dict[str, Any]:
    """Lines: leads reaching each stage per period (rows: period as an ISO date, stage, reached)."""
    chart = (
        _base(rows)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title=None, axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("reached:Q", title="leads reaching the stage"),
            color=alt.Color("stage:N", sort=list(stages), title=None, scale=alt.Scale(range=PALETTE)),
            tooltip=["period:O", "stage:N", alt.Tooltip("reached:Q", format=",")],
        )
    )
    return _spec(chart, title)


def cohort_heatmap(rows: Sequence[dict[str, Any]], stages: Sequence[str], title: str) -> dict[str, Any]:
    """A heatmap: of each period's cohort of the previous stage, the share that reached the stage.

    Rows: period (ISO date), stage, conversion (0-1 or null), cohort (the previous stage's cohort size).
    """
    chart = (
        _base(rows)
        .mark_rect()
        .encode(
            x=alt.X("period:O", title=None, axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("stage:N", sort=list(stages), title="reached, from the previous stage"),
            color=alt.Color(
                "conversion:Q",
                title=None,
                scale=alt.Scale(scheme="blues", domain=[0, 1]),
                legend=alt.Legend(format="%"),
            ),
            tooltip=[
                "period:O",
                "stage:N",
                alt.Tooltip("conversion:Q", format=".1%"),
                alt.Tooltip("cohort:Q", format=",", title="cohort"),
            ],
        )
    )
    return _spec(chart, title)


def velocity_histogram(rows: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Bars: converted leads per bin of days taken (rows: bin label such as "3-7", leads), bins in row order."""
    chart = (
        _base(rows)
        .mark_bar(color=PALETTE[0])
        .encode(
            x=alt.X("bin:N", sort=[r["bin"] for r in rows], title="days"),
            y=alt.Y("leads:Q", title="leads"),
            tooltip=["bin:N", alt.Tooltip("leads:Q", format=",")],
        )
    )
    return _spec(chart, title)


def plan_requirements(rows: Sequence[dict[str, Any]], stages: Sequence[str], title: str) -> dict[str, Any]:
    """Small multiples, one per stage: entries needed per month as bars, the P10-P90 range as a rule on each.

    Rows: stage, month (``YYYY-MM``), required, low, high. Each stage has its own scale (leads outnumber deals).
    """
    base = alt.Chart().encode(x=alt.X("month:O", title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=True)))
    tooltip = [
        "stage:N",
        "month:O",
        alt.Tooltip("required:Q", format=",.1f", title="needed"),
        alt.Tooltip("low:Q", format=",.1f", title="P10"),
        alt.Tooltip("high:Q", format=",.1f", title="P90"),
    ]
    bars = base.mark_bar(color=PALETTE[1]).encode(y=alt.Y("required:Q", title="needed"), tooltip=tooltip)
    ranges = base.mark_rule(color=PALETTE[0], strokeWidth=2).encode(y="low:Q", y2="high:Q", tooltip=tooltip)
    data = alt.Data(values=list(rows))  # type: ignore[no-untyped-call]
    chart = (
        alt.layer(bars, ranges, data=data)
        .properties(width=220, height=130)
        .facet(facet=alt.Facet("stage:N", sort=list(stages), title=None), columns=3)
        .resolve_scale(y="independent")
    )
    return _spec(chart, title)
