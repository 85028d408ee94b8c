"""Chart specs: one Vega-Lite spec per chart, drawn on the page and exported as PNG or SVG by vl-convert.

Each function takes the rows of a computed document (plain dicts) and returns the spec as a dict, so the page, the
image export and a report all draw exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import altair as alt

from tandem.money import currency_in_use

__all__ = [
    "CHART_WIDTH",
    "IMAGE_TYPES",
    "backtest_band",
    "cohort_heatmap",
    "forecast_bar",
    "forecast_range",
    "money_title",
    "plan_requirements",
    "revenue_trend",
    "speed_to_lead",
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


def _colours(count: int) -> alt.Scale:
    """`PALETTE` for up to its eight series; Vega's 20 category colours beyond (a series is never merged away)."""
    return alt.Scale(range=PALETTE) if count <= len(PALETTE) else alt.Scale(scheme="tableau20")


def money_title(text: str) -> str:
    """An axis title of amounts, naming the workspace's currency (``won revenue (USD)``)."""
    return f"{text} ({currency_in_use()})"


def stage_volumes(
    rows: Sequence[dict[str, Any]],
    stages: Sequence[str],
    series: str,
    title: str,
    order: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Grouped bars: leads reaching each stage, one bar per `series` value (e.g. this quarter, last quarter), each
    value its own colour and legend entry in `order` (default: as the rows first name them), none merged."""
    named = list(order) if order is not None else list(dict.fromkeys(str(r[series]) for r in rows))
    chart = (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("stage:N", sort=list(stages), title=None),
            xOffset=alt.XOffset(f"{series}:N", sort=named),
            y=alt.Y("reached:Q", title="leads reaching the stage"),
            color=alt.Color(
                f"{series}:N",
                title=None,
                sort=named,
                scale=_colours(len(named)),
                legend=alt.Legend(orient="bottom", columns=4),
            ),
            tooltip=["stage:N", f"{series}:N", alt.Tooltip("reached:Q", format=",")],
        )
    )
    return _spec(chart, title)


def revenue_trend(rows: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Won revenue per period as bars, win rate as a line on its own axis."""
    base = _base(rows).encode(x=alt.X("yearmonth(period):O", title=None))
    bars = base.mark_bar(color=PALETTE[0]).encode(
        y=alt.Y("won_revenue:Q", title=money_title("won revenue")),
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
    """Lines: leads reaching each stage per period (rows: period, stage, reached; the period as people say it,
    ``2026-Q1``, with the rows in time order: the axis keeps their order)."""
    chart = (
        _base(rows)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title=None, sort=_periods(rows), axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("reached:Q", title="leads reaching the stage"),
            color=alt.Color("stage:N", sort=list(stages), title=None, scale=alt.Scale(range=PALETTE)),
            tooltip=["period:O", "stage:N", alt.Tooltip("reached:Q", format=",")],
        )
    )
    return _spec(chart, title)


def _periods(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The rows' periods in the order they come (time order): ``Apr 2026`` must not sort before ``Jan 2026``."""
    return list(dict.fromkeys(str(r["period"]) for r in rows))


def cohort_heatmap(rows: Sequence[dict[str, Any]], stages: Sequence[str], title: str) -> dict[str, Any]:
    """A heatmap: of each period's cohort of the previous stage, the share that reached the stage.

    Rows: period (as people say it, in time order), stage, conversion (0-1 or null), cohort (the previous stage's
    cohort size).
    """
    chart = (
        _base(rows)
        .mark_rect()
        .encode(
            x=alt.X("period:O", title=None, sort=_periods(rows), axis=alt.Axis(labelOverlap=True)),
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


def _forecast_marks(marks: Sequence[dict[str, Any]]) -> alt.Chart:
    """Vertical rules at named amounts (P10, P50, P90, the goal, won so far), each its colour, the goal dashed.

    Marks: {label, value}; those without a value are left out.
    """
    shown = [m for m in marks if m.get("value") is not None]
    labels = [m["label"] for m in shown]
    colours = {"P10": PALETTE[1], "P50": PALETTE[0], "P90": PALETTE[1], "goal": PALETTE[5], "won so far": PALETTE[3]}
    data = alt.Data(values=shown)  # type: ignore[no-untyped-call]
    chart: alt.Chart = (
        alt.Chart(data)
        .mark_rule(strokeWidth=2)
        .encode(
            x=alt.X("value:Q"),
            color=alt.Color(
                "label:N",
                title=None,
                scale=alt.Scale(domain=labels, range=[colours.get(label, PALETTE[7]) for label in labels]),
                legend=alt.Legend(orient="bottom", columns=5),
            ),
            strokeDash=alt.condition(alt.datum.label == "goal", alt.value([6, 3]), alt.value([1, 0])),
            tooltip=["label:N", alt.Tooltip("value:Q", format=",.0f")],
        )
    )
    return chart


def forecast_range(histogram: Sequence[dict[str, Any]], marks: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """The forecast's distribution: simulated outcomes per revenue bin as bars (rows: low, high, count), with rules
    at P10, P50, P90, the goal and won so far (`marks`: {label, value})."""
    bars = (
        _base(histogram)
        .mark_bar(color=PALETTE[1], opacity=0.7)
        .encode(
            x=alt.X("low:Q", title=money_title("revenue in the period"), axis=alt.Axis(format="~s")),
            x2="high:Q",
            y=alt.Y("count:Q", title="simulated outcomes"),
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("low:Q", format=",.0f", title="from"),
                alt.Tooltip("high:Q", format=",.0f", title="to"),
                alt.Tooltip("count:Q", format=",", title="outcomes"),
            ],
        )
    )
    return _spec(alt.layer(bars, _forecast_marks(marks)).properties(width=CHART_WIDTH, height=220), title)


def forecast_bar(p10: float, p50: float, p90: float, goal: float | None, title: str) -> dict[str, Any]:
    """A compact range: one bar from P10 to P90, a tick at P50 and a dashed rule at the goal (when there is one)."""
    data = alt.Data(values=[{"p10": p10, "p50": p50, "p90": p90, "row": "forecast"}])  # type: ignore[no-untyped-call]
    top = max(p90, goal or 0.0) * 1.05 or 1.0
    scale = alt.Scale(domain=[0, top], nice=False)
    band = (
        alt.Chart(data)
        .mark_bar(color=PALETTE[1], height=18)
        .encode(
            x=alt.X("p10:Q", title=None, scale=scale, axis=alt.Axis(format="~s", tickCount=4)),
            x2="p90:Q",
            y=alt.Y("row:N", title=None, axis=None),
            tooltip=[alt.Tooltip(f"{k}:Q", format=",.0f", title=k.upper()) for k in ("p10", "p50", "p90")],
        )
    )
    tick = alt.Chart(data).mark_tick(color=PALETTE[0], thickness=3, size=26).encode(x="p50:Q", y="row:N")
    layers: list[alt.Chart] = [band, tick]
    if goal is not None:
        marker = alt.Data(values=[{"goal": goal}])  # type: ignore[no-untyped-call]
        layers.append(
            alt.Chart(marker)
            .mark_rule(color=PALETTE[5], strokeDash=[4, 2], strokeWidth=2)
            .encode(x="goal:Q", tooltip=[alt.Tooltip("goal:Q", format=",.0f")])
        )
    return _spec(alt.layer(*layers).properties(width=260, height=40), title)


def backtest_band(band: Sequence[dict[str, Any]], lines: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """The backtest over time: each forecast's P10-P90 as a band, and lines for tandem's P50, the weighted
    pipeline and the actual (rows of `band`: period, as_of, p10, p90; of `lines`: period, as_of, series, value).
    One band and line per period (`detail`), so periods are not joined."""
    x = alt.X("as_of:T", title="forecast made on")
    area = (
        alt.Chart(alt.Data(values=list(band)))  # type: ignore[no-untyped-call]
        .mark_area(color=PALETTE[1], opacity=0.45)
        .encode(
            x=x,
            y=alt.Y("p10:Q", title=money_title("revenue of the period"), axis=alt.Axis(format="~s")),
            y2="p90:Q",
            detail="period:N",
            tooltip=[
                "period:N",
                alt.Tooltip("as_of:T", format="%Y-%m-%d"),
                alt.Tooltip("p10:Q", format=",.0f", title="P10"),
                alt.Tooltip("p90:Q", format=",.0f", title="P90"),
            ],
        )
    )
    series = ["tandem P50", "weighted pipeline", "actual"]
    line = (
        alt.Chart(alt.Data(values=list(lines)))  # type: ignore[no-untyped-call]
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=x,
            y=alt.Y("value:Q"),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=series, range=[PALETTE[0], PALETTE[2], PALETTE[3]]),
                legend=alt.Legend(orient="bottom", columns=3),
            ),
            detail="period:N",
            tooltip=["period:N", "series:N", alt.Tooltip("as_of:T", format="%Y-%m-%d"),
                     alt.Tooltip("value:Q", format=",.0f")],
        )
    )  # fmt: skip
    return _spec(alt.layer(area, line).properties(width=560, height=240), title)


def speed_to_lead(rows: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Bars: the share of leads reaching SQL per bucket of time to first touch (rows: bucket, leads, sql_rate), in
    row order (fastest first), so that what speed is worth reads left to right."""
    chart = (
        _base(rows)
        .mark_bar(color=PALETTE[0])
        .encode(
            x=alt.X("bucket:N", sort=[r["bucket"] for r in rows], title="time to first touch"),
            y=alt.Y("sql_rate:Q", title="reached SQL", axis=alt.Axis(format="%")),
            tooltip=["bucket:N", alt.Tooltip("leads:Q", format=","), alt.Tooltip("sql_rate:Q", format=".1%")],
        )
    )
    return _spec(chart, title)


def spend_and_revenue(rows: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Grouped bars per month of the leads' creation: the spend, the revenue those leads have brought, and what the
    ones still in flight are expected to bring (rows: period, series, amount; series in that order)."""
    series = ["spend", "realised revenue", "expected revenue"]
    chart = (
        _base(rows)
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(period):O", title="month the leads were created"),
            xOffset=alt.XOffset("series:N", sort=series),
            y=alt.Y("amount:Q", title=money_title("amount")),
            color=alt.Color(
                "series:N",
                title=None,
                sort=series,
                scale=alt.Scale(domain=series, range=[PALETTE[2], PALETTE[0], PALETTE[1]]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("period:T", format="%Y-%m"),
                "series:N",
                alt.Tooltip("amount:Q", format=",.0f"),
            ],
        )
    )
    return _spec(chart, title)
