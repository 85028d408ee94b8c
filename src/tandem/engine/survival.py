"""Censoring-aware conversion: a Kaplan-Meier estimate of the share of a cohort converted by day H.

Why: a cohort that entered last week has had no time to convert; its raw conversion share reads as a collapse.
Kaplan-Meier counts a lead that has not converted yet as at risk up to its current age (censored), not as lost.

How this works, per group, period and stage k (docs/funnel-semantics.md): each lead of k's cohort has a duration in
whole days: to its entry into k+1 if it converted (an event), else to `as_of` (censored). It is computed once per
row with the cohort's other measures (`tandem.engine.funnel.measured_rows`), any duration past the horizon H as
H+1: only the days up to H, and how many leads outlast each, enter the estimate. Durations are counted per day; the
number at risk on day t is everyone with a duration >= t (a running sum from the longest duration down);
S(H) = product over days t <= H with events of (1 - events / at risk), computed as exp(sum(ln(...))), and the
estimate is 1 - S(H). A day on which everyone at risk converts makes S zero.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tandem.engine.spec import FunnelSpec

__all__ = ["km_conversion"]


def km_conversion(measured: ir.Table, keys: list[str], spec: FunnelSpec) -> ir.Table:
    """Per `keys` and ``_stage_index``: ``km``, the estimated conversion into the next stage by day `spec.horizon`.

    `measured` is `tandem.engine.funnel.measured_rows`: each row's ``_day`` and whether it converted.
    """
    per_day = measured.group_by([*keys, "stage_index", "_day"]).aggregate(
        _events=measured.count(where=measured._converted), _total=measured.count()
    )
    longest_first = ibis.window(
        group_by=[per_day[k] for k in [*keys, "stage_index"]], order_by=ibis.desc("_day"), rows=(None, 0)
    )
    at_risk = per_day._total.sum().over(longest_first)
    counted = per_day.mutate(_at_risk=at_risk)
    horizon = ibis.literal(spec.horizon, type="int64")
    within = (counted._day <= horizon) & (counted._events > 0)
    wipes_out = within & (counted._events >= counted._at_risk)
    share_left = ibis.literal(1.0, type="float64") - counted._events.cast("float64") / counted._at_risk.cast("float64")
    terms = counted.mutate(
        _log=ibis.cases((within & ~wipes_out, share_left.ln()), else_=ibis.literal(0.0, type="float64")),
        _wipes=wipes_out,
    )
    estimate = terms.group_by([*keys, "stage_index"]).aggregate(
        _log_survival=terms._log.sum(), _wiped=terms.count(where=terms._wipes)
    )
    one = ibis.literal(1.0, type="float64")
    return estimate.select(
        *keys,
        _stage_index=estimate.stage_index,
        km=ibis.cases((estimate._wiped > 0, one), else_=one - estimate._log_survival.exp()),
    )
