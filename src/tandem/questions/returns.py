"""Cost and return per channel or campaign: spend, cost per stage, CAC, realised ROI, ROAS and payback, and what the
leads still in flight are expected to bring, with a range (`tandem.plan.returns`, docs/attribution.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from tandem.questions.base import Moment, Question, check_field

if TYPE_CHECKING:
    from tandem.plan.model import FunnelModel
    from tandem.workspace import Workspace

__all__ = ["RoiQuestion"]


class RoiQuestion(Question):
    """Each channel's (or campaign's) cohort of leads in the window (default: the twelve months before the as-of
    moment), and per period with `period`: spend, leads per stage and cost per stage, CAC, the realised revenue
    with ROI, ROAS and payback, and the expected revenue of the leads in flight with its P10-P90 range."""

    kind = "roi"
    money = True
    reads = ("leads", "stage_events", "opportunities", "spend", "campaigns", "definitions")

    by: Literal["channel", "campaign"] = "channel"
    period: Literal["month", "quarter"] | None = None
    start: Moment = None
    end: Moment = None
    as_of: Moment = None

    def check(self, ws: Workspace) -> None:
        if self.start is not None and self.end is not None:
            check_field(self.start < self.end, "end", self.end, "the end must come after the start")

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.engine.spec import as_of_or_now
        from tandem.errors import TandemError
        from tandem.plan.calculator import Given, plan_model
        from tandem.plan.returns import cohort_returns, default_window, total_of

        moment = as_of_or_now(self.as_of)
        first, last = default_window(moment)
        start, end = self.start or first, self.end or last
        model: FunnelModel | None = None
        unavailable = None
        try:
            model = plan_model(Given({}, {}), ws, as_of=moment)
        except TandemError as exc:
            unavailable = f"leads in flight are not valued: the plan model has no estimate ({exc})"
        stages, cohorts = cohort_returns(ws, model, by=self.by, start=start, end=end, as_of=moment, period=self.period)
        return {
            "by": self.by,
            "period": self.period,
            "start": start,
            "end": end,
            "as_of": moment,
            "stages": stages,
            "model": None
            if model is None
            else {
                "basis": model.basis,
                "deal_size": round(model.deal_size, 2),
                "rate_to_won": {stage: model.rate_to_end(k) for k, stage in enumerate(stages)},
            },
            "expected_unavailable": unavailable,
            "rows": [c.as_dict(stages) for c in cohorts],
            "totals": total_of(cohorts, stages).as_dict(stages),
        }
