"""What the data says about the definitions: the weekly loosening signal and suggestions from data (REST).

Both are read-only and computed through the server's result cache, keyed by the data version of the tables they
read and the definition version, like every other figure; the Definitions page shows them from these documents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tandem.accounts import Permission
from tandem.questions import parse_moment
from tandem.server.access import GuardedRoute, access
from tandem.server.refusals import INVALID
from tandem.server.routes.funnel import REFUSALS, AsOf
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: The tables each document reads.
SIGNAL_TABLES = ("leads", "stage_events")
SUGGESTION_TABLES = ("leads", "stage_events")

Weeks = Annotated[int, Query(ge=1, le=52, description="Recent span, in complete weeks.")]
BaselineWeeks = Annotated[int, Query(ge=1, le=104, description="Baseline span: the weeks before the recent ones.")]
WindowDays = Annotated[
    int | None,
    Query(ge=1, le=365, description="Days an MQL has to reach the next stage (default: signal_window_days)."),
]
MAX_TOP = 100
HistoryWeeks = Annotated[
    int, Query(ge=1, le=104, description="Readings in `history`: the Mondays before as_of, then as_of itself.")
]
Top = Annotated[int, Query(ge=1, le=MAX_TOP, description="How many attributes to list.")]
SuggestStage = Annotated[
    str | None, Query(max_length=100, description="The stage the threshold curve is for (default: the MQL stage).")
]


@router.get("/api/definitions/signal", openapi_extra=access(Permission.READ), tags=["definitions"], responses=REFUSALS)
def api_definitions_signal(
    request: Request,
    as_of: AsOf = None,
    weeks: Weeks = 4,
    baseline_weeks: BaselineWeeks = 12,
    window_days: WindowDays = None,
    history_weeks: HistoryWeeks = 12,
) -> dict[str, Any]:
    """The weekly loosening signal: MQL volume rising while acceptance by sales falls (`tandem definitions signal`).

    `status` is flag, ok or "not enough data"; `sentence` says it in words; `volume` and `acceptance` hold each
    test's counts, rates, effect and p-value; `weeks` the weekly series behind them, each week with the span it
    belongs to in each test; `history` what the signal said as of each Monday before (for a chart).
    """
    return signal_document(
        request.app.state.tandem,
        as_of=parse_moment(as_of, "as_of"),
        weeks=weeks,
        baseline_weeks=baseline_weeks,
        window_days=window_days,
        history_weeks=history_weeks,
    )


def signal_document(
    state: ServerState,
    *,
    as_of: datetime | None = None,
    weeks: int = 4,
    baseline_weeks: int = 12,
    window_days: int | None = None,
    history_weeks: int = 12,
) -> dict[str, Any]:
    """The signal's document through the result cache: what the API returns and the Definitions page shows."""
    from tandem.definitions.signal import loosening_signal

    question = {
        "as_of": as_of,
        "weeks": weeks,
        "baseline_weeks": baseline_weeks,
        "window_days": window_days,
        "history_weeks": history_weeks,
    }

    def compute() -> dict[str, Any]:
        signal = loosening_signal(
            state.workspace,
            as_of=as_of,
            recent_weeks=weeks,
            baseline_weeks=baseline_weeks,
            window_days=window_days,
            history_weeks=history_weeks,
        )
        return signal.as_dict()

    document: dict[str, Any] = state.cached("definitions.signal", question, compute, tables=SIGNAL_TABLES)
    return document


@router.get(
    "/api/definitions/suggestions",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses=REFUSALS,
)
def api_definitions_suggestions(
    request: Request, as_of: AsOf = None, top: Top = 10, stage: SuggestStage = None
) -> dict[str, Any]:
    """Suggestions from data (`tandem definitions suggest`): the attributes that predict won with their effect, the
    model's held-out AUC, and the threshold curve of its score for a stage. It never changes the definitions."""
    from tandem.definitions.suggestions import suggest_definitions

    state = request.app.state.tandem
    moment = parse_moment(as_of, "as_of")
    # One model per (as_of, stage), whatever `top`: every attribute is kept and the list cut per request.
    question = {"as_of": moment, "stage": stage}

    def compute() -> dict[str, Any]:
        return suggest_definitions(state.workspace, stage=stage, as_of=moment, top=MAX_TOP).as_dict()

    document: dict[str, Any] = state.cached("definitions.suggestions", question, compute, tables=SUGGESTION_TABLES)
    return {**document, "attributes": document["attributes"][:top]}
